package sentinel.egress.mining_pool_test

import data.sentinel.egress.mining_pool
import data.sentinel.lib_test

egress := {
	"mining_pool_ports": [3333, 4444, 5555, 7777, 14433, 14444, 45700],
	"mining_pool_domains": ["minexmr.com", "nanopool.org", "supportxmr.com", "2miners.com"],
}

network := {"internal_cidrs": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"]}

# currency_4444 mirrors the shopmesh attack: the currency pod connects to a
# public address on a stratum port.
currency_4444 := lib_test.with_names({
	"verdict": "FORWARDED",
	"Type": "L3_L4",
	"is_reply": false,
	"traffic_direction": "EGRESS",
	"IP": {"source": "10.0.1.52", "destination": "198.51.100.23", "ipVersion": "IPv4"},
	"l4": {"TCP": {"source_port": 46120, "destination_port": 4444, "flags": {"SYN": true}}},
	"destination": {"identity": 2, "labels": ["reserved:world"]},
	"sentinel": {
		"source": {"kind": "pod", "namespace": "shop", "workload": "currency", "pod": "currency-84d6c7b9f5-r8tnv", "ip": "10.0.1.52", "identity": 33190},
		"destination": {"kind": "world", "namespace": "", "workload": "", "pod": "", "ip": "198.51.100.23", "identity": 2, "fqdn": ""},
		"protocol": "TCP",
		"destination_port": 4444,
	},
})

# flow builds a flow from the attack by deep-merging overrides into it, then
# gives it the destination names and domains the engine would measure.
flow(overrides) := lib_test.with_names(object.union(currency_4444, overrides))

# dns_query builds a DNS request for name from the currency pod.
dns_query(name) := flow({
	"Type": "L7",
	"IP": {"destination": "10.0.2.10"},
	"l7": {"type": "REQUEST", "dns": {"query": concat("", [name, "."])}},
	"sentinel": {
		"destination": {"kind": "pod", "namespace": "kube-system", "workload": "coredns", "ip": "10.0.2.10"},
		"protocol": "UDP",
		"destination_port": 53,
		"dns": {"query": name, "labels": split(name, "."), "max_label_length": 10, "max_label_entropy": 3, "qtypes": ["A"]},
	},
})

test_shopmesh_attack_alerts if {
	mining_pool.violation == {{
		"id": "CryptoMiningPoolConnection",
		"severity": "critical",
		"title": "Connection to a cryptocurrency mining pool",
		"policy": "sentinel.egress.mining_pool",
		"summary": "shop/currency contacted a mining pool: 198.51.100.23 TCP port 4444",
		"description": mining_pool.violation[_].description,
		"mitre": "T1496",
	}} with input as currency_4444 with data.data.egress as egress with data.data.network as network
}

test_alerts_on_pool_dns_query if {
	some v in mining_pool.violation with input as dns_query("pool.supportxmr.com")
		with data.data.egress as egress with data.data.network as network
	v.summary == "shop/currency contacted a mining pool: pool.supportxmr.com"
}

test_alerts_on_pool_fqdn_on_any_port if {
	some v in mining_pool.violation with input as flow({"sentinel": {"destination": {"fqdn": "xmr-eu1.nanopool.org"}, "destination_port": 443}})
		with data.data.egress as egress with data.data.network as network
	v.summary == "shop/currency contacted a mining pool: xmr-eu1.nanopool.org"
}

test_one_violation_for_port_and_name if {
	violations := mining_pool.violation with input as flow({"sentinel": {"destination": {"fqdn": "xmr.2miners.com"}}})
		with data.data.egress as egress with data.data.network as network
	count(violations) == 1
	some v in violations
	v.summary == "shop/currency contacted a mining pool: 198.51.100.23 TCP port 4444, xmr.2miners.com"
}

test_no_alert_on_internal_addresses if {
	count(mining_pool.violation) == 0 with input as flow({"IP": {"destination": "10.156.0.2"}, "sentinel": {"destination": {"ip": "10.156.0.2"}}})
		with data.data.egress as egress with data.data.network as network
}

test_no_alert_on_pods if {
	count(mining_pool.violation) == 0 with input as flow({"sentinel": {"destination": {"kind": "pod", "ip": "10.0.1.9"}}})
		with data.data.egress as egress with data.data.network as network
}

test_no_alert_on_replies if {
	count(mining_pool.violation) == 0 with input as flow({"is_reply": true})
		with data.data.egress as egress with data.data.network as network
}

test_no_alert_on_other_ports_and_names if {
	count(mining_pool.violation) == 0 with input as flow({"sentinel": {"destination": {"fqdn": "api.stripe.com"}, "destination_port": 443}})
		with data.data.egress as egress with data.data.network as network
	count(mining_pool.violation) == 0 with input as dns_query("notnanopool.org")
		with data.data.egress as egress with data.data.network as network
}

# Stratum ports of the big Monero and Ethereum-era pools, and the pools
# themselves, are in the shipped data.
test_shipped_data_covers_common_pools if {
	every port in [3333, 4444, 5555, 7777, 14433, 14444] {
		port in data.data.egress.mining_pool_ports
	}
	every domain in ["supportxmr.com", "nanopool.org", "moneroocean.stream", "c3pool.com", "2miners.com", "xmrig.com"] {
		domain in data.data.egress.mining_pool_domains
	}
}

test_alerts_on_xmrig_donation_pool_with_shipped_data if {
	count(mining_pool.violation) == 1 with input as dns_query("donate.v2.xmrig.com")
		with data.data.network as network
}
