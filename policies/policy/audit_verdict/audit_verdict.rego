# METADATA
# title: Flow policy would deny, passed in audit mode
# description: >-
#   Cilium let a flow pass only because policy enforcement is in audit mode:
#   enforced, policy would have dropped it. During a rollout these are the
#   flows the new policies would break; once policies are complete they are
#   traffic nobody expected, PolicyDeniedDrop's evidence without the
#   protection. Check the source and port: add the rule the flow needs, or
#   look for a scan or lateral movement. Enforce when these stop.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1046/
#   - ref: https://docs.cilium.io/en/stable/security/policy-creation/
# custom:
#   id: PolicyAuditVerdict
#   severity: info
#   mitre: T1046
#   tags: [network-policy, discovery, lateral-movement]
package sentinel.policy.audit_verdict

import data.sentinel.lib

violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.verdict == "AUDIT"
	input.sentinel.initiated == true
	summary := sprintf("Cilium audit mode let %s %s from %s to %s port %d pass, which policy would deny", [
		object.get(input, "traffic_direction", "TRAFFIC_DIRECTION_UNKNOWN"),
		input.sentinel.protocol,
		lib.endpoint(input.sentinel.source),
		lib.endpoint(input.sentinel.destination),
		input.sentinel.destination_port,
	])
}
