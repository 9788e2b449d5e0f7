package sentinel.http.sql_injection_test

import data.http.sql_injection.testdata
import data.sentinel.http.request_test.with_query
import data.sentinel.http.sql_injection

# The detection cases run against the shipped patterns in
# policies/data/http.yaml: they are what is under test. Cases that test the
# policy's logic set their own data. The flows are HTTP requests from the
# Internet to the frontend unless named otherwise, as the engine measured
# them (testdata/flows.jsonl, `make fixtures`); a case with a query states
# it (request_test.with_query).

test_union_select_in_the_query_alerts if {
	sql_injection.violation == {{
		"id": "HTTPSQLInjectionAttempt",
		"severity": "warning",
		"title": "SQL injection attempt in an HTTP request",
		"policy": "sentinel.http.sql_injection",
		"summary": "world 203.0.113.77 sent HTTP GET /product to shop/frontend with SQL injection in the query (union_select)",
		"description": sql_injection.violation[_].description,
		"mitre": "T1190",
	}} with input as with_query(testdata.product_with_query, "id=-1+UNION+ALL+SELECT+1,2,3")
}

test_classic_payloads_alert if {
	every query in [
		"id=1'+or+'1'='1",
		"id=1%27%20OR%201=1--",
		"id=1'||'1'='1",
		"q=x%22+or+%22%22%3D%22",
		"id=-1+union+select+1,2,3",
		"id=1/**/union/**/select/**/1,2",
		"id=1+/*!50000union*/+/*!50000select*/+1",
		"id=1+or+1=1",
		"id=1+AND+1=2--",
		"id=1';waitfor+delay+'0:0:5'--",
		"id=1+and+sleep(5)",
		"id=1)+and+benchmark(10000000,md5(1))",
		"id=1;drop+table+users",
		"id=1';exec+xp_cmdshell+'dir'--",
		"id=1+and+extractvalue(1,concat(0x7e,version()))",
		"id=(select+table_name+from+information_schema.tables)",
	] {
		count(sql_injection.violation) == 1 with input as with_query(testdata.items_with_query, query)
	}
	every query in ["user=admin'--&pass=x", "user=admin%27%23"] {
		count(sql_injection.violation) == 1 with input as with_query(testdata.login_with_query, query)
	}
}

test_encoded_payloads_alert if {
	every query in [
		"id=1%2527%2520or%25201%253D1", # double encoding
		"id=%55NION%20%53ELECT%201", # encoded letters
		"id=1%27%20or%20%271%27%3D%271&x=%zz", # a stray escape to break decoding
		"id=1%27%20or%20%271%27%3D%271&x=%%", # a stray escape the first fix-up missed
	] {
		count(sql_injection.violation) == 1 with input as with_query(testdata.items_with_query, query)
	}
}

test_injection_in_the_path_alerts if {
	some v in sql_injection.violation with input as testdata.tautology_in_path
	endswith(v.summary, "with SQL injection in the path (quote_tautology)")
}

test_the_summary_lists_every_pattern_and_place if {
	some v in sql_injection.violation with input as with_query(testdata.tautology_in_path, "id=1';waitfor+delay+'0:0:5'--")
	endswith(v.summary, "in the path and query (comment_truncation, quote_tautology, time_delay)")
}

test_internal_callers_alert_too if {
	some v in sql_injection.violation with input as with_query(testdata.items_with_query_from_pod, "id=1+or+1=1")
	startswith(v.summary, "shop/ad sent HTTP GET /items to shop/frontend")
}

test_benign_look_alikes_do_not_alert if {
	every query in [
		"q=select+shoes",
		"q=select%20shoes%20from%20brand",
		"q=levi%27s+501",
		"q=%22vintage%22+camera",
		"q=salt+%26+pepper+shakers",
		"q=100%25+cotton+shirt",
		"q=caf%C3%A9+mug",
		"q=rock+%27n%27+roll+and+jazz",
		"q=it%27s+--+great",
		"q=%22--help%22",
		"q=red+or+blue",
		"q=black+and+white+shoes",
		"q=tom+%26+jerry;+season+1",
		"q=color+%23ff0000",
		"q=shoes&utm_source=newsletter&utm_medium=email&utm_campaign=spring_sale_2026",
	] {
		count(sql_injection.violation) == 0 with input as with_query(testdata.search_with_query, query)
	}
	every flow_query in [
		["users_with_query", "sort=name&order=desc"],
		["people_with_query", "name=O%27Brien"],
		["people_with_query", "name=D%27Orazio"],
		["people_with_query", "name=O'Reilly+and+sons"],
		["api_items_with_query", "ids=1;2;3"],
		["api_with_query", "filter=%7B%22color%22:%22%23ff0000%22%7D"],
		["files_with_query", "pattern=%22/**/*.js%22"],
		["files_with_query", "glob=src/**/test/*.js"],
	] {
		count(sql_injection.violation) == 0 with input as with_query(testdata[flow_query[0]], flow_query[1])
	}
	count(sql_injection.violation) == 0 with input as testdata.blog_union_station
}

test_query_languages_do_not_alert if {
	every flow_query in [
		["odata_with_query", "$filter=FirstName+eq+'Scott'+and+Age+gt+30"],
		["odata_with_query", "$filter=startswith(Name,'a')+and+Age+eq+1"],
		["scim_with_query", "filter=userName+eq+%22bjensen%22+and+active+eq+true"],
		["prometheus_query", "query=sum(rate(http_requests_total%7Bjob%3D%22api%22%7D%5B5m%5D))+by+(le)"],
		["prometheus_query", "query=up%7Bjob%3D%22a%22%7D+or+vector(0)"],
		["loki_query", "query=%7Bapp%3D%22x%22%7D+%7C%3D+%22error%22+%7C+json"],
		["pods_with_query", "labelSelector=app+in+(a,b)&watch=true"],
	] {
		count(sql_injection.violation) == 0 with input as with_query(testdata[flow_query[0]], flow_query[1])
	}
}

test_plain_requests_never_reach_the_patterns if {
	count(sql_injection.violation) == 0 with input as testdata.sql_words_in_path
		with data.data.http.sqli_patterns as {"any": "."}
}

test_keywords_trigger_the_patterns if {
	count(sql_injection.violation) == 1 with input as with_query(testdata.s_with_query, "q=union+all")
		with data.data.http.sqli_keywords as ["union"]
		with data.data.http.sqli_patterns as {"any": "union"}
	count(sql_injection.violation) == 0 with input as with_query(testdata.s_with_query, "q=union+all")
		with data.data.http.sqli_keywords as []
		with data.data.http.sqli_patterns as {"any": "union"}
}

test_no_alert_on_the_response if {
	count(sql_injection.violation) == 0 with input as with_query(testdata.items_response, "id=1+or+1=1")
}
