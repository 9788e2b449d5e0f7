package sentinel.dns.names_test

import data.sentinel.dns.names
import data.sentinel.lib_test

dns_data := {
	"internal_zones": ["cluster.local", "internal"],
	"public_suffixes": ["co.uk", "com.au"],
}

client := {"kind": "pod", "namespace": "shop", "workload": "recommendation", "pod": "recommendation-5c8d7f9b6-mq4zt", "ip": "10.0.1.31", "identity": 41873}

resolver := {"kind": "pod", "namespace": "kube-system", "workload": "coredns", "pod": "coredns-5d78c9869d-hx7kp", "ip": "10.0.2.10", "identity": 102, "fqdn": ""}

# facts are what the engine measures of a query (given without the
# trailing dot, in the case the client sent).
facts(query, qtypes) := {
	"query": query,
	"labels": labels,
	"max_label_length": max([count(label) | some label in labels]),
	"max_label_entropy": 3.0,
	"qtypes": qtypes,
} if {
	labels := split(query, ".")
}

# request builds a DNS request from shop/recommendation to CoreDNS, as the
# engine presents it. Builders of the DNS policies' tests share it.
request(query, qtypes) := lib_test.with_names({
	"verdict": "FORWARDED",
	"Type": "L7",
	"is_reply": false,
	"traffic_direction": "EGRESS",
	"event_type": {"type": 129},
	"IP": {"source": client.ip, "destination": resolver.ip, "ipVersion": "IPv4"},
	"l4": {"UDP": {"source_port": 40112, "destination_port": 53}},
	"l7": {"type": "REQUEST", "dns": {"query": concat("", [query, "."]), "observation_source": "proxy", "qtypes": qtypes}},
	"sentinel": {
		"source": client,
		"destination": resolver,
		"protocol": "UDP",
		"destination_port": 53,
		"dns": facts(query, qtypes),
	},
})

# response builds CoreDNS's answer to request(query, qtypes): server to
# client, with rcode (0 NOERROR, 3 NXDOMAIN).
response(query, qtypes, rcode) := lib_test.with_names({
	"verdict": "FORWARDED",
	"Type": "L7",
	"is_reply": true,
	"reply": true,
	"traffic_direction": "EGRESS",
	"event_type": {"type": 129},
	"IP": {"source": resolver.ip, "destination": client.ip, "ipVersion": "IPv4"},
	"l4": {"UDP": {"source_port": 53, "destination_port": 40112}},
	"l7": {"type": "RESPONSE", "dns": {"query": concat("", [query, "."]), "ttl": 30, "observation_source": "proxy", "rcode": rcode, "qtypes": qtypes}},
	"sentinel": {
		"source": object.remove(resolver, ["fqdn"]),
		"destination": object.union(client, {"fqdn": ""}),
		"protocol": "UDP",
		"destination_port": 40112,
		"dns": facts(query, qtypes),
	},
})

# with_source replaces the client of a request.
with_source(doc, source) := object.union(doc, {"sentinel": {"source": source}})

# with_resolver_name gives a request's resolver a DNS name, as
# destination_names does for a resolver outside the cluster.
with_resolver_name(doc, name) := lib_test.with_names(object.union(doc, {"sentinel": {"destination": {"fqdn": name}}}))

test_query_is_lower_case if {
	names.query == "www.example.com" with input as request("WWW.Example.COM", ["A"])
}

test_under_matches_the_zone_and_its_subdomains if {
	names.under(["example.com"]) with input as request("www.example.com", ["A"])
	names.under(["example.com"]) with input as request("example.com", ["A"])
	not names.under(["ample.com"]) with input as request("www.example.com", ["A"])
	not names.under(["www.example.com"]) with input as request("example.com", ["A"])
}

# The resolver's own name is among the destination's domains; it must not
# count as the query's.
test_under_ignores_the_resolvers_name if {
	not names.under(["dns.google"]) with input as with_resolver_name(request("www.example.com", ["A"]), "dns.google")
	names.under(["example.com"]) with input as with_resolver_name(request("www.example.com", ["A"]), "dns.google")
}

test_in_internal_zones if {
	names.in_internal_zones with input as request("api.stripe.com.shop.svc.cluster.local", ["A"]) with data.data.dns as dns_data
	names.in_internal_zones with input as request("api.stripe.com.eu-west-1.compute.internal", ["A"]) with data.data.dns as dns_data
	not names.in_internal_zones with input as request("api.stripe.com", ["A"]) with data.data.dns as dns_data
}

test_registrable_label_and_domain_under_a_tld if {
	names.registrable_label == "example" with input as request("a.b.Example.com", ["A"]) with data.data.dns as dns_data
	names.registrable_domain == "example.com" with input as request("a.b.Example.com", ["A"]) with data.data.dns as dns_data
}

test_registrable_label_and_domain_under_a_multi_label_suffix if {
	names.registrable_label == "example" with input as request("www.example.co.uk", ["A"]) with data.data.dns as dns_data
	names.registrable_domain == "example.co.uk" with input as request("www.example.co.uk", ["A"]) with data.data.dns as dns_data
	names.registrable_label == "co" with input as request("www.example.co.uk", ["A"]) with data.data.dns as object.union(dns_data, {"public_suffixes": []})
}

test_no_registrable_label_for_a_suffix_or_a_bare_name if {
	not names.registrable_label with input as request("co.uk", ["A"]) with data.data.dns as dns_data
	names.registrable_domain == "co.uk" with input as request("co.uk", ["A"]) with data.data.dns as dns_data
	not names.registrable_label with input as request("redis", ["A"]) with data.data.dns as dns_data
	names.registrable_domain == "redis" with input as request("redis", ["A"]) with data.data.dns as dns_data
}
