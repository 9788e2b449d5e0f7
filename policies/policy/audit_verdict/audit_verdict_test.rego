package sentinel.policy.audit_verdict_test

import data.sentinel.policy.audit_verdict

# audited mirrors the shopmesh denied-database attack under policy audit
# mode: the ad pod's SYN to postgres is let through, with the verdict AUDIT.
audited := {
	"verdict": "AUDIT",
	"Type": "L3_L4",
	"event_type": {"type": 5},
	"traffic_direction": "INGRESS",
	"IP": {"source": "10.0.1.40", "destination": "10.0.3.12", "ipVersion": "IPv4"},
	"l4": {"TCP": {"source_port": 39812, "destination_port": 5432, "flags": {"SYN": true}}},
	"sentinel": {
		"source": {"kind": "pod", "namespace": "shop", "workload": "ad", "pod": "ad-6f7c9d8b5-kw2lp", "ip": "10.0.1.40", "identity": 52761},
		"destination": {"kind": "pod", "namespace": "shop-data", "workload": "postgres", "pod": "postgres-0", "ip": "10.0.3.12", "identity": 60412, "fqdn": ""},
		"protocol": "TCP",
		"destination_port": 5432,
	},
}

test_audited_flow_alerts if {
	audit_verdict.violation == {{
		"id": "PolicyAuditVerdict",
		"severity": "info",
		"title": "Flow policy would deny, passed in audit mode",
		"policy": "sentinel.policy.audit_verdict",
		"summary": "Cilium audit mode let INGRESS TCP from shop/ad to shop-data/postgres port 5432 pass, which policy would deny",
		"description": audit_verdict.violation[_].description,
		"mitre": "T1046",
	}} with input as audited
}

test_summary_without_direction if {
	some v in audit_verdict.violation with input as object.remove(audited, ["traffic_direction"])
	startswith(v.summary, "Cilium audit mode let TRAFFIC_DIRECTION_UNKNOWN TCP")
}

test_no_alert_on_replies if {
	count(audit_verdict.violation) == 0 with input as object.union(audited, {"is_reply": true})
}

test_no_alert_on_other_verdicts if {
	every verdict in ["FORWARDED", "DROPPED", "REDIRECTED"] {
		count(audit_verdict.violation) == 0 with input as object.union(audited, {"verdict": verdict})
	}
}
