package sentinel.dns.tunneling_test

import data.dns.tunneling.testdata
import data.sentinel.dns.tunneling

# The flows are DNS lookups of shop/recommendation, as the engine measured
# them (testdata/flows.jsonl, `make fixtures`): the label lengths and
# entropies are the engine's.

dns_data := {
	"max_label_length": 52,
	"max_label_entropy": 4.0,
	"entropy_min_label_length": 20,
	"allowed_suffixes": ["cluster.local", "amazonaws.com"],
}

# testdata.shopmesh_attack mirrors the simulator: two base32 data labels
# (56 and 40 characters) under a made-up exfiltration domain.
test_shopmesh_attack_alerts if {
	tunneling.violation == {{
		"id": "DNSTunnelingSuspected",
		"severity": "warning",
		"title": "DNS tunneling suspected",
		"policy": "sentinel.dns.tunneling",
		"summary": `shop/recommendation sent DNS queries with a 56-character label and a label entropy of 4.55 bits/char under "t.exfil-relay.example"`,
		"description": tunneling.violation[_].description,
		"mitre": "T1071.004",
	}} with input as testdata.shopmesh_attack with data.data.dns as dns_data
}

test_alerts_on_long_low_entropy_label if {
	some v in tunneling.violation with input as testdata.long_low_entropy_label with data.data.dns as dns_data
	contains(v.summary, "with a 54-character label under \"evil.example\"")
}

# 32 characters, all different: 5 bits per character.
test_alerts_on_random_label_of_moderate_length if {
	some v in tunneling.violation with input as testdata.random_label_of_moderate_length with data.data.dns as dns_data
	contains(v.summary, "with a label entropy of 5.00 bits/char under \"c2.example\"")
}

# A 52-character label, and a 32-character one of 16 symbols twice each: 4
# bits per character.
test_no_alert_at_the_thresholds if {
	testdata.at_the_thresholds.sentinel.dns.max_label_length == 52
	testdata.at_the_thresholds.sentinel.dns.max_label_entropy == 4.0
	count(tunneling.violation) == 0 with input as testdata.at_the_thresholds with data.data.dns as dns_data
}

# 19 characters of entropy 4.25: too short to judge.
test_no_alert_on_random_short_labels if {
	count(tunneling.violation) == 0 with input as testdata.random_short_label with data.data.dns as dns_data
}

test_no_alert_on_allowed_suffixes if {
	every name in ["allowed_cluster_local", "allowed_amazonaws"] {
		count(tunneling.violation) == 0 with input as testdata[name] with data.data.dns as dns_data
	}
}

# Only the query's own domain is allowlisted, not the name of the resolver
# it is sent to (resolver.eu-west-1.amazonaws.com).
test_alerts_when_only_the_resolver_is_under_an_allowed_suffix if {
	count(tunneling.violation) == 1 with input as testdata.shopmesh_attack_to_amazonaws_resolver with data.data.dns as dns_data
}

test_no_alert_on_responses if {
	count(tunneling.violation) == 0 with input as testdata.shopmesh_attack_answer with data.data.dns as dns_data
}

test_no_alert_without_dns if {
	count(tunneling.violation) == 0 with input as object.union(object.remove(testdata.shopmesh_attack, ["l7"]), {"l7": {"type": "REQUEST", "http": {}}})
		with data.data.dns as dns_data
}

# The most extreme names in the GKE sample captures.
test_no_alert_on_real_cluster_names if {
	count(tunneling.violation) == 0 with input as testdata.contextgraph with data.data.dns as dns_data
	count(tunneling.violation) == 0 with input as testdata.istiod with data.data.dns as dns_data
}

# The engine always measures the labels of a query that has long ones; the
# summary still holds without them.
test_summary_without_labels_names_no_zone if {
	some v in tunneling.violation with input as object.union(testdata.shopmesh_attack, {"sentinel": {"dns": {"labels": []}}})
		with data.data.dns as dns_data
	endswith(v.summary, ` under ""`)
}
