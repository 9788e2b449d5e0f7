# METADATA
# title: Connection to a cryptocurrency mining pool
# description: >-
#   A workload connected to an Internet address on a port used by mining
#   pools' stratum servers, or reached or resolved a known mining pool
#   domain. Cryptojacking is the most common payload of compromised
#   containers: it burns the cluster's CPU at the owner's expense. Check
#   the workload's CPU usage and image, the process making the connection,
#   and how the workload was compromised.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1496/
# custom:
#   id: CryptoMiningPoolConnection
#   severity: critical
#   mitre: T1496
#   tags: [egress, impact, cryptomining]
package sentinel.egress.mining_pool

import data.sentinel.lib

violation contains lib.violation(rego.metadata.chain(), summary) if {
	lib.not_reply
	count(indicators) > 0
	summary := sprintf("%s contacted a mining pool: %s", [
		lib.endpoint(input.sentinel.source),
		concat(", ", sort(indicators)),
	])
}

# indicators say why this flow looks like mining-pool traffic.
indicators contains sprintf("%s %s port %d", [input.sentinel.destination.ip, input.sentinel.protocol, input.sentinel.destination_port]) if {
	input.sentinel.destination.kind == "world"
	input.sentinel.destination_port in {port | some port in data.data.egress.mining_pool_ports}
	not lib.ip_in_cidrs(input.sentinel.destination.ip, data.data.network.internal_cidrs)
}

indicators contains name if {
	some name in lib.destination_names
	lib.name_in_domains(name, data.data.egress.mining_pool_domains)
}
