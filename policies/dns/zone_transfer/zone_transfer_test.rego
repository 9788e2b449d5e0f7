package sentinel.dns.zone_transfer_test

import data.dns.zone_transfer.testdata
import data.sentinel.dns.zone_transfer

# The flows are DNS requests to CoreDNS, of shop/recommendation unless named
# otherwise, as the engine measured them (testdata/flows.jsonl, `make
# fixtures`).

dns_data := {"zone_transfer_allowed_sources": ["dns-secondary", "infra/bind-secondary"]}

# axfr_of_the_cluster_domain is a compromised pod asking CoreDNS for every
# record of the cluster domain.
test_axfr_of_the_cluster_domain_alerts if {
	zone_transfer.violation == {{
		"id": "DNSZoneTransferAttempt",
		"severity": "critical",
		"title": "DNS zone transfer attempt",
		"policy": "sentinel.dns.zone_transfer",
		"summary": `shop/recommendation asked kube-system/coredns for a zone transfer (AXFR) of "cluster.local"`,
		"description": zone_transfer.violation[_].description,
		"mitre": "T1018",
	}} with input as testdata.axfr_of_the_cluster_domain with data.data.dns as dns_data
}

test_ixfr_alerts if {
	some v in zone_transfer.violation with input as testdata.ixfr with data.data.dns as dns_data
	v.summary == `shop/recommendation asked kube-system/coredns for a zone transfer (IXFR) of "corp.example.com"`
}

# The same AXFR from dns-secondary/nsd, infra/bind-secondary and infra/bind.
test_allowed_sources if {
	count(zone_transfer.violation) == 0 with input as testdata.axfr_from_dns_secondary_namespace with data.data.dns as dns_data
	count(zone_transfer.violation) == 0 with input as testdata.axfr_from_bind_secondary with data.data.dns as dns_data
	count(zone_transfer.violation) == 1 with input as testdata.axfr_from_infra_bind with data.data.dns as dns_data
}

test_both_types_make_one_violation if {
	count(zone_transfer.violation) == 1 with input as testdata.axfr_and_ixfr with data.data.dns as dns_data
	some v in zone_transfer.violation with input as testdata.axfr_and_ixfr with data.data.dns as dns_data
	contains(v.summary, "zone transfer (AXFR, IXFR)")
}

test_no_alert_on_other_types if {
	every name in ["cluster_local_a", "cluster_local_soa", "cluster_local_ns", "cluster_local_txt"] {
		count(zone_transfer.violation) == 0 with input as testdata[name] with data.data.dns as dns_data
	}
}

test_no_alert_on_responses if {
	count(zone_transfer.violation) == 0 with input as testdata.axfr_refused with data.data.dns as dns_data
}
