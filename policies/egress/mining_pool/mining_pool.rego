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

# One body per kind of indicator, each leading with conditions OPA's rule
# index checks before evaluating the body: a flow from client to server
# (input.sentinel.initiated), to a world destination or to a destination
# with a name (domains[0] is defined). Then the cheap tests: the port, a
# lookup of the engine's parent domains in the list. Both bodies build the
# same violation, so a flow matching both still yields one.
violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.sentinel.initiated == true
	input.sentinel.destination.kind == "world"
	input.sentinel.destination_port in data.data.egress.mining_pool_ports
	pool_port
}

violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.sentinel.initiated == true
	input.sentinel.destination.domains[0]
	some domain in input.sentinel.destination.domains
	domain in data.data.egress.mining_pool_domains
}

summary := sprintf("%s contacted a mining pool: %s", [
	lib.endpoint(input.sentinel.source),
	concat(", ", sort(indicators)),
])

# pool_port holds for an Internet address on a stratum port: a world
# destination outside data.data.network.internal_cidrs.
pool_port if {
	input.sentinel.destination.kind == "world"
	input.sentinel.destination_port in data.data.egress.mining_pool_ports
	not lib.ip_in_cidrs(input.sentinel.destination.ip, data.data.network.internal_cidrs)
}

# indicators say why this flow looks like mining-pool traffic.
indicators contains sprintf("%s %s port %d", [input.sentinel.destination.ip, input.sentinel.protocol, input.sentinel.destination_port]) if {
	pool_port
}

# The names under a pool domain, as the engine normalised them: a listed
# domain among the engine's parent domains, and each name it is the parent
# of (or is).
indicators contains name if {
	some domain in input.sentinel.destination.domains
	domain in data.data.egress.mining_pool_domains
	some name in input.sentinel.destination.names
	under(name, domain)
}

under(name, domain) if name == domain

under(name, domain) if endswith(name, concat("", [".", domain]))
