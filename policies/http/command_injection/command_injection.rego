# METADATA
# title: OS command injection attempt in an HTTP request
# description: >-
#   The path or query of an HTTP request (decoded once and twice) holds
#   shell syntax that runs a command: a separator (; | && `) or $( )
#   followed by a command such as id, cat, wget or curl, an encoded line
#   break before a command, ${IFS} tricks, a reverse-shell primitive
#   (/dev/tcp/, nc -e, bash -i) or a shell by path (/bin/sh, cmd.exe /c).
#   The summary names the patterns that matched. Find the response to the
#   same request (same ports, X-Request-Id) and look at the destination
#   pod right away: new processes, outbound connections to the Internet
#   (downloads, reverse shells) and DNS lookups right after this request
#   mean the payload ran. An Internet source is usually a scanner.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1190/
#   - ref: https://attack.mitre.org/techniques/T1059/004/
#   - ref: https://owasp.org/www-community/attacks/Command_Injection
#   - ref: https://cwe.mitre.org/data/definitions/78.html
# custom:
#   id: HTTPCommandInjectionAttempt
#   severity: warning
#   mitre: T1190
#   tags: [http, initial-access, execution, injection]
package sentinel.http.command_injection

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
# the patterns needs: a shell separator or substitution, or one of
# data.data.http.cmdi_keywords.
triggered if regex.match("[;|`$]", request.specials)

triggered if {
	some keyword in data.data.http.cmdi_keywords
	contains(request.text, keyword)
}

# matched are the names of the patterns the request matches, found once for
# the decision and the summary: each pattern scans the request once.
matched := request.matching(data.data.http.cmdi_patterns)

injected if count(matched) > 0

summary := sprintf("%s sent %s to %s with command injection in the %s (%s)", [
	lib.endpoint(input.sentinel.source),
	request.line,
	lib.endpoint(input.sentinel.destination),
	request.places(data.data.http.cmdi_patterns),
	concat(", ", sort(matched)),
])
