package sentinel.http.method_not_allowed_test

import data.sentinel.http.method_not_allowed
import data.sentinel.http.request_test.call
import data.sentinel.http.request_test.from_pod
import data.sentinel.http.request_test.response

http_data := {"allowed_methods": {"shop/frontend": ["GET", "HEAD", "POST"]}}

test_delete_to_a_listed_service_alerts if {
	method_not_allowed.violation == {{
		"id": "HTTPMethodNotAllowed",
		"severity": "warning",
		"title": "HTTP method a service does not accept",
		"policy": "sentinel.http.method_not_allowed",
		"summary": "shop/ad sent HTTP DELETE /cart to shop/frontend, which accepts only GET, HEAD, POST",
		"description": method_not_allowed.violation[_].description,
		"mitre": "T1190",
	}} with input as from_pod(call("DELETE", "/cart"))
		with data.data.http as http_data
}

test_listed_methods_do_not_alert if {
	every method in ["GET", "HEAD", "POST"] {
		count(method_not_allowed.violation) == 0 with input as call(method, "/cart")
			with data.data.http as http_data
	}
}

test_methods_compare_as_sent if {
	count(method_not_allowed.violation) == 1 with input as call("get", "/cart")
		with data.data.http as http_data
}

test_services_not_listed_are_not_checked if {
	count(method_not_allowed.violation) == 0 with input as object.union(call("DELETE", "/x"), {"sentinel": {"destination": {"workload": "catalog"}}})
		with data.data.http as http_data
	count(method_not_allowed.violation) == 0 with input as call("DELETE", "/cart")
}

test_destinations_outside_pods_are_not_checked if {
	world := object.union(call("DELETE", "/cart"), {"sentinel": {"destination": {"kind": "world", "namespace": "", "workload": ""}}})
	count(method_not_allowed.violation) == 0 with input as world
		with data.data.http as {"allowed_methods": {"/": ["GET"]}}
}

test_no_alert_on_the_response if {
	count(method_not_allowed.violation) == 0 with input as response(call("DELETE", "/cart"))
		with data.data.http as http_data
}
