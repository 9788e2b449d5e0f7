# METADATA
# title: Egress to a cloud metadata endpoint
# description: >-
#   A workload contacted the cloud instance metadata service, or resolved its
#   name. The metadata service hands out the node's cloud credentials (AWS
#   IMDS role credentials, GCP service account tokens), so a pod reaching it
#   can act as the node in the cloud account: the classic next step after an
#   SSRF or a container compromise. Check which process in the pod made the
#   request and whether the workload has any reason to call the metadata
#   service; block it with a CiliumNetworkPolicy (toCIDRSet except) or GKE
#   Workload Identity / IMDSv2 with a hop limit of 1.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1552/005/
# custom:
#   id: EgressToCloudMetadata
#   severity: critical
#   mitre: T1552.005
#   tags: [egress, credential-access]
package sentinel.egress.cloud_metadata

import data.sentinel.lib

violation contains lib.violation(rego.metadata.chain(), summary) if {
	lib.not_reply
	count(targets) > 0
	not exempt_source
	summary := sprintf("%s contacted the cloud metadata service (%s) on %s port %d", [
		lib.endpoint(input.sentinel.source),
		concat(", ", sort(targets)),
		input.sentinel.protocol,
		input.sentinel.destination_port,
	])
}

# targets are the metadata addresses and names this flow went to.
targets contains ip if {
	ip := input.sentinel.destination.ip
	some address in data.data.egress.metadata_addresses
	ip == address
}

targets contains name if {
	some name in lib.destination_names
	some metadata in data.data.egress.metadata_names
	name == lib.hostname(metadata)
}

targets contains name if {
	some name in lib.destination_names
	some address in data.data.egress.metadata_addresses
	name == address
}

exempt_source if input.sentinel.source.kind in {kind | some kind in data.data.egress.metadata_exempt_source_kinds}

exempt_source if lib.workload_key(input.sentinel.source) in {w | some w in data.data.egress.metadata_allowed_workloads}

# On GCE the metadata server is also the VPC's DNS resolver: cluster DNS
# forwards to 169.254.169.254:53.
exempt_source if {
	input.sentinel.destination_port == 53
	lib.workload_key(input.sentinel.source) in {w | some w in data.data.egress.metadata_dns_forwarders}
}
