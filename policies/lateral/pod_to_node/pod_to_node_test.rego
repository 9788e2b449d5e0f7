package sentinel.lateral.pod_to_node_test

import data.sentinel.lateral.pod_to_node

lateral := {
	"node_allowed_ports": [53, 4240],
	"node_allowed_sources": ["kube-system", "istio-system/prometheus"],
	"node_allowed_ports_by_source": {"observability/otel-agent": [10250], "ingress": [80, 443]},
	"sensitive_ports": {"22": "SSH", "10250": "kubelet API"},
}

# The flows of testdata/flows.jsonl as the engine measures them (make
# fixtures), by uuid. catalog_to_kubelet: the catalog pod calls the kubelet
# API of its node, where /run and /exec run commands in any pod on the
# node.
fixtures := data.lateral.pod_to_node.testdata

flow(overrides) := object.union(fixtures.catalog_to_kubelet, overrides)

on_port(port) := flow({"l4": {"TCP": {"destination_port": port}}, "sentinel": {"destination_port": port, "service_port": port}})

from(namespace, workload, port) := object.union(on_port(port), {"sentinel": {"source": {"namespace": namespace, "workload": workload}}})

test_alerts_with_full_metadata if {
	pod_to_node.violation == {{
		"id": "PodToNodeAccess",
		"severity": "warning",
		"title": "Pod reached a node-level service",
		"policy": "sentinel.lateral.pod_to_node",
		"summary": "shop/catalog reached the node 10.0.0.11 (host) on TCP port 10250 (kubelet API)",
		"description": pod_to_node.violation[_].description,
		"mitre": "T1210",
	}} with input as fixtures.catalog_to_kubelet with data.data.lateral as lateral
}

test_alerts_on_remote_nodes_and_unnamed_ports if {
	some v in pod_to_node.violation with input as fixtures.catalog_ssh_to_remote_node
		with data.data.lateral as lateral
	v.summary == "shop/catalog reached the node 10.0.0.12 (remote-node) on TCP port 22 (SSH)"
	some w in pod_to_node.violation with input as fixtures.catalog_to_node_vxlan
		with data.data.lateral as lateral
	w.summary == "shop/catalog reached the node 10.0.0.11 (host) on UDP port 8472"
}

test_no_alert_on_ports_every_pod_needs if {
	count(pod_to_node.violation) == 0 with input as on_port(53) with data.data.lateral as lateral
	count(pod_to_node.violation) == 0 with input as on_port(4240) with data.data.lateral as lateral
}

test_allowed_sources_and_their_ports if {
	count(pod_to_node.violation) == 0 with input as from("kube-system", "metrics-server", 10250) with data.data.lateral as lateral
	count(pod_to_node.violation) == 0 with input as from("istio-system", "prometheus", 9990) with data.data.lateral as lateral
	count(pod_to_node.violation) == 1 with input as from("istio-system", "istiod", 9990) with data.data.lateral as lateral
	count(pod_to_node.violation) == 0 with input as from("observability", "otel-agent", 10250) with data.data.lateral as lateral
	count(pod_to_node.violation) == 1 with input as from("observability", "otel-agent", 22) with data.data.lateral as lateral
	count(pod_to_node.violation) == 0 with input as from("ingress", "nginx", 443) with data.data.lateral as lateral
}

# The GKE sample captures: a pod's answers to the node's probes and to a
# remote node's clients, with or without a direction.
test_no_alert_on_replies if {
	count(pod_to_node.violation) == 0 with input as fixtures.catalog_synack_to_remote_node with data.data.lateral as lateral
	count(pod_to_node.violation) == 0 with input as fixtures.catalog_synack_to_remote_node_deprecated_reply
		with data.data.lateral as lateral
	count(pod_to_node.violation) == 0 with input as fixtures.catalog_to_kubelet_as_reply with data.data.lateral as lateral
	count(pod_to_node.violation) == 1 with input as object.union(fixtures.catalog_synack_to_remote_node, {"sentinel": {"initiated": true}})
		with data.data.lateral as lateral
}

test_no_alert_on_icmp_drops_or_other_sides if {
	count(pod_to_node.violation) == 0 with input as fixtures.catalog_ping_node with data.data.lateral as lateral
	count(pod_to_node.violation) == 0 with input as flow({"verdict": "DROPPED", "drop_reason_desc": "POLICY_DENIED"})
		with data.data.lateral as lateral
	count(pod_to_node.violation) == 0 with input as flow({"sentinel": {"source": {"kind": "host", "namespace": "", "workload": "", "pod": ""}}})
		with data.data.lateral as lateral
	count(pod_to_node.violation) == 0 with input as flow({"sentinel": {"destination": {"kind": "kube-apiserver"}}})
		with data.data.lateral as lateral
	count(pod_to_node.violation) == 0 with input as flow({"sentinel": {"destination": {"kind": "world"}}})
		with data.data.lateral as lateral
}
