package sentinel.baseline.new_peer_test

import data.sentinel.baseline.fixture_test
import data.sentinel.baseline.new_peer

test_alerts_on_a_new_peer_after_learning if {
	new_peer.violation == {{
		"id": "BaselineNewPeer",
		"severity": "warning",
		"title": "Workload called a peer it never called",
		"policy": "sentinel.baseline.new_peer",
		"summary": "shop/cart called shop-data/postgres on TCP port 5432, a peer its baseline never saw",
		"description": new_peer.violation[_].description,
		"mitre": "T1021",
	}} with input as fixture_test.judged("cart_to_postgres_syn", {"new_peer": true})
}

# The reply carries the same edge; it is judged from the client's side.
test_names_the_client_on_a_reply if {
	some v in new_peer.violation with input as fixture_test.judged("postgres_to_cart_synack", {"new_peer": true})
	v.summary == "shop/cart called shop-data/postgres on TCP port 5432, a peer its baseline never saw"
}

test_silent_while_learning if {
	count(new_peer.violation) == 0 with input as fixture_test.learning("cart_to_postgres_syn", {"new_peer": true})
}

test_silent_on_a_known_peer if {
	count(new_peer.violation) == 0 with input as fixture_test.judged("cart_to_postgres_syn", {"new_peer": false, "known_edge": true})
}

test_the_internet_has_its_own_policy if {
	count(new_peer.violation) == 0 with input as fixture_test.judged("catalog_to_raw_ip", {"new_peer": true})
}

test_allowed_clients_never_alert if {
	count(new_peer.violation) == 0 with input as fixture_test.judged("prometheus_scrape_syn", {"new_peer": true})
	count(new_peer.violation) == 1 with input as fixture_test.judged("prometheus_scrape_syn", {"new_peer": true})
		with data.data.baseline.new_peer_allowed_clients as ["kube-system"]
}
