# METADATA
# title: Log4Shell (JNDI lookup) attempt in an HTTP request
# description: >-
#   An HTTP request carried a Log4j lookup, ${jndi:…} or one of its
#   obfuscations (${${lower:j}ndi:, ${::-j}, percent-encoded %24%7Bjndi), or
#   an ${env:…} or ${sys:…} lookup that leaks the environment, in its URL or
#   in a header value (User-Agent, Referer, X-Api-Version, …). A vulnerable
#   Log4j 2 (CVE-2021-44228, CVE-2021-45046) that logs the value fetches and
#   runs code from the attacker's LDAP or RMI server. The summary says where
#   the lookup was. Check whether the destination runs Java with Log4j 2
#   before 2.17.1, and look for its outbound connections (LDAP 389/1389, RMI
#   1099, DNS lookups of the callback domain) right after this request: one
#   means the lookup ran. Block egress from the workload and patch.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1190/
#   - ref: https://nvd.nist.gov/vuln/detail/CVE-2021-44228
#   - ref: https://cwe.mitre.org/data/definitions/917.html
# custom:
#   id: HTTPLog4ShellAttempt
#   severity: critical
#   mitre: T1190
#   tags: [http, initial-access, execution, log4shell, cve-2021-44228]
package sentinel.http.log4shell

import data.sentinel.http.request
import data.sentinel.lib

# In the URL, decoded once and twice. The body leads with the conditions
# OPA's rule index checks (an HTTP request that is not
# sentinel.http.plain), then the "$" every lookup starts with, in the
# unusual characters the engine measured (sentinel.http.specials, what
# request.specials reads): the engine checks all three before any Rego
# runs, so a request without a "$" anywhere costs this policy nothing.
violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.l7.type == "REQUEST"
	input.l7.http
	input.sentinel.http.plain == false
	contains(input.sentinel.http.specials, "$")
	regex.match(data.data.http.log4shell_pattern, request.text)
}

# In a header value, as sent: Log4j reads headers without decoding them,
# and every lookup starts with a literal "${". Hubble's redaction
# placeholder (HUBBLE_REDACTED) has none. The engine measured whether any
# header value has a "$" at all (sentinel.http.headers_plain), so ordinary
# requests stop at that guard.
violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.l7.type == "REQUEST"
	input.l7.http
	input.sentinel.http.headers_plain == false
	some header in input.l7.http.headers
	contains(header.value, "${")
	regex.match(data.data.http.log4shell_pattern, lower(header.value))
}

summary := sprintf("%s sent %s to %s with a Log4j lookup in %s", [
	lib.endpoint(input.sentinel.source),
	request.line,
	lib.endpoint(input.sentinel.destination),
	concat(" and ", places),
])

# places are where the lookups were: "the URL" first, then "header <name>"
# for each header (names cut to 64 characters), sorted.
places := array.concat(url, sort(headers))

url := ["the URL"] if {
	contains(request.specials, "$")
	regex.match(data.data.http.log4shell_pattern, request.text)
} else := []

headers contains sprintf("header %s", [substring(header.key, 0, 64)]) if {
	some header in input.l7.http.headers
	contains(header.value, "${")
	regex.match(data.data.http.log4shell_pattern, lower(header.value))
}
