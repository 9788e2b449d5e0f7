package sentinel.identity.spoofed_source_test

import data.sentinel.identity.spoofed_source

identity_data := {"spoofing_drop_reasons": ["INVALID_SOURCE_IP", "INVALID_SOURCE_MAC"]}

# forged is a packet the ad pod sent as if from the payment pod's address;
# Cilium drops it as it leaves the ad pod.
forged := {
	"verdict": "DROPPED",
	"drop_reason": 132,
	"drop_reason_desc": "INVALID_SOURCE_IP",
	"Type": "L3_L4",
	"event_type": {"type": 1, "sub_type": 132},
	"traffic_direction": "EGRESS",
	"node_name": "ip-10-0-0-12.eu-west-1.compute.internal",
	"IP": {"source": "10.0.1.70", "destination": "10.0.2.33", "ipVersion": "IPv4"},
	"l4": {"TCP": {"source_port": 443, "destination_port": 8443, "flags": {"SYN": true}}},
	"source": {"identity": 52761, "labels": ["k8s:app=ad", "k8s:io.kubernetes.pod.namespace=shop"], "namespace": "shop", "pod_name": "ad-6f7c9d8b5-kw2lp"},
	"sentinel": {
		"source": {"kind": "pod", "namespace": "shop", "workload": "ad", "pod": "ad-6f7c9d8b5-kw2lp", "ip": "10.0.1.70", "identity": 52761},
		"destination": {"kind": "pod", "namespace": "payments", "workload": "card-vault", "pod": "card-vault-0", "ip": "10.0.2.33", "identity": 48102, "fqdn": ""},
		"protocol": "TCP",
		"destination_port": 8443,
	},
}

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
