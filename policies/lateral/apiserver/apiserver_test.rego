package sentinel.lateral.apiserver_test

import data.sentinel.lateral.apiserver

lateral := {"apiserver_allowed_sources": ["kube-system", "cert-manager", "shop/leader"]}

# The flows of testdata/flows.jsonl as the engine measures them (make
# fixtures), by uuid. catalog_lists_secrets: the catalog pod uses its
# service account token against the API server (through the kubernetes
# Service, which Cilium translates to the API server's address).
fixtures := data.lateral.apiserver.testdata

flow(overrides) := object.union(fixtures.catalog_lists_secrets, overrides)

test_alerts_with_full_metadata if {
	apiserver.violation == {{
		"id": "KubeAPIServerAccessNotAllowlisted",
		"severity": "warning",
		"title": "Kubernetes API server reached by a workload not allowlisted",
		"policy": "sentinel.lateral.apiserver",
		"summary": "shop/catalog reached the Kubernetes API server at 172.20.0.2 on TCP port 443",
		"description": apiserver.violation[_].description,
		"mitre": "T1613",
	}} with input as fixtures.catalog_lists_secrets with data.data.lateral as lateral
}

# An API server on the control-plane node carries reserved:host too (the
# engine's kind is still kube-apiserver); one without labels has only its
# identity.
test_alerts_by_kind_or_by_identity if {
	count(apiserver.violation) == 1 with input as flow({"sentinel": {"destination": {"identity": 1}, "destination_port": 6443}})
		with data.data.lateral as lateral
	count(apiserver.violation) == 1 with input as flow({"sentinel": {"destination": {"kind": "host"}}})
		with data.data.lateral as lateral
}

test_no_alert_from_allowed_namespaces_and_workloads if {
	every source in [{"namespace": "kube-system", "workload": "coredns"}, {"namespace": "cert-manager", "workload": "cert-manager"}, {"namespace": "shop", "workload": "leader"}] {
		count(apiserver.violation) == 0 with input as flow({"sentinel": {"source": source}}) with data.data.lateral as lateral
	}
}

test_no_alert_from_the_node_or_other_reserved_identities if {
	every kind in ["host", "remote-node", "world", "health"] {
		count(apiserver.violation) == 0 with input as flow({"sentinel": {"source": {"kind": kind, "namespace": "", "workload": "", "pod": ""}}})
			with data.data.lateral as lateral
	}
}

# The API server calling an admission webhook in the pod: the pod's answer
# is a reply, whether Cilium says so or only the ports do.
test_no_alert_on_a_webhook_answering_the_api_server if {
	count(apiserver.violation) == 0 with input as fixtures.webhook_answers_apiserver with data.data.lateral as lateral
	count(apiserver.violation) == 0 with input as fixtures.webhook_answers_apiserver_no_direction with data.data.lateral as lateral
	fixtures.webhook_answers_apiserver_no_direction.sentinel.direction == {"initiator": "destination", "rule": "ports"}
	count(apiserver.violation) == 1 with input as object.union(fixtures.webhook_answers_apiserver, {"sentinel": {"initiated": true}})
		with data.data.lateral as lateral
}

test_no_alert_on_drops_or_other_destinations if {
	count(apiserver.violation) == 0 with input as flow({"verdict": "DROPPED", "drop_reason_desc": "POLICY_DENIED"})
		with data.data.lateral as lateral
	count(apiserver.violation) == 0 with input as flow({"sentinel": {"destination": {"kind": "world", "identity": 2}}})
		with data.data.lateral as lateral
}
