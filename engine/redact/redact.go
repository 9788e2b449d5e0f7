// Package redact removes secrets a flow carries in flight (URL credentials, query values, sensitive headers) from text before it is logged or alerted.
package redact

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	flowpb "github.com/cilium/cilium/api/v1/flow"

	"github.com/hubble-sentinel/hubble-sentinel/engine/httpurl"
)

// Mask replaces every secret.
const Mask = "[REDACTED]"

// SensitiveHeaders are HTTP headers whose values are credentials.
var SensitiveHeaders = []string{
	"authorization", "proxy-authorization", "cookie", "set-cookie",
	"x-api-key", "x-auth-token", "x-amz-security-token", "x-csrf-token",
	"x-xsrf-token", "x-vault-token", "x-goog-iam-authorization-token",
}

// These catch secrets that a policy or a flow field may carry in free text
// even where the flow did not mark them, such as a token pasted into a
// summary.
var (
	// authScheme is a credential after its scheme: "Bearer eyJ…".
	authScheme = regexp.MustCompile(`(?i)\b(` + strings.Join(schemes, "|") + `)\s+[A-Za-z0-9._~+/=-]{6,}`)
	// secretParam is a secret-named parameter's value: "token=…".
	secretParam = regexp.MustCompile(`(?i)([?&;]|\b)((?:access_|refresh_|id_)?token|password|passwd|pwd|secret|api[_-]?key|apikey|key|auth|session(?:id)?|sig|signature|x-amz-signature|x-amz-credential|code|j?sessionid|phpsessid|sid)=[^&;\s"']+`)
	// urlUserinfo is the credentials part of a URL: "://user:pass@".
	urlUserinfo = regexp.MustCompile(`://[^/\s:@]+:[^/\s@]+@`)
)

// schemes are the authorization schemes authScheme masks a credential
// after.
var schemes = []string{"bearer", "basic", "token", "digest"}

// extension is what Extend added to the defaults.
type extension struct {
	headers []string
	// param matches "name=value" for the added parameter names.
	param *regexp.Regexp
}

// extra holds the process's additions, set once at start by Extend. The
// redactor is one for the process (alerts, logs, the Alertmanager sender
// all cut the same secrets), so its lists are too.
var extra atomic.Pointer[extension]

// Extend adds header names (compared without case) to SensitiveHeaders and
// parameter names whose "name=value" is masked in free text, as "token="
// is, for the whole process (--redact.headers, --redact.query-keys). Each
// call replaces what an earlier call added.
func Extend(headers, params []string) error {
	ext := &extension{}
	for _, h := range headers {
		if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
			ext.headers = append(ext.headers, h)
		}
	}
	var names []string
	for _, p := range params {
		if p = strings.TrimSpace(p); p != "" {
			if strings.ContainsAny(p, "=&;?# ") {
				return fmt.Errorf("redact: parameter name %q: must not contain = & ; ? # or a space", p)
			}
			names = append(names, regexp.QuoteMeta(p))
		}
	}
	if len(names) > 0 {
		ext.param = regexp.MustCompile(`(?i)([?&;]|\b)(` + strings.Join(names, "|") + `)=[^&;\s"']+`)
	}
	extra.Store(ext)
	return nil
}

// IsSensitiveHeader reports whether a header's value is a credential: one
// of SensitiveHeaders or of those Extend added.
func IsSensitiveHeader(key string) bool {
	key = strings.ToLower(key)
	if slices.Contains(SensitiveHeaders, key) {
		return true
	}
	ext := extra.Load()
	return ext != nil && slices.Contains(ext.headers, key)
}

// Secrets returns the secret strings the flow carries: URL userinfo, every
// query parameter and path parameter value, sensitive header values. They
// are cut out of text wherever they appear, whatever the text's format.
func Secrets(f *flowpb.Flow) []string {
	return HTTPSecrets(f.GetL7().GetHttp())
}

// HTTPSecrets returns the secret strings of an HTTP record, as Secrets does
// for a flow; nil for a nil record. The URL is read with httpurl, which never
// fails: a URL Go refuses still has its secrets found.
func HTTPSecrets(h *flowpb.HTTP) []string {
	if h == nil {
		return nil
	}
	var out []string
	u := httpurl.Parse(h.GetUrl())
	if u.Userinfo != "" {
		out = appendSecret(out, u.Userinfo)
		out = appendSecret(out, u.Password)
		if p, err := url.PathUnescape(u.Password); err == nil && p != u.Password {
			out = appendSecret(out, p)
		}
	}
	for _, p := range u.Params {
		out = appendValue(out, p.Value)
	}
	for kv := range strings.SplitSeq(u.Query, "&") {
		if _, v, ok := strings.Cut(kv, "="); ok {
			out = appendValue(out, v)
		}
	}
	for _, hd := range h.GetHeaders() {
		if IsSensitiveHeader(hd.GetKey()) {
			out = appendSecret(out, hd.GetValue())
			// "Bearer abc": the token alone may be quoted elsewhere.
			if _, tok, ok := strings.Cut(hd.GetValue(), " "); ok {
				out = appendSecret(out, tok)
			}
			// "a=1; b=2": each cookie value on its own.
			for kv := range strings.SplitSeq(hd.GetValue(), ";") {
				if _, v, ok := strings.Cut(kv, "="); ok {
					out = appendSecret(out, strings.TrimSpace(v))
				}
			}
		}
	}
	// Longest first, so a secret containing another is cut whole.
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return slices.Compact(out)
}

// appendValue appends a parameter value as sent and, when that differs,
// decoded ("+" as a space): text may quote either.
func appendValue(out []string, v string) []string {
	out = appendSecret(out, v)
	if d, err := url.QueryUnescape(v); err == nil && d != v {
		out = appendSecret(out, d)
	}
	return out
}

// appendSecret keeps values long enough to be secrets; masking "1" or
// "true" everywhere would only garble the text.
func appendSecret(out []string, v string) []string {
	if len(v) < 4 {
		return out
	}
	return append(out, v)
}

// String masks the given secrets and anything secret-shaped in s.
//
// The regexps that find secret-shaped text have no literal prefix for Go
// to search for, and cost about a microsecond for every ten bytes of text
// that holds no match, such as a policy's description; each runs only
// when s holds what every one of its matches must (see mayHoldScheme), so
// the result is the same and most alerts cost none of them.
func String(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, Mask)
		}
	}
	if mayHoldScheme(s) {
		s = authScheme.ReplaceAllString(s, "${1} "+Mask)
	}
	if strings.IndexByte(s, '=') >= 0 { // "name=value"
		s = secretParam.ReplaceAllStringFunc(s, maskParam)
		if ext := extra.Load(); ext != nil && ext.param != nil {
			s = ext.param.ReplaceAllStringFunc(s, maskParam)
		}
	}
	s = urlUserinfo.ReplaceAllString(s, "://"+Mask+"@") // "://" is its literal prefix
	return s
}

// maskParam masks the value of a "name=value" match.
func maskParam(m string) string {
	k, _, _ := strings.Cut(m, "=")
	return k + "=" + Mask
}

// mayHoldScheme reports whether s may hold a match of authScheme: one of
// the schemes, in any case. Case folding reaches beyond ASCII ("ſ" is an
// s, "K", the Kelvin sign, a k), so text with a byte outside ASCII is left
// to the regexp.
func mayHoldScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return true
		}
	}
	for _, w := range schemes {
		for i := 0; i+len(w) <= len(s); i++ {
			if s[i]|0x20 == w[0] && strings.EqualFold(s[i:i+len(w)], w) {
				return true
			}
		}
	}
	return false
}

// URL returns raw with userinfo and every query and path parameter value
// masked, keeping the scheme, host, path and parameter names that
// investigators need. It reads the URL with httpurl, so a URL Go refuses is
// masked as well.
func URL(raw string) string {
	u := httpurl.Parse(raw)
	var b strings.Builder
	b.Grow(len(raw))
	if u.Scheme != "" {
		b.WriteString(u.Scheme + ":")
	}
	if u.Scheme != "" || strings.HasPrefix(raw, "//") {
		b.WriteString("//")
		if u.Userinfo != "" {
			b.WriteString(Mask + "@")
		}
		b.WriteString(u.Host)
	}
	b.WriteString(maskParams(u.Path))
	if u.HasQuery {
		b.WriteString("?" + maskValues(u.Query, "&"))
	}
	if u.Fragment != "" {
		b.WriteString("#" + Mask)
	}
	return b.String()
}

// maskParams masks the value of every path parameter of path.
func maskParams(path string) string {
	if !strings.Contains(path, ";") {
		return path
	}
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		if name, ps, ok := strings.Cut(seg, ";"); ok {
			segs[i] = name + ";" + maskValues(ps, ";")
		}
	}
	return strings.Join(segs, "/")
}

// maskValues masks the value of every name=value in s, split on sep.
func maskValues(s, sep string) string {
	parts := strings.Split(s, sep)
	for i, kv := range parts {
		if k, _, ok := strings.Cut(kv, "="); ok {
			parts[i] = k + "=" + Mask
		}
	}
	return strings.Join(parts, sep)
}

// Flow masks the secrets of an HTTP flow in place: URL credentials and
// query values, sensitive header values. Use it on a copy before printing a
// flow anywhere.
func Flow(f *flowpb.Flow) {
	h := f.GetL7().GetHttp()
	if h == nil {
		return
	}
	secrets := Secrets(f)
	h.Url = URL(h.GetUrl())
	for _, hd := range h.GetHeaders() {
		if IsSensitiveHeader(hd.GetKey()) {
			hd.Value = Mask
		}
	}
	if f.Summary != "" {
		f.Summary = String(f.Summary, secrets)
	}
}
