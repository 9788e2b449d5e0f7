package sentinel.http.sql_injection_test

import data.sentinel.http.request_test.from_pod
import data.sentinel.http.request_test.get
import data.sentinel.http.request_test.response
import data.sentinel.http.sql_injection

# The detection cases run against the shipped patterns in
# policies/data/http.yaml: they are what is under test. Cases that test the
# policy's logic set their own data.

test_union_select_in_the_query_alerts if {
	sql_injection.violation == {{
		"id": "HTTPSQLInjectionAttempt",
		"severity": "warning",
		"title": "SQL injection attempt in an HTTP request",
		"policy": "sentinel.http.sql_injection",
		"summary": "world 203.0.113.77 sent HTTP GET /product to shop/frontend with SQL injection in the query (union_select)",
		"description": sql_injection.violation[_].description,
		"mitre": "T1190",
	}} with input as get("/product?id=-1+UNION+ALL+SELECT+1,2,3")
}

test_classic_payloads_alert if {
	every target in [
		"/items?id=1'+or+'1'='1",
		"/items?id=1%27%20OR%201=1--",
		"/items?id=1'||'1'='1",
		"/items?q=x%22+or+%22%22%3D%22",
		"/login?user=admin'--&pass=x",
		"/login?user=admin%27%23",
		"/items?id=-1+union+select+1,2,3",
		"/items?id=1/**/union/**/select/**/1,2",
		"/items?id=1+/*!50000union*/+/*!50000select*/+1",
		"/items?id=1+or+1=1",
		"/items?id=1+AND+1=2--",
		"/items?id=1';waitfor+delay+'0:0:5'--",
		"/items?id=1+and+sleep(5)",
		"/items?id=1)+and+benchmark(10000000,md5(1))",
		"/items?id=1;drop+table+users",
		"/items?id=1';exec+xp_cmdshell+'dir'--",
		"/items?id=1+and+extractvalue(1,concat(0x7e,version()))",
		"/items?id=(select+table_name+from+information_schema.tables)",
	] {
		count(sql_injection.violation) == 1 with input as get(target)
	}
}

test_encoded_payloads_alert if {
	every target in [
		"/items?id=1%2527%2520or%25201%253D1", # double encoding
		"/items?id=%55NION%20%53ELECT%201", # encoded letters
		"/items?id=1%27%20or%20%271%27%3D%271&x=%zz", # a stray escape to break decoding
	] {
		count(sql_injection.violation) == 1 with input as get(target)
	}
}

test_injection_in_the_path_alerts if {
	some v in sql_injection.violation with input as get("/items/1'%20or%20'a'='a")
	endswith(v.summary, "with SQL injection in the path (quote_tautology)")
}

test_the_summary_lists_every_pattern_and_place if {
	some v in sql_injection.violation with input as get("/items/1'%20or%20'a'='a?id=1';waitfor+delay+'0:0:5'--")
	endswith(v.summary, "in the path and query (comment_truncation, quote_tautology, time_delay)")
}

test_internal_callers_alert_too if {
	some v in sql_injection.violation with input as from_pod(get("/items?id=1+or+1=1"))
	startswith(v.summary, "shop/ad sent HTTP GET /items to shop/frontend")
}

test_benign_look_alikes_do_not_alert if {
	every target in [
		"/search?q=select+shoes",
		"/search?q=select%20shoes%20from%20brand",
		"/blog/union-station",
		"/api/v1/users?sort=name&order=desc",
		"/search?q=levi%27s+501",
		"/search?q=%22vintage%22+camera",
		"/search?q=salt+%26+pepper+shakers",
		"/search?q=100%25+cotton+shirt",
		"/search?q=caf%C3%A9+mug",
		"/people?name=O%27Brien",
		"/people?name=D%27Orazio",
		"/people?name=O'Reilly+and+sons",
		"/search?q=rock+%27n%27+roll+and+jazz",
		"/search?q=it%27s+--+great",
		"/search?q=%22--help%22",
		"/search?q=red+or+blue",
		"/search?q=black+and+white+shoes",
		"/search?q=tom+%26+jerry;+season+1",
		"/api/items?ids=1;2;3",
		"/search?q=color+%23ff0000",
		"/api?filter=%7B%22color%22:%22%23ff0000%22%7D",
		"/files?pattern=%22/**/*.js%22",
		"/files?glob=src/**/test/*.js",
		"/search?q=shoes&utm_source=newsletter&utm_medium=email&utm_campaign=spring_sale_2026",
	] {
		count(sql_injection.violation) == 0 with input as get(target)
	}
}

test_query_languages_do_not_alert if {
	every target in [
		"/odata/People?$filter=FirstName+eq+'Scott'+and+Age+gt+30",
		"/odata/People?$filter=startswith(Name,'a')+and+Age+eq+1",
		"/scim/v2/Users?filter=userName+eq+%22bjensen%22+and+active+eq+true",
		"/api/v1/query?query=sum(rate(http_requests_total%7Bjob%3D%22api%22%7D%5B5m%5D))+by+(le)",
		"/api/v1/query?query=up%7Bjob%3D%22a%22%7D+or+vector(0)",
		"/loki/api/v1/query_range?query=%7Bapp%3D%22x%22%7D+%7C%3D+%22error%22+%7C+json",
		"/api/v1/namespaces/default/pods?labelSelector=app+in+(a,b)&watch=true",
	] {
		count(sql_injection.violation) == 0 with input as get(target)
	}
}

test_plain_requests_never_reach_the_patterns if {
	count(sql_injection.violation) == 0 with input as get("/union/select/information_schema")
		with data.data.http.sqli_patterns as {"any": "."}
}

test_keywords_trigger_the_patterns if {
	count(sql_injection.violation) == 1 with input as get("/s?q=union+all")
		with data.data.http.sqli_keywords as ["union"]
		with data.data.http.sqli_patterns as {"any": "union"}
	count(sql_injection.violation) == 0 with input as get("/s?q=union+all")
		with data.data.http.sqli_keywords as []
		with data.data.http.sqli_patterns as {"any": "union"}
}

test_no_alert_on_the_response if {
	count(sql_injection.violation) == 0 with input as response(get("/items?id=1+or+1=1"))
}
