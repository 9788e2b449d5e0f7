package sentinel.lib_test

import data.sentinel.lib

# The fixtures: flows as Hubble prints them (testdata/flows.jsonl) and
# the input document the engine builds for each (testdata/inputs.json,
# written by `make fixtures`), by uuid.
fixtures := data.lib.testdata

chain := [
	{"annotations": {"scope": "rule", "title": "a rule"}, "path": ["sentinel", "egress", "example", "violation"]},
	{
		"annotations": {
			"scope": "package",
			"title": "Example title",
			"description": "Why it matters.",
			"custom": {"id": "ExampleID", "severity": "critical", "mitre": "T1552.005", "tags": ["egress"]},
		},
		"path": ["sentinel", "egress", "example"],
	},
]

test_violation_carries_package_metadata if {
	lib.violation(chain, "what happened") == {
		"id": "ExampleID",
		"severity": "critical",
		"title": "Example title",
		"policy": "sentinel.egress.example",
		"summary": "what happened",
		"description": "Why it matters.",
		"mitre": "T1552.005",
	}
}

test_violation_policy_drops_a_data_root if {
	v := lib.violation([{"annotations": chain[1].annotations, "path": ["data", "sentinel", "dns", "x"]}], "s")
	v.policy == "sentinel.dns.x"
}

test_violation_defaults_missing_metadata if {
	v := lib.violation([{"annotations": {"scope": "package"}, "path": ["sentinel", "dns", "x"]}], "s")
	v == {
		"id": "sentinel.dns.x",
		"severity": "warning",
		"title": "sentinel.dns.x",
		"policy": "sentinel.dns.x",
		"summary": "s",
		"description": "",
		"mitre": "",
	}
}

test_violation_needs_a_package_annotation if {
	not lib.violation([chain[0]], "s")
}

# The real chain, as OPA builds it for a policy's rule: paths carry no data root.
test_violation_from_rego_metadata_chain if {
	some v in data.sentinel.egress.cloud_metadata.violation with data.data.egress as {
		"metadata_addresses": ["169.254.169.254"],
		"metadata_names": [],
		"metadata_exempt_source_kinds": [],
		"metadata_allowed_workloads": [],
		"metadata_dns_forwarders": [],
	}
		with input as fixtures.catalog_imds
	v.policy == "sentinel.egress.cloud_metadata"
	v.id == "EgressToCloudMetadata"
}

test_ip_in_cidrs if {
	cidrs := ["10.0.0.0/8", "fc00::/7"]
	lib.ip_in_cidrs("10.156.2.7", cidrs)
	lib.ip_in_cidrs("fd00:ec2::254", cidrs)
	not lib.ip_in_cidrs("35.246.31.234", cidrs)
	not lib.ip_in_cidrs("2001:db8::1", cidrs)
	not lib.ip_in_cidrs("10.0.0.1", [])
}

test_endpoint if {
	lib.endpoint({"kind": "pod", "namespace": "shop", "workload": "cart", "ip": "10.0.1.2"}) == "shop/cart"
	lib.endpoint({"kind": "world", "namespace": "", "workload": "", "ip": "203.0.113.7"}) == "world 203.0.113.7"
	lib.endpoint({}) == "unknown "
}

test_workload_key if {
	lib.workload_key({"namespace": "shop", "workload": "email"}) == "shop/email"
	lib.workload_key({}) == "/"
}

# A flow from shop/frontend to shop-data/postgres (db.shop.example, the
# name Cilium's DNS-aware policy gives it) on 5432, as the exception tests
# see it.
exception_input := fixtures.frontend_to_postgres

test_violation_without_exceptions_data_alerts if {
	lib.violation(chain, "s") with data.data as {} with input as exception_input
}

test_exception_covers_the_flow_when_every_field_it_sets_matches if {
	every exception in [
		{"name": "all of it", "policies": ["ExampleID"]},
		{"name": "by source namespace", "source_namespaces": ["other", "shop"]},
		{"name": "by source workload", "source_workloads": ["shop/frontend"]},
		{"name": "by peer namespace", "destination_namespaces": ["shop-data"]},
		{"name": "by peer workload", "destination_workloads": ["shop-data/postgres"]},
		{"name": "by port", "destination_ports": [5432]},
		{"name": "by peer domain", "destination_names": ["shop.example"]},
		{"name": "by peer cidr", "destination_cidrs": ["10.0.2.0/24"]},
		{
			"name": "every field",
			"policies": ["ExampleID"],
			"source_namespaces": ["shop"],
			"source_workloads": ["shop/frontend"],
			"destination_namespaces": ["shop-data"],
			"destination_workloads": ["shop-data/postgres"],
			"destination_ports": [5432],
			"destination_names": ["db.shop.example"],
			"destination_cidrs": ["10.0.2.9/32"],
		},
		{"name": "empty lists match anything", "policies": [], "destination_ports": []},
	] {
		not lib.violation(chain, "s") with data.data.exceptions as [exception] with input as exception_input
	}
}

test_exception_that_misses_one_field_does_not_cover_the_flow if {
	every exception in [
		{"name": "other policy", "policies": ["OtherID"]},
		{"name": "other source namespace", "policies": ["ExampleID"], "source_namespaces": ["payments"]},
		{"name": "other source workload", "source_workloads": ["shop/cart"]},
		{"name": "other peer namespace", "destination_namespaces": ["shop"]},
		{"name": "other peer workload", "destination_workloads": ["shop-data/redis"]},
		{"name": "other port", "destination_ports": [5433]},
		{"name": "the client's port", "destination_ports": [45000]},
		{"name": "other domain", "destination_names": ["example.org"]},
		{"name": "a suffix is not a parent domain", "destination_names": ["op.example"]},
		{"name": "other cidr", "destination_cidrs": ["10.0.3.0/24"]},
		{"name": "one field of several misses", "source_namespaces": ["shop"], "destination_ports": [22]},
	] {
		lib.violation(chain, "s") with data.data.exceptions as [exception] with input as exception_input
	}
}

test_any_exception_of_several_covers_the_flow if {
	not lib.violation(chain, "s") with data.data.exceptions as [
		{"name": "other", "destination_ports": [22]},
		{"name": "this one", "source_workloads": ["shop/frontend"]},
	]
		with input as exception_input
}

# coredns_answers_frontend is CoreDNS's NXDOMAIN answer to the frontend's
# query for db.shop.example: Hubble's source is the server. Exceptions
# speak of the client and the server, so the entry that covers the query
# covers its answer too: the frontend is the source, CoreDNS on port 53
# the destination, the query's name the destination's name.
test_exception_on_a_reply_names_the_client_as_source if {
	answer := fixtures.coredns_answers_frontend
	answer.sentinel.initiated == false
	every exception in [
		{"name": "by client namespace", "source_namespaces": ["shop"]},
		{"name": "by client workload", "source_workloads": ["shop/frontend"]},
		{"name": "by server namespace", "destination_namespaces": ["kube-system"]},
		{"name": "by server workload", "destination_workloads": ["kube-system/coredns"]},
		{"name": "by service port", "destination_ports": [53]},
		{"name": "by the name asked about", "destination_names": ["shop.example"]},
		{"name": "by server cidr", "destination_cidrs": ["10.0.2.10/32"]},
	] {
		not lib.violation(chain, "s") with data.data.exceptions as [exception] with input as answer
	}
}

# Written from Hubble's point of view, as before, the same entries no
# longer cover the answer.
test_exception_on_a_reply_does_not_take_the_server_for_the_client if {
	every exception in [
		{"name": "server as source namespace", "source_namespaces": ["kube-system"]},
		{"name": "server as source workload", "source_workloads": ["kube-system/coredns"]},
		{"name": "client as destination namespace", "destination_namespaces": ["shop"]},
		{"name": "client as destination workload", "destination_workloads": ["shop/frontend"]},
		{"name": "the client's port", "destination_ports": [40001]},
		{"name": "the client's address", "destination_cidrs": ["10.0.1.5/32"]},
	] {
		lib.violation(chain, "s") with data.data.exceptions as [exception] with input as fixtures.coredns_answers_frontend
	}
}

# On a reply, Cilium's DNS-aware name (fqdn) is the destination's: the
# client's. It names no server, so destination_names cannot cover the
# reply by it; the server's workload and port still do.
test_exception_on_a_reply_ignores_the_clients_dns_name if {
	answer := fixtures.frontend_answers_partner
	answer.sentinel.destination.fqdn == "partner.example"
	lib.violation(chain, "s") with data.data.exceptions as [{"name": "client's name", "destination_names": ["partner.example"]}]
		with input as answer
	not lib.violation(chain, "s") with data.data.exceptions as [{"name": "server", "destination_workloads": ["shop/frontend"], "destination_ports": [443]}]
		with input as answer
}

# The direction fixtures: the frontend (10.0.1.5) sends each to the cart
# (10.0.1.6); the engine decides which of them is the client.
client(uuid) := side if {
	side := lib.client.workload with input as fixtures[uuid]
}

server(uuid) := side if {
	side := lib.server.workload with input as fixtures[uuid]
}

# rule names what decided the direction, as the engine reports it.
rule(uuid) := fixtures[uuid].sentinel.direction.rule

test_client_and_server_of_a_request if {
	client("frontend_to_postgres") == "frontend"
	server("frontend_to_postgres") == "postgres"
	lib.client == fixtures.frontend_to_postgres.sentinel.source with input as fixtures.frontend_to_postgres
	lib.server == fixtures.frontend_to_postgres.sentinel.destination with input as fixtures.frontend_to_postgres
}

test_client_and_server_of_a_reply if {
	client("coredns_answers_frontend") == "frontend"
	server("coredns_answers_frontend") == "coredns"
	lib.client == fixtures.coredns_answers_frontend.sentinel.destination with input as fixtures.coredns_answers_frontend
	lib.server == fixtures.coredns_answers_frontend.sentinel.source with input as fixtures.coredns_answers_frontend
}

# Without the engine's direction (a hand-written input), neither side is
# known.
test_no_client_or_server_without_a_direction if {
	not lib.client with input as {"sentinel": {"source": {"workload": "a"}, "destination": {"workload": "b"}}}
	not lib.server with input as {"sentinel": {"source": {"workload": "a"}, "destination": {"workload": "b"}}}
}

test_cilium_says_which_way if {
	client("told_initiated") == "frontend"
	client("told_reply") == "cart"
	client("told_reply_deprecated") == "cart"
	rule("told_initiated") == "is_reply"
	rule("told_reply") == "is_reply"
	rule("told_reply_deprecated") == "reply"
}

test_an_l7_request_is_the_clients_and_a_response_the_servers if {
	client("http_request") == "frontend"
	server("http_response") == "frontend"
	rule("http_request") == "l7_type"
	rule("http_response") == "l7_type"
}

test_a_syn_is_an_initiation_and_a_syn_ack_a_reply if {
	client("syn") == "frontend"
	server("syn_ack") == "frontend"
	rule("syn") == "tcp_flags"
	rule("syn_ack") == "tcp_flags"
}

# The GKE sample captures: a pod's FIN from 9080 to a remote node's 58634,
# in no direction. An ephemeral port (32768 and up) is the client's.
test_a_server_port_answering_an_ephemeral_port_is_a_reply if {
	server("fin_to_ephemeral_port") == "frontend"
	server("udp_answer") == "frontend"
	server("sctp_answer") == "frontend"
	client("ack_to_kubelet_port") == "frontend"
	client("udp_query") == "frontend"
	client("sctp_request") == "frontend"
	every uuid in ["fin_to_ephemeral_port", "udp_answer", "sctp_answer", "ack_to_kubelet_port", "udp_query", "sctp_request"] {
		rule(uuid) == "ports"
	}
}

# Between two ports below the ephemeral range, the lower one is the
# server's.
test_between_low_ports_the_lower_is_the_servers if {
	server("between_low_ports") == "frontend"
	fixtures.between_low_ports.sentinel.service_port == 8080
}

test_icmp_echo_replies_are_replies if {
	server("echo_reply_v4") == "frontend"
	server("echo_reply_v6") == "frontend"
	client("echo_request_v4") == "frontend"
	client("echo_request_v6") == "frontend"
	rule("echo_reply_v6") == "icmp"
}

# A drop carries no direction and often nothing else to go by: the source
# counts as the initiator.
test_without_ports_or_flags_the_source_initiated if {
	client("dropped_without_ports") == "frontend"
	rule("dropped_without_ports") == "default"
}

test_listed_by_namespace_or_workload if {
	lib.listed({"namespace": "monitoring", "workload": "prometheus"}, ["monitoring"])
	lib.listed({"namespace": "istio-system", "workload": "prometheus"}, ["istio-system/prometheus"])
	not lib.listed({"namespace": "istio-system", "workload": "istiod"}, ["istio-system/prometheus"])
	not lib.listed({"namespace": "shop", "workload": "cart"}, [])
}

test_sides_without_a_namespace_are_never_listed if {
	not lib.listed({"kind": "host", "namespace": "", "workload": ""}, ["", "/"])
}
