# METADATA
# title: Request rate spike from one caller
# description: >-
#   One client calls one endpoint many times faster than its baseline
#   learned (data.data.baseline rate_factor, and at least rate_min_per_min
#   requests a minute). Scraping, enumeration, abuse of a stolen token, or a
#   retry storm.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1498/
# custom:
#   id: BaselineRequestRateSpike
#   severity: warning
#   mitre: T1498
#   tags: [baseline, impact]
package sentinel.baseline.rate_spike

import data.sentinel.lib

violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.l7.type == "REQUEST"
	input.sentinel.baseline.learning == false
	rate := input.sentinel.baseline.rate
	rate.per_min >= data.data.baseline.rate_min_per_min
	rate.per_min >= data.data.baseline.rate_factor * rate.baseline_per_min
	summary := sprintf("%s -> %s %s: %v requests a minute, learned %v", [
		lib.endpoint(lib.client), lib.endpoint(lib.server), input.sentinel.baseline.endpoint,
		round(rate.per_min), round(rate.baseline_per_min * 10) / 10,
	])
}
