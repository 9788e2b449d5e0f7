package sentinel.dns.nxdomain_test

import data.sentinel.dns.names_test
import data.sentinel.dns.nxdomain

dns_data := {
	"internal_zones": ["cluster.local", "internal", "internal.cloudapp.net"],
	"public_suffixes": ["co.uk"],
	"nxdomain_allowed_suffixes": ["in-addr.arpa", "ip6.arpa"],
	"nxdomain_allowed_label_prefixes": ["_"],
}

nxdomain_for(query) := names_test.response(query, ["A"], 3)

test_nxdomain_for_an_outside_domain_alerts if {
	nxdomain.violation == {{
		"id": "DNSNonExistentDomain",
		"severity": "info",
		"title": "DNS lookup of a non-existent domain",
		"policy": "sentinel.dns.nxdomain",
		"summary": `shop/recommendation was told by kube-system/coredns that a name under "xjwqkzpbmtrvh.com" does not exist (NXDOMAIN)`,
		"description": nxdomain.violation[_].description,
		"mitre": "T1568.002",
	}} with input as nxdomain_for("cdn.XJWQKZPBMTRVH.com") with data.data.dns as dns_data
}

test_summary_names_the_registrable_domain if {
	some v in nxdomain.violation with input as nxdomain_for("a.b.typo-shop.co.uk") with data.data.dns as dns_data
	contains(v.summary, `a name under "typo-shop.co.uk"`)
}

# What ndots:5 does to every external name before asking for it as is, in
# the shapes of the simulated shop, GKE, AWS and Azure.
test_no_alert_on_search_path_expansions if {
	every query in [
		"api.stripe.com.shop.svc.cluster.local",
		"api.stripe.com.svc.cluster.local",
		"api.stripe.com.cluster.local",
		"api.stripe.com.eu-west-1.compute.internal",
		"api.stripe.com.ec2.internal",
		"logging.googleapis.com.us-central1-a.c.my-project.internal",
		"logging.googleapis.com.google.internal",
		"api.stripe.com.x1y2z3.ax.internal.cloudapp.net",
	] {
		count(nxdomain.violation) == 0 with input as nxdomain_for(query) with data.data.dns as dns_data
	}
}

test_no_alert_on_reverse_lookups if {
	count(nxdomain.violation) == 0 with input as nxdomain_for("7.0.113.203.in-addr.arpa") with data.data.dns as dns_data
}

test_no_alert_on_attribute_leaves if {
	every query in ["_grpc_config.api.example.com", "_ldap._tcp.corp.example.com"] {
		count(nxdomain.violation) == 0 with input as names_test.response(query, ["TXT"], 3) with data.data.dns as dns_data
	}
}

test_no_alert_on_bare_names if {
	count(nxdomain.violation) == 0 with input as nxdomain_for("redis") with data.data.dns as dns_data
}

test_no_alert_on_other_answers if {
	every rcode in [0, 2, 5] {
		count(nxdomain.violation) == 0 with input as names_test.response("cdn.xjwqkzpbmtrvh.com", ["A"], rcode) with data.data.dns as dns_data
	}
}

# Hubble leaves rcode out of NOERROR answers.
test_no_alert_without_rcode if {
	count(nxdomain.violation) == 0 with input as json.remove(nxdomain_for("cdn.xjwqkzpbmtrvh.com"), ["l7/dns/rcode"])
		with data.data.dns as dns_data
}

test_no_alert_on_requests if {
	count(nxdomain.violation) == 0 with input as names_test.request("cdn.xjwqkzpbmtrvh.com", ["A"]) with data.data.dns as dns_data
}
