# METADATA
# title: What the HTTP policies read from a request
# description: >-
#   Normalises the parts of an HTTP request that the policies under
#   policies/http inspect, once per flow: the lower-case path, the request
#   target decoded once and twice, the query parameters. Rules here are
#   evaluated lazily and cached for the flow, so every HTTP policy that asks
#   for request.text shares one decoding. Not a policy: it has no violation
#   rule.
package sentinel.http.request

# path is the decoded URL path as the path-prefix policies compare it: lower
# case, with repeated slashes and "/./" segments collapsed, so /ACTUATOR,
# //actuator and /./actuator all read /actuator. The engine measures it
# (input.sentinel.http.normalized_path); a document without it, as a test
# may write, has it computed here. The regex runs only on the rare paths
# that need it.
path := p if {
	p := input.sentinel.http.normalized_path
	is_string(p)
} else := regex.replace(lower(input.sentinel.http.path), `/(?:\.?/)+`, "/") if {
	contains(input.sentinel.http.path, "//")
} else := regex.replace(lower(input.sentinel.http.path), `/(?:\.?/)+`, "/") if {
	contains(input.sentinel.http.path, "/./")
} else := lower(input.sentinel.http.path)

# path_text is the path as sent, lower case; for a path with escapes, also
# decoded once and decoded twice (double encoding such as %252e), one form
# per line. Decoding reads "+" as a space, in a path too: some servers do.
path_text := lower(input.sentinel.http.raw_path) if {
	not contains(input.sentinel.http.raw_path, "%")
} else := decoded(lower(input.sentinel.http.raw_path))

# query_text is the raw query string in the same forms as path_text; "+"
# decodes to a space.
query_text := lower(input.sentinel.http.query) if {
	not contains(input.sentinel.http.query, "%")
	not contains(input.sentinel.http.query, "+")
} else := decoded(lower(input.sentinel.http.query))

# text is path_text and query_text, one form per line: what the injection
# policies match their patterns against. The engine measures it
# (input.sentinel.http.text, the same forms decoded in Go); a document
# without it, as a test may write, has it computed here. Most targets have
# nothing to decode, and take the first computed branch alone.
text := t if {
	t := input.sentinel.http.text
	is_string(t)
} else := lower(concat("\n", [input.sentinel.http.raw_path, input.sentinel.http.query])) if {
	input.sentinel.http.query != ""
	not contains(input.sentinel.http.raw_path, "%")
	not contains(input.sentinel.http.query, "%")
	not contains(input.sentinel.http.query, "+")
} else := concat("\n", [path_text, query_text]) if {
	input.sentinel.http.query != ""
} else := path_text

# decoded are s, s decoded and s decoded twice, lower case, one per line (the
# last only when the first decoding left an escape). Decoded letters are
# lower-cased again: %55NION reads union.
decoded(s) := concat("\n", [s, once, lower(decode(once))]) if {
	once := lower(decode(s))
	contains(once, "%")
} else := concat("\n", [s, lower(decode(s))])

# decode percent-decodes s, "+" as a space. A "%" that starts no valid
# escape ("100%", "%zz", "%%") makes urlquery.decode fail; every "%" is
# then escaped as %25 and those starting a valid escape restored, so a
# payload cannot dodge decoding by adding one, and decoding never fails.
decode(s) := d if {
	d := urlquery.decode(s)
} else := urlquery.decode(regex.replace(replace(s, "%", "%25"), `%25([0-9A-Fa-f]{2})`, "%${1}"))

# params are the query parameters as [name, value] pairs, both decoded once
# (case kept): a parameter without "=" has the value "". Policies read
# query_object, which is built from params only when Go's decoder refuses
# the query.
params contains [name, value] if {
	some part in split(input.sentinel.http.query, "&")
	part != ""
	kv := split(part, "=")
	name := decode(kv[0])
	value := decode(concat("=", array.slice(kv, 1, count(kv))))
}

# specials are the characters of text outside the plain set of ordinary
# queries (letters, digits, "/._~=&%+,_-" and the line breaks between the
# forms), in order: "" for page=2&sort=name, " " for q=red+shoes, "'" for
# q=levi%27s. Each injection policy first looks for its trigger characters
# in this short string instead of scanning the whole target. The engine
# measures it too (input.sentinel.http.specials).
specials := s if {
	s := input.sentinel.http.specials
	is_string(s)
} else := regex.replace(text, `[a-z0-9/._~=&%+,\n_-]+`, "")

# query_object is the query as urlquery.decode_object reads it: each
# parameter name (decoded, case kept) to the list of its decoded values. A
# query with a stray "%" is rebuilt from params instead.
query_object := o if {
	o := urlquery.decode_object(input.sentinel.http.query)
} else := {name: values |
	some [name, _] in params
	values := [value | some [n, value] in params; n == name]
}

# matching are the names of the patterns (an object of name to regex) that
# match text: what a policy lists in its summary once it has decided to
# alert.
matching(patterns) := {name |
	some name, pattern in patterns
	regex.match(pattern, text)
}

# places says where the patterns that match text match (only those are
# tried again on each part): "path", "query", "path and query", or
# "request" when a match needs both (it spans the line between them).
places(patterns) := concat(" and ", sort(found)) if {
	found := {place |
		some place, s in {"path": path_text, "query": query_text}
		some name in matching(patterns)
		regex.match(patterns[name], s)
	}
	count(found) > 0
} else := "request"

# line describes the request for a summary: its method and decoded path,
# cut to 32 and 200 characters, never the query (it may carry secrets).
# Line breaks and tabs an attacker decoded into the path (%0a) are written
# as escapes, so the summary stays one line.
line := sprintf("HTTP %s %s", [
	substring(input.sentinel.http.method, 0, 32),
	substring(strings.replace_n({"\n": "\\n", "\r": "\\r", "\t": "\\t"}, input.sentinel.http.path), 0, 200),
])
