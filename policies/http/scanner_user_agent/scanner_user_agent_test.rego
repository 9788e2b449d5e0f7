package sentinel.http.scanner_user_agent_test

import data.sentinel.http.request_test.from_pod
import data.sentinel.http.request_test.get
import data.sentinel.http.request_test.response
import data.sentinel.http.request_test.with_user_agent
import data.sentinel.http.scanner_user_agent

scanners := ["sqlmap", "nikto", "nmap", "zgrab", "fuzz", "hydra", "censysinspect", "openvas"]

scan(ua) := with_user_agent(get("/"), ua)

test_sqlmap_alerts if {
	scanner_user_agent.violation == {{
		"id": "HTTPScannerUserAgent",
		"severity": "warning",
		"title": "HTTP request from a vulnerability scanner",
		"policy": "sentinel.http.scanner_user_agent",
		"summary": "world 203.0.113.77 sent HTTP GET / to shop/frontend as sqlmap",
		"description": scanner_user_agent.violation[_].description,
		"mitre": "T1595.002",
	}} with input as scan("sqlmap/1.7.2#stable (https://sqlmap.org)")
		with data.data.http.scanner_user_agents as scanners
}

test_scanners_alert_wherever_their_token_is if {
	every ua in [
		"Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:Port Check)",
		"Mozilla/5.0 zgrab/0.x",
		"Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
		"Fuzz Faster U Fool v2.1.0-dev",
		"Mozilla/5.0 (compatible; CensysInspect/1.1; +https://about.censys.io/)",
		"Mozilla/4.0 (Hydra)",
		"Mozilla/5.0 [en] (X11, U; OpenVAS-VT 9.0.3)",
		"SQLMAP/1.0",
	] {
		count(scanner_user_agent.violation) == 1 with input as scan(ua)
			with data.data.http.scanner_user_agents as scanners
	}
}

test_the_shipped_list_knows_common_scanners if {
	every ua in [
		"Nuclei - Open-source project (github.com/projectdiscovery/nuclei)",
		"masscan/1.3 (https://github.com/robertdavidgraham/masscan)",
		"gobuster/3.6",
		"DirBuster-1.0-RC1 (http://www.owasp.org/index.php/Category:OWASP_DirBuster_Project)",
		"WPScan v3.8.25 (https://wpscan.com/wordpress-security-scanner)",
		"feroxbuster/2.10.1",
		"Expanse, a Palo Alto Networks company, searches across the global IPv4 space",
	] {
		count(scanner_user_agent.violation) == 1 with input as scan(ua)
	}
}

test_internal_scans_alert if {
	some v in scanner_user_agent.violation with input as from_pod(scan("Mozilla/5.0 zgrab/0.x"))
		with data.data.http.scanner_user_agents as scanners
	startswith(v.summary, "shop/ad sent")
}

test_ordinary_clients_do_not_alert if {
	every ua in [
		"curl/8.5.0",
		"Wget/1.21.4",
		"python-requests/2.31.0",
		"Go-http-client/1.1",
		"Prometheus/2.53.0",
		"kube-probe/1.30",
		"grpc-go/1.64.0",
		"okhttp/4.12.0",
		"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
		"Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
		"ELB-HealthChecker/2.0",
		"Apache-HttpClient/4.5.14 (Java/17.0.9)",
		"HUBBLE_REDACTED",
		"",
	] {
		count(scanner_user_agent.violation) == 0 with input as scan(ua)
	}
}

test_a_token_must_end_the_word_or_be_followed_by_a_non_letter if {
	count(scanner_user_agent.violation) == 0 with input as scan("Hydrangea-Client/1.0")
		with data.data.http.scanner_user_agents as scanners
}

test_no_alert_on_the_response if {
	count(scanner_user_agent.violation) == 0 with input as response(scan("sqlmap/1.7.2"))
		with data.data.http.scanner_user_agents as scanners
}
