# METADATA
# title: Unusual DNS query type
# description: >-
#   A workload asked for a DNS record type applications rarely use: TXT or
#   NULL, whose answers carry arbitrary bytes (DNS tunnels, C2 over DNS), or
#   ANY and HINFO (reconnaissance). Check the domain and whether the
#   workload's code explains it, then allowlist it by workload, first label
#   or domain in data.data.dns.query_type_allowed_*. Behind a DNS cache
#   (node-local-dns) the asking pod is hidden. Queries under
#   data.data.dns.internal_zones are skipped: no outside server sees them.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1071/004/
# custom:
#   id: DNSUnusualQueryType
#   severity: warning
#   mitre: T1071.004
#   tags: [dns, command-and-control, exfiltration]
package sentinel.dns.query_type

import data.sentinel.dns.names
import data.sentinel.lib

violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.l7.type == "REQUEST"
	input.l7.dns
	some qtype in input.sentinel.dns.qtypes
	qtype in data.data.dns.unusual_query_types
	not allowed(qtype)
	not names.in_internal_zones
}

# allowed(qtype) holds when the client, the query's first label or its
# domain may be asked with qtype.
allowed(qtype) if qtype in object.get(data.data.dns.query_type_allowed_sources, input.sentinel.source.namespace, [])

allowed(qtype) if qtype in object.get(data.data.dns.query_type_allowed_sources, lib.workload_key(input.sentinel.source), [])

allowed(qtype) if qtype in object.get(data.data.dns.query_type_allowed_first_labels, names.labels[0], [])

allowed(qtype) if {
	some domain in input.sentinel.dns.domains
	qtype in object.get(data.data.dns.query_type_allowed_domains, domain, [])
}

# The summary names the registrable domain, not the query: its other labels
# may be the data a tunnel carries.
summary := sprintf("%s asked %s for %s records of a name under %q", [
	lib.endpoint(input.sentinel.source),
	lib.endpoint(input.sentinel.destination),
	concat(", ", sort(unusual)),
	names.registrable_domain,
])

unusual contains qtype if {
	some qtype in input.sentinel.dns.qtypes
	qtype in data.data.dns.unusual_query_types
	not allowed(qtype)
}
