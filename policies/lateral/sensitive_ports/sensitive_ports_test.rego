package sentinel.lateral.sensitive_ports_test

import data.sentinel.lateral.sensitive_ports

lateral := {
	"sensitive_ports": {"22": "SSH", "5432": "PostgreSQL", "6379": "Redis", "9200": "Elasticsearch", "10250": "kubelet API"},
	"sensitive_port_allowed_sources": {
		"shop-data/redis-cart:6379": ["shop/cart"],
		"shop-data/postgres:5432": ["shop/catalog", "shop/checkout"],
		"shop-data/postgres": ["dba"],
		"logging:9200": ["logging-agents"],
		"backup": ["velero/velero"],
	},
}

# The flows of testdata/flows.jsonl as the engine measures them (make
# fixtures), by uuid. ad_to_postgres: the ad pod, compromised, connects to
# the orders database in shop-data, and the connection goes through.
fixtures := data.lateral.sensitive_ports.testdata

flow(overrides) := object.union(fixtures.ad_to_postgres, overrides)

from(namespace, workload) := flow({"sentinel": {"source": {"namespace": namespace, "workload": workload}}})

to(namespace, workload, port) := flow({
	"l4": {"TCP": {"destination_port": port}},
	"sentinel": {"destination": {"namespace": namespace, "workload": workload}, "destination_port": port, "service_port": port},
})

test_alerts_with_full_metadata if {
	sensitive_ports.violation == {{
		"id": "LateralSensitivePortCrossNamespace",
		"severity": "warning",
		"title": "Sensitive port reached from another namespace",
		"policy": "sentinel.lateral.sensitive_ports",
		"summary": "shop/ad connected to shop-data/postgres (PostgreSQL) on TCP port 5432 from another namespace",
		"description": sensitive_ports.violation[_].description,
		"mitre": "T1021",
	}} with input as fixtures.ad_to_postgres with data.data.lateral as lateral
}

test_alerts_on_shells_and_admin_apis if {
	count(sensitive_ports.violation) == 1 with input as to("build", "runner", 22) with data.data.lateral as lateral
	count(sensitive_ports.violation) == 1 with input as to("shop-data", "redis-cart", 6379) with data.data.lateral as lateral
	count(sensitive_ports.violation) == 1 with input as to("logging", "elasticsearch", 9200) with data.data.lateral as lateral
}

# A connection is judged once, on its SYN: the packets of an established
# connection, and the server's SYN-ACK, never alert.
test_only_the_first_packet_of_a_connection_is_judged if {
	count(sensitive_ports.violation) == 0 with input as fixtures.ad_to_postgres_established with data.data.lateral as lateral
	count(sensitive_ports.violation) == 0 with input as flow({"l4": {"TCP": {"flags": {"SYN": true, "ACK": true}}}})
		with data.data.lateral as lateral
	count(sensitive_ports.violation) == 0 with input as fixtures.ad_to_postgres_udp with data.data.lateral as lateral
}

# Cilium's direction is not needed: a SYN without ACK is a new connection,
# even where Cilium left is_reply out (older agents, the GKE captures).
test_alerts_without_a_direction if {
	count(sensitive_ports.violation) == 1 with input as fixtures.ad_to_postgres_no_direction
		with data.data.lateral as lateral
}

test_allowlisted_clients if {
	count(sensitive_ports.violation) == 0 with input as from("shop", "catalog") with data.data.lateral as lateral
	count(sensitive_ports.violation) == 0 with input as from("shop", "checkout") with data.data.lateral as lateral
	cart := object.union(to("shop-data", "redis-cart", 6379), {"sentinel": {"source": {"workload": "cart"}}})
	count(sensitive_ports.violation) == 0 with input as cart with data.data.lateral as lateral
}

# Keys go from "namespace/workload:port" to "namespace": each allows its
# sources, and only for what it names.
test_allowlist_keys_from_workload_and_port_to_namespace if {
	count(sensitive_ports.violation) == 0 with input as from("dba", "pgadmin") with data.data.lateral as lateral
	fluent_bit := {"sentinel": {"source": {"namespace": "logging-agents", "workload": "fluent-bit"}}}
	count(sensitive_ports.violation) == 0 with input as object.union(to("logging", "elasticsearch", 9200), fluent_bit)
		with data.data.lateral as lateral
	count(sensitive_ports.violation) == 1 with input as object.union(to("logging", "elasticsearch", 22), fluent_bit)
		with data.data.lateral as lateral
	velero := {"sentinel": {"source": {"namespace": "velero", "workload": "velero"}}}
	count(sensitive_ports.violation) == 0 with input as object.union(to("backup", "minio", 22), velero)
		with data.data.lateral as lateral
	count(sensitive_ports.violation) == 1 with input as from("shop", "cart")
		with data.data.lateral as lateral
}

test_no_alert_within_a_namespace if {
	count(sensitive_ports.violation) == 0 with input as from("shop-data", "postgres-backup") with data.data.lateral as lateral
}

test_no_alert_on_other_ports if {
	every port in [80, 443, 8080, 50051, 53] {
		count(sensitive_ports.violation) == 0 with input as to("shop-data", "postgres", port) with data.data.lateral as lateral
	}
}

# Sources outside the pod network, and destinations without a namespace
# (the node, the Internet), belong to other policies.
test_no_alert_on_non_pod_sides if {
	count(sensitive_ports.violation) == 0 with input as flow({"sentinel": {"source": {"kind": "host", "namespace": "", "workload": "", "pod": ""}}})
		with data.data.lateral as lateral
	count(sensitive_ports.violation) == 0 with input as flow({"sentinel": {"source": {"kind": "pod", "namespace": "", "workload": ""}}})
		with data.data.lateral as lateral
	count(sensitive_ports.violation) == 0 with input as object.union(to("", "", 10250), {"sentinel": {"destination": {"kind": "remote-node", "pod": ""}}})
		with data.data.lateral as lateral
	count(sensitive_ports.violation) == 0 with input as flow({"sentinel": {"destination": {"kind": "pod", "namespace": "", "workload": ""}}})
		with data.data.lateral as lateral
}

# The shopmesh attack: postgres' ingress policy drops the SYN, which is
# PolicyDeniedDrop's to report.
test_no_alert_on_drops if {
	count(sensitive_ports.violation) == 0 with input as flow({"verdict": "DROPPED", "drop_reason_desc": "POLICY_DENIED"})
		with data.data.lateral as lateral
}
