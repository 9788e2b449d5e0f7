package sentinel.egress.external_dns_test

import data.sentinel.egress.external_dns

egress := {
	"external_dns_ports": [53, 853],
	"external_dns_allowed_sources": ["kube-system", "vpn/openvpn"],
}

network := {"internal_cidrs": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "fc00::/7"]}

# The flows of testdata/flows.jsonl as the engine measures them (make
# fixtures), by uuid. recommendation_to_google: the recommendation pod asks
# 8.8.8.8 itself, bypassing CoreDNS.
fixtures := data.egress.external_dns.testdata

flow(overrides) := object.union(fixtures.recommendation_to_google, overrides)

test_alerts_with_full_metadata if {
	external_dns.violation == {{
		"id": "EgressToExternalDNSResolver",
		"severity": "warning",
		"title": "DNS query to a resolver on the Internet",
		"policy": "sentinel.egress.external_dns",
		"summary": "shop/recommendation queried the Internet resolver 8.8.8.8 directly on UDP port 53",
		"description": external_dns.violation[_].description,
		"mitre": "T1071.004",
	}} with input as fixtures.recommendation_to_google with data.data.egress as egress with data.data.network as network
}

test_alerts_on_tcp_and_dns_over_tls if {
	count(external_dns.violation) == 1 with input as fixtures.recommendation_tcp_53 with data.data.egress as egress with data.data.network as network
	some v in external_dns.violation with input as fixtures.recommendation_dot with data.data.egress as egress with data.data.network as network
	v.summary == "shop/recommendation queried the Internet resolver 8.8.8.8 directly on TCP port 853"
	count(external_dns.violation) == 0 with input as fixtures.recommendation_dot_established
		with data.data.egress as egress with data.data.network as network
	count(external_dns.violation) == 1 with input as flow({"IP": {"destination": "2606:4700:4700::1111"}, "sentinel": {"destination": {"ip": "2606:4700:4700::1111"}}})
		with data.data.egress as egress with data.data.network as network
}

test_cluster_dns_and_allowed_workloads_may_forward if {
	count(external_dns.violation) == 0 with input as flow({"sentinel": {"source": {"namespace": "kube-system", "workload": "coredns"}}})
		with data.data.egress as egress with data.data.network as network
	count(external_dns.violation) == 0 with input as flow({"sentinel": {"source": {"namespace": "vpn", "workload": "openvpn"}}})
		with data.data.egress as egress with data.data.network as network
	count(external_dns.violation) == 1 with input as flow({"sentinel": {"source": {"namespace": "vpn", "workload": "other"}}})
		with data.data.egress as egress with data.data.network as network
}

# The VPC resolver, which Cilium may label world, and the GCE metadata
# resolver are private addresses.
test_no_alert_on_private_resolvers if {
	every ip in ["10.0.0.2", "169.254.169.254", "fd00::53"] {
		count(external_dns.violation) == 0 with input as flow({"IP": {"destination": ip}, "sentinel": {"destination": {"ip": ip}}})
			with data.data.egress as egress with data.data.network as network
	}
}

test_no_alert_on_other_ports_sources_or_directions if {
	count(external_dns.violation) == 0 with input as flow({"sentinel": {"destination_port": 443}})
		with data.data.egress as egress with data.data.network as network
	count(external_dns.violation) == 0 with input as flow({"sentinel": {"source": {"kind": "host", "namespace": "", "workload": "", "pod": ""}}})
		with data.data.egress as egress with data.data.network as network
	count(external_dns.violation) == 0 with input as fixtures.recommendation_to_google_as_reply
		with data.data.egress as egress with data.data.network as network
	count(external_dns.violation) == 0 with input as flow({"sentinel": {"destination": {"kind": "pod"}}})
		with data.data.egress as egress with data.data.network as network
}

test_shipped_data_is_well_formed if {
	every port in data.data.egress.external_dns_ports {
		is_number(port)
	}
	53 in data.data.egress.external_dns_ports
	"kube-system" in data.data.egress.external_dns_allowed_sources
	every source in data.data.egress.external_dns_allowed_sources {
		regex.match(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(/[a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$`, source)
	}
}
