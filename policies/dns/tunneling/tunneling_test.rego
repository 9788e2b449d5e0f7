package sentinel.dns.tunneling_test

import data.sentinel.dns.tunneling
import data.sentinel.lib_test

dns_data := {
	"max_label_length": 52,
	"max_label_entropy": 4.0,
	"entropy_min_label_length": 20,
	"allowed_suffixes": ["cluster.local", "amazonaws.com"],
}

# query builds a DNS request from recommendation to CoreDNS, with the facts
# the engine would measure for it.
query(labels, max_len, entropy) := lib_test.with_names({
	"verdict": "FORWARDED",
	"Type": "L7",
	"is_reply": false,
	"traffic_direction": "EGRESS",
	"IP": {"source": "10.0.1.31", "destination": "10.0.2.10", "ipVersion": "IPv4"},
	"l4": {"UDP": {"source_port": 40112, "destination_port": 53}},
	"l7": {"type": "REQUEST", "dns": {"query": concat("", [concat(".", labels), "."]), "observation_source": "proxy", "qtypes": ["TXT"]}},
	"sentinel": {
		"source": {"kind": "pod", "namespace": "shop", "workload": "recommendation", "pod": "recommendation-5c8d7f9b6-mq4zt", "ip": "10.0.1.31", "identity": 41873},
		"destination": {"kind": "pod", "namespace": "kube-system", "workload": "coredns", "pod": "coredns-5d78c9869d-hx7kp", "ip": "10.0.2.10", "identity": 102, "fqdn": ""},
		"protocol": "UDP",
		"destination_port": 53,
		"dns": {"query": concat(".", labels), "labels": labels, "max_label_length": max_len, "max_label_entropy": entropy, "qtypes": ["TXT"]},
	},
})

# b32 is a 56-character base32 label as the shopmesh attack sends (35 bytes
# of encoded data).
b32 := "mfrggzdfmztwq2lknnwg23tpobyxe43uov3ho6dzpjqwey3emvtgo2lk"

# shopmesh_attack mirrors the simulator: two data labels under a made-up
# exfiltration domain.
shopmesh_attack := query([b32, "ojsxg5dbnz2gk3tufvqxi2dfon2gc5dbmfzwk3ts", "t", "exfil-relay", "example"], 56, 4.473)

test_shopmesh_attack_alerts if {
	tunneling.violation == {{
		"id": "DNSTunnelingSuspected",
		"severity": "warning",
		"title": "DNS tunneling suspected",
		"policy": "sentinel.dns.tunneling",
		"summary": `shop/recommendation sent DNS queries with a 56-character label and a label entropy of 4.47 bits/char under "t.exfil-relay.example"`,
		"description": tunneling.violation[_].description,
		"mitre": "T1071.004",
	}} with input as shopmesh_attack with data.data.dns as dns_data
}

test_alerts_on_long_low_entropy_label if {
	some v in tunneling.violation with input as query(["a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0", "evil", "example"], 54, 1.0)
		with data.data.dns as dns_data
	contains(v.summary, "with a 54-character label under \"evil.example\"")
}

test_alerts_on_random_label_of_moderate_length if {
	some v in tunneling.violation with input as query(["x", "k7q2mzt9vbx4nrp8wjd3hyc6fsl5gae1", "c2", "example"], 32, 4.625)
		with data.data.dns as dns_data
	contains(v.summary, "with a label entropy of 4.62 bits/char under \"c2.example\"")
}

test_no_alert_at_the_thresholds if {
	count(tunneling.violation) == 0 with input as query(["x", "y", "example"], 52, 4.0) with data.data.dns as dns_data
}

test_no_alert_on_random_short_labels if {
	count(tunneling.violation) == 0 with input as query(["k7q2mzt9vbx4nrp8wjd", "example"], 19, 4.1) with data.data.dns as dns_data
}

test_no_alert_on_allowed_suffixes if {
	every labels in [
		[b32, "shop", "svc", "cluster", "local"],
		["internal-a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6", "us-east-1", "elb", "amazonaws", "com"],
	] {
		count(tunneling.violation) == 0 with input as query(labels, 56, 4.5) with data.data.dns as dns_data
	}
}

# Only the query's own domain is allowlisted, not the name of the resolver
# it is sent to.
test_alerts_when_only_the_resolver_is_under_an_allowed_suffix if {
	count(tunneling.violation) == 1 with input as lib_test.with_names(object.union(
		shopmesh_attack,
		{"sentinel": {"destination": {"fqdn": "resolver.eu-west-1.amazonaws.com"}}},
	))
		with data.data.dns as dns_data
}

test_no_alert_on_responses if {
	count(tunneling.violation) == 0 with input as object.union(shopmesh_attack, {"is_reply": true, "l7": {"type": "RESPONSE"}})
		with data.data.dns as dns_data
}

test_no_alert_without_dns if {
	count(tunneling.violation) == 0 with input as object.union(object.remove(shopmesh_attack, ["l7"]), {"l7": {"type": "REQUEST", "http": {}}})
		with data.data.dns as dns_data
}

# The most extreme names in the GKE sample captures.
test_no_alert_on_real_cluster_names if {
	count(tunneling.violation) == 0 with input as query(["contextgraph", "googleapis", "com"], 12, 3.418) with data.data.dns as dns_data
	count(tunneling.violation) == 0 with input as query(["istiod-istio-1611", "istio-system", "svc", "example"], 17, 2.867)
		with data.data.dns as dns_data
}

test_summary_without_labels_names_no_zone if {
	some v in tunneling.violation with input as json.remove(shopmesh_attack, ["sentinel/dns/labels"])
		with data.data.dns as dns_data
	endswith(v.summary, ` under ""`)
}
