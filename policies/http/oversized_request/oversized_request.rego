# METADATA
# title: Oversized HTTP request
# description: >-
#   An HTTP request exceeded the bounds the engine reads a request within:
#   a URL over 8 KiB, a path or query over 2 KiB, more than 64 headers, or a
#   header over 4 KiB (see "Bounds" in policies/README.md). Real clients stay
#   far below them; requests this large are buffer-overflow and
#   denial-of-service probes, payloads padded to slip past inspection that
#   reads only a prefix, or data smuggled out in a URL. The engine judged the
#   request's prefix; check the response code and the client's other
#   requests, and whether the server or ingress should refuse such requests.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1190/
#   - ref: https://attack.mitre.org/techniques/T1499/
#   - ref: https://cwe.mitre.org/data/definitions/770.html
# custom:
#   id: HTTPOversizedRequest
#   severity: warning
#   mitre: T1190
#   tags: [http, initial-access, evasion]
package sentinel.http.oversized_request

import data.sentinel.http.request
import data.sentinel.lib

# Both conditions are ones OPA's rule index checks: requests within the
# bounds cost nothing here.
violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.l7.type == "REQUEST"
	input.sentinel.http.truncated == true
}

summary := sprintf("%s sent an oversized request, %s (cut to the engine's bounds), to %s", [
	lib.endpoint(input.sentinel.source),
	request.line,
	lib.endpoint(input.sentinel.destination),
])
