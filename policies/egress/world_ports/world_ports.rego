# METADATA
# title: Egress to the Internet on an unexpected port
# description: >-
#   A workload opened a TCP or UDP flow to an Internet address on a port
#   outside the allowed set (by default DNS, HTTP, NTP and HTTPS). Command
#   and control channels, reverse shells, mining pools and exfiltration
#   tools often use non-standard ports. Check the destination's reputation
#   and owner, and whether the workload has a reason to use this port; add
#   it to data.data.egress.world_allowed_ports_by_workload if it does.
#   Private and carrier-grade NAT ranges (data.data.network.internal_cidrs)
#   never alert, because some platforms label node addresses as world.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1571/
# custom:
#   id: EgressToWorldUnexpectedPort
#   severity: warning
#   learnable: true
#   mitre: T1571
#   tags: [egress, command-and-control]
package sentinel.egress.world_ports

import data.sentinel.lib

# The body leads with the conditions OPA's rule index checks before
# evaluating it (a TCP or UDP flow from client to server, the engine's
# input.sentinel.initiated, to a world destination), so other flows cost
# nothing here; the cheap port check comes before the per-workload lookup
# and the address ranges.
violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.sentinel.destination.kind == "world"
	input.sentinel.protocol in {"TCP", "UDP"}
	input.sentinel.initiated == true
	not input.sentinel.destination_port in data.data.egress.world_allowed_ports
	not workload_port
	not lib.ip_in_cidrs(input.sentinel.destination.ip, data.data.network.internal_cidrs)
	summary := sprintf("%s connected to %s on %s port %d", [
		lib.endpoint(input.sentinel.source),
		destination,
		input.sentinel.protocol,
		input.sentinel.destination_port,
	])
}

# workload_port holds when the source workload may use the port towards the
# Internet (data.data.egress.world_allowed_ports_by_workload).
workload_port if {
	input.sentinel.destination_port in object.get(
		data.data.egress.world_allowed_ports_by_workload,
		lib.workload_key(input.sentinel.source),
		[],
	)
}

destination := sprintf("%s (%s)", [input.sentinel.destination.ip, input.sentinel.destination.fqdn]) if {
	input.sentinel.destination.fqdn != ""
} else := input.sentinel.destination.ip
