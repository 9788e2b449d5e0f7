# METADATA
# title: Cross-namespace call into an isolated namespace
# description: >-
#   A pod opened a connection (a TCP SYN, or a UDP, SCTP or ICMP flow) to a
#   pod in a namespace that declared which other namespaces
#   may call it (data.data.lateral.namespace_isolation), and it is not one
#   of them, nor one of the cluster's infrastructure sources
#   (isolation_infra_sources), nor on one of the namespace's open ports.
#   An isolated namespace holds something worth protecting (payments,
#   secrets, tenant data); a call from elsewhere is lateral movement or a
#   dependency nobody declared. Check what the source asked for (Hubble L7
#   flows, the service's logs), and add the source to allowed_sources if
#   the dependency is real; a network policy can then enforce what this
#   detects. Namespaces without an entry are never judged.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1210/
# custom:
#   id: CrossNamespaceNotAllowlisted
#   severity: warning
#   learnable: true
#   mitre: T1210
#   tags: [lateral-movement, namespace-isolation]
package sentinel.lateral.namespace_isolation

import data.sentinel.lib

# Each TCP connection is judged once, on its SYN, and every flow of the
# connectionless protocols; the packets of established connections and L7
# records never enter a body. The bodies lead with conditions OPA's rule
# index checks: the packet, its direction (from client to server, the
# engine's input.sentinel.initiated), a pod source, and the destination
# namespace as a key of the opt-in map. The index looks a bare data.…[input.…] reference
# up in the data itself, so flows into namespaces without an entry (all of
# them by default) never enter a body; an assignment (isolation := …) would
# hide it from the index. Drops are left to PolicyDeniedDrop: this policy
# judges connections that got through.
violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.l4.TCP.flags.SYN == true
	input.sentinel.initiated == true
	input.sentinel.source.kind == "pod"
	data.data.lateral.namespace_isolation[input.sentinel.destination.namespace]
	uninvited
}

violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.sentinel.protocol in {"UDP", "SCTP", "ICMPv4", "ICMPv6"}
	input.sentinel.initiated == true
	input.sentinel.source.kind == "pod"
	data.data.lateral.namespace_isolation[input.sentinel.destination.namespace]
	uninvited
}

# uninvited holds for a flow from another namespace that got through, from
# a source neither the isolated namespace nor the infrastructure list
# allows, on a port the namespace does not open to all.
uninvited if {
	isolation := data.data.lateral.namespace_isolation[input.sentinel.destination.namespace]
	input.sentinel.source.namespace != input.sentinel.destination.namespace
	input.sentinel.source.namespace != ""
	not input.verdict == "DROPPED"
	not input.sentinel.destination_port in object.get(isolation, "allowed_ports", [])
	not lib.listed(input.sentinel.source, object.get(isolation, "allowed_sources", []))
	not lib.listed(input.sentinel.source, data.data.lateral.isolation_infra_sources)
}

summary := sprintf("%s called %s on %s port %d, which namespace %s does not allow", [
	lib.endpoint(input.sentinel.source),
	lib.endpoint(input.sentinel.destination),
	input.sentinel.protocol,
	input.sentinel.destination_port,
	input.sentinel.destination.namespace,
])
