package sentinel.http.oversized_request_test

import data.http.oversized_request.testdata
import data.sentinel.http.oversized_request

# The flows are requests from the Internet to the frontend: a 3,000-byte
# query, 70 headers, an ordinary request, and the 414 response to the
# first, as the engine measured them (testdata/flows.jsonl, `make
# fixtures`): the first two are truncated.

test_a_long_query_alerts if {
	oversized_request.violation == {{
		"id": "HTTPOversizedRequest",
		"severity": "warning",
		"title": "Oversized HTTP request",
		"policy": "sentinel.http.oversized_request",
		"summary": "world 203.0.113.77 sent an oversized request, HTTP GET /search (cut to the engine's bounds), to shop/frontend",
		"description": oversized_request.violation[_].description,
		"mitre": "T1190",
	}} with input as testdata.long_query
}

test_too_many_headers_alert if {
	testdata.many_headers.sentinel.http.truncated == true
	count(testdata.many_headers.l7.http.headers) == 64
	count(oversized_request.violation) == 1 with input as testdata.many_headers
}

test_an_ordinary_request_does_not_alert if {
	count(oversized_request.violation) == 0 with input as testdata.ordinary
}

test_a_response_does_not_alert if {
	count(oversized_request.violation) == 0 with input as testdata.long_query_response
}
