package sentinel.policy.denied_drop_test

import data.sentinel.policy.denied_drop

network := {"policy_drop_reasons": ["POLICY_DENIED", "POLICY_DENY", "AUTH_REQUIRED"]}

# ad_to_postgres mirrors the shopmesh attack: the ad service tries the
# database it has no policy for, and Cilium drops the SYN
# (testdata/flows.jsonl, as the engine measures it).
ad_to_postgres := data.policy.denied_drop.testdata.ad_to_postgres

test_shopmesh_attack_alerts if {
	denied_drop.violation == {{
		"id": "PolicyDeniedDrop",
		"severity": "warning",
		"title": "Flow dropped by network policy",
		"policy": "sentinel.policy.denied_drop",
		"summary": "Cilium dropped EGRESS TCP from shop/ad to shop-data/postgres port 5432 (POLICY_DENIED)",
		"description": denied_drop.violation[_].description,
		"mitre": "T1046",
	}} with input as ad_to_postgres with data.data.network as network
}

test_alerts_on_every_policy_reason if {
	every reason in ["POLICY_DENY", "AUTH_REQUIRED"] {
		count(denied_drop.violation) == 1 with input as object.union(ad_to_postgres, {"drop_reason_desc": reason})
			with data.data.network as network
	}
}

test_summary_without_direction if {
	some v in denied_drop.violation with input as object.remove(ad_to_postgres, ["traffic_direction"])
		with data.data.network as network
	startswith(v.summary, "Cilium dropped TRAFFIC_DIRECTION_UNKNOWN TCP")
}

test_no_alert_on_other_drop_reasons if {
	every reason in ["CT_MAP_INSERTION_FAILED", "STALE_OR_UNROUTABLE_IP", "UNSUPPORTED_L3_PROTOCOL"] {
		count(denied_drop.violation) == 0 with input as object.union(ad_to_postgres, {"drop_reason_desc": reason})
			with data.data.network as network
	}
}

test_no_alert_on_forwarded_flows if {
	count(denied_drop.violation) == 0 with input as object.remove(object.union(ad_to_postgres, {"verdict": "FORWARDED"}), ["drop_reason", "drop_reason_desc"])
		with data.data.network as network
}
