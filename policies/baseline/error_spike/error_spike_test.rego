package sentinel.baseline.error_spike_test

import data.sentinel.baseline.error_spike
import data.sentinel.baseline.fixture_test

failing := {"errors": {"ratio": 0.5, "baseline_ratio": 0.01, "client_ratio": 0, "baseline_client_ratio": 0, "responses": 40}}

test_alerts_on_a_spike if {
	error_spike.violation == {{
		"id": "BaselineErrorSpike",
		"severity": "warning",
		"title": "Error spike on one endpoint",
		"policy": "sentinel.baseline.error_spike",
		"summary": "shop/frontend -> shop/catalog GET /product/{id}: 50% of 40 responses were 5xx, learned 1%",
		"description": error_spike.violation[_].description,
		"mitre": "T1499",
	}} with input as fixture_test.judged("catalog_product_response", failing)
}

test_silent_on_few_responses_or_a_usual_share if {
	count(error_spike.violation) == 0 with input as fixture_test.judged("catalog_product_response", {"errors": {"ratio": 1, "baseline_ratio": 0, "responses": 3}})
	count(error_spike.violation) == 0 with input as fixture_test.judged("catalog_product_response", {"errors": {"ratio": 0.5, "baseline_ratio": 0.4, "responses": 40}})
}

test_silent_while_learning if {
	count(error_spike.violation) == 0 with input as fixture_test.learning("catalog_product_response", failing)
}

# One incident, judged once per exchange: on the responses, which carry it.
test_judges_only_the_responses if {
	count(error_spike.violation) == 0 with input as fixture_test.judged("frontend_get_product", failing)
}
