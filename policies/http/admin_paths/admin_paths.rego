# METADATA
# title: Request to an administrative or debug HTTP endpoint
# description: >-
#   An HTTP request asked for a path that belongs to an administrative,
#   debugging or secret-bearing endpoint (Spring Boot Actuator, Go pprof,
#   Tomcat manager, Jolokia, dotenv or .git files, WordPress login, Apache
#   server-status, …). Scanners probe these first because they leak
#   configuration and credentials or allow code execution. Check where the request came from (a world source is an
#   Internet scan reaching the service), what the response code was, and
#   whether the endpoint should be exposed at all; routine paths such as
#   health checks are excepted in data.data.http.admin_path_exceptions, and
#   callers that use such endpoints by design (a profiler scraping
#   /debug/pprof) need an exception for their workload.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1190/
#   - ref: https://owasp.org/Top10/A05_2021-Security_Misconfiguration/
#   - ref: https://cwe.mitre.org/data/definitions/215.html
# custom:
#   id: HTTPAdminEndpointAccess
#   severity: warning
#   mitre: T1190
#   tags: [http, initial-access, reconnaissance]
package sentinel.http.admin_paths

import data.sentinel.http.request
import data.sentinel.lib

# The body leads with the conditions OPA's rule index checks before
# evaluating it (an HTTP request), so other flows cost nothing here.
# request.path is the path as compared: lower case, repeated slashes and
# "/./" collapsed, so /ACTUATOR, //actuator and /./actuator match /actuator;
# the prefixes in data.data.http are written in lower case. It is computed
# once per flow for all the HTTP policies.
violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.l7.type == "REQUEST"
	input.l7.http
	strings.any_prefix_match(request.path, data.data.http.admin_path_prefixes)
	not strings.any_prefix_match(request.path, data.data.http.admin_path_exceptions)
}

summary := sprintf("%s sent %s to %s", [
	lib.endpoint(input.sentinel.source),
	request.line,
	lib.endpoint(input.sentinel.destination),
])
