# METADATA
# title: Credentials in an HTTP query string
# description: >-
#   An HTTP request carried a credential in its URL: a parameter named like
#   one (token, access_token, api_key, password, client_secret, …) with a
#   real value, or a value shaped like an AWS access key ID, a GitHub,
#   GitLab or Slack token, a signed JWT, a Stripe live key or a PEM private
#   key, whatever the parameter's name. URLs end up in access logs, proxy
#   and tracing backends, browser history and Referer headers, so the
#   credential must be considered exposed. The summary names the parameters,
#   never their values. Find the client (the source workload) and move the
#   credential to a header or the body; rotate it. Presigned URLs
#   (X-Amz-Signature, …) are excepted in data.data.http; endpoints that
#   must take a token in the query (WebSockets) are allowlisted per
#   workload in secret_query_allowed_params_by_workload.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1552/
#   - ref: https://cwe.mitre.org/data/definitions/598.html
#   - ref: https://owasp.org/www-community/vulnerabilities/Information_exposure_through_query_strings_in_url
# custom:
#   id: HTTPSecretInQueryString
#   severity: warning
#   mitre: T1552
#   tags: [http, credential-access, secrets]
package sentinel.http.secret_in_query

import data.sentinel.http.request
import data.sentinel.lib

# The body leads with the conditions OPA's rule index checks (an HTTP
# request); requests without a query stop at the next line, ordinary
# queries at the candidate check; only candidates are parsed.
violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.l7.type == "REQUEST"
	input.l7.http
	input.sentinel.http.query != ""
	candidate
	count(findings) > 0
}

# candidate holds when the raw query may carry a credential: a parameter
# starting with one of the names (one prefix match of the lower-case
# "name=value" parts, in Go), or a value matching one of the credential
# patterns anywhere (they are URL-safe, and each starts with a literal the
# regex engine skips to).
candidate if strings.any_prefix_match(split(lower(input.sentinel.http.query), "&"), data.data.http.secret_query_params)

candidate if {
	some pattern in data.data.http.secret_query_value_patterns
	regex.match(pattern, input.sentinel.http.query)
}

# findings are the parameters that carry a credential: "name" for a
# credential's name with a real value, "name (pattern)" for a value shaped
# like a credential under another name. Names are cut to 64 characters;
# values never appear.
findings contains substring(name, 0, 64) if {
	some name, values in request.query_object
	lower(name) in data.data.http.secret_query_params
	some value in values
	count(value) >= data.data.http.secret_query_min_value_length
	not lower(value) in data.data.http.secret_query_placeholder_values
	not exempt(lower(name))
	not allowed_here(lower(name))
}

findings contains sprintf("%s (%s)", [substring(name, 0, 64), kind]) if {
	some name, values in request.query_object
	not lower(name) in data.data.http.secret_query_params
	not exempt(lower(name))
	some value in values
	count(value) >= 16
	some kind, pattern in data.data.http.secret_query_value_patterns
	regex.match(pattern, value)
	not allowed_here(lower(name))
}

# exempt holds for the parameters of presigned URLs.
exempt(name) if name in data.data.http.secret_query_exempt_params

exempt(name) if strings.any_prefix_match(name, data.data.http.secret_query_exempt_param_prefixes)

# allowed_here holds for the parameters the destination takes by design.
allowed_here(name) if name in object.get(
	data.data.http.secret_query_allowed_params_by_workload,
	lib.workload_key(input.sentinel.destination),
	[],
)

summary := sprintf("%s sent %s to %s with credentials in the query string: %s", [
	lib.endpoint(input.sentinel.source),
	request.line,
	lib.endpoint(input.sentinel.destination),
	concat(", ", sort(findings)),
])
