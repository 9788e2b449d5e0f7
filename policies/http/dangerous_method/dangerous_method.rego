# METADATA
# title: HTTP request with a dangerous method
# description: >-
#   A service received an HTTP request with a method that web services
#   should refuse: TRACE or TRACK (the server echoes the request back,
#   including cookies and authorisation headers: cross-site tracing),
#   CONNECT (the server is asked to open a tunnel, i.e. to act as an open
#   proxy into the cluster) or DEBUG (ASP.NET remote debugging). Scanners
#   send them to fingerprint servers and find misconfigurations. Check the
#   response to the same request (same ports, X-Request-Id): anything but
#   405 or 501 means the method is enabled and should be turned off in the
#   server or the ingress. A forward proxy that takes CONNECT by design is
#   allowlisted in data.data.http.dangerous_methods_allowed_by_workload.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1190/
#   - ref: https://attack.mitre.org/techniques/T1090/
#   - ref: https://owasp.org/www-project-web-security-testing-guide/latest/4-Web_Application_Security_Testing/02-Configuration_and_Deployment_Management_Testing/06-Test_HTTP_Methods
#   - ref: https://cwe.mitre.org/data/definitions/749.html
# custom:
#   id: HTTPDangerousMethod
#   severity: warning
#   mitre: T1190
#   tags: [http, initial-access, reconnaissance, misconfiguration]
package sentinel.http.dangerous_method

import data.sentinel.http.request
import data.sentinel.lib

# Every condition of the body is one OPA's rule index checks before
# evaluating it: requests with any other method cost nothing here. The
# methods are therefore a literal set, not a list in data; what is tunable
# is which workloads may take them.
violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.l7.type == "REQUEST"
	input.sentinel.http.method in {"TRACE", "TRACK", "CONNECT", "DEBUG"}
	input.l7.http
	not allowed
}

# allowed holds when the destination workload takes the method by design.
allowed if input.sentinel.http.method in object.get(
	data.data.http.dangerous_methods_allowed_by_workload,
	lib.workload_key(input.sentinel.destination),
	[],
)

summary := sprintf("%s sent %s to %s", [
	lib.endpoint(input.sentinel.source),
	request.line,
	lib.endpoint(input.sentinel.destination),
])
