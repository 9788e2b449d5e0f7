# METADATA
# title: Connection to a deny-listed destination
# description: >-
#   A workload connected to a destination outside the cluster (world) on
#   the deny list: an address in data.data.egress.deny_cidrs, or a name
#   (Cilium's DNS-aware FQDN, the HTTP host) under
#   data.data.egress.deny_domains. By default these are paste sites and
#   anonymous file drops used to exfiltrate data, reverse-tunnel services (ngrok, Cloudflare quick tunnels) that open a
#   way back into the cluster, out-of-band callback services that confirm
#   a blind exploit, Tor gateways and DNS-over-HTTPS resolvers that hide
#   DNS from the cluster. The alert names the listed domain or range and
#   why it is listed. Check which process made the connection, what it sent
#   and how the workload came to run it; remove the entry if a workload
#   legitimately uses the service. DNS lookups of listed names are
#   DNSQueryForDenyListedDomain's to report.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1567/
#   - ref: https://attack.mitre.org/techniques/T1572/
# custom:
#   id: EgressToDenyListedDestination
#   severity: warning
#   mitre: T1567
#   tags: [egress, exfiltration, command-and-control]
package sentinel.egress.deny_list

import data.sentinel.lib

# The bodies lead with conditions OPA's rule index checks, so only new
# flows from client to server (the engine's input.sentinel.initiated) to
# world destinations (what Cilium does not know as part of the cluster)
# enter them: a TCP SYN (each connection judged once), a flow of a
# connectionless protocol, or an HTTP request (the only flow carrying the
# Host header); names need a destination with a name. The address bodies
# stop at once while the CIDR list is empty (the default); otherwise one
# builtin call scans the list in Go. The name bodies look each of the
# engine's parent domains up in the deny map. All bodies build the same
# violation, so a flow matching several yields one. Traffic through an
# in-cluster egress proxy is seen at the proxy's own connection.
violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.l4.TCP.flags.SYN == true
	input.sentinel.initiated == true
	input.sentinel.destination.kind == "world"
	denied_address
}

violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.sentinel.protocol in {"UDP", "ICMPv4", "ICMPv6", "SCTP"}
	input.sentinel.initiated == true
	input.sentinel.destination.kind == "world"
	denied_address
}

violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.l4.TCP.flags.SYN == true
	input.sentinel.initiated == true
	input.sentinel.destination.kind == "world"
	input.sentinel.destination.domains[0]
	denied_name
}

violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.sentinel.protocol in {"UDP", "ICMPv4", "ICMPv6", "SCTP"}
	input.sentinel.initiated == true
	input.sentinel.destination.kind == "world"
	input.sentinel.destination.domains[0]
	denied_name
}

violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.l7.type == "REQUEST"
	input.sentinel.initiated == true
	input.l7.http
	input.sentinel.destination.kind == "world"
	input.sentinel.destination.domains[0]
	denied_name
}

denied_address if {
	data.data.egress.deny_cidrs[0]
	count(address_matches) > 0
}

denied_name if {
	some domain in input.sentinel.destination.domains
	data.data.egress.deny_domains[domain]
	destination_under(domain)
}

address_matches := net.cidr_contains_matches(data.data.egress.deny_cidrs, input.sentinel.destination.ip)

summary := sprintf("%s contacted a deny-listed destination: %s", [
	lib.endpoint(input.sentinel.source),
	concat(", ", sort(indicators)),
])

# destination_under holds when one of the destination's own names is under
# domain. Every name of a flow without DNS is the destination's own; a DNS
# request's query names what it asks the resolver about, which the DNS
# policies judge: there only the resolver's DNS-aware name (fqdn) counts.
destination_under(_) if not input.sentinel.dns

destination_under(domain) if {
	input.sentinel.dns
	input.sentinel.destination.fqdn == domain
}

destination_under(domain) if {
	input.sentinel.dns
	endswith(input.sentinel.destination.fqdn, concat("", [".", domain]))
}

# indicators name the listed range or domain and why it is listed. A DNS
# query's own labels may be the exfiltrated data, so a name is reported as
# the listed domain it falls under, never as the full name.
indicators contains sprintf("%s in %s", [input.sentinel.destination.ip, data.data.egress.deny_cidrs[i]]) if {
	some [i, _] in address_matches
}

indicators contains sprintf("%s (%s)", [domain, reason]) if {
	some domain in input.sentinel.destination.domains
	reason := data.data.egress.deny_domains[domain]
	destination_under(domain)
}
