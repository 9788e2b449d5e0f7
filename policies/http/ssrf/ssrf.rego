# METADATA
# title: Server-side request forgery attempt in an HTTP request
# description: >-
#   A query parameter of an HTTP request holds a URL that points back
#   inside: a loopback address (also in decimal or hexadecimal), the cloud
#   metadata service (169.254.169.254, metadata.google.internal), the
#   Kubernetes API, or a scheme only SSRF and file-inclusion payloads use
#   (gopher://, dict://, file://). A service that fetches URLs it is given
#   (webhooks, image proxies, PDF renderers, URL previews) then reads
#   internal endpoints or the node's cloud credentials for the attacker.
#   The summary names the parameters, not their values. Check whether the
#   destination fetches URLs and look at its outbound connections right
#   after this request (EgressToCloudMetadata alerts from the same pod
#   confirm it); restrict what it may fetch. Parameters that carry loopback
#   redirect URIs by design (OAuth) are excepted in
#   data.data.http.ssrf_exempt_params.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1190/
#   - ref: https://attack.mitre.org/techniques/T1552/005/
#   - ref: https://owasp.org/Top10/A10_2021-Server-Side_Request_Forgery_%28SSRF%29/
#   - ref: https://cwe.mitre.org/data/definitions/918.html
# custom:
#   id: HTTPServerSideRequestForgery
#   severity: warning
#   mitre: T1190
#   tags: [http, initial-access, ssrf]
package sentinel.http.ssrf

import data.sentinel.http.request
import data.sentinel.lib

# The body leads with the conditions OPA's rule index checks (an HTTP
# request); requests without a query stop at the next line, ordinary
# queries at the trigger check.
violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.l7.type == "REQUEST"
	input.l7.http
	input.sentinel.http.query != ""
	triggered
	count(parameters) > 0
}

# triggered holds when the query has what a URL pointing inside needs: a
# ":" (a scheme, a port, an IPv6 address) or a metadata host from
# data.data.http.ssrf_keywords.
triggered if contains(request.specials, ":")

triggered if {
	some keyword in data.data.http.ssrf_keywords
	contains(request.text, keyword)
}

# parameters are the names (cut to 64 characters) of the parameters whose
# value, decoded twice and lower case, matches data.data.http.ssrf_pattern.
parameters contains substring(name, 0, 64) if {
	some name, values in request.query_object
	not lower(name) in data.data.http.ssrf_exempt_params
	some value in values
	regex.match(data.data.http.ssrf_pattern, lower(request.decode(value)))
}

summary := sprintf("%s sent %s to %s with an internal URL in parameter %s", [
	lib.endpoint(input.sentinel.source),
	request.line,
	lib.endpoint(input.sentinel.destination),
	concat(", ", sort(parameters)),
])
