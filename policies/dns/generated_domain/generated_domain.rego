# METADATA
# title: DNS lookup of an algorithmically generated domain
# description: >-
#   A workload looked up a domain whose registered label (before the public
#   suffix) looks machine-made: long, with few common letter pairs, or with
#   digits scattered through it. Malware with a domain-generation algorithm
#   (DGA) finds its C2 server this way; DNSNonExistentDomain alerts for the
#   same workload strengthen the case. Check the workload's processes and
#   other lookups and the domain's reputation. Dictionary-word DGAs and
#   short names are missed. Tune data.data.dns.dga_* and allowed_suffixes.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1568/002/
# custom:
#   id: DNSGeneratedDomain
#   severity: warning
#   mitre: T1568.002
#   tags: [dns, command-and-control]
package sentinel.dns.generated_domain

import data.sentinel.dns.names
import data.sentinel.lib

# One body per indicator, so each is indexed on the DNS request and the
# shared checks (candidate) run once.
violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.l7.type == "REQUEST"
	input.l7.dns
	input.sentinel.dns.max_label_length >= data.data.dns.dga_min_label_length
	candidate
	few_common_bigrams
}

violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.l7.type == "REQUEST"
	input.l7.dns
	input.sentinel.dns.max_label_length >= data.data.dns.dga_min_label_length
	candidate
	many_digit_groups
}

# candidate holds when the query has a registrable label long enough to
# judge, outside the internal zones and the allowed suffixes. The longest
# label (measured by the engine) is checked first: the registrable label is
# never longer, and most queries stop there or at the internal zones.
candidate if {
	not names.in_internal_zones
	count(label) >= data.data.dns.dga_min_label_length
	not startswith(label, "xn--") # internationalised names are punycode
	not names.under(data.data.dns.allowed_suffixes)
}

label := names.registrable_label

# pairs are the label's adjacent letter pairs, within runs of letters.
pairs := [substring(run, i, 2) |
	some run in regex.find_n(`[a-z]+`, label, -1)
	count(run) > 1
	some i in numbers.range(0, count(run) - 2)
]

common_bigrams := {pair | some pair in data.data.dns.dga_common_bigrams}

common_pairs := count([pair | some pair in pairs; common_bigrams[pair]])

# Labels with few letter pairs (mostly digits) are left to many_digit_groups.
few_common_bigrams if {
	count(pairs) >= data.data.dns.dga_min_letter_pairs
	common_pairs <= count(pairs) * data.data.dns.dga_max_common_bigram_ratio
}

digit_groups := count(regex.find_n(`[0-9]+`, label, -1))

many_digit_groups if digit_groups >= data.data.dns.dga_min_digit_groups

summary := sprintf("%s looked up %q, whose name looks algorithmically generated (%s)", [
	lib.endpoint(input.sentinel.source),
	names.registrable_domain,
	concat(", ", sort(reasons)),
])

reasons contains sprintf("%d of %d letter pairs common", [common_pairs, count(pairs)]) if few_common_bigrams

reasons contains sprintf("%d digit groups", [digit_groups]) if many_digit_groups
