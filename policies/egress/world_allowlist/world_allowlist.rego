# METADATA
# title: Egress to the Internet outside the workload's allowlist
# description: >-
#   A workload whose namespace or workload has an egress allowlist
#   (data.data.egress.world_allowlist) opened a connection to an Internet
#   address that no entry allows: not in its CIDRs, not named (by Cilium's
#   DNS-aware FQDN) under its domains, not on its ports. In a namespace
#   that declared where it talks to, a new Internet destination is command
#   and control, exfiltration or a dependency that changed. Check the
#   destination's owner and reputation, which process in the pod opened the
#   connection and whether a release added the dependency; extend the
#   allowlist if it did. Only opted-in sources are judged, and private
#   ranges (data.data.network.internal_cidrs) never alert.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1041/
#   - ref: https://attack.mitre.org/techniques/T1071/
# custom:
#   id: EgressToWorldNotAllowlisted
#   severity: warning
#   mitre: T1041
#   tags: [egress, exfiltration, command-and-control]
package sentinel.egress.world_allowlist

import data.sentinel.lib

# Each TCP connection is judged once, on its SYN, and every flow of the
# connectionless protocols; the packets of established connections and L7
# records never enter a body. The bodies lead with conditions OPA's rule
# index checks: the packet, its direction (from client to server, the
# engine's input.sentinel.initiated), a world destination and, for
# namespace entries, the source namespace as a key of the allowlist (a
# bare data.…[input.…] reference, which the index looks up in the data).
# Workload entries are keyed by a string the index cannot build, so their
# bodies look the key up on new world connections only. All bodies build
# the same violation.
violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.l4.TCP.flags.SYN == true
	input.sentinel.initiated == true
	input.sentinel.destination.kind == "world"
	data.data.egress.world_allowlist[input.sentinel.source.namespace]
	unexpected
}

violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.sentinel.protocol in {"UDP", "ICMPv4", "ICMPv6", "SCTP"}
	input.sentinel.initiated == true
	input.sentinel.destination.kind == "world"
	data.data.egress.world_allowlist[input.sentinel.source.namespace]
	unexpected
}

violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.l4.TCP.flags.SYN == true
	input.sentinel.initiated == true
	input.sentinel.destination.kind == "world"
	data.data.egress.world_allowlist[lib.workload_key(input.sentinel.source)]
	unexpected
}

violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.sentinel.protocol in {"UDP", "ICMPv4", "ICMPv6", "SCTP"}
	input.sentinel.initiated == true
	input.sentinel.destination.kind == "world"
	data.data.egress.world_allowlist[lib.workload_key(input.sentinel.source)]
	unexpected
}

# unexpected holds for a flow that got through (drops are left to
# PolicyDeniedDrop) to an Internet address that none of the source's
# entries allows.
unexpected if {
	input.sentinel.source.namespace != ""
	not input.verdict == "DROPPED"
	not lib.ip_in_cidrs(input.sentinel.destination.ip, data.data.network.internal_cidrs)
	not allowed
}

summary := sprintf("%s connected to %s on %s port %d, outside its egress allowlist", [
	lib.endpoint(input.sentinel.source),
	destination,
	input.sentinel.protocol,
	input.sentinel.destination_port,
])

# entries are the allowlist entries of the source's namespace and workload.
entries contains entry if {
	input.sentinel.source.namespace != ""
	entry := data.data.egress.world_allowlist[input.sentinel.source.namespace]
}

entries contains entry if {
	input.sentinel.source.namespace != ""
	entry := data.data.egress.world_allowlist[lib.workload_key(input.sentinel.source)]
}

allowed if {
	some entry in entries
	input.sentinel.destination_port in object.get(entry, "ports", [])
}

allowed if {
	some entry in entries
	lib.ip_in_cidrs(input.sentinel.destination.ip, object.get(entry, "cidrs", []))
}

# A name allows the flow when the destination's DNS-aware FQDN, the name
# Cilium resolved the address from, is an entry's domain or under it: one
# of the engine's parent domains is listed, and it is the FQDN's (a DNS
# query's name, also among them, is what a resolver is asked about, not
# the resolver's name). L3/L4 flows carry no HTTP host (and a Host header
# is the client's to choose).
allowed if {
	input.sentinel.destination.fqdn != ""
	some entry in entries
	some domain in input.sentinel.destination.domains
	domain in object.get(entry, "domains", [])
	fqdn_under(domain)
}

fqdn_under(domain) if input.sentinel.destination.fqdn == domain

fqdn_under(domain) if endswith(input.sentinel.destination.fqdn, concat("", [".", domain]))

destination := sprintf("%s (%s)", [input.sentinel.destination.ip, input.sentinel.destination.fqdn]) if {
	input.sentinel.destination.fqdn != ""
} else := input.sentinel.destination.ip
