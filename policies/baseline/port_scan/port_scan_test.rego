package sentinel.baseline.port_scan_test

import data.sentinel.baseline.fixture_test
import data.sentinel.baseline.port_scan

scan := {"fanout": {"ips": 1, "ports": 180, "baseline_ips": 2, "baseline_ports": 1, "refused_ratio": 0.95, "dropped_ratio": 0}}

test_alerts_on_a_scan_that_no_policy_drops if {
	port_scan.violation == {{
		"id": "BaselinePortScan",
		"severity": "warning",
		"title": "Port scan",
		"policy": "sentinel.baseline.port_scan",
		"summary": "shop/cart tried 180 ports of one address in a minute (learned 1); 95% refused, 0% dropped",
		"description": port_scan.violation[_].description,
		"mitre": "T1046",
	}} with input as fixture_test.judged("cart_to_postgres_syn", scan)
}

test_silent_on_replies_and_usual_reach if {
	count(port_scan.violation) == 0 with input as fixture_test.judged("postgres_to_cart_synack", scan)
	count(port_scan.violation) == 0 with input as fixture_test.judged("cart_to_postgres_syn", {"fanout": {"ports": 25, "baseline_ports": 10}})
	count(port_scan.violation) == 0 with input as fixture_test.judged("cart_to_postgres_syn", {"fanout": {"ports": 5, "baseline_ports": 0}})
}

test_silent_while_learning if {
	count(port_scan.violation) == 0 with input as fixture_test.learning("cart_to_postgres_syn", scan)
}
