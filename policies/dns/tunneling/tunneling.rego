# METADATA
# title: DNS tunneling suspected
# description: >-
#   A DNS query carried a label that is unusually long or unusually random,
#   the signature of data encoded into DNS names (iodine, dnscat2, DNS
#   exfiltration by malware) or of domain-generation algorithms. DNS is
#   often allowed to leave the cluster when nothing else is, so it is a
#   favourite exfiltration and command-and-control channel. Check the
#   domain the labels sit under, how many such queries the workload sends
#   and whether a legitimate service uses hashed names; allowlist such
#   domains in data.data.dns.allowed_suffixes.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1071/004/
#   - ref: https://attack.mitre.org/techniques/T1048/
# custom:
#   id: DNSTunnelingSuspected
#   severity: warning
#   mitre: T1071.004
#   tags: [dns, command-and-control, exfiltration]
package sentinel.dns.tunneling

import data.sentinel.dns.names
import data.sentinel.lib

# Each body leads with the conditions OPA's rule index checks before
# evaluating it (a DNS request), so other flows cost nothing here. One body
# per reason keeps a DNS request's path to a couple of number comparisons;
# the reasons and the zone are computed for the summary only.
violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.l7.type == "REQUEST"
	input.l7.dns
	input.sentinel.dns.max_label_length > data.data.dns.max_label_length
	not allowed_query
}

violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.l7.type == "REQUEST"
	input.l7.dns
	input.sentinel.dns.max_label_entropy > data.data.dns.max_label_entropy
	entropy_exceeded
	not allowed_query
}

# The engine reports the entropy of the most random label and the length of
# the longest one, not the length of the most random one. A label needs more
# than 16 characters to exceed 4 bits per character, so with the default
# thresholds the two are the same label in all but rare cases.
entropy_exceeded if {
	input.sentinel.dns.max_label_length >= data.data.dns.entropy_min_label_length
	input.sentinel.dns.max_label_entropy > data.data.dns.max_label_entropy
}

# allowed_query holds when the query is one of data.data.dns.allowed_suffixes
# or under one (the resolver's own name does not count).
allowed_query if names.under(data.data.dns.allowed_suffixes)

# The summary names the domain the long labels sit under, never the labels
# themselves: they may be the exfiltrated data.
summary := sprintf("%s sent DNS queries with %s under %q", [
	lib.endpoint(input.sentinel.source),
	concat(" and ", sort(reasons)),
	zone,
])

reasons contains sprintf("a %d-character label", [input.sentinel.dns.max_label_length]) if {
	input.sentinel.dns.max_label_length > data.data.dns.max_label_length
}

reasons contains sprintf("a label entropy of %.2f bits/char", [input.sentinel.dns.max_label_entropy]) if {
	entropy_exceeded
}

# zone is the part of the query after its last long label.
zone := concat(".", array.slice(labels, last_long + 1, count(labels))) if {
	labels := input.sentinel.dns.labels
	last_long := max([i |
		some i, label in labels
		count(label) >= min([data.data.dns.entropy_min_label_length, data.data.dns.max_label_length + 1])
	])
} else := ""
