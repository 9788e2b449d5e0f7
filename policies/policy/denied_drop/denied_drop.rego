# METADATA
# title: Flow dropped by network policy
# description: >-
#   Cilium dropped a flow because no network policy allowed it, a deny rule
#   matched, or required mutual authentication was missing. In a mesh whose
#   policies describe the expected traffic, a denied flow is a workload
#   trying to reach something it never needed: lateral movement, service
#   discovery by an intruder, or a misconfigured deployment. Check the
#   source workload, the port it tried, and whether the attempts repeat
#   across many destinations (a scan).
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1046/
# custom:
#   id: PolicyDeniedDrop
#   severity: warning
#   mitre: T1046
#   tags: [network-policy, discovery, lateral-movement]
package sentinel.policy.denied_drop

import data.sentinel.lib

violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.verdict == "DROPPED"
	input.drop_reason_desc in data.data.network.policy_drop_reasons
	summary := sprintf("Cilium dropped %s %s from %s to %s port %d (%s)", [
		object.get(input, "traffic_direction", "TRAFFIC_DIRECTION_UNKNOWN"),
		input.sentinel.protocol,
		lib.endpoint(input.sentinel.source),
		lib.endpoint(input.sentinel.destination),
		input.sentinel.destination_port,
		input.drop_reason_desc,
	])
}
