# METADATA
# title: Policy drops spike from one workload
# description: >-
#   Network policy dropped many of one workload's attempts within a minute
#   (data.data.baseline drops_min_per_min, and drops_factor times what it
#   learned): a workload trying what it is not allowed to, or a policy
#   change that broke it.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1046/
# custom:
#   id: BaselinePolicyDropSpike
#   severity: warning
#   group_by: [source_namespace, source_workload]
#   mitre: T1046
#   tags: [baseline, policy]
package sentinel.baseline.drop_spike

import data.sentinel.lib

violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.verdict == "DROPPED"
	input.sentinel.baseline.learning == false
	drops := input.sentinel.baseline.drops
	drops.per_min >= data.data.baseline.drops_min_per_min
	drops.per_min >= data.data.baseline.drops_factor * drops.baseline_per_min
	summary := sprintf("%s had %v attempts dropped in a minute (learned %v)", [
		lib.endpoint(lib.client), round(drops.per_min), round(drops.baseline_per_min * 10) / 10,
	])
}
