package sentinel.egress.cloud_metadata_test

import data.sentinel.egress.cloud_metadata
import data.sentinel.lib_test

egress := {
	"metadata_addresses": ["169.254.169.254", "fd00:ec2::254", "100.100.100.200", "169.254.170.2"],
	"metadata_names": ["metadata.google.internal", "metadata.goog", "metadata"],
	"metadata_exempt_source_kinds": ["host"],
	"metadata_allowed_workloads": ["kube-system/cloud-agent"],
	"metadata_dns_forwarders": ["kube-system/kube-dns"],
}

# catalog_imds mirrors the shopmesh attack: the catalog pod's HTTP request to
# the AWS metadata service for the node role's credentials.
catalog_imds := lib_test.with_names({
	"verdict": "FORWARDED",
	"Type": "L7",
	"is_reply": false,
	"traffic_direction": "EGRESS",
	"IP": {"source": "10.0.1.23", "destination": "169.254.169.254", "ipVersion": "IPv4"},
	"l4": {"TCP": {"source_port": 43122, "destination_port": 80}},
	"destination": {"identity": 2, "labels": ["reserved:world"]},
	"l7": {"type": "REQUEST", "http": {
		"method": "GET",
		"url": "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
		"protocol": "HTTP/1.1",
	}},
	"sentinel": {
		"source": {"kind": "pod", "namespace": "shop", "workload": "catalog", "pod": "catalog-6b8f9c7d4-qz2xw", "ip": "10.0.1.23", "identity": 21045},
		"destination": {"kind": "world", "namespace": "", "workload": "", "pod": "", "ip": "169.254.169.254", "identity": 2, "fqdn": ""},
		"protocol": "TCP",
		"destination_port": 80,
		"http": {"method": "GET", "path": "/latest/meta-data/iam/security-credentials/", "raw_path": "/latest/meta-data/iam/security-credentials/", "query": "", "host": "169.254.169.254"},
	},
})

# flow builds a flow from the attack by deep-merging overrides into it, then
# gives it the destination names and domains the engine would measure.
flow(overrides) := lib_test.with_names(object.union(catalog_imds, overrides))

# dns_query builds a DNS request for name from the same pod to CoreDNS.
dns_query(name) := lib_test.with_names({
	"Type": "L7",
	"is_reply": false,
	"IP": {"source": "10.0.1.23", "destination": "10.0.2.10"},
	"l7": {"type": "REQUEST", "dns": {"query": concat("", [name, "."]), "qtypes": ["A"]}},
	"sentinel": {
		"source": {"kind": "pod", "namespace": "shop", "workload": "catalog", "ip": "10.0.1.23"},
		"destination": {"kind": "pod", "namespace": "kube-system", "workload": "coredns", "ip": "10.0.2.10", "fqdn": ""},
		"protocol": "UDP",
		"destination_port": 53,
		"dns": {"query": name, "labels": split(name, "."), "max_label_length": 8, "max_label_entropy": 2.5, "qtypes": ["A"]},
	},
})

test_shopmesh_attack_alerts_with_full_metadata if {
	cloud_metadata.violation == {{
		"id": "EgressToCloudMetadata",
		"severity": "critical",
		"title": "Egress to a cloud metadata endpoint",
		"policy": "sentinel.egress.cloud_metadata",
		"summary": "shop/catalog contacted the cloud metadata service (169.254.169.254) on TCP port 80",
		"description": cloud_metadata.violation[_].description,
		"mitre": "T1552.005",
	}} with input as catalog_imds with data.data.egress as egress
}

test_alerts_on_every_metadata_address if {
	every address in ["fd00:ec2::254", "100.100.100.200", "169.254.170.2"] {
		count(cloud_metadata.violation) == 1 with input as flow({
			"IP": {"destination": address},
			"sentinel": {"destination": {"ip": address}, "http": {"host": ""}},
		})
			with data.data.egress as egress
	}
}

test_alerts_on_metadata_dns_query if {
	some v in cloud_metadata.violation with input as dns_query("metadata.google.internal") with data.data.egress as egress
	contains(v.summary, "(metadata.google.internal)")
}

test_alerts_on_metadata_http_host_behind_another_address if {
	some v in cloud_metadata.violation with input as flow({
		"IP": {"destination": "10.0.3.4"},
		"sentinel": {"destination": {"kind": "pod", "ip": "10.0.3.4"}, "http": {"host": "Metadata.Google.Internal:80"}},
	})
		with data.data.egress as egress
	contains(v.summary, "(metadata.google.internal)")
}

test_alerts_on_http_host_naming_a_metadata_address if {
	some v in cloud_metadata.violation with input as flow({
		"IP": {"destination": "10.0.3.4"},
		"sentinel": {"destination": {"kind": "pod", "ip": "10.0.3.4"}, "http": {"host": "[fd00:ec2::254]:80"}},
	})
		with data.data.egress as egress
	contains(v.summary, "(fd00:ec2::254)")
}

test_alerts_on_fqdn if {
	some v in cloud_metadata.violation with input as flow({
		"IP": {"destination": "10.9.9.9"},
		"sentinel": {"destination": {"ip": "10.9.9.9", "fqdn": "metadata.goog"}, "http": {"host": ""}},
	})
		with data.data.egress as egress
	contains(v.summary, "(metadata.goog)")
}

test_one_violation_for_several_matches if {
	violations := cloud_metadata.violation with input as flow({"sentinel": {"http": {"host": "metadata.google.internal"}}})
		with data.data.egress as egress
	count(violations) == 1
	some v in violations
	contains(v.summary, "(169.254.169.254, metadata.google.internal)")
}

test_no_alert_on_reply if {
	count(cloud_metadata.violation) == 0 with input as flow({"is_reply": true}) with data.data.egress as egress
	count(cloud_metadata.violation) == 0 with input as object.remove(flow({"reply": true}), ["is_reply"])
		with data.data.egress as egress
}

test_no_alert_from_the_node if {
	count(cloud_metadata.violation) == 0 with input as flow({"sentinel": {"source": {"kind": "host", "namespace": "", "workload": ""}}})
		with data.data.egress as egress
}

test_no_alert_from_allowed_workload if {
	count(cloud_metadata.violation) == 0 with input as flow({"sentinel": {"source": {"namespace": "kube-system", "workload": "cloud-agent"}}})
		with data.data.egress as egress
}

test_cluster_dns_may_forward_to_the_metadata_resolver if {
	kube_dns := {"sentinel": {"source": {"namespace": "kube-system", "workload": "kube-dns"}, "protocol": "UDP", "destination_port": 53}}
	count(cloud_metadata.violation) == 0 with input as flow(kube_dns) with data.data.egress as egress
	count(cloud_metadata.violation) == 1 with input as flow(object.union(kube_dns, {"sentinel": {"destination_port": 80}}))
		with data.data.egress as egress
	count(cloud_metadata.violation) == 1 with input as flow({"sentinel": {"protocol": "UDP", "destination_port": 53}})
		with data.data.egress as egress
}

test_no_alert_on_ordinary_traffic if {
	count(cloud_metadata.violation) == 0 with input as flow({
		"IP": {"destination": "52.94.236.248"},
		"sentinel": {"destination": {"ip": "52.94.236.248", "fqdn": "api.stripe.com"}, "http": {"host": "api.stripe.com"}},
	})
		with data.data.egress as egress
}

# Names are matched exactly: search-path expansions are other names.
test_no_alert_on_names_that_only_contain_metadata if {
	count(cloud_metadata.violation) == 0 with input as dns_query("metadata.shop.svc.cluster.local") with data.data.egress as egress
	count(cloud_metadata.violation) == 0 with input as dns_query("metadata-api.example.com") with data.data.egress as egress
}

# The four endpoints every cloud-metadata detection must know, each reached
# by address and asked for by name (an HTTP host or a DNS query).
test_alerts_on_the_main_metadata_endpoints_by_address_and_by_name if {
	every address in ["169.254.169.254", "fd00:ec2::254", "100.100.100.200"] {
		count(cloud_metadata.violation) == 1 with input as flow({
			"IP": {"destination": address},
			"sentinel": {"destination": {"ip": address}, "http": {"host": ""}},
		})
			with data.data.egress as egress
	}
	every host in ["169.254.169.254", "[fd00:ec2::254]", "100.100.100.200:80", "metadata.google.internal"] {
		count(cloud_metadata.violation) == 1 with input as flow({
			"IP": {"destination": "10.0.3.4"},
			"sentinel": {"destination": {"kind": "pod", "ip": "10.0.3.4"}, "http": {"host": host}},
		})
			with data.data.egress as egress
	}
	count(cloud_metadata.violation) == 1 with input as dns_query("metadata.google.internal") with data.data.egress as egress
}

test_shipped_data_covers_the_main_metadata_endpoints if {
	every address in ["169.254.169.254", "fd00:ec2::254", "100.100.100.200"] {
		address in data.data.egress.metadata_addresses
	}
	"metadata.google.internal" in data.data.egress.metadata_names
}
