package sentinel.identity.spoofed_source_test

import data.sentinel.identity.spoofed_source

identity_data := {"spoofing_drop_reasons": ["INVALID_SOURCE_IP", "INVALID_SOURCE_MAC"]}

# forged is a packet the ad pod sent as if from the payment pod's address;
# Cilium drops it as it leaves the ad pod (testdata/flows.jsonl, as the
# engine measures it).
forged := data.identity.spoofed_source.testdata.forged

test_forged_source_address_alerts if {
	spoofed_source.violation == {{
		"id": "SourceAddressSpoofing",
		"severity": "warning",
		"title": "Packet with a spoofed source address",
		"policy": "sentinel.identity.spoofed_source",
		"summary": "Cilium dropped TCP from shop/ad (identity 52761) to 10.0.2.33 port 8443 with a source address it does not own (INVALID_SOURCE_IP, node ip-10-0-0-12.eu-west-1.compute.internal)",
		"description": spoofed_source.violation[_].description,
		"mitre": "T1557",
	}} with input as forged with data.data.identity as identity_data
}

test_forged_mac_alerts if {
	some v in spoofed_source.violation with input as object.remove(object.union(forged, {"drop_reason_desc": "INVALID_SOURCE_MAC"}), ["node_name"])
		with data.data.identity as identity_data
	endswith(v.summary, "(INVALID_SOURCE_MAC, node unknown)")
}

test_no_alert_on_other_drops if {
	every reason in ["POLICY_DENIED", "AUTH_REQUIRED", "STALE_OR_UNROUTABLE_IP", "INVALID_PACKET_DROPPED"] {
		count(spoofed_source.violation) == 0 with input as object.union(forged, {"drop_reason_desc": reason})
			with data.data.identity as identity_data
	}
}

test_no_alert_on_forwarded_flows if {
	count(spoofed_source.violation) == 0 with input as object.remove(object.union(forged, {"verdict": "FORWARDED"}), ["drop_reason", "drop_reason_desc"])
		with data.data.identity as identity_data
}
