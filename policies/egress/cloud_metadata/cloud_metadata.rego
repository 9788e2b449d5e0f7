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

# One body per way of reaching the metadata service, each a plain lookup of
# the flow's address or names in a data list. The bodies lead with
# conditions OPA's rule index checks before evaluating them: the flow goes
# from client to server (the engine's input.sentinel.initiated), and for
# the name bodies the destination has a name (names[0] is defined). The
# bodies build the same violation, so a flow matching several still yields
# one.
violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.sentinel.initiated == true
	input.sentinel.destination.ip in data.data.egress.metadata_addresses
	not exempt_source
}

violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.sentinel.initiated == true
	input.sentinel.destination.names[0]
	some name in input.sentinel.destination.names
	name in data.data.egress.metadata_names
	not exempt_source
}

violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.sentinel.initiated == true
	input.sentinel.destination.names[0]
	some name in input.sentinel.destination.names
	name in data.data.egress.metadata_addresses
	not exempt_source
}

summary := sprintf("%s contacted the cloud metadata service (%s) on %s port %d", [
	lib.endpoint(input.sentinel.source),
	concat(", ", sort(targets)),
	input.sentinel.protocol,
	input.sentinel.destination_port,
])

# targets are the metadata addresses and names this flow went to. Names are
# the engine's normalised destination names, compared exactly.
targets contains input.sentinel.destination.ip if {
	input.sentinel.destination.ip in data.data.egress.metadata_addresses
}

targets contains name if {
	some name in input.sentinel.destination.names
	name in data.data.egress.metadata_names
}

targets contains name if {
	some name in input.sentinel.destination.names
	name in data.data.egress.metadata_addresses
}

exempt_source if input.sentinel.source.kind in data.data.egress.metadata_exempt_source_kinds

exempt_source if lib.workload_key(input.sentinel.source) in data.data.egress.metadata_allowed_workloads

# On GCE the metadata server is also the VPC's DNS resolver: cluster DNS
# forwards to 169.254.169.254:53.
exempt_source if {
	input.sentinel.destination_port == 53
	lib.workload_key(input.sentinel.source) in data.data.egress.metadata_dns_forwarders
}
