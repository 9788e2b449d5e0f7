package sentinel.dns.query_type_test

import data.dns.query_type.testdata
import data.sentinel.dns.query_type

# The flows are DNS requests to CoreDNS, of shop/recommendation unless named
# otherwise, as the engine measured them (testdata/flows.jsonl, `make
# fixtures`).

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

# testdata.tunnel mirrors the shopmesh dns-tunnel attack: base32 data labels
# under a made-up domain, asked as TXT.
test_shopmesh_tunnel_alerts if {
	query_type.violation == {{
		"id": "DNSUnusualQueryType",
		"severity": "warning",
		"title": "Unusual DNS query type",
		"policy": "sentinel.dns.query_type",
		"summary": `shop/recommendation asked kube-system/coredns for TXT records of a name under "exfil-relay.example"`,
		"description": query_type.violation[_].description,
		"mitre": "T1071.004",
	}} with input as testdata.tunnel with data.data.dns as dns_data
}

test_alerts_on_every_unusual_type if {
	every name in ["c2_null", "c2_any", "c2_hinfo"] {
		count(query_type.violation) == 1 with input as testdata[name] with data.data.dns as dns_data
	}
}

test_summary_lists_each_unusual_type_once if {
	some v in query_type.violation with input as testdata.mixed_types with data.data.dns as dns_data
	v.summary == `shop/recommendation asked kube-system/coredns for NULL, TXT records of a name under "example.co.uk"`
}

test_no_alert_on_ordinary_types if {
	every name in ["c2_a", "c2_aaaa", "c2_srv", "c2_ptr", "c2_cname", "c2_mx"] {
		count(query_type.violation) == 0 with input as testdata[name] with data.data.dns as dns_data
	}
}

# The search path repeats a lookup under each internal zone before asking
# for the name as it is; only the last reaches a server outside.
test_no_alert_under_internal_zones if {
	every name in ["txt_search_cluster_local", "txt_search_compute_internal"] {
		count(query_type.violation) == 0 with input as testdata[name] with data.data.dns as dns_data
	}
}

test_allowed_workload_may_ask_its_types_only if {
	count(query_type.violation) == 0 with input as testdata.cert_manager_acme_txt with data.data.dns as dns_data
	count(query_type.violation) == 1 with input as testdata.cert_manager_any with data.data.dns as dns_data
}

# dns-tools/dig asks for ANY records.
test_allowed_namespace if {
	count(query_type.violation) == 0 with input as testdata.dig_any with data.data.dns as dns_data
}

test_allowed_first_label if {
	count(query_type.violation) == 0 with input as testdata.grpc_config_txt with data.data.dns as dns_data
	count(query_type.violation) == 1 with input as testdata.grpc_config_null with data.data.dns as dns_data
}

test_allowed_domain if {
	count(query_type.violation) == 0 with input as testdata.mongodb_txt with data.data.dns as dns_data
	count(query_type.violation) == 1 with input as testdata.notmongodb_txt with data.data.dns as dns_data
}

# Only the query's own domain is allowlisted, not the resolver's name
# (resolver.mongodb.net).
test_resolver_name_does_not_allow if {
	count(query_type.violation) == 1 with input as testdata.tunnel_to_mongodb_resolver with data.data.dns as dns_data
}

test_no_alert_on_responses if {
	count(query_type.violation) == 0 with input as testdata.c2_txt_answer with data.data.dns as dns_data
}
