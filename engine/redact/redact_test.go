package redact

import (
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
