# METADATA
# title: Helpers of the DNS policies
# description: >-
#   Answers the questions several DNS policies ask of a query the same way:
#   is it under one of a list of zones, is it answered inside the cluster or
#   the cloud network, and which domain was registered for it. Not a
#   detective policy (it has no violation rule). Its rules take no
#   arguments where they can, so OPA evaluates them once per flow for all
#   DNS policies.
package sentinel.dns.names

# query is the flow's DNS query, lower case, without the trailing dot. The
# engine keeps the case the client sent (resolvers randomise it, 0x20
# encoding); its parent domains (input.sentinel.dns.domains) are lower case.
query := lower(input.sentinel.dns.query)

# under(zones) holds when the query is one of zones or a subdomain of one:
# one set lookup per parent domain the engine measured of the query
# (input.sentinel.dns.domains). The destination's domains would not do: they
# also hold the resolver's own name (its FQDN), which must not count.
under(zones) if {
	some domain in input.sentinel.dns.domains
	domain in zones
}

# in_internal_zones holds for queries under data.data.dns.internal_zones: answered by
# the cluster DNS or the cloud's resolver, never by a server outsiders run.
in_internal_zones if under(data.data.dns.internal_zones)

labels := split(query, ".")

# suffix_labels is the number of labels of the query's public suffix: the
# longest of data.data.dns.public_suffixes the query is under, else its
# top-level domain.
suffix_labels := n if {
	n := max({count(split(domain, ".")) |
		some domain in input.sentinel.dns.domains
		domain in data.data.dns.public_suffixes
	})
} else := 1

# registrable_label is the label registered under the public suffix:
# "example" in www.example.co.uk. Undefined for a bare suffix or a name of
# one label.
registrable_label := labels[(count(labels) - suffix_labels) - 1]

# registrable_domain is the registrable label with its public suffix
# (example.co.uk), or the whole query when it has no registrable label. It
# is what a summary may name without quoting labels that may be data.
registrable_domain := concat(".", array.slice(labels, (count(labels) - suffix_labels) - 1, count(labels))) if {
	count(labels) > suffix_labels
} else := query
