package sentinel.lateral.namespace_isolation_test

import data.sentinel.lateral.namespace_isolation

lateral := {
	"namespace_isolation": {
		"payments": {"allowed_sources": ["shop/checkout", "ingress-nginx"]},
		"kube-system": {"allowed_sources": [], "allowed_ports": [53]},
		"vault": {},
	},
	"isolation_infra_sources": ["monitoring", "cilium"],
}

# The flows of testdata/flows.jsonl as the engine measures them (make
# fixtures), by uuid. frontend_to_payments: the shop's frontend calls the
# payment API directly, skipping checkout.
fixtures := data.lateral.namespace_isolation.testdata

flow(overrides) := object.union(fixtures.frontend_to_payments, overrides)

from(namespace, workload) := flow({"sentinel": {"source": {"namespace": namespace, "workload": workload}}})

into(namespace, workload, port) := flow({
	"l4": {"TCP": {"destination_port": port}},
	"sentinel": {"destination": {"namespace": namespace, "workload": workload}, "destination_port": port, "service_port": port},
})

test_alerts_with_full_metadata if {
	namespace_isolation.violation == {{
		"id": "CrossNamespaceNotAllowlisted",
		"severity": "warning",
		"title": "Cross-namespace call into an isolated namespace",
		"policy": "sentinel.lateral.namespace_isolation",
		"summary": "shop/frontend called payments/payment on TCP port 50051, which namespace payments does not allow",
		"description": namespace_isolation.violation[_].description,
		"mitre": "T1210",
	}} with input as fixtures.frontend_to_payments with data.data.lateral as lateral
}

test_alerts_on_udp_and_judges_tcp_on_its_syn if {
	count(namespace_isolation.violation) == 1 with input as fixtures.frontend_to_vault_udp with data.data.lateral as lateral
	count(namespace_isolation.violation) == 0 with input as fixtures.frontend_to_payments_established with data.data.lateral as lateral
}

test_an_empty_entry_allows_no_other_namespace if {
	count(namespace_isolation.violation) == 1 with input as into("vault", "vault", 8200) with data.data.lateral as lateral
}

test_allowed_sources_by_workload_and_namespace if {
	count(namespace_isolation.violation) == 0 with input as from("shop", "checkout") with data.data.lateral as lateral
	count(namespace_isolation.violation) == 0 with input as from("ingress-nginx", "ingress-nginx-controller") with data.data.lateral as lateral
	count(namespace_isolation.violation) == 1 with input as from("shop", "cart") with data.data.lateral as lateral
}

test_infra_sources_reach_every_isolated_namespace if {
	count(namespace_isolation.violation) == 0 with input as from("monitoring", "prometheus") with data.data.lateral as lateral
	count(namespace_isolation.violation) == 0 with input as flow({"sentinel": {"source": {"namespace": "cilium", "workload": "hubble-relay"}, "destination": {"namespace": "vault"}}})
		with data.data.lateral as lateral
}

test_open_ports_of_an_isolated_namespace if {
	count(namespace_isolation.violation) == 0 with input as into("kube-system", "coredns", 53) with data.data.lateral as lateral
	count(namespace_isolation.violation) == 1 with input as into("kube-system", "coredns", 9153) with data.data.lateral as lateral
}

test_no_alert_into_namespaces_without_an_entry if {
	count(namespace_isolation.violation) == 0 with input as into("shop-data", "postgres", 5432) with data.data.lateral as lateral
	count(namespace_isolation.violation) == 0 with input as fixtures.frontend_to_payments with data.data.lateral as {"namespace_isolation": {}, "isolation_infra_sources": []}
}

test_no_alert_within_the_namespace if {
	count(namespace_isolation.violation) == 0 with input as from("payments", "fraud-check") with data.data.lateral as lateral
}

test_no_alert_from_outside_the_pod_network if {
	count(namespace_isolation.violation) == 0 with input as flow({"sentinel": {"source": {"kind": "host", "namespace": "", "workload": "", "pod": ""}}})
		with data.data.lateral as lateral
	count(namespace_isolation.violation) == 0 with input as flow({"sentinel": {"source": {"kind": "pod", "namespace": "", "workload": ""}}})
		with data.data.lateral as lateral
}

# The payment pod answering a caller in an isolated namespace is a reply,
# told by Cilium or, in the GKE captures' way, by the ports alone.
test_no_alert_on_replies_or_drops if {
	count(namespace_isolation.violation) == 0 with input as fixtures.payment_synack_to_vault with data.data.lateral as lateral
	count(namespace_isolation.violation) == 0 with input as fixtures.payment_synack_to_vault_no_direction with data.data.lateral as lateral
	fixtures.payment_synack_to_vault_no_direction.sentinel.direction == {"initiator": "destination", "rule": "tcp_flags"}
	count(namespace_isolation.violation) == 1 with input as object.union(fixtures.payment_synack_to_vault, {"sentinel": {"initiated": true}})
		with data.data.lateral as lateral
	count(namespace_isolation.violation) == 0 with input as flow({"verdict": "DROPPED", "drop_reason_desc": "POLICY_DENIED"})
		with data.data.lateral as lateral
}
