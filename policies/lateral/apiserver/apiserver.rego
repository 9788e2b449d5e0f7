# METADATA
# title: Kubernetes API server reached by a workload not allowlisted
# description: >-
#   A pod outside the namespaces and workloads allowed to talk to the
#   Kubernetes API (data.data.lateral.apiserver_allowed_sources) connected
#   to the API server. Ordinary applications never need it; an intruder in
#   a pod uses the mounted service account token to list secrets, pods and
#   nodes, create workloads or exec into other pods. Check the pod's
#   service account and its RBAC bindings, the API audit log for the
#   requests it made, and whether the workload runs a controller or leader
#   election; allowlist it if it does, otherwise set
#   automountServiceAccountToken to false and deny the kube-apiserver
#   entity in its network policy.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1613/
#   - ref: https://attack.mitre.org/techniques/T1552/007/
# custom:
#   id: KubeAPIServerAccessNotAllowlisted
#   severity: warning
#   learnable: true
#   mitre: T1613
#   tags: [lateral-movement, discovery, kubernetes-api]
package sentinel.lateral.apiserver

import data.sentinel.lib

# One body per way the API server shows up, each leading with conditions
# OPA's rule index checks: Cilium's kube-apiserver entity (the engine's kind
# kube-apiserver), or its reserved identity 7 alone, as the server of a
# flow from a pod (input.sentinel.initiated: the pod is the client; the API
# server calling a webhook in a pod is answered the other way). Both build
# the same violation. Drops are left to PolicyDeniedDrop: this policy
# judges connections that got through.
violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.sentinel.destination.kind == "kube-apiserver"
	input.sentinel.source.kind == "pod"
	input.sentinel.initiated == true
	unexpected_client
}

violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.sentinel.destination.identity == 7
	input.sentinel.source.kind == "pod"
	input.sentinel.initiated == true
	unexpected_client
}

unexpected_client if {
	not input.verdict == "DROPPED"
	not lib.listed(input.sentinel.source, data.data.lateral.apiserver_allowed_sources)
}

summary := sprintf("%s reached the Kubernetes API server at %s on %s port %d", [
	lib.endpoint(input.sentinel.source),
	input.sentinel.destination.ip,
	input.sentinel.protocol,
	input.sentinel.destination_port,
])
