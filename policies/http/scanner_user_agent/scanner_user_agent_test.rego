package sentinel.http.scanner_user_agent_test

import data.http.scanner_user_agent.testdata
import data.sentinel.http.scanner_user_agent

# The flows are requests for / from the Internet to the frontend, each with
# the User-Agent its name says (testdata/flows.jsonl), as the engine measured
# them (`make fixtures`).

scanners := ["sqlmap", "nikto", "nmap", "zgrab", "fuzz", "hydra", "censysinspect", "openvas"]

test_sqlmap_alerts if {
	scanner_user_agent.violation == {{
		"id": "HTTPScannerUserAgent",
		"severity": "warning",
		"title": "HTTP request from a vulnerability scanner",
		"policy": "sentinel.http.scanner_user_agent",
		"summary": "world 203.0.113.77 sent HTTP GET / to shop/frontend as sqlmap",
		"description": scanner_user_agent.violation[_].description,
		"mitre": "T1595.002",
	}} with input as testdata.sqlmap
		with data.data.http.scanner_user_agents as scanners
}

test_scanners_alert_wherever_their_token_is if {
	every name in ["nikto", "zgrab", "nmap", "ffuf", "censys", "hydra", "openvas", "upper_case_sqlmap"] {
		count(scanner_user_agent.violation) == 1 with input as testdata[name]
			with data.data.http.scanner_user_agents as scanners
	}
}

test_the_shipped_list_knows_common_scanners if {
	every name in ["nuclei", "masscan", "gobuster", "dirbuster", "wpscan", "feroxbuster", "expanse"] {
		count(scanner_user_agent.violation) == 1 with input as testdata[name]
	}
}

test_internal_scans_alert if {
	some v in scanner_user_agent.violation with input as testdata.zgrab_from_pod
		with data.data.http.scanner_user_agents as scanners
	startswith(v.summary, "shop/ad sent")
}

test_ordinary_clients_do_not_alert if {
	every name in [
		"curl", "wget", "python_requests", "go_http_client", "prometheus", "kube_probe", "grpc_go", "okhttp",
		"googlebot", "uptimerobot", "elb_health_checker", "apache_httpclient", "redacted", "no_user_agent",
	] {
		count(scanner_user_agent.violation) == 0 with input as testdata[name]
	}
}

test_a_token_must_end_the_word_or_be_followed_by_a_non_letter if {
	count(scanner_user_agent.violation) == 0 with input as testdata.hydrangea
		with data.data.http.scanner_user_agents as scanners
}

test_no_alert_on_the_response if {
	count(scanner_user_agent.violation) == 0 with input as testdata.sqlmap_response
		with data.data.http.scanner_user_agents as scanners
}
