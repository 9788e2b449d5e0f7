package sentinel.identity.mutual_auth_test

import data.sentinel.identity.mutual_auth

identity_data := {
	"mutual_auth_required": ["payments", "shop/checkout"],
	"mutual_auth_types": ["SPIRE"],
	"mutual_auth_exempt_source_kinds": ["host", "remote-node", "health", "kube-apiserver"],
}

# The flows of testdata/flows.jsonl as the engine measures them (make
# fixtures), by uuid.
fixtures := data.identity.mutual_auth.testdata

# verdict is the ingress policy verdict (event type 5) on payments' node
# for a connection from the frontend, as Hubble reports it when the rule
# that admitted it required no authentication (auth_type left out).
verdict := fixtures.verdict

test_unauthenticated_verdict_alerts if {
	mutual_auth.violation == {{
		"id": "UnauthenticatedFlowToProtectedService",
		"severity": "warning",
		"title": "Unauthenticated flow into a service that requires mutual authentication",
		"policy": "sentinel.identity.mutual_auth",
		"summary": "shop/frontend reached payments/card-vault on TCP port 8443 through a policy that required no mutual authentication (auth_type DISABLED)",
		"description": mutual_auth.violation[_].description,
		"mitre": "T1021",
	}} with input as verdict with data.data.identity as identity_data
}

test_alerts_on_auth_types_not_accepted if {
	some v in mutual_auth.violation with input as object.union(verdict, {"auth_type": "TEST_ALWAYS_FAIL"})
		with data.data.identity as identity_data
	endswith(v.summary, "(auth_type TEST_ALWAYS_FAIL)")
	count(mutual_auth.violation) == 1 with input as object.union(verdict, {"auth_type": "DISABLED"})
		with data.data.identity as identity_data
}

test_alerts_on_redirected_verdicts if {
	count(mutual_auth.violation) == 1 with input as object.union(verdict, {"verdict": "REDIRECTED"}) with data.data.identity as identity_data
}

test_protected_workload if {
	checkout := object.union(verdict, {"sentinel": {"destination": {"namespace": "shop", "workload": "checkout", "pod": "checkout-6c7d8e9f0-k2l3m"}}})
	count(mutual_auth.violation) == 1 with input as checkout with data.data.identity as identity_data
	cart := object.union(verdict, {"sentinel": {"destination": {"namespace": "shop", "workload": "cart", "pod": "cart-5d6e7f8a9-n4p5q"}}})
	count(mutual_auth.violation) == 0 with input as cart with data.data.identity as identity_data
}

test_no_alert_when_authenticated if {
	count(mutual_auth.violation) == 0 with input as object.union(verdict, {"auth_type": "SPIRE"}) with data.data.identity as identity_data
}

test_no_alert_from_exempt_kinds if {
	every kind in ["host", "remote-node", "health", "kube-apiserver"] {
		count(mutual_auth.violation) == 0 with input as object.union(verdict, {"sentinel": {"source": {"kind": kind, "namespace": "", "workload": "", "pod": ""}}})
			with data.data.identity as identity_data
	}
}

test_no_alert_on_other_events if {
	every doc in [
		object.union(verdict, {"event_type": {"type": 4}, "trace_observation_point": "TO_ENDPOINT"}), # a trace never carries auth_type
		object.union(verdict, {"traffic_direction": "EGRESS"}), # the source's egress policy
		object.union(verdict, {"verdict": "DROPPED", "drop_reason_desc": "AUTH_REQUIRED"}), # PolicyDeniedDrop's
		fixtures.verdict_as_reply,
		object.union(verdict, {"sentinel": {"destination": {"kind": "world", "namespace": "", "workload": "", "pod": ""}}}),
	] {
		count(mutual_auth.violation) == 0 with input as doc with data.data.identity as identity_data
	}
}

test_no_alert_by_default if {
	count(mutual_auth.violation) == 0 with input as verdict
}
