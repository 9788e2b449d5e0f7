# METADATA
# title: Pod reached a node-level service
# description: >-
#   A pod opened a connection to a node, its own (reserved:host) or another
#   (reserved:remote-node), on a port outside the ones pods need
#   (data.data.lateral.node_allowed_ports: node-local DNS, cilium-health),
#   and neither its namespace nor its workload is a node agent allowed to
#   (node_allowed_sources, node_allowed_ports_by_source). The node runs the
#   kubelet (10250: exec into any pod on it), its read-only port, SSH,
#   etcd on control-plane nodes and host-network daemons: reaching them
#   from a pod is the step from a container towards the node. Check the
#   port's service, the process in the pod and whether it is a node agent
#   that belongs in the allowlist; a network policy denying the host and
#   remote-node entities enforces what this detects. Nodes that Cilium
#   labels world (GKE) are not seen here.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1210/
#   - ref: https://attack.mitre.org/techniques/T1609/
# custom:
#   id: PodToNodeAccess
#   severity: warning
#   learnable: true
#   mitre: T1210
#   tags: [lateral-movement, node, kubelet]
package sentinel.lateral.pod_to_node

import data.sentinel.lib

# One body per kind of node, each leading with conditions OPA's rule index
# checks: a TCP, UDP or SCTP flow from a pod, as the client (the engine's
# input.sentinel.initiated), to the node. ICMP (a pod
# pinging its node) carries no service and is left out. Both bodies build
# the same violation. Drops are left to PolicyDeniedDrop: this policy
# judges connections that got through.
violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.sentinel.destination.kind == "host"
	input.sentinel.source.kind == "pod"
	input.sentinel.protocol in {"TCP", "UDP", "SCTP"}
	input.sentinel.initiated == true
	unexpected_node_access
}

violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.sentinel.destination.kind == "remote-node"
	input.sentinel.source.kind == "pod"
	input.sentinel.protocol in {"TCP", "UDP", "SCTP"}
	input.sentinel.initiated == true
	unexpected_node_access
}

unexpected_node_access if {
	not input.sentinel.destination_port in data.data.lateral.node_allowed_ports
	not input.verdict == "DROPPED"
	not lib.listed(input.sentinel.source, data.data.lateral.node_allowed_sources)
	not source_port_allowed
}

# source_port_allowed holds when the source's namespace or workload may use
# this node port (data.data.lateral.node_allowed_ports_by_source).
source_port_allowed if {
	input.sentinel.destination_port in object.get(data.data.lateral.node_allowed_ports_by_source, input.sentinel.source.namespace, [])
}

source_port_allowed if {
	input.sentinel.destination_port in object.get(data.data.lateral.node_allowed_ports_by_source, lib.workload_key(input.sentinel.source), [])
}

summary := sprintf("%s reached the node %s (%s) on %s port %d%s", [
	lib.endpoint(input.sentinel.source),
	input.sentinel.destination.ip,
	input.sentinel.destination.kind,
	input.sentinel.protocol,
	input.sentinel.destination_port,
	service,
])

# service names a well-known node port for the summary, from the names of
# data.data.lateral.sensitive_ports.
service := sprintf(" (%s)", [name]) if {
	name := data.data.lateral.sensitive_ports[format_int(input.sentinel.destination_port, 10)]
} else := ""
