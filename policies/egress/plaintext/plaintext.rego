# METADATA
# title: Plaintext protocol to the Internet
# description: >-
#   A workload used a protocol that carries credentials and data unencrypted
#   (FTP, Telnet, SMTP, POP3, IMAP, LDAP, SNMP, the r-commands, IRC) towards
#   an Internet address. Anyone on the path can read and alter it, and
#   intruders use these old protocols for exfiltration and, in IRC's case,
#   for botnet command and control. Check which process in the pod opened
#   the connection and what the destination is; move the integration to
#   the protocol's TLS port, or allowlist the port for the workload in
#   data.data.egress.plaintext_allowed_by_source if it must stay.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1048/003/
# custom:
#   id: EgressPlaintextProtocol
#   severity: warning
#   learnable: true
#   mitre: T1048.003
#   tags: [egress, exfiltration, plaintext]
package sentinel.egress.plaintext

import data.sentinel.lib

# One body per transport, each leading with conditions OPA's rule index
# checks: a flow from client to server (the engine's
# input.sentinel.initiated) to a world destination. For TCP, a SYN: each
# connection is judged once, on its first packet, and the packets of
# established connections never enter the body. For UDP, which has no
# connections, every flow. Then one lookup of the port in the data's map.
violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.l4.TCP.flags.SYN == true
	input.sentinel.initiated == true
	input.sentinel.destination.kind == "world"
	plaintext_flow
}

violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.sentinel.protocol == "UDP"
	input.sentinel.initiated == true
	input.sentinel.destination.kind == "world"
	plaintext_flow
}

plaintext_flow if {
	service
	not allowed_source
	not lib.ip_in_cidrs(input.sentinel.destination.ip, data.data.network.internal_cidrs)
}

service := data.data.egress.plaintext_ports[format_int(input.sentinel.destination_port, 10)]

summary := sprintf("%s used %s in plaintext to %s (%s port %d)", [
	lib.endpoint(input.sentinel.source),
	service,
	destination,
	input.sentinel.protocol,
	input.sentinel.destination_port,
])

# allowed_source holds when the source's namespace or workload may use the
# port (data.data.egress.plaintext_allowed_by_source).
allowed_source if {
	input.sentinel.destination_port in object.get(data.data.egress.plaintext_allowed_by_source, input.sentinel.source.namespace, [])
}

allowed_source if {
	input.sentinel.destination_port in object.get(data.data.egress.plaintext_allowed_by_source, lib.workload_key(input.sentinel.source), [])
}

destination := sprintf("%s (%s)", [input.sentinel.destination.ip, input.sentinel.destination.fqdn]) if {
	input.sentinel.destination.fqdn != ""
} else := input.sentinel.destination.ip
