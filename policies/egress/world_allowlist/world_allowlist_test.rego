package sentinel.egress.world_allowlist_test

import data.sentinel.egress.world_allowlist

# The shop namespace is internal-only except for payment (Stripe by name)
# and shipping (the carrier's addresses, HTTPS only through ports).
egress := {"world_allowlist": {
	"shop": {},
	"shop/payment": {"domains": ["stripe.com"]},
	"shop/shipping": {"cidrs": ["198.51.100.40/31"], "ports": [8443]},
	"ci": {"ports": [22, 443]},
}}

network := {"internal_cidrs": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "fc00::/7"]}

# The flows of testdata/flows.jsonl as the engine measures them (make
# fixtures), by uuid. cart_exfil: the cart pod, which never talks to the
# Internet, opens a connection to an unknown address.
fixtures := data.egress.world_allowlist.testdata

flow(overrides) := object.union(fixtures.cart_exfil, overrides)

from(workload) := flow({"sentinel": {"source": {"workload": workload}}})

# on_port(port) is the same connection to another port.
on_port(port) := flow({"l4": {"TCP": {"destination_port": port}}, "sentinel": {"destination_port": port, "service_port": port}})

test_alerts_with_full_metadata if {
	world_allowlist.violation == {{
		"id": "EgressToWorldNotAllowlisted",
		"severity": "warning",
		"title": "Egress to the Internet outside the workload's allowlist",
		"policy": "sentinel.egress.world_allowlist",
		"summary": "shop/cart connected to 203.0.113.9 on TCP port 443, outside its egress allowlist",
		"description": world_allowlist.violation[_].description,
		"mitre": "T1041",
	}} with input as flow({}) with data.data.egress as egress with data.data.network as network
}

test_summary_names_the_fqdn if {
	some v in world_allowlist.violation with input as fixtures.cart_exfil_named
		with data.data.egress as egress with data.data.network as network
	v.summary == "shop/cart connected to 203.0.113.9 (evil.example.net) on TCP port 443, outside its egress allowlist"
}

test_sources_without_an_allowlist_never_alert if {
	count(world_allowlist.violation) == 0 with input as flow({"sentinel": {"source": {"namespace": "other"}}})
		with data.data.egress as egress with data.data.network as network
	count(world_allowlist.violation) == 0 with input as fixtures.cart_exfil with data.data.egress as {"world_allowlist": {}}
		with data.data.network as network
}

test_sources_without_a_namespace_never_alert if {
	count(world_allowlist.violation) == 0 with input as flow({"sentinel": {"source": {"kind": "host", "namespace": "", "workload": "", "pod": ""}}})
		with data.data.egress as {"world_allowlist": {"": {}, "/": {}}} with data.data.network as network
}

# Cilium's DNS-aware name API.Stripe.com., as the engine normalised it.
test_allowed_by_domain_of_the_fqdn if {
	fixtures.payment_stripe.sentinel.destination.fqdn == "api.stripe.com"
	count(world_allowlist.violation) == 0 with input as fixtures.payment_stripe with data.data.egress as egress with data.data.network as network
	count(world_allowlist.violation) == 0 with input as fixtures.payment_stripe_apex
		with data.data.egress as egress with data.data.network as network
}

# A Host header is the client's to choose, and only L7 records carry it:
# it allows nothing, and L7 records are not judged (the connection's SYN
# is). The payment pod's SYN to an address without a DNS-aware name
# alerts even where the engine knows a name from elsewhere (stated here
# as the engine would state an HTTP host); its request, naming Stripe in
# its Host header, is not judged.
test_an_http_host_allows_nothing_and_l7_records_are_not_judged if {
	host := object.union(fixtures.payment_unnamed, {"sentinel": {
		"destination": {"names": ["api.stripe.com"], "domains": ["api.stripe.com", "stripe.com", "com"]},
		"http": {"host": "api.stripe.com"},
	}})
	count(world_allowlist.violation) == 1 with input as host with data.data.egress as egress with data.data.network as network
	count(world_allowlist.violation) == 0 with input as fixtures.cart_request
		with data.data.egress as egress with data.data.network as network
}

# A TCP connection is judged once, on its SYN.
test_established_packets_are_not_judged if {
	count(world_allowlist.violation) == 0 with input as fixtures.cart_exfil_established
		with data.data.egress as egress with data.data.network as network
}

test_domain_of_another_workload_or_a_lookalike_alerts if {
	count(world_allowlist.violation) == 1 with input as fixtures.cart_stripe
		with data.data.egress as egress with data.data.network as network
	count(world_allowlist.violation) == 1 with input as fixtures.payment_notstripe
		with data.data.egress as egress with data.data.network as network
}

# A DNS query sent straight to an Internet resolver names what it asks
# about, not the resolver: asking about stripe.com does not allow 8.8.8.8.
test_a_dns_query_name_does_not_allow_its_resolver if {
	query := fixtures.payment_dns_to_google
	some v in world_allowlist.violation with input as query
		with data.data.egress as egress with data.data.network as network
	v.summary == "shop/payment connected to 8.8.8.8 on UDP port 53, outside its egress allowlist"
}

test_allowed_by_cidr_or_port if {
	carrier := flow({"IP": {"destination": "198.51.100.41"}, "sentinel": {"source": {"workload": "shipping"}, "destination": {"ip": "198.51.100.41"}}})
	count(world_allowlist.violation) == 0 with input as carrier with data.data.egress as egress with data.data.network as network
	count(world_allowlist.violation) == 1 with input as from("shipping") with data.data.egress as egress with data.data.network as network
	count(world_allowlist.violation) == 0 with input as object.union(on_port(8443), {"sentinel": {"source": {"workload": "shipping"}}})
		with data.data.egress as egress with data.data.network as network
}

# The namespace's entry and the workload's entry both apply.
test_namespace_and_workload_entries_add_up if {
	ci := {"sentinel": {"source": {"namespace": "ci", "workload": "runner"}}}
	count(world_allowlist.violation) == 0 with input as object.union(on_port(22), ci) with data.data.egress as egress with data.data.network as network
	with_workload := object.union(egress.world_allowlist, {"ci/runner": {"ports": [9418]}})
	count(world_allowlist.violation) == 0 with input as object.union(on_port(22), ci)
		with data.data.egress as {"world_allowlist": with_workload} with data.data.network as network
	count(world_allowlist.violation) == 0 with input as object.union(on_port(9418), ci)
		with data.data.egress as {"world_allowlist": with_workload} with data.data.network as network
	count(world_allowlist.violation) == 1 with input as object.union(on_port(25), ci)
		with data.data.egress as {"world_allowlist": with_workload} with data.data.network as network
}

test_a_workload_entry_alone_opts_the_workload_in if {
	count(world_allowlist.violation) == 1 with input as from("payment")
		with data.data.egress as {"world_allowlist": {"shop/payment": {"domains": ["stripe.com"]}}} with data.data.network as network
	count(world_allowlist.violation) == 0 with input as from("cart")
		with data.data.egress as {"world_allowlist": {"shop/payment": {"domains": ["stripe.com"]}}} with data.data.network as network
}

test_alerts_on_udp_icmp_and_ipv6 if {
	count(world_allowlist.violation) == 1 with input as fixtures.cart_wireguard
		with data.data.egress as egress with data.data.network as network
	count(world_allowlist.violation) == 1 with input as object.union(fixtures.cart_wireguard, {"sentinel": {"source": {"workload": "payment"}}})
		with data.data.egress as {"world_allowlist": {"shop/payment": {}}} with data.data.network as network
	count(world_allowlist.violation) == 1 with input as flow({"IP": {"destination": "2001:db8::7"}, "sentinel": {"destination": {"ip": "2001:db8::7"}}})
		with data.data.egress as egress with data.data.network as network
	count(world_allowlist.violation) == 1 with input as fixtures.cart_ping
		with data.data.egress as egress with data.data.network as network
}

# GKE labels node addresses and some pods reserved:world.
test_no_alert_on_internal_addresses if {
	every ip in ["10.128.0.4", "172.20.1.1", "192.168.1.10", "100.64.3.2", "169.254.169.254", "fd12::1"] {
		count(world_allowlist.violation) == 0 with input as flow({"IP": {"destination": ip}, "sentinel": {"destination": {"ip": ip}}})
			with data.data.egress as egress with data.data.network as network
	}
}

test_no_alert_towards_pods if {
	count(world_allowlist.violation) == 0 with input as flow({"IP": {"destination": "10.0.3.4"}, "sentinel": {"destination": {"kind": "pod", "ip": "10.0.3.4"}}})
		with data.data.egress as egress with data.data.network as network
}

test_no_alert_on_drops if {
	count(world_allowlist.violation) == 0 with input as flow({"verdict": "DROPPED", "drop_reason_desc": "POLICY_DENIED"})
		with data.data.egress as egress with data.data.network as network
}

# The frontend answering a shopper: a reply, whether Cilium says so or only
# the packet does (a SYN-ACK; a UDP answer from a service port to an
# ephemeral one).
test_no_alert_on_replies if {
	every uuid in ["frontend_synack_to_shopper", "frontend_synack_to_shopper_no_direction", "frontend_quic_answer_no_direction"] {
		fixtures[uuid].sentinel.initiated == false
		count(world_allowlist.violation) == 0 with input as fixtures[uuid]
			with data.data.egress as egress with data.data.network as network
	}
}

# The same flows in the initiating direction alert: the direction alone
# keeps the replies quiet.
test_the_replies_would_alert_as_initiations if {
	every uuid in ["frontend_synack_to_shopper", "frontend_quic_answer_no_direction"] {
		count(world_allowlist.violation) == 1 with input as object.union(fixtures[uuid], {"sentinel": {"initiated": true}})
			with data.data.egress as egress with data.data.network as network
	}
}

# The shipped allowlist is empty (silent); an entry a user adds must be an
# object of normalised lists, or it silently stops matching.
valid_entry(key, entry) if {
	regex.match(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(/[a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$`, key)
	is_object(entry)
	every field, _ in entry {
		field in {"cidrs", "domains", "ports"}
	}
	every cidr in object.get(entry, "cidrs", []) {
		net.cidr_is_valid(cidr)
	}
	every domain in object.get(entry, "domains", []) {
		domain == lower(domain)
		domain == trim(domain, ".")
		domain != ""
	}
	every port in object.get(entry, "ports", []) {
		is_number(port)
		port >= 1
		port <= 65535
	}
}

test_shipped_world_allowlist_is_well_formed if {
	every key, entry in data.data.egress.world_allowlist {
		valid_entry(key, entry)
	}
}

test_a_badly_written_entry_is_caught if {
	valid_entry("shop/payment", {"domains": ["stripe.com"], "cidrs": ["198.51.100.0/24"], "ports": [443]})
	valid_entry("shop", {})
	not valid_entry("Shop", {})
	not valid_entry("shop", {"domain": ["stripe.com"]})
	not valid_entry("shop", {"domains": [".Stripe.com"]})
	not valid_entry("shop", {"cidrs": ["198.51.100.0/33"]})
	not valid_entry("shop", {"ports": ["443"]})
	not valid_entry("shop", null)
}
