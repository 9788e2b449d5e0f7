package sentinel.identity.unmanaged_source_test

import data.sentinel.identity.unmanaged_source

identity_data := {
	"unmanaged_allowed_source_cidrs": ["10.0.9.0/24"],
	"unmanaged_allowed_destinations": ["legacy", "shop/ad"],
}

# The flows of testdata/flows.jsonl as the engine measures them (make
# fixtures), by uuid.
fixtures := data.identity.unmanaged_source.testdata

# unmanaged is a container Cilium does not manage (reserved:unmanaged)
# connecting to the cart service.
unmanaged := fixtures.unmanaged

# unknown is a dropped packet from an address Cilium has no identity for.
unknown := fixtures.unknown

test_unmanaged_source_alerts if {
	unmanaged_source.violation == {{
		"id": "UnmanagedOrUnknownIdentity",
		"severity": "warning",
		"title": "Traffic from an unmanaged or unknown identity",
		"policy": "sentinel.identity.unmanaged_source",
		"summary": "unmanaged 10.0.1.99 (identity 3) sent TCP port 7070 to shop/cart (FORWARDED)",
		"description": unmanaged_source.violation[_].description,
		"mitre": "T1610",
	}} with input as unmanaged with data.data.identity as identity_data
}

test_unknown_source_alerts if {
	some v in unmanaged_source.violation with input as unknown with data.data.identity as identity_data
	v.summary == "unknown 10.0.5.7 (identity 0) sent TCP port 7070 to shop/cart (DROPPED)"
}

test_no_alert_from_other_kinds if {
	every kind in ["pod", "world", "host", "remote-node", "init", "health"] {
		count(unmanaged_source.violation) == 0 with input as object.union(unmanaged, {"sentinel": {"source": {"kind": kind}}})
			with data.data.identity as identity_data
	}
}

test_no_alert_to_other_kinds if {
	every kind in ["host", "world", "remote-node"] {
		count(unmanaged_source.violation) == 0 with input as object.union(unmanaged, {"sentinel": {"destination": {"kind": kind}}})
			with data.data.identity as identity_data
	}
}

test_no_alert_on_replies_or_other_verdicts if {
	count(unmanaged_source.violation) == 0 with input as fixtures.unmanaged_as_reply with data.data.identity as identity_data
	count(unmanaged_source.violation) == 0 with input as object.union(unmanaged, {"verdict": "TRACED"}) with data.data.identity as identity_data
}

test_allowed_sources_and_destinations if {
	count(unmanaged_source.violation) == 0 with input as object.union(unmanaged, {"sentinel": {"source": {"ip": "10.0.9.14"}}})
		with data.data.identity as identity_data
	count(unmanaged_source.violation) == 0 with input as object.union(unmanaged, {"sentinel": {"destination": {"namespace": "legacy", "workload": "crm"}}})
		with data.data.identity as identity_data
	count(unmanaged_source.violation) == 0 with input as object.union(unmanaged, {"sentinel": {"destination": {"workload": "ad"}}})
		with data.data.identity as identity_data
}
