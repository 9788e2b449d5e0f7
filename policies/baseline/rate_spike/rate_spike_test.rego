package sentinel.baseline.rate_spike_test

import data.sentinel.baseline.fixture_test
import data.sentinel.baseline.rate_spike

flood := {"rate": {"per_min": 600, "baseline_per_min": 60}}

test_alerts_on_a_spike if {
	rate_spike.violation == {{
		"id": "BaselineRequestRateSpike",
		"severity": "warning",
		"title": "Request rate spike from one caller",
		"policy": "sentinel.baseline.rate_spike",
		"summary": "shop/frontend -> shop/catalog GET /product/{id}: 600 requests a minute, learned 60",
		"description": rate_spike.violation[_].description,
		"mitre": "T1498",
	}} with input as fixture_test.judged("frontend_get_product", flood)
}

test_a_quiet_edge_does_not_fire_on_a_few_extra_calls if {
	count(rate_spike.violation) == 0 with input as fixture_test.judged("frontend_get_product", {"rate": {"per_min": 12, "baseline_per_min": 0.5}})
}

test_silent_within_the_usual_rate if {
	count(rate_spike.violation) == 0 with input as fixture_test.judged("frontend_get_product", {"rate": {"per_min": 200, "baseline_per_min": 60}})
}

test_silent_while_learning if {
	count(rate_spike.violation) == 0 with input as fixture_test.learning("frontend_get_product", flood)
}

# One incident, judged once per exchange: on the requests, which carry it.
test_judges_only_the_requests if {
	count(rate_spike.violation) == 0 with input as fixture_test.judged("catalog_product_response", flood)
}
