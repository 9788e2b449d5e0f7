# METADATA
# title: DNS zone transfer attempt
# description: >-
#   A workload asked a name server for a zone transfer (AXFR or IXFR), a
#   copy of every record of a zone, which only secondary name servers need.
#   From a pod it is reconnaissance: a transfer of cluster.local from
#   CoreDNS lists every Service at once; one from a company name server maps
#   the network. Check the workload for a compromise or someone running dig;
#   allow real secondaries in data.data.dns.zone_transfer_allowed_sources.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1018/
#   - ref: https://attack.mitre.org/techniques/T1590/002/
# custom:
#   id: DNSZoneTransferAttempt
#   severity: critical
#   mitre: T1018
#   tags: [dns, discovery, reconnaissance]
package sentinel.dns.zone_transfer

import data.sentinel.dns.names
import data.sentinel.lib

# AXFR and IXFR are what a zone transfer is, not tunables. One body per
# type: OPA's rule index sees an equality on any element of qtypes, so other
# DNS requests skip both.
violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.l7.type == "REQUEST"
	input.l7.dns.qtypes[_] == "AXFR"
	not allowed_source
}

violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.l7.type == "REQUEST"
	input.l7.dns.qtypes[_] == "IXFR"
	not allowed_source
}

allowed_source if input.sentinel.source.namespace in data.data.dns.zone_transfer_allowed_sources

allowed_source if lib.workload_key(input.sentinel.source) in data.data.dns.zone_transfer_allowed_sources

# A zone transfer names the zone itself, which is safe to quote.
summary := sprintf("%s asked %s for a zone transfer (%s) of %q", [
	lib.endpoint(input.sentinel.source),
	lib.endpoint(input.sentinel.destination),
	concat(", ", sort({qtype | some qtype in input.l7.dns.qtypes; qtype in {"AXFR", "IXFR"}})),
	names.query,
])
