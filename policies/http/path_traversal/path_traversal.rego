# METADATA
# title: Path traversal or file inclusion attempt in an HTTP request
# description: >-
#   An HTTP request tried to climb out of the web root or read a system
#   file: a dot-dot segment left in the path (clients resolve those before
#   sending, so only tools send them), a chain of ../ in the query, an
#   overlong UTF-8 or %u encoding of a dot or slash, or the name of a file
#   such as etc/passwd, proc/self/environ or a service account token. The
#   summary says which. Find the response to the same request (same ports,
#   X-Request-Id): a 200 with a body where a 400 or 404 was due means the
#   file may have been served; check the service's file-serving code and
#   rotate any secret it could read (the pod's service account token first).
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1190/
#   - ref: https://attack.mitre.org/techniques/T1083/
#   - ref: https://owasp.org/www-community/attacks/Path_Traversal
#   - ref: https://cwe.mitre.org/data/definitions/22.html
# custom:
#   id: HTTPPathTraversalAttempt
#   severity: warning
#   mitre: T1190
#   tags: [http, initial-access, path-traversal, lfi]
package sentinel.http.path_traversal

import data.sentinel.http.request
import data.sentinel.lib

# Paths and queries with escapes or dot-dots. The body leads with the
# conditions OPA's rule index checks (an HTTP request); plain requests stop
# at sentinel.http.plain (OPA's index skips them).
violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.l7.type == "REQUEST"
	input.l7.http
	input.sentinel.http.plain == false
	traversal
}

# A path that asks for a system file: GET /etc/passwd. One suffix match
# against the shared normalised path.
violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.l7.type == "REQUEST"
	input.l7.http
	strings.any_suffix_match(request.path, data.data.http.traversal_files)
}

# traversal holds for the reasons in data.data.http, each tried only when
# the request has what it needs: a dot-dot, an escape, a path in the query.
traversal if {
	contains(request.text, "..")
	dot_dot_segments
}

traversal if {
	contains(request.text, "%")
	regex.match(data.data.http.traversal_encodings, request.text)
}

# Every listed file starts with a separator, so a query without one, raw or
# escaped, is not decoded and split; nor is one whose decoded forms
# (request.text, with its line breaks read as "&" as query_parts reads
# them) hold none of the files: the engine checks that in Go, so a signed
# URL, new on every request, costs no Rego.
traversal if {
	input.sentinel.http.query != ""
	regex.match(`(?i)[/\\]|%2f|%5c`, input.sentinel.http.query)
	target := replace(request.text, "\n", "&")
	some file in data.data.http.traversal_files
	contains(target, file)
	queried_file
}

dot_dot_segments if {
	some pattern in data.data.http.traversal_path_patterns
	regex.match(pattern, request.path_text)
}

dot_dot_segments if {
	some pattern in data.data.http.traversal_query_patterns
	regex.match(pattern, request.query_text)
}

# queried_file holds when a query parameter ends with one of the files
# (?file=/etc/passwd, ?page=php://filter/resource=/proc/self/environ),
# in any of its decoded forms: one suffix match of the parameters, in Go.
queried_file if strings.any_suffix_match(query_parts, data.data.http.traversal_files)

query_parts := split(replace(request.query_text, "\n", "&"), "&")

summary := sprintf("%s sent %s to %s with path traversal: %s", [
	lib.endpoint(input.sentinel.source),
	request.line,
	lib.endpoint(input.sentinel.destination),
	concat(", ", sort(findings)),
])

findings contains sprintf("%s in the path", [name]) if {
	some name, pattern in data.data.http.traversal_path_patterns
	regex.match(pattern, request.path_text)
}

findings contains sprintf("%s in the query", [name]) if {
	some name, pattern in data.data.http.traversal_query_patterns
	regex.match(pattern, request.query_text)
}

findings contains "traversal encoding" if regex.match(data.data.http.traversal_encodings, request.text)

findings contains file if {
	some file in data.data.http.traversal_files
	some part in query_parts
	endswith(part, file)
}

findings contains file if {
	some file in data.data.http.traversal_files
	endswith(request.path, file)
}
