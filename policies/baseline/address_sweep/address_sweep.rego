# METADATA
# title: Address sweep
# description: >-
#   A workload tried many distinct addresses within a minute
#   (data.data.baseline sweep_min_ips, and sweep_factor times what it
#   learned): host discovery across the cluster or the Internet. Scrapers
#   and controllers that reach many pods learn their usual reach.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1018/
# custom:
#   id: BaselineAddressSweep
#   severity: warning
#   group_by: [source_namespace, source_workload]
#   mitre: T1018
#   tags: [baseline, discovery]
package sentinel.baseline.address_sweep

import data.sentinel.lib

violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.sentinel.initiated == true
	input.sentinel.baseline.learning == false
	fanout := input.sentinel.baseline.fanout
	fanout.ips >= data.data.baseline.sweep_min_ips
	fanout.ips >= data.data.baseline.sweep_factor * fanout.baseline_ips
	summary := sprintf("%s tried %v addresses in a minute (learned %v); %v%% refused, %v%% dropped", [
		lib.endpoint(lib.client), round(fanout.ips), round(fanout.baseline_ips * 10) / 10,
		round(fanout.refused_ratio * 100), round(fanout.dropped_ratio * 100),
	])
}
