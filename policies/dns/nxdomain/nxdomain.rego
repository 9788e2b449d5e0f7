# METADATA
# title: DNS lookup of a non-existent domain
# description: >-
#   A workload was told a name outside the cluster does not exist
#   (NXDOMAIN). One answer is weak evidence (a typo, stale configuration);
#   alerts are grouped per client, and many for varied domains mean a DGA
#   looking for its C2 server, or a scanner. Compare with
#   DNSGeneratedDomain. The ndots:5 search path (namespace, cluster and node
#   search domains, data.data.dns.internal_zones), reverse lookups,
#   speculative _-prefixed names and bare names are routine NXDOMAINs and
#   never alert (data.data.dns.nxdomain_allowed_*).
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1568/002/
# custom:
#   id: DNSNonExistentDomain
#   severity: info
#   mitre: T1568.002
#   tags: [dns, command-and-control]
package sentinel.dns.nxdomain

import data.sentinel.dns.names
import data.sentinel.lib

# The answer, not the query, says the domain does not exist: this rule sees
# the response, which goes from the server to the client (lib.server and
# lib.client, as the engine measured the flow's direction).
violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.l7.type == "RESPONSE"
	input.l7.dns.rcode == 3
	input.sentinel.dns.labels[1] # a bare name is a search-path miss
	not names.in_internal_zones
	not allowed_label
	not names.under(data.data.dns.nxdomain_allowed_suffixes)
}

allowed_label if {
	some prefix in data.data.dns.nxdomain_allowed_label_prefixes
	startswith(names.labels[0], prefix)
}

# The summary names the registrable domain, not the query: its other labels
# may be data.
summary := sprintf("%s was told by %s that a name under %q does not exist (NXDOMAIN)", [
	lib.endpoint(lib.client),
	lib.endpoint(lib.server),
	names.registrable_domain,
])
