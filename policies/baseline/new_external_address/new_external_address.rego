# METADATA
# title: Connection to a never-seen Internet address without a name
# description: >-
#   After its learning period, a workload connected to an Internet address
#   that it never contacted and that Hubble knows no DNS name for: the
#   workload did not resolve it, so the address came from configuration,
#   code or an attacker. Exfiltration and command-and-control to raw
#   addresses look like this. Check the address's owner and reputation and
#   what the workload sent (the hubble_observe line shows the flows).
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1041/
# custom:
#   id: BaselineNewExternalAddress
#   severity: warning
#   mitre: T1041
#   tags: [baseline, exfiltration, command-and-control]
package sentinel.baseline.new_external_address

import data.sentinel.lib

violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.sentinel.baseline.new_peer == true
	input.sentinel.baseline.learning == false
	lib.server.kind == "world"
	startswith(input.sentinel.baseline.peer, "ip:")
	not lib.ip_in_cidrs(lib.server.ip, data.data.network.internal_cidrs)
	summary := sprintf("%s connected to %s on %s port %d, an address it never contacted and did not resolve", [
		lib.endpoint(lib.client), lib.server.ip, input.sentinel.protocol, input.sentinel.service_port,
	])
}
