package sentinel.http.ssrf_test

import data.sentinel.http.request_test.get
import data.sentinel.http.request_test.response
import data.sentinel.http.ssrf

# The detection cases run against the shipped pattern in
# policies/data/http.yaml: it is what is under test. Cases that test the
# policy's logic set their own data.

test_metadata_url_alerts if {
	ssrf.violation == {{
		"id": "HTTPServerSideRequestForgery",
		"severity": "warning",
		"title": "Server-side request forgery attempt in an HTTP request",
		"policy": "sentinel.http.ssrf",
		"summary": "world 203.0.113.77 sent HTTP GET /preview to shop/frontend with an internal URL in parameter url",
		"description": ssrf.violation[_].description,
		"mitre": "T1190",
	}} with input as get("/preview?url=http://169.254.169.254/latest/meta-data/iam/security-credentials/")
}

test_internal_urls_alert if {
	every target in [
		"/fetch?url=http%3A%2F%2F169.254.169.254%2Flatest%2F",
		"/fetch?url=http%253A%252F%252F169.254.169.254%252F",
		"/fetch?url=169.254.169.254/latest/meta-data",
		"/fetch?url=http://metadata.google.internal/computeMetadata/v1/",
		"/fetch?url=http://127.0.0.1:6379/",
		"/fetch?url=http://localhost/admin",
		"/fetch?url=http://[::1]/",
		"/fetch?url=http://2130706433/",
		"/fetch?url=http://0x7f000001/",
		"/fetch?url=http://0/",
		"/fetch?url=gopher://redis:6379/_INFO",
		"/fetch?url=file:///etc/passwd",
		"/fetch?url=dict://127.0.0.1:11211/stats",
		"/fetch?url=https://kubernetes.default.svc/api/v1/secrets",
		"/fetch?url=http://user@127.0.0.1/",
		"/fetch?img=//169.254.169.254/",
	] {
		count(ssrf.violation) == 1 with input as get(target)
	}
}

test_every_parameter_is_named if {
	some v in ssrf.violation with input as get("/fetch?b=http://127.0.0.1/&a=gopher://x/&c=https://example.com/")
	endswith(v.summary, "in parameter a, b")
}

test_external_urls_and_look_alikes_do_not_alert if {
	every target in [
		"/fetch?url=https://example.com/a.png",
		"/auth?redirect_uri=http://localhost:8000/callback&client_id=kubectl",
		"/search?q=http+status+0",
		"/api?page=0",
		"/calendar?time=12:00",
		"/fetch?url=https://cdn.example.com/logo.png?x=1",
		"/fetch?url=http://127.example.com/",
		"/docs?q=localhost",
		"/fetch?url=http://10.0.0.5/",
		"/latest/meta-data/",
	] {
		count(ssrf.violation) == 0 with input as get(target)
	}
}

test_exempt_parameters_are_tunable if {
	count(ssrf.violation) == 1 with input as get("/auth?redirect_uri=http://localhost:8000/callback")
		with data.data.http.ssrf_exempt_params as []
}

test_keywords_trigger_the_pattern if {
	count(ssrf.violation) == 0 with input as get("/fetch?url=169.254.169.254/latest/meta-data")
		with data.data.http.ssrf_keywords as []
}

test_no_alert_on_the_response if {
	count(ssrf.violation) == 0 with input as response(get("/fetch?url=http://127.0.0.1/"))
}
