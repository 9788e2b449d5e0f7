# METADATA
# title: Unencrypted flow where encryption is required
# description: >-
#   A pod-to-pod flow crossed the network between nodes in plain text
#   although a side is listed in data.data.identity.encryption_required
#   (WireGuard or IPsec expected). Check cilium encrypt status on both nodes
#   and that the peer runs on an encrypting node; consider strict mode. Only
#   flows traced on the native device (TO_NETWORK, FROM_NETWORK) are
#   judged: only there does Hubble mark packets encrypted. Overlay, stack
#   and endpoint trace points see packets before encryption or after
#   decryption, and same-node traffic never reaches the wire.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1040/
#   - ref: https://docs.cilium.io/en/stable/security/network/encryption/
# custom:
#   id: UnencryptedFlowWhereRequired
#   severity: warning
#   mitre: T1040
#   tags: [identity, encryption, collection]
package sentinel.identity.encryption

import data.sentinel.lib

# One body per side that may require encryption, so that each is indexed.
# Encrypted packets between nodes are WireGuard or ESP packets between node
# addresses, which Hubble does not attribute to pods, and carry
# IP.encrypted; a pod-to-pod flow seen on the wire without it is plain text.
violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.verdict == "FORWARDED"
	input.trace_observation_point in {"TO_NETWORK", "FROM_NETWORK"}
	input.sentinel.source.kind == "pod"
	input.sentinel.destination.kind == "pod"
	not input.IP.encrypted
	required(input.sentinel.source)
}

violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.verdict == "FORWARDED"
	input.trace_observation_point in {"TO_NETWORK", "FROM_NETWORK"}
	input.sentinel.source.kind == "pod"
	input.sentinel.destination.kind == "pod"
	not input.IP.encrypted
	required(input.sentinel.destination)
}

required(side) if side.namespace in data.data.identity.encryption_required

required(side) if lib.workload_key(side) in data.data.identity.encryption_required

summary := sprintf("%s to %s on %s port %d crossed the network unencrypted (%s on node %s)", [
	lib.endpoint(input.sentinel.source),
	lib.endpoint(input.sentinel.destination),
	input.sentinel.protocol,
	input.sentinel.destination_port,
	input.trace_observation_point,
	object.get(input, "node_name", "unknown"),
])
