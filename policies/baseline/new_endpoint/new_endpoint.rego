# METADATA
# title: New HTTP endpoint called on a known edge
# description: >-
#   After its learning period, a workload called an HTTP or gRPC endpoint
#   (method and path template) that it never called on this peer: admin
#   and debug endpoints probed from a compromised caller, an API used for
#   the first time. A release adding an endpoint explains it too; the
#   endpoint is learned from now on.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1190/
# custom:
#   id: BaselineNewEndpoint
#   severity: info
#   mitre: T1190
#   tags: [baseline, discovery]
package sentinel.baseline.new_endpoint

import data.sentinel.lib

violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.sentinel.baseline.new_endpoint == true
	input.sentinel.baseline.learning == false
	summary := sprintf("%s called %s on %s for the first time", [
		lib.endpoint(lib.client), input.sentinel.baseline.endpoint, lib.endpoint(lib.server),
	])
}
