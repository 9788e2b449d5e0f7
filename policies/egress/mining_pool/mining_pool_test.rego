package sentinel.egress.mining_pool_test

import data.sentinel.egress.mining_pool

egress := {
	"mining_pool_ports": [3333, 4444, 5555, 7777, 14433, 14444, 45700],
	"mining_pool_domains": ["minexmr.com", "nanopool.org", "supportxmr.com", "2miners.com"],
}

network := {"internal_cidrs": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"]}

# The flows of testdata/flows.jsonl as the engine measures them (make
# fixtures), by uuid. currency_4444 mirrors the shopmesh attack: the
# currency pod connects to a public address on a stratum port.
fixtures := data.egress.mining_pool.testdata

flow(overrides) := object.union(fixtures.currency_4444, overrides)

test_shopmesh_attack_alerts if {
	mining_pool.violation == {{
		"id": "CryptoMiningPoolConnection",
		"severity": "critical",
		"title": "Connection to a cryptocurrency mining pool",
		"policy": "sentinel.egress.mining_pool",
		"summary": "shop/currency contacted a mining pool: 198.51.100.23 TCP port 4444",
		"description": mining_pool.violation[_].description,
		"mitre": "T1496",
	}} with input as fixtures.currency_4444 with data.data.egress as egress with data.data.network as network
}

test_alerts_on_pool_dns_query if {
	some v in mining_pool.violation with input as fixtures.currency_dns_supportxmr
		with data.data.egress as egress with data.data.network as network
	v.summary == "shop/currency contacted a mining pool: pool.supportxmr.com"
}

test_alerts_on_pool_fqdn_on_any_port if {
	some v in mining_pool.violation with input as fixtures.currency_nanopool_443
		with data.data.egress as egress with data.data.network as network
	v.summary == "shop/currency contacted a mining pool: xmr-eu1.nanopool.org"
}

test_one_violation_for_port_and_name if {
	violations := mining_pool.violation with input as fixtures.currency_2miners
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
	count(mining_pool.violation) == 0 with input as flow({"IP": {"destination": "10.0.1.9"}, "sentinel": {"destination": {"kind": "pod", "ip": "10.0.1.9"}}})
		with data.data.egress as egress with data.data.network as network
}

test_no_alert_on_replies if {
	count(mining_pool.violation) == 0 with input as fixtures.currency_4444_as_reply
		with data.data.egress as egress with data.data.network as network
}

test_no_alert_on_other_ports_and_names if {
	count(mining_pool.violation) == 0 with input as fixtures.currency_stripe
		with data.data.egress as egress with data.data.network as network
	count(mining_pool.violation) == 0 with input as fixtures.currency_dns_notnanopool
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
	count(mining_pool.violation) == 1 with input as fixtures.currency_dns_xmrig
		with data.data.network as network
}
