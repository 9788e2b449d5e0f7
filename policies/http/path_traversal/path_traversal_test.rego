package sentinel.http.path_traversal_test

import data.http.path_traversal.testdata
import data.sentinel.http.path_traversal
import data.sentinel.http.request_test.with_query

# The detection cases run against the shipped patterns and file list in
# policies/data/http.yaml: they are what is under test. Cases that test the
# policy's logic set their own data. The flows are HTTP requests from the
# Internet to the frontend, as the engine measured them
# (testdata/flows.jsonl, `make fixtures`); a case with a query states it
# (request_test.with_query).

test_dot_segments_in_the_path_alert if {
	path_traversal.violation == {{
		"id": "HTTPPathTraversalAttempt",
		"severity": "warning",
		"title": "Path traversal or file inclusion attempt in an HTTP request",
		"policy": "sentinel.http.path_traversal",
		"summary": "world 203.0.113.77 sent HTTP GET /static/../../etc/passwd to shop/frontend with path traversal: /etc/passwd, dot_segment in the path",
		"description": path_traversal.violation[_].description,
		"mitre": "T1190",
	}} with input as testdata.dot_segments_to_passwd
}

test_encoded_dot_segments_alert if {
	every name in [
		"encoded_slashes", # /static/..%2f..%2fetc%2fpasswd
		"encoded_dots", # /static/%2e%2e/%2e%2e/etc/passwd
		"double_encoded_dot_segments", # /static/%252e%252e%252f%252e%252e%252fetc/passwd
		"encoded_backslashes", # /static/..%5c..%5cwindows%5cwin.ini
		"backslashes", # /static/..\..\windows\win.ini, which the engine escapes
		"cgi_half_encoded_dots", # /cgi-bin/.%2e/.%2e/.%2e/.%2e/bin/sh
		"tomcat_path_parameter", # /app/..;/manager/html
		"trailing_dot_segment", # /app/..
	] {
		count(path_traversal.violation) == 1 with input as testdata[name]
	}
}

test_overlong_and_unicode_encodings_alert if {
	every name in ["overlong_dots", "overlong_slashes", "unicode_dots", "overlong_dots_double_encoded"] {
		flow := testdata[name]
		some v in path_traversal.violation with input as flow
		contains(v.summary, "traversal encoding")
	}
}

test_traversal_chains_in_the_query_alert if {
	every query in [
		"file=../../../../etc/passwd",
		"file=....//....//....//x",
		"file=..%2f..%2fx",
		"file=%252e%252e%252f%252e%252e%252fx",
		"file=..\\..\\boot.ini",
	] {
		count(path_traversal.violation) == 1 with input as with_query(testdata.download_with_query, query)
	}
}

test_system_files_in_the_query_alert if {
	every query in [
		"file=/etc/passwd",
		"file=c:\\windows\\win.ini",
		"page=php://filter/convert.base64-encode/resource=/proc/self/environ",
		"f=/var/run/secrets/kubernetes.io/serviceaccount/token",
	] {
		count(path_traversal.violation) == 1 with input as with_query(testdata.download_with_query, query)
	}
}

test_system_files_as_plain_paths_alert if {
	every name in ["etc_passwd", "etc_passwd_repeated_slash", "proc_self_environ", "web_inf"] {
		flow := testdata[name]
		some v in path_traversal.violation with input as flow
		not contains(v.summary, " in the ")
	}
}

test_benign_look_alikes_do_not_alert if {
	every flow_query in [
		["static_js_with_query", "v=1.10.2"],
		["login_with_query", "next=../dashboard"],
		["files_with_query", "path=/home/user/docs"],
		["search_with_query", "q=passwd+reset"],
		["search_with_query", "q=etc"],
		["search_with_query", "q=and+so+on..."],
		["search_with_query", "q=100%25+cotton+shirt"],
	] {
		count(path_traversal.violation) == 0 with input as with_query(testdata[flow_query[0]], flow_query[1])
	}
	every name in ["dots_in_file_name", "dots_before_extension", "three_dots", "dot_dot_hidden_file"] {
		count(path_traversal.violation) == 0 with input as testdata[name]
	}
}

test_a_single_dot_segment_in_the_query_is_tunable if {
	count(path_traversal.violation) == 1 with input as with_query(testdata.login_with_query, "next=../dashboard")
		with data.data.http.traversal_query_patterns as {"dot_segment": `\.\./`}
}

test_a_bare_file_name_is_not_a_path if {
	count(path_traversal.violation) == 0 with input as with_query(testdata.search_with_query, "q=win.ini")
}

test_no_alert_on_the_response if {
	count(path_traversal.violation) == 0 with input as testdata.dot_segments_response
}
