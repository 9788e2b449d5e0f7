package sentinel.identity.encryption_test

import data.sentinel.identity.encryption

identity_data := {"encryption_required": ["shop-data", "shop/payment"]}

# The flows of testdata/flows.jsonl as the engine measures them (make
# fixtures), by uuid.
fixtures := data.identity.encryption.testdata

# to_network is checkout's connection to postgres on another node, traced
# as it leaves checkout's node on the native device, in plain text.
to_network := fixtures.to_network

test_plain_text_on_the_wire_alerts if {
	encryption.violation == {{
		"id": "UnencryptedFlowWhereRequired",
		"severity": "warning",
		"title": "Unencrypted flow where encryption is required",
		"policy": "sentinel.identity.encryption",
		"summary": "shop/checkout to shop-data/postgres on TCP port 5432 crossed the network unencrypted (TO_NETWORK on node ip-10-0-0-11.eu-west-1.compute.internal)",
		"description": encryption.violation[_].description,
		"mitre": "T1040",
	}} with input as to_network with data.data.identity as identity_data
}

test_required_source_alerts if {
	payment := object.union(to_network, {"sentinel": {
		"source": {"workload": "payment", "pod": "payment-7d8e9f0a1-r6s7t"},
		"destination": {"namespace": "shop", "workload": "currency", "pod": "currency-8e9f0a1b2-u8v9w"},
	}})
	count(encryption.violation) == 1 with input as payment with data.data.identity as identity_data
}

test_both_sides_required_make_one_violation if {
	both := object.union(to_network, {"sentinel": {"source": {"workload": "payment", "pod": "payment-7d8e9f0a1-r6s7t"}}})
	count(encryption.violation) == 1 with input as both with data.data.identity as identity_data
}

test_from_network_and_replies_alert if {
	from_network := object.union(to_network, {"trace_observation_point": "FROM_NETWORK", "traffic_direction": "INGRESS"})
	count(encryption.violation) == 1 with input as from_network with data.data.identity as identity_data
	count(encryption.violation) == 1 with input as fixtures.to_network_as_reply with data.data.identity as identity_data
}

test_summary_without_node_name if {
	some v in encryption.violation with input as object.remove(to_network, ["node_name"]) with data.data.identity as identity_data
	endswith(v.summary, "(TO_NETWORK on node unknown)")
}

test_no_alert_when_encrypted if {
	count(encryption.violation) == 0 with input as object.union(to_network, {"IP": {"encrypted": true}}) with data.data.identity as identity_data
}

# Encryption happens after these points or was undone before them: their
# flows never say encrypted.
test_no_alert_at_other_observation_points if {
	every point in ["TO_OVERLAY", "TO_STACK", "TO_ENDPOINT", "FROM_ENDPOINT", "TO_PROXY", "TO_CRYPTO", "FROM_CRYPTO"] {
		count(encryption.violation) == 0 with input as object.union(to_network, {"trace_observation_point": point})
			with data.data.identity as identity_data
	}
	count(encryption.violation) == 0 with input as object.remove(to_network, ["trace_observation_point"])
		with data.data.identity as identity_data
}

test_no_alert_with_peers_outside_the_pod_network if {
	every kind in ["world", "host", "remote-node"] {
		count(encryption.violation) == 0 with input as object.union(to_network, {"sentinel": {"source": {"kind": kind}}})
			with data.data.identity as identity_data
		count(encryption.violation) == 0 with input as object.union(to_network, {"sentinel": {"destination": {"kind": kind}}})
			with data.data.identity as identity_data
	}
}

test_no_alert_on_drops if {
	count(encryption.violation) == 0 with input as object.union(to_network, {"verdict": "DROPPED", "drop_reason_desc": "UNENCRYPTED_TRAFFIC"})
		with data.data.identity as identity_data
}

test_no_alert_when_not_required if {
	count(encryption.violation) == 0 with input as to_network with data.data.identity as {"encryption_required": ["payments"]}
	count(encryption.violation) == 0 with input as to_network
}
