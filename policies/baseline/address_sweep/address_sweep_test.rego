package sentinel.baseline.address_sweep_test

import data.sentinel.baseline.address_sweep
import data.sentinel.baseline.fixture_test

sweep := {"fanout": {"ips": 100, "ports": 1, "baseline_ips": 3, "baseline_ports": 1, "refused_ratio": 0.6, "dropped_ratio": 0.2}}

test_alerts_on_a_sweep if {
	address_sweep.violation == {{
		"id": "BaselineAddressSweep",
		"severity": "warning",
		"title": "Address sweep",
		"policy": "sentinel.baseline.address_sweep",
		"summary": "shop/cart tried 100 addresses in a minute (learned 3); 60% refused, 20% dropped",
		"description": address_sweep.violation[_].description,
		"mitre": "T1018",
	}} with input as fixture_test.judged("cart_to_postgres_syn", sweep)
}

test_a_scraper_with_a_wide_reach_learned_it if {
	count(address_sweep.violation) == 0 with input as fixture_test.judged("prometheus_scrape_syn", {"fanout": {"ips": 120, "baseline_ips": 110}})
}

test_silent_while_learning if {
	count(address_sweep.violation) == 0 with input as fixture_test.learning("cart_to_postgres_syn", sweep)
}
