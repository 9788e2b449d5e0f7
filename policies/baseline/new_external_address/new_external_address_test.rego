package sentinel.baseline.new_external_address_test

import data.sentinel.baseline.fixture_test
import data.sentinel.baseline.new_external_address

test_alerts_on_a_new_address_without_a_name if {
	new_external_address.violation == {{
		"id": "BaselineNewExternalAddress",
		"severity": "warning",
		"title": "Connection to a never-seen Internet address without a name",
		"policy": "sentinel.baseline.new_external_address",
		"summary": "shop/catalog connected to 203.0.113.77 on TCP port 443, an address it never contacted and did not resolve",
		"description": new_external_address.violation[_].description,
		"mitre": "T1041",
	}} with input as fixture_test.judged("catalog_to_raw_ip", {"new_peer": true})
}

test_a_named_destination_is_not_a_raw_address if {
	doc := fixture_test.judged("catalog_to_named_host", {"new_peer": true})
	doc.sentinel.baseline.peer == "fqdn:api.stripe.com"
	count(new_external_address.violation) == 0 with input as doc
}

test_silent_while_learning_or_when_known if {
	count(new_external_address.violation) == 0 with input as fixture_test.learning("catalog_to_raw_ip", {"new_peer": true})
	count(new_external_address.violation) == 0 with input as fixture_test.judged("catalog_to_raw_ip", {"new_peer": false})
}

test_internal_ranges_labelled_world_never_alert if {
	count(new_external_address.violation) == 0 with input as fixture_test.judged("catalog_to_raw_ip", {"new_peer": true})
		with data.data.network.internal_cidrs as ["203.0.113.0/24"]
}
