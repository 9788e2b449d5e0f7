package facts

import (
	"net/url"
	"regexp"
	"strings"
)

// RequestText is the request target as the injection policies match it:
// the raw path and the query, lower case, one per line, each also decoded
// once and (when the first decoding left an escape) twice, one form per
// line. A target without escapes or "+" is read as sent. It is exactly what
// the policy library's request.text computes in Rego from
// input.sentinel.http.raw_path and query (policies/http/request), which
// reads it from the input instead when the engine measured it: decoding in
// Go costs a fraction of decoding in Rego, and each injection policy needs
// it. A test holds the two equal on real captures and fuzzed targets.
func RequestText(rawPath, query string) string {
	switch {
	case query != "" && !strings.Contains(rawPath, "%") && !strings.ContainsAny(query, "%+"):
		return strings.ToLower(rawPath + "\n" + query)
	case query != "":
		return pathText(rawPath) + "\n" + queryText(query)
	}
	return pathText(rawPath)
}

// pathText is request.path_text: the path as sent, lower case, and decoded
// when it has an escape.
func pathText(rawPath string) string {
	if !strings.Contains(rawPath, "%") {
		return strings.ToLower(rawPath)
	}
	return decodedForms(strings.ToLower(rawPath))
}

// queryText is request.query_text: the query as sent, lower case, and
// decoded when it has an escape or a "+".
func queryText(query string) string {
	if !strings.ContainsAny(query, "%+") {
		return strings.ToLower(query)
	}
	return decodedForms(strings.ToLower(query))
}

// decodedForms is request.decoded: s, s decoded, and s decoded twice when
// the first decoding left an escape, each decoding lower-cased, one per
// line.
func decodedForms(s string) string {
	once := strings.ToLower(decodeTarget(s))
	if strings.Contains(once, "%") {
		return s + "\n" + once + "\n" + strings.ToLower(decodeTarget(once))
	}
	return s + "\n" + once
}

// escapedPercent is a "%" as decodeTarget escapes every one before it
// restores those that start a valid escape.
var escapedPercent = regexp.MustCompile(`%25([0-9A-Fa-f]{2})`)

// decodeTarget is request.decode: s percent-decoded, "+" as a space. A "%"
// that starts no valid escape ("100%", "%zz", "%%") is kept as it is:
// every "%" is escaped as %25 and those followed by two hex digits are
// restored, so decoding never fails (urlquery.decode would refuse the
// whole string, and a payload could add a stray "%" to go undecoded).
func decodeTarget(s string) string {
	if d, err := url.QueryUnescape(s); err == nil {
		return d
	}
	fixed := escapedPercent.ReplaceAllString(strings.ReplaceAll(s, "%", "%25"), "%${1}")
	d, err := url.QueryUnescape(fixed)
	if err != nil {
		return fixed // unreachable: every "%" of fixed starts a valid escape
	}
	return d
}

// Specials are the characters of a RequestText outside the plain set of
// ordinary targets (letters, digits, "/._~=&%+,_-" and the line breaks
// between the forms), in order: "" for page=2&sort=name, " " for
// q=red+shoes, "'" for q=levi%27s. It is the policy library's
// request.specials: an injection policy looks for its trigger characters in
// this short string instead of scanning the whole target.
func Specials(text string) string {
	i := 0
	for i < len(text) && plainTextByte(text[i]) {
		i++
	}
	if i == len(text) {
		return ""
	}
	var b strings.Builder
	for ; i < len(text); i++ {
		if !plainTextByte(text[i]) {
			b.WriteByte(text[i])
		}
	}
	return b.String()
}

// plainTextByte reports whether c is in the plain set of Specials. The set
// is ASCII, and no byte of a multi-byte UTF-8 sequence is, so removing
// bytes removes the same characters as the library's regex.replace.
func plainTextByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("/._~=&%+,\n_-", c) >= 0
}

// NormalPath is a decoded URL path as the path policies compare it: lower
// case, with repeated slashes and "/./" segments collapsed, so /ACTUATOR,
// //actuator and /./actuator all read /actuator. It is exactly the policy
// library's request.path, which reads it from the input when the engine
// measured it (input.sentinel.http.normalized_path): the engine then
// checks a policy's test of it (strings.any_suffix_match(request.path,
// …)) in Go, before any Rego runs.
func NormalPath(path string) string {
	lower := strings.ToLower(path)
	if strings.Contains(path, "//") || strings.Contains(path, "/./") {
		return repeatedSlashes.ReplaceAllString(lower, "/")
	}
	return lower
}

// repeatedSlashes are what NormalPath collapses, as request.path does.
var repeatedSlashes = regexp.MustCompile(`/(?:\.?/)+`)
