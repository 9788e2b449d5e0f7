package sentinel.egress.deny_list_test

import data.sentinel.egress.deny_list

egress := {
	"deny_cidrs": ["203.0.113.0/24", "2001:db8:bad::/48", "10.20.0.0/16"],
	"deny_domains": {
		"transfer.sh": "anonymous file drop",
		"ngrok-free.app": "reverse tunnel",
		"oast.pro": "out-of-band callback",
		"onion": "Tor onion service",
	},
}

# The flows of testdata/flows.jsonl as the engine measures them (make
# fixtures), by uuid. catalog_upload: the catalog pod uploads to
# transfer.sh; Cilium's DNS-aware policy names the address.
fixtures := data.egress.deny_list.testdata

flow(uuid, overrides) := object.union(fixtures[uuid], overrides)

# to(ip) is the catalog pod's new connection to an address without a name.
to(ip) := flow("catalog_to_address", {"IP": {"destination": ip}, "sentinel": {"destination": {"ip": ip}}})

test_alerts_with_full_metadata if {
	deny_list.violation == {{
		"id": "EgressToDenyListedDestination",
		"severity": "warning",
		"title": "Connection to a deny-listed destination",
		"policy": "sentinel.egress.deny_list",
		"summary": "shop/catalog contacted a deny-listed destination: transfer.sh (anonymous file drop)",
		"description": deny_list.violation[_].description,
		"mitre": "T1567",
	}} with input as fixtures.catalog_upload with data.data.egress as egress
}

# The summary names the listed domain, never the labels under it: they may
# be the exfiltrated data.
test_alerts_on_an_http_host_under_a_listed_domain if {
	some v in deny_list.violation with input as fixtures.catalog_oast_callback with data.data.egress as egress
	v.summary == "shop/catalog contacted a deny-listed destination: oast.pro (out-of-band callback)"
	not contains(v.summary, "c2vjcmv0")
}

test_alerts_on_a_listed_fqdn_and_a_tld if {
	some v in deny_list.violation with input as fixtures.catalog_tunnel with data.data.egress as egress
	v.summary == "shop/catalog contacted a deny-listed destination: ngrok-free.app (reverse tunnel)"
	count(deny_list.violation) == 1 with input as fixtures.catalog_onion with data.data.egress as egress
}

# Looking a listed name up is DNSQueryForDenyListedDomain's to report; a
# resolver that is itself listed still alerts.
test_dns_lookups_are_left_to_the_dns_policies if {
	count(deny_list.violation) == 0 with input as fixtures.catalog_dns_oast with data.data.egress as egress
	count(deny_list.violation) == 0 with input as fixtures.catalog_dns_transfer with data.data.egress as egress
	some v in deny_list.violation with input as fixtures.catalog_dns_via_listed_resolver with data.data.egress as egress
	v.summary == "shop/catalog contacted a deny-listed destination: ngrok-free.app (reverse tunnel)"
}

test_alerts_on_udp_flows_to_listed_names_and_addresses if {
	count(deny_list.violation) == 1 with input as fixtures.catalog_upload_quic with data.data.egress as egress
	count(deny_list.violation) == 1 with input as fixtures.catalog_ping with data.data.egress as egress
}

# A TCP connection is judged once, on its SYN; an HTTP request is judged
# for its Host header.
test_established_packets_are_not_judged if {
	count(deny_list.violation) == 0 with input as fixtures.catalog_upload_established with data.data.egress as egress
}

test_alerts_on_listed_addresses if {
	some v in deny_list.violation with input as to("203.0.113.9") with data.data.egress as egress
	v.summary == "shop/catalog contacted a deny-listed destination: 203.0.113.9 in 203.0.113.0/24"
	count(deny_list.violation) == 1 with input as to("2001:db8:bad::1") with data.data.egress as egress
}

# In-cluster destinations are not judged, even in a listed range or with a
# listed HTTP host (an egress proxy's own connection is).
test_no_alert_on_in_cluster_destinations if {
	count(deny_list.violation) == 0 with input as fixtures.catalog_to_pod_in_listed_range with data.data.egress as egress
	count(deny_list.violation) == 0 with input as fixtures.catalog_via_proxy with data.data.egress as egress
}

test_one_violation_for_address_and_name if {
	violations := deny_list.violation with input as flow("catalog_upload", {"IP": {"destination": "203.0.113.7"}, "sentinel": {"destination": {"ip": "203.0.113.7"}}})
		with data.data.egress as egress
	count(violations) == 1
	some v in violations
	v.summary == "shop/catalog contacted a deny-listed destination: 203.0.113.7 in 203.0.113.0/24, transfer.sh (anonymous file drop)"
}

test_no_alert_on_other_names_and_addresses if {
	count(deny_list.violation) == 0 with input as to("198.51.100.80") with data.data.egress as egress
	count(deny_list.violation) == 0 with input as fixtures.catalog_lookalike_suffix with data.data.egress as egress
	count(deny_list.violation) == 0 with input as fixtures.catalog_lookalike_prefix with data.data.egress as egress
}

test_no_alert_with_empty_lists if {
	count(deny_list.violation) == 0 with input as to("203.0.113.9") with data.data.egress as {"deny_cidrs": [], "deny_domains": {}}
	count(deny_list.violation) == 0 with input as fixtures.catalog_upload with data.data.egress as {"deny_cidrs": [], "deny_domains": {}}
}

test_no_alert_on_replies if {
	count(deny_list.violation) == 0 with input as fixtures.catalog_upload_as_reply with data.data.egress as egress
	count(deny_list.violation) == 0 with input as fixtures.catalog_to_address_as_reply with data.data.egress as egress
}

test_shipped_deny_list_is_normalised if {
	every domain, reason in data.data.egress.deny_domains {
		domain == lower(domain)
		not startswith(domain, ".")
		not endswith(domain, ".")
		domain != ""
		reason != ""
	}
	every cidr in data.data.egress.deny_cidrs {
		net.cidr_is_valid(cidr)
	}
}
