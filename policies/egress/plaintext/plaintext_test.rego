package sentinel.egress.plaintext_test

import data.sentinel.egress.plaintext

egress := {
	"plaintext_ports": {"21": "FTP", "23": "Telnet", "25": "SMTP", "161": "SNMP", "389": "LDAP"},
	"plaintext_allowed_by_source": {"mail/postfix": [25], "netops": [161]},
}

network := {"internal_cidrs": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"]}

# The flows of testdata/flows.jsonl as the engine measures them (make
# fixtures), by uuid. email_smtp: the shop's email service delivers
# straight to a mail exchanger on the Internet over SMTP.
fixtures := data.egress.plaintext.testdata

flow(overrides) := object.union(fixtures.email_smtp, overrides)

# on_port(port) is the same connection to another port.
on_port(port) := flow({"l4": {"TCP": {"destination_port": port}}, "sentinel": {"destination_port": port, "service_port": port}})

test_alerts_with_full_metadata if {
	plaintext.violation == {{
		"id": "EgressPlaintextProtocol",
		"severity": "warning",
		"title": "Plaintext protocol to the Internet",
		"policy": "sentinel.egress.plaintext",
		"summary": "shop/email used SMTP in plaintext to 203.0.113.25 (TCP port 25)",
		"description": plaintext.violation[_].description,
		"mitre": "T1048.003",
	}} with input as fixtures.email_smtp with data.data.egress as egress with data.data.network as network
}

test_alerts_on_every_listed_port if {
	every port in [21, 23, 25, 161, 389] {
		count(plaintext.violation) == 1 with input as on_port(port) with data.data.egress as egress with data.data.network as network
	}
}

test_summary_names_the_fqdn_and_udp if {
	some v in plaintext.violation with input as fixtures.email_snmp_named
		with data.data.egress as egress with data.data.network as network
	v.summary == "shop/email used SNMP in plaintext to 203.0.113.25 (snmp.example.net) (UDP port 161)"
}

# A TCP connection is judged once, on its SYN.
test_only_the_first_packet_of_a_tcp_connection_is_judged if {
	count(plaintext.violation) == 0 with input as fixtures.email_smtp_established with data.data.egress as egress with data.data.network as network
}

test_no_alert_on_encrypted_or_web_ports if {
	every port in [22, 80, 443, 465, 587, 636, 993, 995] {
		count(plaintext.violation) == 0 with input as on_port(port) with data.data.egress as egress with data.data.network as network
	}
}

test_allowed_workload_and_namespace if {
	postfix := flow({"sentinel": {"source": {"namespace": "mail", "workload": "postfix"}}})
	count(plaintext.violation) == 0 with input as postfix with data.data.egress as egress with data.data.network as network
	ftp := object.union(on_port(21), {"sentinel": {"source": {"namespace": "mail", "workload": "postfix"}}})
	count(plaintext.violation) == 1 with input as ftp with data.data.egress as egress with data.data.network as network
	snmp := object.union(fixtures.email_snmp, {"sentinel": {"source": {"namespace": "netops", "workload": "poller"}}})
	count(plaintext.violation) == 0 with input as snmp with data.data.egress as egress with data.data.network as network
}

test_no_alert_on_internal_addresses if {
	every ip in ["10.0.0.25", "192.168.1.25", "fd00::25"] {
		count(plaintext.violation) == 0 with input as flow({"IP": {"destination": ip}, "sentinel": {"destination": {"ip": ip}}})
			with data.data.egress as egress with data.data.network as network
	}
}

test_no_alert_on_replies_pods_or_other_protocols if {
	count(plaintext.violation) == 0 with input as fixtures.email_smtp_as_reply with data.data.egress as egress with data.data.network as network
	count(plaintext.violation) == 0 with input as fixtures.email_snmp_as_reply with data.data.egress as egress with data.data.network as network
	count(plaintext.violation) == 0 with input as flow({"sentinel": {"destination": {"kind": "pod"}}})
		with data.data.egress as egress with data.data.network as network
	count(plaintext.violation) == 0 with input as fixtures.email_sctp with data.data.egress as egress with data.data.network as network
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
