package sentinel.http.method_not_allowed_test

import data.http.method_not_allowed.testdata
import data.sentinel.http.method_not_allowed

# The flows are HTTP requests to the frontend, from the Internet unless named
# otherwise, as the engine measured them (testdata/flows.jsonl, `make
# fixtures`).

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
	}} with input as testdata.delete_cart_from_pod
		with data.data.http as http_data
}

test_listed_methods_do_not_alert if {
	every name in ["get_cart", "head_cart", "post_cart"] {
		count(method_not_allowed.violation) == 0 with input as testdata[name]
			with data.data.http as http_data
	}
}

test_methods_compare_as_sent if {
	count(method_not_allowed.violation) == 1 with input as testdata.lower_case_get_cart
		with data.data.http as http_data
}

test_services_not_listed_are_not_checked if {
	count(method_not_allowed.violation) == 0 with input as testdata.delete_to_catalog
		with data.data.http as http_data
	count(method_not_allowed.violation) == 0 with input as testdata.delete_cart
}

test_destinations_outside_pods_are_not_checked if {
	count(method_not_allowed.violation) == 0 with input as testdata.delete_to_the_internet
		with data.data.http as {"allowed_methods": {"/": ["GET"]}}
}

# The frontend's answer to shop/ad goes to a pod too, and shop/ad does not
# take DELETE; the answer is still not judged.
test_no_alert_on_the_response if {
	count(method_not_allowed.violation) == 0 with input as testdata.delete_cart_response
		with data.data.http as {"allowed_methods": {"shop/frontend": ["GET", "HEAD", "POST"], "shop/ad": ["GET"]}}
}
