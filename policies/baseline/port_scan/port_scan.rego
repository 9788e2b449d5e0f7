# METADATA
# title: Port scan
# description: >-
#   A workload tried many distinct ports of one address within a minute
#   (data.data.baseline scan_min_ports, and scan_factor times what it
#   learned), whether network policy dropped the attempts or the target
#   refused them. Reconnaissance from a compromised pod.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1046/
# custom:
#   id: BaselinePortScan
#   severity: warning
#   group_by: [source_namespace, source_workload]
#   mitre: T1046
#   tags: [baseline, discovery]
package sentinel.baseline.port_scan

import data.sentinel.lib

violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.sentinel.initiated == true
	input.sentinel.baseline.learning == false
	fanout := input.sentinel.baseline.fanout
	fanout.ports >= data.data.baseline.scan_min_ports
	fanout.ports >= data.data.baseline.scan_factor * fanout.baseline_ports
	summary := sprintf("%s tried %v ports of one address in a minute (learned %v); %v%% refused, %v%% dropped", [
		lib.endpoint(lib.client), round(fanout.ports), round(fanout.baseline_ports * 10) / 10,
		round(fanout.refused_ratio * 100), round(fanout.dropped_ratio * 100),
	])
}
