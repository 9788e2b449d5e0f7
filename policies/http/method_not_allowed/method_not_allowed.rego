# METADATA
# title: HTTP method a service does not accept
# description: >-
#   A request used an HTTP method outside the list configured for its
#   destination service in data.data.http.allowed_methods (keyed
#   "namespace/workload"): a DELETE or PUT sent to a read-only catalogue, a
#   GET to a gRPC server. Attackers probe for write methods left enabled,
#   and a compromised client may use an API in ways its owner never does.
#   Services that are not listed are not checked. Check which workload sent
#   the request and what the service answered; if the method is legitimate,
#   add it to the service's list.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1190/
#   - ref: https://owasp.org/www-project-web-security-testing-guide/latest/4-Web_Application_Security_Testing/02-Configuration_and_Deployment_Management_Testing/06-Test_HTTP_Methods
#   - ref: https://cwe.mitre.org/data/definitions/650.html
# custom:
#   id: HTTPMethodNotAllowed
#   severity: warning
#   mitre: T1190
#   tags: [http, initial-access, policy]
package sentinel.http.method_not_allowed

import data.sentinel.http.request
import data.sentinel.lib

# The body leads with the conditions OPA's rule index checks (an HTTP
# request to a pod). With no service listed (the default) it stops at the
# count; otherwise one lookup of the destination settles services that are
# not listed.
violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.l7.type == "REQUEST"
	input.l7.http
	input.sentinel.destination.kind == "pod"
	count(data.data.http.allowed_methods) > 0
	allowed := data.data.http.allowed_methods[lib.workload_key(input.sentinel.destination)]
	not input.sentinel.http.method in allowed
}

summary := sprintf("%s sent %s to %s, which accepts only %s", [
	lib.endpoint(input.sentinel.source),
	request.line,
	lib.endpoint(input.sentinel.destination),
	concat(", ", data.data.http.allowed_methods[lib.workload_key(input.sentinel.destination)]),
])
