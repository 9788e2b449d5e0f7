package redact

import (
	"strings"
	"testing"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/stretchr/testify/require"
)

func httpFlow(url string, headers ...string) *flowpb.Flow {
	h := &flowpb.HTTP{Method: "GET", Url: url}
	for i := 0; i+1 < len(headers); i += 2 {
		h.Headers = append(h.Headers, &flowpb.HTTPHeader{Key: headers[i], Value: headers[i+1]})
	}
	return &flowpb.Flow{L7: &flowpb.Layer7{Record: &flowpb.Layer7_Http{Http: h}}, Summary: "GET " + url}
}

func TestString(t *testing.T) {
	f := httpFlow("http://admin:hunter22@api.internal/v1/users?token=s3cr3tvalue&page=2",
		"Authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", "Cookie", "session=abcdef123456", "Accept", "*/*")
	secrets := Secrets(f)
	for _, tc := range []struct{ in, want string }{
		{"request to http://admin:hunter22@api.internal/v1", "request to http://[REDACTED]@api.internal/v1"},
		{"query token=s3cr3tvalue seen", "query token=[REDACTED] seen"},
		{"header eyJhbGciOiJIUzI1NiJ9.payload.sig leaked", "header [REDACTED] leaked"},
		{"cookie abcdef123456 leaked", "cookie [REDACTED] leaked"},
		{"unrelated Bearer zzzzzzzzzzzz token", "unrelated Bearer [REDACTED] token"},
		{"free text password=letmein!", "free text password=[REDACTED]"},
		{"path /api/v1/users page 2", "path /api/v1/users page 2"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			require.Equal(t, tc.want, String(tc.in, secrets))
		})
	}
}

// byRegexps is String without its prefilters: every regexp run on the
// whole text, the reference String must equal.
func byRegexps(s string) string {
	s = authScheme.ReplaceAllString(s, "${1} "+Mask)
	s = secretParam.ReplaceAllStringFunc(s, maskParam)
	if ext := extra.Load(); ext != nil && ext.param != nil {
		s = ext.param.ReplaceAllStringFunc(s, maskParam)
	}
	return urlUserinfo.ReplaceAllString(s, "://"+Mask+"@")
}

// TestStringPrefiltersChangeNothing: the checks that spare String its
// regexps give the regexps' result, case folding beyond ASCII included.
func TestStringPrefiltersChangeNothing(t *testing.T) {
	for _, in := range []string{
		"",
		"An HTTP request exceeded the bounds the engine reads a request within: a URL over 8 KiB.",
		"BEARER abcdefgh", "Bearer\tabcdefgh", "x digest\nabcdefgh", "token abc",
		"ba\u017fic abcdefgh",          // ſ folds to s
		"to\u212aen abcdefgh",          // the Kelvin sign folds to k
		"\u017fid=abcd \u017fession=x", // so does a parameter's name
		"page=2", "a=b&token=c;sid=d", "?PASSWORD=hunter2", "x-amz-signature=abc",
		"http://u:p@h/", "tokentokentoken abcdefg",
	} {
		t.Run(in, func(t *testing.T) {
			require.Equal(t, byRegexps(in), String(in, nil))
		})
	}
}

func TestURL(t *testing.T) {
	require.Equal(t, "http://api/x?token=[REDACTED]&page=[REDACTED]", URL("http://api/x?token=abc&page=2"))
	require.Equal(t, "http://api/x", URL("http://api/x"))
	require.NotContains(t, URL("http://u:p4ssw0rd@api/x"), "p4ssw0rd")
}

func TestFlow(t *testing.T) {
	f := httpFlow("http://api/x?apikey=k3yk3yk3y", "Authorization", "Basic dXNlcjpwYXNz", "Accept", "text/html")
	Flow(f)
	h := f.GetL7().GetHttp()
	require.Equal(t, "http://api/x?apikey=[REDACTED]", h.Url)
	require.Equal(t, Mask, h.Headers[0].Value)
	require.Equal(t, "text/html", h.Headers[1].Value)
	require.NotContains(t, f.Summary, "k3yk3yk3y")
}

// TestLenientURLs: secrets in URLs Go's parser refuses, and in path
// parameters, are found and masked.
func TestLenientURLs(t *testing.T) {
	for _, tc := range []struct{ url, secret string }{
		{"http://admin:S3CRET/pw@host/x", "S3CRET/pw"},
		{"http://admin:pa ss word@host/x", "pa ss word"},
		{"http://host:80a/x?token=T0KEN1", "T0KEN1"},
		{"http://[fd00::1/x;jsessionid=SESS10N", "SESS10N"},
		{"/x;token=PATHT0KEN/y", "PATHT0KEN"},
		{"http://h/x?q=%zz&k=V4LUE", "V4LUE"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			f := httpFlow(tc.url)
			require.Contains(t, Secrets(f), tc.secret)
			require.NotContains(t, URL(tc.url), tc.secret)
			require.NotContains(t, String("GET "+tc.url, Secrets(f)), tc.secret)
			Flow(f)
			require.NotContains(t, f.GetL7().GetHttp().GetUrl()+f.GetSummary(), tc.secret)
		})
	}
	require.Equal(t, "GET /x;jsessionid=[REDACTED]", String("GET /x;jsessionid=abcdef", nil))
}

func TestExtend(t *testing.T) {
	t.Cleanup(func() { require.NoError(t, Extend(nil, nil)) })
	require.False(t, IsSensitiveHeader("X-Tenant-Key"))
	require.NoError(t, Extend([]string{"X-Tenant-Key"}, []string{"tenant_secret"}))
	require.True(t, IsSensitiveHeader("x-tenant-key"))
	require.Equal(t, "a tenant_secret=[REDACTED] b", String("a tenant_secret=hunter2 b", nil))
	require.Error(t, Extend(nil, []string{"a=b"}))
	f := httpFlow("/x", "X-Tenant-Key", "TENANTKEY1")
	require.Contains(t, Secrets(f), "TENANTKEY1")
}

// FuzzRedact: whatever surrounds it, a secret marker in a secret position
// of a URL (password, query value, path parameter) or in a sensitive
// header reaches no output of the redactor.
func FuzzRedact(f *testing.F) {
	f.Add("host", "/a/b", "x", 0)
	f.Add("h:80a", "/a b", "%zz", 1)
	f.Add("[::1", "/", "", 2)
	f.Fuzz(func(t *testing.T, host, path, other string, pos int) {
		text := host + path + other
		require.Equal(t, byRegexps(text), String(text, nil), "the prefilters change nothing")
		const marker = "M4RKERSECRET"
		if strings.ContainsAny(host+path+other, "@?#;&=") {
			t.Skip("the generated parts must not move the marker out of its position")
		}
		var raw, header string
		switch uint(pos) % 4 {
		case 0:
			raw = "http://user:" + marker + other + "@" + host + path
		case 1:
			raw = "http://" + host + path + "?" + other + "=" + marker
		case 2:
			raw = "http://" + host + path + ";jsessionid=" + marker + other
		case 3:
			raw, header = "http://"+host+path, "Bearer "+marker
		}
		fl := httpFlow(raw, "Authorization", header)
		secrets := Secrets(fl)
		require.NotContains(t, URL(raw), marker)
		require.NotContains(t, String("req "+raw+" auth "+header, secrets), marker)
		Flow(fl)
		require.NotContains(t, fl.GetL7().GetHttp().GetUrl()+fl.GetSummary()+fl.GetL7().GetHttp().GetHeaders()[0].GetValue(), marker)
	})
}
