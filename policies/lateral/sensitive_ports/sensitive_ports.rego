# METADATA
# title: Sensitive port reached from another namespace
# description: >-
#   A pod opened a TCP connection to a remote shell (SSH, RDP, VNC, WinRM),
#   a database or an administration API (Docker, etcd, kubelet) in a pod of
#   another namespace, and no entry of
#   data.data.lateral.sensitive_port_allowed_sources allows that client.
#   Namespaces usually separate teams and trust levels; a workload that
#   opens a shell or a database in someone else's namespace is how an
#   intruder moves from the pod they took to the data they want. Check
#   whether the source has any business with the service, what it sent
#   (database audit log, sshd log) and whether the service requires
#   authentication; allowlist real clients, and restrict the service's
#   ingress with a network policy. One client reaching several of these
#   ports of one workload (a scan) is one incident; the ports are in the
#   destination_ports annotation.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1021/
#   - ref: https://attack.mitre.org/techniques/T1210/
# custom:
#   id: LateralSensitivePortCrossNamespace
#   severity: warning
#   learnable: true
#   drop_labels: [destination_port]
#   mitre: T1021
#   tags: [lateral-movement, remote-services, database]
package sentinel.lateral.sensitive_ports

import data.sentinel.lib

# The body leads with conditions OPA's rule index checks: a TCP SYN (a new
# connection) from a pod to a pod. The index cannot compare a port with a
# list in data, and without the SYN every packet between pods would enter
# the body; with it, each connection is judged once, on its first packet,
# which Cilium reports whatever its monitor aggregation. The services
# listed are TCP services. Then the cheapest, most selective test: one
# lookup of the port in the data's map, before the namespaces are
# compared; allowlist keys are built only for flows that got that far, one
# at a time. The SYN-ACK answering a connection goes to the client's
# ephemeral port, never to one of these. Drops are left to
# PolicyDeniedDrop.
violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.l4.TCP.flags.SYN == true
	input.sentinel.source.kind == "pod"
	input.sentinel.destination.kind == "pod"
	service := data.data.lateral.sensitive_ports[format_int(input.sentinel.destination_port, 10)]
	input.sentinel.destination.namespace != input.sentinel.source.namespace
	input.sentinel.destination.namespace != ""
	input.sentinel.source.namespace != ""
	not input.verdict == "DROPPED"
	not input.l4.TCP.flags.ACK
	not allowed
	summary := sprintf("%s connected to %s (%s) on %s port %d from another namespace", [
		lib.endpoint(input.sentinel.source),
		lib.endpoint(input.sentinel.destination),
		service,
		input.sentinel.protocol,
		input.sentinel.destination_port,
	])
}

# allowed holds when an entry for the destination lists the source. One
# body per key, from the most specific ("namespace/workload:port") to the
# namespace: OPA stops at the first that holds.
allowed if lib.listed(input.sentinel.source, data.data.lateral.sensitive_port_allowed_sources[sprintf("%s:%d", [
	lib.workload_key(input.sentinel.destination),
	input.sentinel.destination_port,
])])

allowed if lib.listed(input.sentinel.source, data.data.lateral.sensitive_port_allowed_sources[lib.workload_key(input.sentinel.destination)])

allowed if lib.listed(input.sentinel.source, data.data.lateral.sensitive_port_allowed_sources[sprintf("%s:%d", [
	input.sentinel.destination.namespace,
	input.sentinel.destination_port,
])])

allowed if lib.listed(input.sentinel.source, data.data.lateral.sensitive_port_allowed_sources[input.sentinel.destination.namespace])
