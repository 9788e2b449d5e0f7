# METADATA
# title: DNS lookup of a deny-listed domain
# description: >-
#   A workload looked up a name under data.data.dns.deny_domains: callback
#   domains of blind-injection payloads (Burp Collaborator, interactsh,
#   dnslog.cn: a Log4Shell-style exploit worked), request catchers, reverse
#   tunnels (ngrok), canary tokens or DNS-security test domains; the alert
#   says which. Production workloads resolve none of them. Find the inbound
#   request that made the workload look it up and check for a compromise;
#   remove a domain only if a workload really uses it.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1071/004/
#   - ref: https://attack.mitre.org/techniques/T1190/
# custom:
#   id: DNSQueryForDenyListedDomain
#   severity: critical
#   mitre: T1071.004
#   tags: [dns, command-and-control, initial-access, exfiltration]
package sentinel.dns.deny_list

import data.sentinel.lib

# The query's parent domains (input.sentinel.dns.domains) are looked up in
# the deny list; the resolver's own name is not among them.
violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.l7.type == "REQUEST"
	input.l7.dns
	some domain in input.sentinel.dns.domains
	data.data.dns.deny_domains[domain]
}

# The summary names the listed domain, never the query: payloads put the
# data they steal in the labels below it.
summary := sprintf("%s looked up a name under the deny-listed %s", [
	lib.endpoint(input.sentinel.source),
	concat(", ", [sprintf("%q (%s)", [domain, data.data.dns.deny_domains[domain]]) | some domain in sort(matched)]),
])

matched contains domain if {
	some domain in input.sentinel.dns.domains
	data.data.dns.deny_domains[domain]
}
