package sentinel.policy.audit_verdict_test

import data.sentinel.policy.audit_verdict

# The flows of testdata/flows.jsonl as the engine measures them (make
# fixtures), by uuid.
fixtures := data.policy.audit_verdict.testdata

# audited mirrors the shopmesh denied-database attack under policy audit
# mode: the ad pod's SYN to postgres is let through, with the verdict AUDIT.
audited := fixtures.audited

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
	count(audit_verdict.violation) == 0 with input as fixtures.audited_as_reply
}

test_no_alert_on_other_verdicts if {
	every verdict in ["FORWARDED", "DROPPED", "REDIRECTED"] {
		count(audit_verdict.violation) == 0 with input as object.union(audited, {"verdict": verdict})
	}
}
