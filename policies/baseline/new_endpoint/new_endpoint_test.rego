package sentinel.baseline.new_endpoint_test

import data.sentinel.baseline.fixture_test
import data.sentinel.baseline.new_endpoint

test_alerts_on_a_new_endpoint_of_a_known_edge if {
	doc := fixture_test.judged("frontend_get_product", {"new_endpoint": true, "known_edge": true})
	doc.sentinel.baseline.endpoint == "GET /product/{id}"
	new_endpoint.violation == {{
		"id": "BaselineNewEndpoint",
		"severity": "info",
		"title": "New HTTP endpoint called on a known edge",
		"policy": "sentinel.baseline.new_endpoint",
		"summary": "shop/frontend called GET /product/{id} on shop/catalog for the first time",
		"description": new_endpoint.violation[_].description,
		"mitre": "T1190",
	}} with input as doc
}

test_silent_while_learning_or_when_known if {
	count(new_endpoint.violation) == 0 with input as fixture_test.learning("frontend_get_product", {"new_endpoint": true})
	count(new_endpoint.violation) == 0 with input as fixture_test.judged("frontend_get_product", {"new_endpoint": false})
}
