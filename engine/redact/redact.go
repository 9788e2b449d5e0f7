// Package redact removes secrets a flow carries in flight (URL credentials, query values, sensitive headers) from text before it is logged or alerted.
package redact

import (
	"net/url"
	"regexp"
	"slices"
	"strings"

	flowpb "github.com/cilium/cilium/api/v1/flow"
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
	authScheme = regexp.MustCompile(`(?i)\b(bearer|basic|token|digest)\s+[A-Za-z0-9._~+/=-]{6,}`)
	// secretParam is a secret-named parameter's value: "token=…".
	secretParam = regexp.MustCompile(`(?i)([?&;]|\b)((?:access_|refresh_|id_)?token|password|passwd|pwd|secret|api[_-]?key|apikey|key|auth|session(?:id)?|sig|signature|x-amz-signature|x-amz-credential|code)=[^&\s"']+`)
	// urlUserinfo is the credentials part of a URL: "://user:pass@".
	urlUserinfo = regexp.MustCompile(`://[^/\s:@]+:[^/\s@]+@`)
)

// Secrets returns the secret strings the flow carries: URL userinfo, every
// query parameter value, sensitive header values. They are cut out of text
// wherever they appear, whatever the text's format.
func Secrets(f *flowpb.Flow) []string {
	return HTTPSecrets(f.GetL7().GetHttp())
}

// HTTPSecrets returns the secret strings of an HTTP record, as Secrets does
// for a flow; nil for a nil record.
func HTTPSecrets(h *flowpb.HTTP) []string {
	if h == nil {
		return nil
	}
	var out []string
	if u, err := url.Parse(h.GetUrl()); err == nil {
		if u.User != nil {
			out = append(out, u.User.String())
			if p, ok := u.User.Password(); ok {
				out = append(out, p)
			}
		}
		for _, vs := range u.Query() {
			for _, v := range vs {
				out = appendSecret(out, v)
			}
		}
		if u.RawQuery != "" {
			for _, kv := range strings.Split(u.RawQuery, "&") {
				if _, v, ok := strings.Cut(kv, "="); ok {
					out = appendSecret(out, v)
				}
			}
		}
	}
	for _, hd := range h.GetHeaders() {
		if slices.Contains(SensitiveHeaders, strings.ToLower(hd.GetKey())) {
			out = appendSecret(out, hd.GetValue())
			// "Bearer abc": the token alone may be quoted elsewhere.
			if _, tok, ok := strings.Cut(hd.GetValue(), " "); ok {
				out = appendSecret(out, tok)
			}
			// "a=1; b=2": each cookie value on its own.
			for _, kv := range strings.Split(hd.GetValue(), ";") {
				if _, v, ok := strings.Cut(kv, "="); ok {
					out = appendSecret(out, strings.TrimSpace(v))
				}
			}
		}
	}
	// Longest first, so a secret containing another is cut whole.
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
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
func String(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, Mask)
		}
	}
	s = authScheme.ReplaceAllString(s, "${1} "+Mask)
	s = secretParam.ReplaceAllStringFunc(s, func(m string) string {
		k, _, _ := strings.Cut(m, "=")
		return k + "=" + Mask
	})
	s = urlUserinfo.ReplaceAllString(s, "://"+Mask+"@")
	return s
}

// URL returns u with userinfo and every query value masked, keeping the
// path and parameter names that investigators need.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return String(raw, nil)
	}
	if u.User != nil {
		u.User = url.User(Mask)
	}
	if u.RawQuery != "" {
		parts := strings.Split(u.RawQuery, "&")
		for i, kv := range parts {
			if k, _, ok := strings.Cut(kv, "="); ok {
				parts[i] = k + "=" + Mask
			}
		}
		u.RawQuery = strings.Join(parts, "&")
	}
	return u.String()
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
		if slices.Contains(SensitiveHeaders, strings.ToLower(hd.GetKey())) {
			hd.Value = Mask
		}
	}
	if f.Summary != "" {
		f.Summary = String(f.Summary, secrets)
	}
}
