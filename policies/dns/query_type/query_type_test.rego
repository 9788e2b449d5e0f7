package sentinel.dns.query_type_test

import data.sentinel.dns.names_test
import data.sentinel.dns.query_type

dns_data := {
	"internal_zones": ["cluster.local", "internal"],
	"public_suffixes": ["co.uk"],
	"unusual_query_types": ["TXT", "NULL", "ANY", "HINFO"],
	"query_type_allowed_sources": {
		"cert-manager/cert-manager": ["TXT"],
		"dns-tools": ["TXT", "ANY"],
	},
	"query_type_allowed_first_labels": {"_grpc_config": ["TXT"]},
	"query_type_allowed_domains": {"mongodb.net": ["TXT"]},
}

# tunnel mirrors the shopmesh dns-tunnel attack: base32 data labels under
# a made-up domain, asked as TXT.
tunnel := names_test.request(
	"mfrggzdfmztwq2lknnwg23tpobyxe43uov3ho6dzpjqwey3emvtgo2lk.ojsxg5dbnz2gk3tufvqxi2dfon2gc5dbmfzwk3ts.t.exfil-relay.example",
	["TXT"],
)

cert_manager := {"kind": "pod", "namespace": "cert-manager", "workload": "cert-manager", "pod": "cert-manager-7d9f8b6c5-x2k9p", "ip": "10.0.1.50", "identity": 30211}

test_shopmesh_tunnel_alerts if {
	query_type.violation == {{
		"id": "DNSUnusualQueryType",
		"severity": "warning",
		"title": "Unusual DNS query type",
		"policy": "sentinel.dns.query_type",
		"summary": `shop/recommendation asked kube-system/coredns for TXT records of a name under "exfil-relay.example"`,
		"description": query_type.violation[_].description,
		"mitre": "T1071.004",
	}} with input as tunnel with data.data.dns as dns_data
}

test_alerts_on_every_unusual_type if {
	every qtype in ["NULL", "ANY", "HINFO"] {
		count(query_type.violation) == 1 with input as names_test.request("c2.example.co.uk", [qtype]) with data.data.dns as dns_data
	}
}

test_summary_lists_each_unusual_type_once if {
	some v in query_type.violation with input as names_test.request("Data.C2.Example.co.uk", ["TXT", "A", "NULL"])
		with data.data.dns as dns_data
	v.summary == `shop/recommendation asked kube-system/coredns for NULL, TXT records of a name under "example.co.uk"`
}

test_no_alert_on_ordinary_types if {
	every qtype in ["A", "AAAA", "SRV", "PTR", "CNAME", "MX"] {
		count(query_type.violation) == 0 with input as names_test.request("c2.example.com", [qtype]) with data.data.dns as dns_data
	}
}

# The search path repeats a lookup under each internal zone before asking
# for the name as it is; only the last reaches a server outside.
test_no_alert_under_internal_zones if {
	every query in ["c2.example.com.shop.svc.cluster.local", "c2.example.com.eu-west-1.compute.internal"] {
		count(query_type.violation) == 0 with input as names_test.request(query, ["TXT"]) with data.data.dns as dns_data
	}
}

test_allowed_workload_may_ask_its_types_only if {
	count(query_type.violation) == 0 with input as names_test.with_source(names_test.request("_acme-challenge.shop.example.com", ["TXT"]), cert_manager)
		with data.data.dns as dns_data
	count(query_type.violation) == 1 with input as names_test.with_source(names_test.request("shop.example.com", ["ANY"]), cert_manager)
		with data.data.dns as dns_data
}

test_allowed_namespace if {
	source := object.union(cert_manager, {"namespace": "dns-tools", "workload": "dig"})
	count(query_type.violation) == 0 with input as names_test.with_source(names_test.request("example.com", ["ANY"]), source)
		with data.data.dns as dns_data
}

test_allowed_first_label if {
	count(query_type.violation) == 0 with input as names_test.request("_grpc_config.pubsub.googleapis.com", ["TXT"])
		with data.data.dns as dns_data
	count(query_type.violation) == 1 with input as names_test.request("_grpc_config.pubsub.googleapis.com", ["NULL"])
		with data.data.dns as dns_data
}

test_allowed_domain if {
	count(query_type.violation) == 0 with input as names_test.request("cluster0.ab1cd.mongodb.net", ["TXT"]) with data.data.dns as dns_data
	count(query_type.violation) == 1 with input as names_test.request("cluster0.notmongodb.net", ["TXT"]) with data.data.dns as dns_data
}

# Only the query's own domain is allowlisted, not the resolver's name.
test_resolver_name_does_not_allow if {
	count(query_type.violation) == 1 with input as names_test.with_resolver_name(tunnel, "resolver.mongodb.net")
		with data.data.dns as dns_data
}

test_no_alert_on_responses if {
	count(query_type.violation) == 0 with input as names_test.response("c2.example.com", ["TXT"], 0) with data.data.dns as dns_data
}
