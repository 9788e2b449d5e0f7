package facts

import (
	"strings"
)

// Placeholders a path template puts where a segment is an identifier.
const (
	PlaceholderNum  = "{num}"
	PlaceholderUUID = "{uuid}"
	PlaceholderHex  = "{hex}"
	PlaceholderID   = "{id}"
)

// maxTemplateSegments bounds the work and the size of a template: an
// attacker controls the path, and a deeper path is one endpoint anyway.
const maxTemplateSegments = 16

// PathTemplate turns a decoded URL path into the endpoint it addresses:
// segments that look like identifiers (numbers, UUIDs, long hex, and
// mixed letters-and-digits tokens such as product SKUs or base64 ids)
// become placeholders, so /product/123 and /product/456 are one endpoint.
// Segments past the sixteenth fold into "…". Positions that look like
// words but take many values (user names, slugs) are learned per edge by
// the profiles, not guessed here.
func PathTemplate(path string) string {
	if path == "" || path == "/" {
		return "/"
	}
	var b strings.Builder
	b.Grow(len(path))
	n := 0
	for seg := range strings.SplitSeq(strings.TrimPrefix(path, "/"), "/") {
		if n == maxTemplateSegments {
			b.WriteString("/…")
			break
		}
		n++
		b.WriteByte('/')
		b.WriteString(TemplateSegment(seg))
	}
	return b.String()
}

// TemplateSegment is one path segment as PathTemplate writes it. A file
// extension is kept: /img/OLJCESPC7Z.jpg is /img/{id}.jpg.
func TemplateSegment(seg string) string {
	if i := strings.LastIndexByte(seg, '.'); i > 0 && len(seg)-i <= 6 && isAlnum(seg[i+1:]) {
		if base := templateSegment(seg[:i]); base != seg[:i] {
			return base + seg[i:]
		}
		return seg
	}
	return templateSegment(seg)
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}

func templateSegment(seg string) string {
	switch {
	case seg == "":
		return ""
	case isDigits(seg):
		return PlaceholderNum
	case isUUID(seg):
		return PlaceholderUUID
	case len(seg) >= 8 && isHex(seg) && hasDigit(seg):
		return PlaceholderHex
	case isToken(seg):
		return PlaceholderID
	}
	if len(seg) > 64 {
		return PlaceholderID
	}
	return seg
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return false
			}
		default:
			if !isHexByte(s[i]) {
				return false
			}
		}
	}
	return true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHexByte(s[i]) {
			return false
		}
	}
	return true
}

func isHexByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func hasDigit(s string) bool {
	return strings.ContainsAny(s, "0123456789")
}

// isToken reports an opaque identifier: at least 6 characters of letters,
// digits and "-_=", with digits and letters both present, and no run of
// lower-case letters as long as a word (so "v1", "api2" and "oauth2-callback"
// stay as they are, "OLJCESPC7Z" and "dXNlcjE0Mg" do not).
func isToken(s string) bool {
	if len(s) < 6 {
		return false
	}
	digits, letters, upper, run, longestLowerRun := 0, 0, 0, 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
			run = 0
		case c >= 'a' && c <= 'z':
			letters++
			run++
			longestLowerRun = max(longestLowerRun, run)
		case c >= 'A' && c <= 'Z':
			letters++
			upper++
			run = 0
		case c == '-' || c == '_' || c == '=':
			run = 0
		default:
			return false
		}
	}
	if digits == 0 || letters == 0 {
		return false
	}
	// Words with a version or a number in them ("checkout2", "oauth2-callback")
	// keep a long lower-case run; identifiers rarely do.
	return longestLowerRun < 5 || upper > 0 && digits >= 2
}
