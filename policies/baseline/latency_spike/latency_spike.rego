# METADATA
# title: Latency spike on one path
# description: >-
#   The recent response latency of one endpoint, as this client sees it, is
#   several times what its baseline learned (data.data.baseline
#   latency_ratio, above latency_min_ms). A spike on one path only, while
#   others stay normal, points at that service or at something between
#   (an interposed proxy, a saturated datastore, traffic being mirrored).
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1557/
# custom:
#   id: BaselineLatencySpike
#   severity: warning
#   mitre: T1557
#   tags: [baseline, availability]
package sentinel.baseline.latency_spike

import data.sentinel.lib

violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.l7.type == "RESPONSE"
	input.sentinel.baseline.learning == false
	latency := input.sentinel.baseline.latency
	latency.ratio >= data.data.baseline.latency_ratio
	latency.ms >= data.data.baseline.latency_min_ms
	latency.samples >= data.data.baseline.latency_min_samples
	latency.deviations >= data.data.baseline.latency_min_deviations
	summary := sprintf("%s -> %s %s: latency %v ms, %vx the learned %v ms", [
		lib.endpoint(lib.client), lib.endpoint(lib.server), input.sentinel.baseline.endpoint,
		round(latency.ms), round(latency.ratio * 10) / 10, round(latency.baseline_ms),
	])
}
