# METADATA
# title: Packet with a spoofed source address
# description: >-
#   Cilium dropped a packet an endpoint sent with a source address that is
#   not its own (data.data.identity.spoofing_drop_reasons). Forged sources
#   are how a pod with CAP_NET_RAW impersonates another workload, reflects
#   traffic at a victim or slips past address-based rules. Cilium stopped
#   the packet; the sender is the finding. Check it for raw-socket tools,
#   or whether it legitimately routes other addresses (a VPN or router pod).
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1557/
# custom:
#   id: SourceAddressSpoofing
#   severity: warning
#   mitre: T1557
#   tags: [identity, spoofing, credential-access]
package sentinel.identity.spoofed_source

import data.sentinel.lib

violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.verdict == "DROPPED"
	input.drop_reason_desc in data.data.identity.spoofing_drop_reasons
	summary := sprintf("Cilium dropped %s from %s (identity %d) to %s port %d with a source address it does not own (%s, node %s)", [
		input.sentinel.protocol,
		lib.endpoint(input.sentinel.source),
		input.sentinel.source.identity,
		input.sentinel.destination.ip,
		input.sentinel.destination_port,
		input.drop_reason_desc,
		object.get(input, "node_name", "unknown"),
	])
}
