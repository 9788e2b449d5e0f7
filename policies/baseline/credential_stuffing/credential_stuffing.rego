# METADATA
# title: Credential stuffing
# description: >-
#   One endpoint answered many 401/403 responses within a minute to several
#   distinct clients (data.data.baseline stuffing_min_per_min,
#   stuffing_min_sources, and stuffing_factor times what it learned):
#   password spraying or stolen-credential stuffing, typically from
#   rotating Internet addresses. The alert is about the targeted service;
#   the addresses vary within the incident.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1110/004/
# custom:
#   id: BaselineCredentialStuffing
#   severity: critical
#   drop_labels: [source_ip, destination_ip, destination_fqdn, destination_port]
#   mitre: T1110.004
#   tags: [baseline, credential-access]
package sentinel.baseline.credential_stuffing

import data.sentinel.lib

violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.sentinel.baseline.learning == false
	auth := input.sentinel.baseline.auth_failures
	auth.per_min >= data.data.baseline.stuffing_min_per_min
	auth.sources >= data.data.baseline.stuffing_min_sources
	auth.per_min >= data.data.baseline.stuffing_factor * auth.baseline_per_min
	summary := sprintf("%s %s answered %v authentication failures a minute to %v clients (learned %v)", [
		lib.endpoint(lib.server), input.sentinel.baseline.endpoint,
		round(auth.per_min), round(auth.sources), round(auth.baseline_per_min * 10) / 10,
	])
}
