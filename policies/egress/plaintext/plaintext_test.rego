package sentinel.egress.plaintext_test

import data.sentinel.egress.plaintext

egress := {
	"plaintext_ports": {"21": "FTP", "23": "Telnet", "25": "SMTP", "161": "SNMP", "389": "LDAP"},
	"plaintext_allowed_by_source": {"mail/postfix": [25], "netops": [161]},
}

network := {"internal_cidrs": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"]}

# email_smtp: the shop's email service delivers straight to a mail
# exchanger on the Internet over SMTP.
email_smtp := {
	"verdict": "FORWARDED",
	"Type": "L3_L4",
	"is_reply": false,
	"traffic_direction": "EGRESS",
	"IP": {"source": "10.0.3.31", "destination": "203.0.113.25", "ipVersion": "IPv4"},
	"l4": {"TCP": {"source_port": 42001, "destination_port": 25, "flags": {"SYN": true}}},
	"destination": {"identity": 2, "labels": ["reserved:world"]},
	"sentinel": {
		"source": {"kind": "pod", "namespace": "shop", "workload": "email", "pod": "email-77c8f9d5b-g6xtp", "ip": "10.0.3.31", "identity": 36129},
		"destination": {"kind": "world", "namespace": "", "workload": "", "pod": "", "ip": "203.0.113.25", "identity": 2, "fqdn": ""},
		"protocol": "TCP",
		"destination_port": 25,
	},
}

flow(overrides) := object.union(email_smtp, overrides)

# udp builds a UDP flow from the same pod to the same address.
udp(port) := object.union(object.remove(email_smtp, ["l4"]), {
	"l4": {"UDP": {"source_port": 40011, "destination_port": port}},
	"sentinel": {"protocol": "UDP", "destination_port": port},
})

on_port(port) := flow({"l4": {"TCP": {"destination_port": port}}, "sentinel": {"destination_port": port}})

test_alerts_with_full_metadata if {
	plaintext.violation == {{
		"id": "EgressPlaintextProtocol",
		"severity": "warning",
		"title": "Plaintext protocol to the Internet",
		"policy": "sentinel.egress.plaintext",
		"summary": "shop/email used SMTP in plaintext to 203.0.113.25 (TCP port 25)",
		"description": plaintext.violation[_].description,
		"mitre": "T1048.003",
	}} with input as email_smtp with data.data.egress as egress with data.data.network as network
}

test_alerts_on_every_listed_port if {
	every port in [21, 23, 25, 161, 389] {
		count(plaintext.violation) == 1 with input as on_port(port) with data.data.egress as egress with data.data.network as network
	}
}

test_summary_names_the_fqdn_and_udp if {
	some v in plaintext.violation with input as object.union(udp(161), {"sentinel": {"destination": {"fqdn": "snmp.example.net"}}})
		with data.data.egress as egress with data.data.network as network
	v.summary == "shop/email used SNMP in plaintext to 203.0.113.25 (snmp.example.net) (UDP port 161)"
}

# A TCP connection is judged once, on its SYN.
test_only_the_first_packet_of_a_tcp_connection_is_judged if {
	established := object.union(object.remove(email_smtp, ["l4"]), {"l4": {"TCP": {"source_port": 42001, "destination_port": 25, "flags": {"ACK": true, "PSH": true}}}})
	count(plaintext.violation) == 0 with input as established with data.data.egress as egress with data.data.network as network
}

test_no_alert_on_encrypted_or_web_ports if {
	every port in [22, 80, 443, 465, 587, 636, 993, 995] {
		count(plaintext.violation) == 0 with input as on_port(port) with data.data.egress as egress with data.data.network as network
	}
}

test_allowed_workload_and_namespace if {
	postfix := flow({"sentinel": {"source": {"namespace": "mail", "workload": "postfix"}}})
	count(plaintext.violation) == 0 with input as postfix with data.data.egress as egress with data.data.network as network
	ftp := flow({"sentinel": {"source": {"namespace": "mail", "workload": "postfix"}, "destination_port": 21}})
	count(plaintext.violation) == 1 with input as ftp with data.data.egress as egress with data.data.network as network
	snmp := object.union(udp(161), {"sentinel": {"source": {"namespace": "netops", "workload": "poller"}}})
	count(plaintext.violation) == 0 with input as snmp with data.data.egress as egress with data.data.network as network
}

test_no_alert_on_internal_addresses if {
	every ip in ["10.0.0.25", "192.168.1.25", "fd00::25"] {
		count(plaintext.violation) == 0 with input as flow({"IP": {"destination": ip}, "sentinel": {"destination": {"ip": ip}}})
			with data.data.egress as egress with data.data.network as network
	}
}

test_no_alert_on_replies_pods_or_other_protocols if {
	count(plaintext.violation) == 0 with input as flow({"is_reply": true}) with data.data.egress as egress with data.data.network as network
	count(plaintext.violation) == 0 with input as object.union(udp(161), {"is_reply": true}) with data.data.egress as egress with data.data.network as network
	count(plaintext.violation) == 0 with input as flow({"sentinel": {"destination": {"kind": "pod"}}})
		with data.data.egress as egress with data.data.network as network
	sctp := object.union(object.remove(email_smtp, ["l4"]), {"l4": {"SCTP": {"source_port": 40011, "destination_port": 25}}, "sentinel": {"protocol": "SCTP"}})
	count(plaintext.violation) == 0 with input as sctp with data.data.egress as egress with data.data.network as network
}

test_shipped_plaintext_ports_are_port_numbers if {
	every port, name in data.data.egress.plaintext_ports {
		to_number(port) >= 1
		to_number(port) <= 65535
		format_int(to_number(port), 10) == port
		name != ""
	}
	not 80 in {to_number(p) | some p, _ in data.data.egress.plaintext_ports}
	not 443 in {to_number(p) | some p, _ in data.data.egress.plaintext_ports}
}

test_shipped_allowed_sources_are_port_lists if {
	every source, ports in data.data.egress.plaintext_allowed_by_source {
		regex.match(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(/[a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$`, source)
		every port in ports {
			is_number(port)
		}
	}
}
