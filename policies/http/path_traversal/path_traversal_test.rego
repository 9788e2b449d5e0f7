package sentinel.http.path_traversal_test

import data.sentinel.http.path_traversal
import data.sentinel.http.request_test.get
import data.sentinel.http.request_test.response

# The detection cases run against the shipped patterns and file list in
# policies/data/http.yaml: they are what is under test. Cases that test the
# policy's logic set their own data.

test_dot_segments_in_the_path_alert if {
	path_traversal.violation == {{
		"id": "HTTPPathTraversalAttempt",
		"severity": "warning",
		"title": "Path traversal or file inclusion attempt in an HTTP request",
		"policy": "sentinel.http.path_traversal",
		"summary": "world 203.0.113.77 sent HTTP GET /static/../../etc/passwd to shop/frontend with path traversal: /etc/passwd, dot_segment in the path",
		"description": path_traversal.violation[_].description,
		"mitre": "T1190",
	}} with input as get("/static/../../etc/passwd")
}

test_encoded_dot_segments_alert if {
	every target in [
		"/static/..%2f..%2fetc%2fpasswd",
		"/static/%2e%2e/%2e%2e/etc/passwd",
		"/static/%252e%252e%252f%252e%252e%252fetc/passwd",
		"/static/..%5c..%5cwindows%5cwin.ini",
		"/static/..\\..\\windows\\win.ini",
		"/cgi-bin/.%2e/.%2e/.%2e/.%2e/bin/sh",
		"/app/..;/manager/html",
		"/app/..",
	] {
		count(path_traversal.violation) == 1 with input as get(target)
	}
}

test_overlong_and_unicode_encodings_alert if {
	every target in [
		"/static/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
		"/static/..%c0%af..%c0%afetc/passwd",
		"/static/%u002e%u002e/x",
		"/static/%25c0%25ae%25c0%25ae/x",
	] {
		some v in path_traversal.violation with input as get(target)
		contains(v.summary, "traversal encoding")
	}
}

test_traversal_chains_in_the_query_alert if {
	every target in [
		"/download?file=../../../../etc/passwd",
		"/download?file=....//....//....//x",
		"/download?file=..%2f..%2fx",
		"/download?file=%252e%252e%252f%252e%252e%252fx",
		"/download?file=..\\..\\boot.ini",
	] {
		count(path_traversal.violation) == 1 with input as get(target)
	}
}

test_system_files_in_the_query_alert if {
	every target in [
		"/download?file=/etc/passwd",
		"/download?file=c:\\windows\\win.ini",
		"/download?page=php://filter/convert.base64-encode/resource=/proc/self/environ",
		"/download?f=/var/run/secrets/kubernetes.io/serviceaccount/token",
	] {
		count(path_traversal.violation) == 1 with input as get(target)
	}
}

test_system_files_as_plain_paths_alert if {
	every target in ["/etc/passwd", "//etc/passwd", "/proc/self/environ", "/WEB-INF/web.xml"] {
		some v in path_traversal.violation with input as get(target)
		not contains(v.summary, " in the ")
	}
}

test_benign_look_alikes_do_not_alert if {
	every target in [
		"/static/js/app.min.js?v=1.10.2",
		"/static/report..final.pdf",
		"/login?next=../dashboard",
		"/files?path=/home/user/docs",
		"/search?q=passwd+reset",
		"/search?q=etc",
		"/version..json",
		"/a/b/...",
		"/search?q=and+so+on...",
		"/docs/..hidden",
		"/search?q=100%25+cotton+shirt",
	] {
		count(path_traversal.violation) == 0 with input as get(target)
	}
}

test_a_single_dot_segment_in_the_query_is_tunable if {
	count(path_traversal.violation) == 1 with input as get("/login?next=../dashboard")
		with data.data.http.traversal_query_patterns as {"dot_segment": `\.\./`}
}

test_a_bare_file_name_is_not_a_path if {
	count(path_traversal.violation) == 0 with input as get("/search?q=win.ini")
}

test_no_alert_on_the_response if {
	count(path_traversal.violation) == 0 with input as response(get("/static/../../etc/passwd"))
}
