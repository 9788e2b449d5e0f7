# METADATA
# title: SQL injection attempt in an HTTP request
# description: >-
#   The path or query of an HTTP request (decoded once and twice) holds SQL
#   injection syntax: a quote followed by a tautology or a comment, UNION
#   SELECT, stacked statements, time delays (sleep, benchmark, waitfor
#   delay), database catalogues (information_schema) or error-based
#   extraction functions. The summary names the patterns that matched. Find
#   the response to the same request (same ports, X-Request-Id) to see how
#   the service answered: a 500, or a slow or unusually large 200, deserves
#   a look at the service's queries and database logs. An Internet source
#   is usually a scanner; an internal one is a compromised or misused
#   client. A SQL console that takes queries in its URL needs an exception.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1190/
#   - ref: https://owasp.org/Top10/A03_2021-Injection/
#   - ref: https://cwe.mitre.org/data/definitions/89.html
# custom:
#   id: HTTPSQLInjectionAttempt
#   severity: warning
#   mitre: T1190
#   tags: [http, initial-access, injection, sqli]
package sentinel.http.sql_injection

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
# the patterns needs: quotes, comment and statement syntax, parentheses, or
# one of data.data.http.sqli_keywords. Keyword injections need whitespace
# (1 union select, 1 or 1=1), so queries without are not searched for them.
triggered if regex.match("['\"`;(*@]", request.specials)

triggered if {
	regex.match(`\s`, request.specials)
	some keyword in data.data.http.sqli_keywords
	contains(request.text, keyword)
}

# matched are the names of the patterns the request matches, found once for
# the decision and the summary: each pattern scans the request once.
matched := request.matching(data.data.http.sqli_patterns)

injected if count(matched) > 0

summary := sprintf("%s sent %s to %s with SQL injection in the %s (%s)", [
	lib.endpoint(input.sentinel.source),
	request.line,
	lib.endpoint(input.sentinel.destination),
	request.places(data.data.http.sqli_patterns),
	concat(", ", sort(matched)),
])
