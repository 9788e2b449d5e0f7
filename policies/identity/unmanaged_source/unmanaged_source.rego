# METADATA
# title: Traffic from an unmanaged or unknown identity
# description: >-
#   A pod received traffic (or Cilium dropped traffic to it) from an
#   endpoint without a Cilium identity: reserved:unmanaged (a pod Cilium
#   does not manage: started before Cilium, another CNI) or identity 0
#   (unknown address). Identity-based policy cannot judge such peers; a
#   container started outside Kubernetes or a spoofed address looks like
#   this. Find who owns the source address (cilium endpoint list, cilium ip
#   list), restart pods that predate Cilium, and allowlist known sources in
#   data.data.identity.unmanaged_allowed_*.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1610/
#   - ref: https://docs.cilium.io/en/stable/gettingstarted/terminology/#reserved-labels
# custom:
#   id: UnmanagedOrUnknownIdentity
#   severity: warning
#   mitre: T1610
#   tags: [identity, defense-evasion]
package sentinel.identity.unmanaged_source

import data.sentinel.lib

violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.sentinel.source.kind == "unmanaged"
	input.sentinel.destination.kind == "pod"
	input.verdict in {"FORWARDED", "DROPPED"}
	input.sentinel.initiated == true
	not allowed
}

violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.sentinel.source.kind == "unknown"
	input.sentinel.destination.kind == "pod"
	input.verdict in {"FORWARDED", "DROPPED"}
	input.sentinel.initiated == true
	not allowed
}

allowed if input.sentinel.destination.namespace in data.data.identity.unmanaged_allowed_destinations

allowed if lib.workload_key(input.sentinel.destination) in data.data.identity.unmanaged_allowed_destinations

allowed if lib.ip_in_cidrs(input.sentinel.source.ip, data.data.identity.unmanaged_allowed_source_cidrs)

summary := sprintf("%s (identity %d) sent %s port %d to %s (%s)", [
	lib.endpoint(input.sentinel.source),
	input.sentinel.source.identity,
	input.sentinel.protocol,
	input.sentinel.destination_port,
	lib.endpoint(input.sentinel.destination),
	input.verdict,
])
