# METADATA
# title: Workload called a peer it never called
# description: >-
#   After its learning period, a workload opened a connection to a workload,
#   node or the API server that its baseline never saw it call. Lateral
#   movement (a compromised pod reaching a datastore, a service it has no
#   business with, a node port) shows up here first. Check whether a
#   release or a new dependency explains it; if it does, the edge is
#   learned from now on and the alert resolves when quiet. Clients whose
#   peers change by design are listed in
#   data.data.baseline.new_peer_allowed_clients.
# related_resources:
#   - ref: https://attack.mitre.org/tactics/TA0008/
# custom:
#   id: BaselineNewPeer
#   severity: warning
#   mitre: T1021
#   tags: [baseline, lateral-movement]
package sentinel.baseline.new_peer

import data.sentinel.lib

violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.sentinel.baseline.new_peer == true
	input.sentinel.baseline.learning == false
	lib.client.kind in data.data.baseline.new_peer_client_kinds
	lib.server.kind in data.data.baseline.new_peer_server_kinds
	not lib.listed(lib.client, data.data.baseline.new_peer_allowed_clients)
	summary := sprintf("%s called %s on %s port %d, a peer its baseline never saw", [
		lib.endpoint(lib.client), lib.endpoint(lib.server),
		input.sentinel.protocol, input.sentinel.service_port,
	])
}
