package sentinel.dns.zone_transfer_test

import data.sentinel.dns.names_test
import data.sentinel.dns.zone_transfer

dns_data := {"zone_transfer_allowed_sources": ["dns-secondary", "infra/bind-secondary"]}

# axfr is a compromised pod asking CoreDNS for every record of the cluster
# domain.
axfr := names_test.request("Cluster.Local", ["AXFR"])

secondary(namespace, workload) := {"kind": "pod", "namespace": namespace, "workload": workload, "pod": concat("-", [workload, "0"]), "ip": "10.0.3.40", "identity": 51234}

test_axfr_of_the_cluster_domain_alerts if {
	zone_transfer.violation == {{
		"id": "DNSZoneTransferAttempt",
		"severity": "critical",
		"title": "DNS zone transfer attempt",
		"policy": "sentinel.dns.zone_transfer",
		"summary": `shop/recommendation asked kube-system/coredns for a zone transfer (AXFR) of "cluster.local"`,
		"description": zone_transfer.violation[_].description,
		"mitre": "T1018",
	}} with input as axfr with data.data.dns as dns_data
}

test_ixfr_alerts if {
	some v in zone_transfer.violation with input as names_test.request("corp.example.com", ["IXFR"]) with data.data.dns as dns_data
	v.summary == `shop/recommendation asked kube-system/coredns for a zone transfer (IXFR) of "corp.example.com"`
}

test_allowed_sources if {
	count(zone_transfer.violation) == 0 with input as names_test.with_source(axfr, secondary("dns-secondary", "nsd")) with data.data.dns as dns_data
	count(zone_transfer.violation) == 0 with input as names_test.with_source(axfr, secondary("infra", "bind-secondary")) with data.data.dns as dns_data
	count(zone_transfer.violation) == 1 with input as names_test.with_source(axfr, secondary("infra", "bind")) with data.data.dns as dns_data
}

test_both_types_make_one_violation if {
	count(zone_transfer.violation) == 1 with input as names_test.request("cluster.local", ["AXFR", "IXFR"]) with data.data.dns as dns_data
	some v in zone_transfer.violation with input as names_test.request("cluster.local", ["AXFR", "IXFR"]) with data.data.dns as dns_data
	contains(v.summary, "zone transfer (AXFR, IXFR)")
}

test_no_alert_on_other_types if {
	every qtype in ["A", "SOA", "NS", "TXT"] {
		count(zone_transfer.violation) == 0 with input as names_test.request("cluster.local", [qtype]) with data.data.dns as dns_data
	}
}

test_no_alert_on_responses if {
	count(zone_transfer.violation) == 0 with input as names_test.response("cluster.local", ["AXFR"], 5) with data.data.dns as dns_data
}
