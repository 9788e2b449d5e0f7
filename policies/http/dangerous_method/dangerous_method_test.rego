package sentinel.http.dangerous_method_test

import data.http.dangerous_method.testdata
import data.sentinel.http.dangerous_method

# The flows are requests for / from the Internet to the frontend with each
# method, and from shop/ad to a forward proxy (egress/squid), as the engine
# measured them (testdata/flows.jsonl, `make fixtures`).

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
	}} with input as testdata.trace
		with data.data.http as http_data
}

test_each_dangerous_method_alerts if {
	every name in ["track", "connect", "debug"] {
		count(dangerous_method.violation) == 1 with input as testdata[name]
			with data.data.http as http_data
	}
}

test_ordinary_methods_do_not_alert if {
	every name in ["get", "head", "post", "put", "patch", "delete", "options", "lower_case_trace"] {
		count(dangerous_method.violation) == 0 with input as testdata[name]
			with data.data.http as http_data
	}
}

test_a_proxy_may_take_connect if {
	count(dangerous_method.violation) == 0 with input as testdata.connect_to_squid
		with data.data.http as http_data
	count(dangerous_method.violation) == 1 with input as testdata.trace_to_squid
		with data.data.http as http_data
}

test_no_alert_on_the_response if {
	count(dangerous_method.violation) == 0 with input as testdata.trace_response
		with data.data.http as http_data
}
