# METADATA
# title: Cross-site scripting attempt in an HTTP request
# description: >-
#   The path or query of an HTTP request (decoded once and twice) holds
#   markup or script meant to run in a browser: a script-capable tag
#   (<script, <svg, <img), an inline event handler after a quote or tag
#   (onerror=, onload=), a javascript: URL, or DOM access such as
#   document.cookie. The summary names the patterns that matched. The
#   payload targets the service's users rather than the service: check
#   whether the service echoes the parameter back unescaped (the response's
#   Content-Type and size), and whether the same source sends other
#   injection attempts. Internet sources are mostly scanners.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1189/
#   - ref: https://owasp.org/www-community/attacks/xss/
#   - ref: https://cwe.mitre.org/data/definitions/79.html
# custom:
#   id: HTTPCrossSiteScriptingAttempt
#   severity: info
#   mitre: T1189
#   tags: [http, initial-access, injection, xss]
package sentinel.http.xss

import data.sentinel.http.request
import data.sentinel.lib

# The body leads with the conditions OPA's rule index checks (an HTTP
# request that is not sentinel.http.plain), so plain requests never enter;
# ordinary queries stop at the trigger check; the patterns run only on what is left.
violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.l7.type == "REQUEST"
	input.l7.http
	input.sentinel.http.plain == false
	triggered
	injected
}

# triggered holds when the request has a character or a word that one of
# the patterns needs: an angle bracket, a quote, a backslash, or one of
# data.data.http.xss_keywords. The keywords are URL schemes, so requests
# without a ":" are not searched for them.
triggered if regex.match("[<\"'`\\\\]", request.specials)

triggered if {
	contains(request.specials, ":")
	some keyword in data.data.http.xss_keywords
	contains(request.text, keyword)
}

# matched are the names of the patterns the request matches, found once for
# the decision and the summary: each pattern scans the request once.
matched := request.matching(data.data.http.xss_patterns)

injected if count(matched) > 0

summary := sprintf("%s sent %s to %s with cross-site scripting in the %s (%s)", [
	lib.endpoint(input.sentinel.source),
	request.line,
	lib.endpoint(input.sentinel.destination),
	request.places(data.data.http.xss_patterns),
	concat(", ", sort(matched)),
])
