# METADATA
# title: DNS query to a resolver on the Internet
# description: >-
#   A pod sent DNS (port 53) or DNS over TLS (port 853) straight to a
#   resolver on the Internet instead of the cluster DNS. Queries that
#   bypass CoreDNS escape its logs, DNS-aware network policy and the
#   DNSTunnelingSuspected checks, which is why tunnelling tools and malware
#   bring their own resolver. Check the pod's dnsPolicy and dnsConfig, the
#   process that sent the query and what it asked; allowlist a workload
#   that must use an outside resolver in
#   data.data.egress.external_dns_allowed_sources. The cluster DNS in
#   kube-system and resolvers in private ranges (the VPC's) never alert.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1071/004/
# custom:
#   id: EgressToExternalDNSResolver
#   severity: warning
#   learnable: true
#   mitre: T1071.004
#   tags: [egress, dns, command-and-control, defense-evasion]
package sentinel.egress.external_dns

import data.sentinel.lib

# One body per transport, each leading with conditions OPA's rule index
# checks: from a pod (the client, input.sentinel.initiated) to a world
# destination, a TCP SYN (each connection judged once, on its first
# packet) or a UDP flow. Then the port and the source lists. An answer
# goes to the client's ephemeral port, never to 53 or 853.
violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.l4.TCP.flags.SYN == true
	input.sentinel.initiated == true
	input.sentinel.destination.kind == "world"
	input.sentinel.source.kind == "pod"
	external_query
}

violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.sentinel.protocol == "UDP"
	input.sentinel.initiated == true
	input.sentinel.destination.kind == "world"
	input.sentinel.source.kind == "pod"
	external_query
}

external_query if {
	input.sentinel.destination_port in data.data.egress.external_dns_ports
	not allowed_source
	not lib.ip_in_cidrs(input.sentinel.destination.ip, data.data.network.internal_cidrs)
}

summary := sprintf("%s queried the Internet resolver %s directly on %s port %d", [
	lib.endpoint(input.sentinel.source),
	input.sentinel.destination.ip,
	input.sentinel.protocol,
	input.sentinel.destination_port,
])

allowed_source if input.sentinel.source.namespace in data.data.egress.external_dns_allowed_sources

allowed_source if lib.workload_key(input.sentinel.source) in data.data.egress.external_dns_allowed_sources
