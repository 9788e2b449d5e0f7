package sentinel.egress.cloud_metadata_test

import data.sentinel.egress.cloud_metadata

egress := {
	"metadata_addresses": ["169.254.169.254", "fd00:ec2::254", "100.100.100.200", "169.254.170.2"],
	"metadata_names": ["metadata.google.internal", "metadata.goog", "metadata"],
	"metadata_exempt_source_kinds": ["host"],
	"metadata_allowed_workloads": ["kube-system/cloud-agent"],
	"metadata_dns_forwarders": ["kube-system/kube-dns"],
}

# The flows of testdata/flows.jsonl as the engine measures them (make
# fixtures), by uuid. catalog_imds mirrors the shopmesh attack: the catalog
# pod's HTTP request to the AWS metadata service for the node role's
# credentials.
fixtures := data.egress.cloud_metadata.testdata

# flow is a fixture with overrides deep-merged into it.
flow(uuid, overrides) := object.union(fixtures[uuid], overrides)

# to(address) is the catalog pod's new TCP connection to address, which
# has no name.
to(address) := flow("catalog_imds_syn", {"IP": {"destination": address}, "sentinel": {"destination": {"ip": address}}})

test_shopmesh_attack_alerts_with_full_metadata if {
	cloud_metadata.violation == {{
		"id": "EgressToCloudMetadata",
		"severity": "critical",
		"title": "Egress to a cloud metadata endpoint",
		"policy": "sentinel.egress.cloud_metadata",
		"summary": "shop/catalog contacted the cloud metadata service (169.254.169.254) on TCP port 80",
		"description": cloud_metadata.violation[_].description,
		"mitre": "T1552.005",
	}} with input as fixtures.catalog_imds with data.data.egress as egress
}

test_alerts_on_every_metadata_address if {
	every address in ["fd00:ec2::254", "100.100.100.200", "169.254.170.2"] {
		count(cloud_metadata.violation) == 1 with input as to(address) with data.data.egress as egress
	}
}

test_alerts_on_metadata_dns_query if {
	some v in cloud_metadata.violation with input as fixtures.catalog_dns_metadata with data.data.egress as egress
	contains(v.summary, "(metadata.google.internal)")
}

test_alerts_on_metadata_http_host_behind_another_address if {
	some v in cloud_metadata.violation with input as fixtures.catalog_via_proxy_host_metadata_google_internal
		with data.data.egress as egress
	contains(v.summary, "(metadata.google.internal)")
}

test_alerts_on_http_host_naming_a_metadata_address if {
	some v in cloud_metadata.violation with input as fixtures.catalog_via_proxy_host_fd00_ec2_254_port_80
		with data.data.egress as egress
	contains(v.summary, "(fd00:ec2::254)")
}

test_alerts_on_fqdn if {
	some v in cloud_metadata.violation with input as fixtures.catalog_metadata_goog with data.data.egress as egress
	contains(v.summary, "(metadata.goog)")
}

test_one_violation_for_several_matches if {
	violations := cloud_metadata.violation with input as fixtures.catalog_imds_named with data.data.egress as egress
	count(violations) == 1
	some v in violations
	contains(v.summary, "(169.254.169.254, metadata.google.internal)")
}

test_no_alert_on_reply if {
	count(cloud_metadata.violation) == 0 with input as fixtures.catalog_imds_as_reply with data.data.egress as egress
	count(cloud_metadata.violation) == 0 with input as fixtures.catalog_imds_deprecated_reply with data.data.egress as egress
}

test_no_alert_from_the_node if {
	count(cloud_metadata.violation) == 0 with input as flow("catalog_imds", {"sentinel": {"source": {"kind": "host", "namespace": "", "workload": "", "pod": ""}}})
		with data.data.egress as egress
}

test_no_alert_from_allowed_workload if {
	count(cloud_metadata.violation) == 0 with input as flow("catalog_imds", {"sentinel": {"source": {"namespace": "kube-system", "workload": "cloud-agent"}}})
		with data.data.egress as egress
}

test_cluster_dns_may_forward_to_the_metadata_resolver if {
	count(cloud_metadata.violation) == 0 with input as fixtures.kube_dns_forward with data.data.egress as egress
	kube_dns := {"sentinel": {"source": {"namespace": "kube-system", "workload": "kube-dns"}}}
	count(cloud_metadata.violation) == 1 with input as flow("catalog_imds", kube_dns) with data.data.egress as egress
	catalog := {"sentinel": {"source": {"namespace": "shop", "workload": "catalog"}}}
	count(cloud_metadata.violation) == 1 with input as flow("kube_dns_forward", catalog) with data.data.egress as egress
}

test_no_alert_on_ordinary_traffic if {
	count(cloud_metadata.violation) == 0 with input as fixtures.catalog_stripe with data.data.egress as egress
}

# Names are matched exactly: search-path expansions are other names.
test_no_alert_on_names_that_only_contain_metadata if {
	count(cloud_metadata.violation) == 0 with input as fixtures.catalog_dns_search_path with data.data.egress as egress
	count(cloud_metadata.violation) == 0 with input as fixtures.catalog_dns_lookalike with data.data.egress as egress
}

# The four endpoints every cloud-metadata detection must know, each reached
# by address and asked for by name (an HTTP host or a DNS query).
test_alerts_on_the_main_metadata_endpoints_by_address_and_by_name if {
	every address in ["169.254.169.254", "fd00:ec2::254", "100.100.100.200"] {
		count(cloud_metadata.violation) == 1 with input as to(address) with data.data.egress as egress
	}
	every host in ["169_254_169_254", "fd00_ec2_254", "100_100_100_200_port_80", "metadata_google_internal"] {
		count(cloud_metadata.violation) == 1 with input as fixtures[sprintf("catalog_via_proxy_host_%s", [host])]
			with data.data.egress as egress
	}
	count(cloud_metadata.violation) == 1 with input as fixtures.catalog_dns_metadata with data.data.egress as egress
}

test_shipped_data_covers_the_main_metadata_endpoints if {
	every address in ["169.254.169.254", "fd00:ec2::254", "100.100.100.200"] {
		address in data.data.egress.metadata_addresses
	}
	"metadata.google.internal" in data.data.egress.metadata_names
}
