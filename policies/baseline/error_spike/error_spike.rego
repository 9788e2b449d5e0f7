# METADATA
# title: Error spike on one endpoint
# description: >-
#   The share of 5xx responses of one endpoint, as this client sees it,
#   rose well above what its baseline learned (data.data.baseline
#   error_ratio_increase, over at least error_min_responses responses in a
#   minute). Exploitation attempts that crash handlers, a dependency taken
#   down, or a broken release.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1499/
# custom:
#   id: BaselineErrorSpike
#   severity: warning
#   mitre: T1499
#   tags: [baseline, availability]
package sentinel.baseline.error_spike

import data.sentinel.lib

violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.l7.type == "RESPONSE"
	input.sentinel.baseline.learning == false
	errors := input.sentinel.baseline.errors
	errors.responses >= data.data.baseline.error_min_responses
	errors.ratio >= errors.baseline_ratio + data.data.baseline.error_ratio_increase
	summary := sprintf("%s -> %s %s: %v%% of %v responses were 5xx, learned %v%%", [
		lib.endpoint(lib.client), lib.endpoint(lib.server), input.sentinel.baseline.endpoint,
		round(errors.ratio * 100), round(errors.responses), round(errors.baseline_ratio * 100),
	])
}
