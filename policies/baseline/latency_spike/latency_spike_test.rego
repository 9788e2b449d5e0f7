package sentinel.baseline.latency_spike_test

import data.sentinel.baseline.fixture_test
import data.sentinel.baseline.latency_spike

slow := {"latency": {"ms": 960, "baseline_ms": 120, "ratio": 8, "deviations": 12, "samples": 400}}

test_alerts_on_a_spike if {
	latency_spike.violation == {{
		"id": "BaselineLatencySpike",
		"severity": "warning",
		"title": "Latency spike on one path",
		"policy": "sentinel.baseline.latency_spike",
		"summary": "shop/frontend -> shop/catalog GET /product/{id}: latency 960 ms, 8x the learned 120 ms",
		"description": latency_spike.violation[_].description,
		"mitre": "T1557",
	}} with input as fixture_test.judged("catalog_product_response", slow)
}

test_silent_below_the_thresholds if {
	count(latency_spike.violation) == 0 with input as fixture_test.judged("catalog_product_response", {"latency": {"ms": 300, "baseline_ms": 120, "ratio": 2.5, "samples": 400}})
	count(latency_spike.violation) == 0 with input as fixture_test.judged("catalog_product_response", {"latency": {"ms": 40, "baseline_ms": 5, "ratio": 8, "samples": 400}})
	count(latency_spike.violation) == 0 with input as fixture_test.judged("catalog_product_response", {"latency": {"ms": 960, "baseline_ms": 120, "ratio": 8, "deviations": 12, "samples": 3}})
}

test_silent_on_a_path_whose_latency_always_varies if {
	count(latency_spike.violation) == 0 with input as fixture_test.judged("catalog_product_response", {"latency": {"ms": 960, "baseline_ms": 120, "ratio": 8, "deviations": 2, "samples": 400}})
}

test_silent_while_learning if {
	count(latency_spike.violation) == 0 with input as fixture_test.learning("catalog_product_response", slow)
}

# One incident, judged once per exchange: on the responses, which carry it.
test_judges_only_the_responses if {
	count(latency_spike.violation) == 0 with input as fixture_test.judged("frontend_get_product", slow)
}
