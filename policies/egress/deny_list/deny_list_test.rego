package sentinel.egress.deny_list_test

import data.sentinel.egress.deny_list
import data.sentinel.lib_test

egress := {
	"deny_cidrs": ["203.0.113.0/24", "2001:db8:bad::/48", "10.20.0.0/16"],
	"deny_domains": {
		"transfer.sh": "anonymous file drop",
		"ngrok-free.app": "reverse tunnel",
		"oast.pro": "out-of-band callback",
		"onion": "Tor onion service",
	},
}

# catalog_upload: the catalog pod uploads to transfer.sh; Cilium's
# DNS-aware policy names the address.
catalog_upload := {
	"verdict": "FORWARDED",
	"Type": "L3_L4",
	"is_reply": false,
	"traffic_direction": "EGRESS",
	"IP": {"source": "10.0.1.23", "destination": "198.51.100.80", "ipVersion": "IPv4"},
	"l4": {"TCP": {"source_port": 40222, "destination_port": 443, "flags": {"SYN": true}}},
	"destination": {"identity": 16777220, "labels": ["reserved:world"]},
	"destination_names": ["transfer.sh."],
	"sentinel": {
		"source": {"kind": "pod", "namespace": "shop", "workload": "catalog", "pod": "catalog-6b8f9c7d4-qz2xw", "ip": "10.0.1.23", "identity": 21045},
		"destination": {"kind": "world", "namespace": "", "workload": "", "pod": "", "ip": "198.51.100.80", "identity": 16777220, "fqdn": "transfer.sh"},
		"protocol": "TCP",
		"destination_port": 443,
	},
}

flow(overrides) := lib_test.with_names(object.union(catalog_upload, overrides))

# to(ip) is the same connection to an address without a name.
to(ip) := flow({"IP": {"destination": ip}, "destination_names": [], "sentinel": {"destination": {"ip": ip, "fqdn": ""}}})

# dns_query builds a DNS request for name from the catalog pod to CoreDNS.
dns_query(name) := lib_test.with_names({
	"Type": "L7",
	"is_reply": false,
	"IP": {"source": "10.0.1.23", "destination": "10.0.2.10"},
	"l7": {"type": "REQUEST", "dns": {"query": concat("", [name, "."]), "qtypes": ["A"]}},
	"sentinel": {
		"source": {"kind": "pod", "namespace": "shop", "workload": "catalog", "ip": "10.0.1.23"},
		"destination": {"kind": "pod", "namespace": "kube-system", "workload": "coredns", "ip": "10.0.2.10", "fqdn": ""},
		"protocol": "UDP",
		"destination_port": 53,
		"dns": {"query": name, "labels": split(name, "."), "max_label_length": 20, "max_label_entropy": 3.9, "qtypes": ["A"]},
	},
})

test_alerts_with_full_metadata if {
	deny_list.violation == {{
		"id": "EgressToDenyListedDestination",
		"severity": "warning",
		"title": "Connection to a deny-listed destination",
		"policy": "sentinel.egress.deny_list",
		"summary": "shop/catalog contacted a deny-listed destination: transfer.sh (anonymous file drop)",
		"description": deny_list.violation[_].description,
		"mitre": "T1567",
	}} with input as flow({}) with data.data.egress as egress
}

# The summary names the listed domain, never the labels under it: they may
# be the exfiltrated data.
test_alerts_on_an_http_host_under_a_listed_domain if {
	request := object.union(object.remove(catalog_upload, ["l4", "destination_names"]), {
		"Type": "L7",
		"l4": {"TCP": {"source_port": 40222, "destination_port": 80}},
		"l7": {"type": "REQUEST", "http": {"method": "POST", "url": "http://c2vjcmv0lxrva2vu.x7.oast.pro/"}},
		"sentinel": {"destination": {"fqdn": ""}, "http": {"host": "c2vjcmv0lxrva2vu.x7.oast.pro:80"}},
	})
	host := lib_test.with_names(request)
	some v in deny_list.violation with input as host with data.data.egress as egress
	v.summary == "shop/catalog contacted a deny-listed destination: oast.pro (out-of-band callback)"
	not contains(v.summary, "c2vjcmv0")
}

test_alerts_on_a_listed_fqdn_and_a_tld if {
	tunnel := flow({"destination_names": ["abc123.ngrok-free.app."], "sentinel": {"destination": {"fqdn": "abc123.ngrok-free.app"}}})
	some v in deny_list.violation with input as tunnel with data.data.egress as egress
	v.summary == "shop/catalog contacted a deny-listed destination: ngrok-free.app (reverse tunnel)"
	count(deny_list.violation) == 1 with input as flow({"sentinel": {"destination": {"fqdn": "ab2c3d.onion"}}})
		with data.data.egress as egress
}

# Looking a listed name up is DNSQueryForDenyListedDomain's to report; a
# resolver that is itself listed still alerts.
test_dns_lookups_are_left_to_the_dns_policies if {
	count(deny_list.violation) == 0 with input as dns_query("c2vjcmv0lxrva2vu.x7.oast.pro") with data.data.egress as egress
	count(deny_list.violation) == 0 with input as dns_query("transfer.sh") with data.data.egress as egress
	resolver := object.union(dns_query("api.stripe.com"), {
		"IP": {"destination": "198.51.100.53"},
		"sentinel": {"destination": {"kind": "world", "namespace": "", "workload": "", "ip": "198.51.100.53", "fqdn": "doh.ngrok-free.app"}},
	})
	some v in deny_list.violation with input as lib_test.with_names(resolver) with data.data.egress as egress
	v.summary == "shop/catalog contacted a deny-listed destination: ngrok-free.app (reverse tunnel)"
}

test_alerts_on_udp_flows_to_listed_names_and_addresses if {
	quic := object.union(object.remove(catalog_upload, ["l4"]), {"l4": {"UDP": {"source_port": 40222, "destination_port": 443}}, "sentinel": {"protocol": "UDP"}})
	count(deny_list.violation) == 1 with input as lib_test.with_names(quic) with data.data.egress as egress
	icmp := object.union(object.remove(to("203.0.113.9"), ["l4"]), {"l4": {"ICMPv4": {"type": 8}}, "sentinel": {"protocol": "ICMPv4", "destination_port": 0}})
	count(deny_list.violation) == 1 with input as icmp with data.data.egress as egress
}

# A TCP connection is judged once, on its SYN; an HTTP request is judged
# for its Host header.
test_established_packets_are_not_judged if {
	established := object.union(object.remove(catalog_upload, ["l4"]), {"l4": {"TCP": {"source_port": 40222, "destination_port": 443, "flags": {"ACK": true, "PSH": true}}}})
	count(deny_list.violation) == 0 with input as lib_test.with_names(established) with data.data.egress as egress
}

test_alerts_on_listed_addresses if {
	some v in deny_list.violation with input as to("203.0.113.9") with data.data.egress as egress
	v.summary == "shop/catalog contacted a deny-listed destination: 203.0.113.9 in 203.0.113.0/24"
	count(deny_list.violation) == 1 with input as to("2001:db8:bad::1") with data.data.egress as egress
}

# In-cluster destinations are not judged, even in a listed range or with a
# listed HTTP host (an egress proxy's own connection is).
test_no_alert_on_in_cluster_destinations if {
	count(deny_list.violation) == 0 with input as flow({"IP": {"destination": "10.20.3.4"}, "sentinel": {"destination": {"kind": "pod", "ip": "10.20.3.4"}}})
		with data.data.egress as egress
	proxy := flow({
		"Type": "L7",
		"destination_names": [],
		"l7": {"type": "REQUEST", "http": {"method": "PUT", "url": "http://transfer.sh/x"}},
		"sentinel": {"destination": {"kind": "pod", "ip": "10.0.4.4", "fqdn": ""}, "http": {"host": "transfer.sh"}},
	})
	count(deny_list.violation) == 0 with input as proxy with data.data.egress as egress
}

test_one_violation_for_address_and_name if {
	violations := deny_list.violation with input as flow({"IP": {"destination": "203.0.113.7"}, "sentinel": {"destination": {"ip": "203.0.113.7"}}})
		with data.data.egress as egress
	count(violations) == 1
	some v in violations
	v.summary == "shop/catalog contacted a deny-listed destination: 203.0.113.7 in 203.0.113.0/24, transfer.sh (anonymous file drop)"
}

test_no_alert_on_other_names_and_addresses if {
	count(deny_list.violation) == 0 with input as to("198.51.100.80") with data.data.egress as egress
	count(deny_list.violation) == 0 with input as flow({"sentinel": {"destination": {"fqdn": "transfer.sh.example.com"}}}) with data.data.egress as egress
	count(deny_list.violation) == 0 with input as flow({"sentinel": {"destination": {"fqdn": "nottransfer.sh"}}}) with data.data.egress as egress
}

test_no_alert_with_empty_lists if {
	count(deny_list.violation) == 0 with input as to("203.0.113.9") with data.data.egress as {"deny_cidrs": [], "deny_domains": {}}
	count(deny_list.violation) == 0 with input as flow({}) with data.data.egress as {"deny_cidrs": [], "deny_domains": {}}
}

test_no_alert_on_replies if {
	count(deny_list.violation) == 0 with input as flow({"is_reply": true}) with data.data.egress as egress
	count(deny_list.violation) == 0 with input as object.union(to("203.0.113.9"), {"is_reply": true}) with data.data.egress as egress
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
