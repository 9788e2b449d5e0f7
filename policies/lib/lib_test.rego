package sentinel.lib_test

import data.sentinel.lib

# with_names adds what the engine measures of a destination's names to a
# hand-built input: input.sentinel.destination.names (the FQDN, HTTP host and
# DNS query, normalised, each once) and .domains (each name and its parent
# domains). Builders apply it after merging their overrides, so the two
# fields always agree with the rest of the document.
with_names(doc) := object.union(doc, {"sentinel": {"destination": {"names": names, "domains": parent_domains(names)}}}) if {
	names := destination_names(doc)
}

destination_names(doc) := [name |
	some i, name in candidates
	name != ""
	not name in array.slice(candidates, 0, i)
] if {
	candidates := [lib.hostname(object.get(doc, path, "")) |
		some path in [["sentinel", "destination", "fqdn"], ["sentinel", "http", "host"], ["sentinel", "dns", "query"]]
	]
}

parent_domains(names) := [domain |
	some i, domain in domains
	domain != ""
	not domain in array.slice(domains, 0, i)
] if {
	domains := [concat(".", array.slice(labels, j, count(labels))) |
		some name in names
		labels := split(name, ".")
		some j in numbers.range(0, count(labels) - 1)
	]
}

# The cases of the engine's TestDestinationNames (engine/input).
test_with_names_computes_what_the_engine_measures if {
	stripe := with_names({"sentinel": {"destination": {"fqdn": "API.Stripe.com"}, "http": {"host": "api.stripe.com:443"}}})
	stripe.sentinel.destination.names == ["api.stripe.com"]
	stripe.sentinel.destination.domains == ["api.stripe.com", "stripe.com", "com"]

	pool := with_names({"sentinel": {"destination": {"fqdn": ""}, "dns": {"query": "pool.minexmr.com"}}})
	pool.sentinel.destination.names == ["pool.minexmr.com"]
	pool.sentinel.destination.domains == ["pool.minexmr.com", "minexmr.com", "com"]

	ipv6 := with_names({"sentinel": {"destination": {"fqdn": ""}, "http": {"host": "[fd00:ec2::254]:80"}}})
	ipv6.sentinel.destination.names == ["fd00:ec2::254"]
	ipv6.sentinel.destination.domains == ["fd00:ec2::254"]

	nothing := with_names({"sentinel": {"destination": {"fqdn": ""}}})
	nothing.sentinel.destination.names == []
	nothing.sentinel.destination.domains == []
}

test_with_names_lists_each_name_and_domain_once if {
	doc := with_names({"sentinel": {
		"destination": {"fqdn": "a.example.com"},
		"http": {"host": "A.Example.com."},
		"dns": {"query": "b.example.com"},
	}})
	doc.sentinel.destination.names == ["a.example.com", "b.example.com"]
	doc.sentinel.destination.domains == ["a.example.com", "example.com", "com", "b.example.com"]
}

chain := [
	{"annotations": {"scope": "rule", "title": "a rule"}, "path": ["sentinel", "egress", "example", "violation"]},
	{
		"annotations": {
			"scope": "package",
			"title": "Example title",
			"description": "Why it matters.",
			"custom": {"id": "ExampleID", "severity": "critical", "mitre": "T1552.005", "tags": ["egress"]},
		},
		"path": ["sentinel", "egress", "example"],
	},
]

test_violation_carries_package_metadata if {
	lib.violation(chain, "what happened") == {
		"id": "ExampleID",
		"severity": "critical",
		"title": "Example title",
		"policy": "sentinel.egress.example",
		"summary": "what happened",
		"description": "Why it matters.",
		"mitre": "T1552.005",
	}
}

test_violation_policy_drops_a_data_root if {
	v := lib.violation([{"annotations": chain[1].annotations, "path": ["data", "sentinel", "dns", "x"]}], "s")
	v.policy == "sentinel.dns.x"
}

test_violation_defaults_missing_metadata if {
	v := lib.violation([{"annotations": {"scope": "package"}, "path": ["sentinel", "dns", "x"]}], "s")
	v == {
		"id": "sentinel.dns.x",
		"severity": "warning",
		"title": "sentinel.dns.x",
		"policy": "sentinel.dns.x",
		"summary": "s",
		"description": "",
		"mitre": "",
	}
}

test_violation_needs_a_package_annotation if {
	not lib.violation([chain[0]], "s")
}

# The real chain, as OPA builds it for a policy's rule: paths carry no data root.
test_violation_from_rego_metadata_chain if {
	some v in data.sentinel.egress.cloud_metadata.violation with data.data.egress as {
		"metadata_addresses": ["169.254.169.254"],
		"metadata_names": [],
		"metadata_exempt_source_kinds": [],
		"metadata_allowed_workloads": [],
		"metadata_dns_forwarders": [],
	}
		with input as with_names({
			"is_reply": false,
			"sentinel": {
				"source": {"kind": "pod", "namespace": "shop", "workload": "catalog", "ip": "10.0.1.7"},
				"destination": {"kind": "world", "ip": "169.254.169.254", "fqdn": ""},
				"protocol": "TCP",
				"destination_port": 80,
			},
		})
	v.policy == "sentinel.egress.cloud_metadata"
	v.id == "EgressToCloudMetadata"
}

test_is_request if {
	lib.is_request with input as {"l7": {"type": "REQUEST"}}
	not lib.is_request with input as {"l7": {"type": "RESPONSE"}}
	not lib.is_request with input as {"Type": "L3_L4"}
}

test_is_reply_and_not_reply if {
	lib.is_reply with input as {"is_reply": true}
	lib.is_reply with input as {"reply": true}
	lib.not_reply with input as {"is_reply": false}
	lib.not_reply with input as {}
	not lib.not_reply with input as {"is_reply": true}
}

test_ip_in_cidrs if {
	cidrs := ["10.0.0.0/8", "fc00::/7"]
	lib.ip_in_cidrs("10.156.2.7", cidrs)
	lib.ip_in_cidrs("fd00:ec2::254", cidrs)
	not lib.ip_in_cidrs("35.246.31.234", cidrs)
	not lib.ip_in_cidrs("2001:db8::1", cidrs)
	not lib.ip_in_cidrs("10.0.0.1", [])
}

test_hostname if {
	lib.hostname("Metadata.Google.Internal.") == "metadata.google.internal"
	lib.hostname("api.stripe.com:443") == "api.stripe.com"
	lib.hostname("[fd00:ec2::254]:80") == "fd00:ec2::254"
	lib.hostname("[fd00:ec2::254]") == "fd00:ec2::254"
	lib.hostname("fd00:ec2::254") == "fd00:ec2::254"
	lib.hostname("169.254.169.254") == "169.254.169.254"
}

test_name_in_domains if {
	lib.name_in_domains("nanopool.org", ["nanopool.org"])
	lib.name_in_domains("xmr-eu1.Nanopool.org.", ["nanopool.org"])
	lib.name_in_domains("x.nanopool.org", [".nanopool.org"])
	not lib.name_in_domains("notnanopool.org", ["nanopool.org"])
	not lib.name_in_domains("nanopool.org.evil.example", ["nanopool.org"])
	not lib.name_in_domains("anything.example", ["", "."])
}

test_destination_names if {
	lib.destination_names == {"api.stripe.com", "metadata.google.internal", "x.example"} with input as with_names({"sentinel": {
		"destination": {"fqdn": "api.stripe.com"},
		"http": {"host": "Metadata.Google.Internal:80"},
		"dns": {"query": "x.example"},
	}})
	lib.destination_names == set() with input as with_names({"sentinel": {"destination": {"fqdn": ""}, "http": {"host": ""}}})
}

test_endpoint if {
	lib.endpoint({"kind": "pod", "namespace": "shop", "workload": "cart", "ip": "10.0.1.2"}) == "shop/cart"
	lib.endpoint({"kind": "world", "namespace": "", "workload": "", "ip": "203.0.113.7"}) == "world 203.0.113.7"
	lib.endpoint({}) == "unknown "
}

test_workload_key if {
	lib.workload_key({"namespace": "shop", "workload": "email"}) == "shop/email"
	lib.workload_key({}) == "/"
}

# A flow from shop/frontend to shop-data/postgres on 5432, as the exception
# tests see it.
exception_input := with_names({"sentinel": {
	"source": {"kind": "pod", "namespace": "shop", "workload": "frontend", "ip": "10.0.1.5"},
	"destination": {"kind": "pod", "namespace": "shop-data", "workload": "postgres", "ip": "10.0.2.9", "fqdn": "db.shop.example"},
	"destination_port": 5432,
}})

test_violation_without_exceptions_data_alerts if {
	lib.violation(chain, "s") with data.data as {} with input as exception_input
}

test_exception_covers_the_flow_when_every_field_it_sets_matches if {
	every exception in [
		{"name": "all of it", "policies": ["ExampleID"]},
		{"name": "by source namespace", "source_namespaces": ["other", "shop"]},
		{"name": "by source workload", "source_workloads": ["shop/frontend"]},
		{"name": "by peer namespace", "destination_namespaces": ["shop-data"]},
		{"name": "by peer workload", "destination_workloads": ["shop-data/postgres"]},
		{"name": "by port", "destination_ports": [5432]},
		{"name": "by peer domain", "destination_names": ["shop.example"]},
		{"name": "by peer cidr", "destination_cidrs": ["10.0.2.0/24"]},
		{
			"name": "every field",
			"policies": ["ExampleID"],
			"source_namespaces": ["shop"],
			"source_workloads": ["shop/frontend"],
			"destination_namespaces": ["shop-data"],
			"destination_workloads": ["shop-data/postgres"],
			"destination_ports": [5432],
			"destination_names": ["db.shop.example"],
			"destination_cidrs": ["10.0.2.9/32"],
		},
		{"name": "empty lists match anything", "policies": [], "destination_ports": []},
	] {
		not lib.violation(chain, "s") with data.data.exceptions as [exception] with input as exception_input
	}
}

test_exception_that_misses_one_field_does_not_cover_the_flow if {
	every exception in [
		{"name": "other policy", "policies": ["OtherID"]},
		{"name": "other source namespace", "policies": ["ExampleID"], "source_namespaces": ["payments"]},
		{"name": "other source workload", "source_workloads": ["shop/cart"]},
		{"name": "other peer namespace", "destination_namespaces": ["shop"]},
		{"name": "other peer workload", "destination_workloads": ["shop-data/redis"]},
		{"name": "other port", "destination_ports": [5433]},
		{"name": "other domain", "destination_names": ["example.org"]},
		{"name": "a suffix is not a parent domain", "destination_names": ["op.example"]},
		{"name": "other cidr", "destination_cidrs": ["10.0.3.0/24"]},
		{"name": "one field of several misses", "source_namespaces": ["shop"], "destination_ports": [22]},
	] {
		lib.violation(chain, "s") with data.data.exceptions as [exception] with input as exception_input
	}
}

test_any_exception_of_several_covers_the_flow if {
	not lib.violation(chain, "s") with data.data.exceptions as [
		{"name": "other", "destination_ports": [22]},
		{"name": "this one", "source_workloads": ["shop/frontend"]},
	]
		with input as exception_input
}

# tcp builds a TCP packet from sport to dport with the given flags, in no
# direction Cilium told.
tcp(sport, dport, flags) := {
	"l4": {"TCP": {"source_port": sport, "destination_port": dport, "flags": flags}},
	"sentinel": {"protocol": "TCP", "destination_port": dport},
}

udp(sport, dport) := {
	"l4": {"UDP": {"source_port": sport, "destination_port": dport}},
	"sentinel": {"protocol": "UDP", "destination_port": dport},
}

test_cilium_says_which_way if {
	lib.initiated with input as object.union(tcp(9080, 58950, {"ACK": true}), {"is_reply": false})
	not lib.initiated with input as object.union(tcp(51000, 443, {"SYN": true}), {"is_reply": true})
	not lib.initiated with input as object.union(tcp(51000, 443, {"SYN": true}), {"reply": true})
}

test_a_syn_is_an_initiation_and_a_syn_ack_a_reply if {
	lib.initiated with input as tcp(40000, 50051, {"SYN": true})
	not lib.initiated with input as tcp(9080, 58950, {"SYN": true, "ACK": true})
}

# The GKE sample captures: a pod's FIN from 9080 to a remote node's 58634,
# in no direction.
test_a_server_port_answering_an_ephemeral_port_is_a_reply if {
	not lib.initiated with input as tcp(9080, 58634, {"ACK": true, "FIN": true})
	not lib.initiated with input as udp(53, 40001)
	lib.initiated with input as tcp(45000, 10250, {"ACK": true, "PSH": true})
	lib.initiated with input as udp(40001, 53)
	lib.initiated with input as {
		"l4": {"SCTP": {"source_port": 40001, "destination_port": 3868}},
		"sentinel": {"protocol": "SCTP", "destination_port": 3868},
	}
	not lib.initiated with input as {
		"l4": {"SCTP": {"source_port": 3868, "destination_port": 40001}},
		"sentinel": {"protocol": "SCTP", "destination_port": 40001},
	}
}

test_icmp_echo_replies_are_replies if {
	not lib.initiated with input as {"l4": {"ICMPv4": {"type": 0}}, "sentinel": {"protocol": "ICMPv4", "destination_port": 0}}
	not lib.initiated with input as {"l4": {"ICMPv6": {"type": 129}}, "sentinel": {"protocol": "ICMPv6", "destination_port": 0}}
	lib.initiated with input as {"l4": {"ICMPv4": {"type": 8}}, "sentinel": {"protocol": "ICMPv4", "destination_port": 0}}
	lib.initiated with input as {"l4": {"ICMPv6": {"type": 128}}, "sentinel": {"protocol": "ICMPv6", "destination_port": 0}}
}

# A drop carries no direction and often no flags worth reading: with a
# source port above the destination port it counts as an initiation.
test_without_ports_or_flags_the_source_initiated if {
	lib.initiated with input as {"sentinel": {"protocol": "", "destination_port": 0}}
}

test_listed_by_namespace_or_workload if {
	lib.listed({"namespace": "monitoring", "workload": "prometheus"}, ["monitoring"])
	lib.listed({"namespace": "istio-system", "workload": "prometheus"}, ["istio-system/prometheus"])
	not lib.listed({"namespace": "istio-system", "workload": "istiod"}, ["istio-system/prometheus"])
	not lib.listed({"namespace": "shop", "workload": "cart"}, [])
}

test_sides_without_a_namespace_are_never_listed if {
	not lib.listed({"kind": "host", "namespace": "", "workload": ""}, ["", "/"])
}
