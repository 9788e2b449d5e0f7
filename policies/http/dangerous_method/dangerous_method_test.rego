package sentinel.http.dangerous_method_test

import data.sentinel.http.dangerous_method
import data.sentinel.http.request_test.call
import data.sentinel.http.request_test.response

http_data := {"dangerous_methods_allowed_by_workload": {"egress/squid": ["CONNECT"]}}

test_trace_alerts if {
	dangerous_method.violation == {{
		"id": "HTTPDangerousMethod",
		"severity": "warning",
		"title": "HTTP request with a dangerous method",
		"policy": "sentinel.http.dangerous_method",
		"summary": "world 203.0.113.77 sent HTTP TRACE / to shop/frontend",
		"description": dangerous_method.violation[_].description,
		"mitre": "T1190",
	}} with input as call("TRACE", "/")
		with data.data.http as http_data
}

test_each_dangerous_method_alerts if {
	every method in ["TRACK", "CONNECT", "DEBUG"] {
		count(dangerous_method.violation) == 1 with input as call(method, "/")
			with data.data.http as http_data
	}
}

test_ordinary_methods_do_not_alert if {
	every method in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "trace"] {
		count(dangerous_method.violation) == 0 with input as call(method, "/")
			with data.data.http as http_data
	}
}

test_a_proxy_may_take_connect if {
	squid := object.union(call("CONNECT", "/"), {"sentinel": {"destination": {"namespace": "egress", "workload": "squid"}}})
	count(dangerous_method.violation) == 0 with input as squid
		with data.data.http as http_data
	count(dangerous_method.violation) == 1 with input as object.union(squid, {"sentinel": {"http": {"method": "TRACE"}}})
		with data.data.http as http_data
}

test_no_alert_on_the_response if {
	count(dangerous_method.violation) == 0 with input as response(call("TRACE", "/"))
		with data.data.http as http_data
}
