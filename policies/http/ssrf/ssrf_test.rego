package sentinel.http.ssrf_test

import data.http.ssrf.testdata
import data.sentinel.http.request_test.with_query
import data.sentinel.http.ssrf

# The detection cases run against the shipped pattern in
# policies/data/http.yaml: it is what is under test. Cases that test the
# policy's logic set their own data. The flows are HTTP requests from the
# Internet to the frontend unless named otherwise, as the engine measured
# them (testdata/flows.jsonl, `make fixtures`); a case with a query states
# it (request_test.with_query).

test_metadata_url_alerts if {
	ssrf.violation == {{
		"id": "HTTPServerSideRequestForgery",
		"severity": "warning",
		"title": "Server-side request forgery attempt in an HTTP request",
		"policy": "sentinel.http.ssrf",
		"summary": "world 203.0.113.77 sent HTTP GET /preview to shop/frontend with an internal URL in parameter url",
		"description": ssrf.violation[_].description,
		"mitre": "T1190",
	}} with input as with_query(testdata.preview_with_query, "url=http://169.254.169.254/latest/meta-data/iam/security-credentials/")
}

test_internal_urls_alert if {
	every query in [
		"url=http%3A%2F%2F169.254.169.254%2Flatest%2F",
		"url=http%253A%252F%252F169.254.169.254%252F",
		"url=169.254.169.254/latest/meta-data",
		"url=http://metadata.google.internal/computeMetadata/v1/",
		"url=http://127.0.0.1:6379/",
		"url=http://localhost/admin",
		"url=http://[::1]/",
		"url=http://2130706433/",
		"url=http://0x7f000001/",
		"url=http://0/",
		"url=gopher://redis:6379/_INFO",
		"url=file:///etc/passwd",
		"url=dict://127.0.0.1:11211/stats",
		"url=https://kubernetes.default.svc/api/v1/secrets",
		"url=http://user@127.0.0.1/",
		"img=//169.254.169.254/",
	] {
		count(ssrf.violation) == 1 with input as with_query(testdata.fetch_with_query, query)
	}
}

test_every_parameter_is_named if {
	some v in ssrf.violation with input as with_query(testdata.fetch_with_query, "b=http://127.0.0.1/&a=gopher://x/&c=https://example.com/")
	endswith(v.summary, "in parameter a, b")
}

test_external_urls_and_look_alikes_do_not_alert if {
	every flow_query in [
		["fetch_with_query", "url=https://example.com/a.png"],
		["auth_with_query", "redirect_uri=http://localhost:8000/callback&client_id=kubectl"],
		["search_with_query", "q=http+status+0"],
		["api_with_query", "page=0"],
		["calendar_with_query", "time=12:00"],
		["fetch_with_query", "url=https://cdn.example.com/logo.png?x=1"],
		["fetch_with_query", "url=http://127.example.com/"],
		["docs_with_query", "q=localhost"],
		["fetch_with_query", "url=http://10.0.0.5/"],
	] {
		count(ssrf.violation) == 0 with input as with_query(testdata[flow_query[0]], flow_query[1])
	}
	count(ssrf.violation) == 0 with input as testdata.metadata_path
}

test_exempt_parameters_are_tunable if {
	count(ssrf.violation) == 1 with input as with_query(testdata.auth_with_query, "redirect_uri=http://localhost:8000/callback")
		with data.data.http.ssrf_exempt_params as []
}

test_keywords_trigger_the_pattern if {
	count(ssrf.violation) == 0 with input as with_query(testdata.fetch_with_query, "url=169.254.169.254/latest/meta-data")
		with data.data.http.ssrf_keywords as []
}

test_no_alert_on_the_response if {
	count(ssrf.violation) == 0 with input as with_query(testdata.fetch_response, "url=http://127.0.0.1/")
}
