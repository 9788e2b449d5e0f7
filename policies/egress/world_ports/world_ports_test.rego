package sentinel.egress.world_ports_test

import data.sentinel.egress.world_ports

egress := {
	"world_allowed_ports": [53, 80, 123, 443],
	"world_allowed_ports_by_workload": {"shop/email": [587]},
}

network := {"internal_cidrs": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"]}

# The flows of testdata/flows.jsonl as the engine measures them (make
# fixtures), by uuid. currency_4444 mirrors the shopmesh attack: the
# currency pod connects to a public address on a stratum port.
fixtures := data.egress.world_ports.testdata

# flow builds a flow from the attack by deep-merging overrides into it.
flow(overrides) := object.union(fixtures.currency_4444, overrides)

# to builds the attack flow towards ip and port.
to(ip, port) := flow({
	"IP": {"destination": ip},
	"l4": {"TCP": {"destination_port": port}},
	"sentinel": {"destination": {"ip": ip}, "destination_port": port, "service_port": port},
})

test_shopmesh_attack_alerts if {
	world_ports.violation == {{
		"id": "EgressToWorldUnexpectedPort",
		"severity": "warning",
		"title": "Egress to the Internet on an unexpected port",
		"policy": "sentinel.egress.world_ports",
		"summary": "shop/currency connected to 198.51.100.23 on TCP port 4444",
		"description": world_ports.violation[_].description,
		"mitre": "T1571",
	}} with input as fixtures.currency_4444 with data.data.egress as egress with data.data.network as network
}

test_alerts_on_udp_and_ipv6 if {
	count(world_ports.violation) == 1 with input as fixtures.currency_wireguard
		with data.data.egress as egress with data.data.network as network
	count(world_ports.violation) == 1 with input as to("2001:db8::10", 22)
		with data.data.egress as egress with data.data.network as network
}

test_summary_names_the_fqdn if {
	some v in world_ports.violation with input as fixtures.currency_mailgun
		with data.data.egress as egress with data.data.network as network
	v.summary == "shop/currency connected to 198.51.100.23 (smtp.mailgun.org) on TCP port 587"
}

test_no_alert_on_allowed_ports if {
	every port in [53, 80, 123, 443] {
		count(world_ports.violation) == 0 with input as to("198.51.100.23", port)
			with data.data.egress as egress with data.data.network as network
	}
}

test_per_workload_ports if {
	email := object.union(fixtures.currency_mailgun, {"sentinel": {"source": {"workload": "email"}}})
	count(world_ports.violation) == 0 with input as email with data.data.egress as egress with data.data.network as network
	count(world_ports.violation) == 1 with input as fixtures.currency_mailgun
		with data.data.egress as egress with data.data.network as network
}

# GKE labels node addresses and some pods reserved:world (the sample captures
# show prometheus scraping 10.156.0.2:9253 and 10.128.0.4:9990 as world).
test_no_alert_on_internal_addresses_labelled_world if {
	every ip in ["10.156.0.2", "10.128.0.4", "172.20.1.1", "192.168.1.10", "100.64.3.2", "fd12::1"] {
		count(world_ports.violation) == 0 with input as to(ip, 9253)
			with data.data.egress as egress with data.data.network as network
	}
}

test_no_alert_on_replies if {
	count(world_ports.violation) == 0 with input as fixtures.currency_4444_as_reply
		with data.data.egress as egress with data.data.network as network
}

test_no_alert_without_ports if {
	count(world_ports.violation) == 0 with input as fixtures.currency_ping
		with data.data.egress as egress with data.data.network as network
}

test_no_alert_towards_pods if {
	count(world_ports.violation) == 0 with input as flow({"sentinel": {"destination": {"kind": "pod"}}})
		with data.data.egress as egress with data.data.network as network
}
