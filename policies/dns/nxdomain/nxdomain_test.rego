package sentinel.dns.nxdomain_test

import data.dns.nxdomain.testdata
import data.sentinel.dns.nxdomain

# The flows are CoreDNS's answers to shop/recommendation, as the engine
# measured them (testdata/flows.jsonl, `make fixtures`).

dns_data := {
	"internal_zones": ["cluster.local", "internal", "internal.cloudapp.net"],
	"public_suffixes": ["co.uk"],
	"nxdomain_allowed_suffixes": ["in-addr.arpa", "ip6.arpa"],
	"nxdomain_allowed_label_prefixes": ["_"],
}

test_nxdomain_for_an_outside_domain_alerts if {
	nxdomain.violation == {{
		"id": "DNSNonExistentDomain",
		"severity": "info",
		"title": "DNS lookup of a non-existent domain",
		"policy": "sentinel.dns.nxdomain",
		"summary": `shop/recommendation was told by kube-system/coredns that a name under "xjwqkzpbmtrvh.com" does not exist (NXDOMAIN)`,
		"description": nxdomain.violation[_].description,
		"mitre": "T1568.002",
	}} with input as testdata.nx_outside with data.data.dns as dns_data
}

# Cilium leaves is_reply out on some trace points; the engine still measures
# the answer's direction (from l7.type), and the summary names the client.
test_summary_names_the_client_when_cilium_does_not_say if {
	some v in nxdomain.violation with input as testdata.nx_outside_direction_unsaid with data.data.dns as dns_data
	startswith(v.summary, "shop/recommendation was told by kube-system/coredns that")
}

test_summary_names_the_registrable_domain if {
	some v in nxdomain.violation with input as testdata.nx_under_co_uk with data.data.dns as dns_data
	contains(v.summary, `a name under "typo-shop.co.uk"`)
}

# What ndots:5 does to every external name before asking for it as is, in
# the shapes of the simulated shop, GKE, AWS and Azure.
test_no_alert_on_search_path_expansions if {
	every name in [
		"nx_search_namespace", # api.stripe.com.shop.svc.cluster.local
		"nx_search_svc", # api.stripe.com.svc.cluster.local
		"nx_search_cluster", # api.stripe.com.cluster.local
		"nx_search_aws_region", # api.stripe.com.eu-west-1.compute.internal
		"nx_search_aws_ec2", # api.stripe.com.ec2.internal
		"nx_search_gke_project", # logging.googleapis.com.us-central1-a.c.my-project.internal
		"nx_search_gke_google", # logging.googleapis.com.google.internal
		"nx_search_azure", # api.stripe.com.x1y2z3.ax.internal.cloudapp.net
	] {
		count(nxdomain.violation) == 0 with input as testdata[name] with data.data.dns as dns_data
	}
}

test_no_alert_on_reverse_lookups if {
	count(nxdomain.violation) == 0 with input as testdata.nx_reverse with data.data.dns as dns_data
}

test_no_alert_on_attribute_leaves if {
	every name in ["nx_grpc_config", "nx_ldap_srv"] {
		count(nxdomain.violation) == 0 with input as testdata[name] with data.data.dns as dns_data
	}
}

test_no_alert_on_bare_names if {
	count(nxdomain.violation) == 0 with input as testdata.nx_bare_name with data.data.dns as dns_data
}

test_no_alert_on_other_answers if {
	every name in ["noerror", "servfail", "refused"] {
		count(nxdomain.violation) == 0 with input as testdata[name] with data.data.dns as dns_data
	}
}

# Hubble leaves rcode out of NOERROR answers (as in testdata.noerror).
test_no_alert_without_rcode if {
	count(nxdomain.violation) == 0 with input as json.remove(testdata.nx_outside, ["l7/dns/rcode"])
		with data.data.dns as dns_data
}

test_no_alert_on_requests if {
	count(nxdomain.violation) == 0 with input as testdata.lookup with data.data.dns as dns_data
}
