# METADATA
# title: Request to an administrative or debug HTTP endpoint
# description: >-
#   An HTTP request asked for a path that belongs to an administrative,
#   debugging or secret-bearing endpoint (Spring Boot Actuator, Go pprof,
#   Tomcat manager, Jolokia, dotenv or .git files, …). Scanners probe these
#   first because they leak configuration and credentials or allow code
#   execution. Check where the request came from (a world source is an
#   Internet scan reaching the service), what the response code was, and
#   whether the endpoint should be exposed at all; routine paths such as
#   health checks are excepted in data.data.http.admin_path_exceptions.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1190/
# custom:
#   id: HTTPAdminEndpointAccess
#   severity: warning
#   mitre: T1190
#   tags: [http, initial-access, reconnaissance]
package sentinel.http.admin_paths

import data.sentinel.lib

# The body leads with the conditions OPA's rule index checks before
# evaluating it (an HTTP request), so other flows cost nothing here.
violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.l7.type == "REQUEST"
	input.l7.http

	# The path as compared: lower case, repeated slashes collapsed, so
	# /ACTUATOR and //actuator match /actuator. The prefixes in
	# data.data.http are written in lower case.
	path := regex.replace(lower(input.sentinel.http.path), "/+", "/")
	strings.any_prefix_match(path, data.data.http.admin_path_prefixes)
	not strings.any_prefix_match(path, data.data.http.admin_path_exceptions)
	summary := sprintf("%s sent HTTP %s %s to %s", [
		lib.endpoint(input.sentinel.source),
		input.sentinel.http.method,
		substring(input.sentinel.http.path, 0, 200),
		lib.endpoint(input.sentinel.destination),
	])
}
