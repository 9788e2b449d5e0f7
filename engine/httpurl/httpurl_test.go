package httpurl

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want URL
	}{
		{"http://frontend:8080/actuator/env?x=1#f", URL{Scheme: "http", Host: "frontend:8080", Path: "/actuator/env", Query: "x=1", HasQuery: true, Fragment: "f"}},
		{"http://frontend:80a/actuator", URL{Scheme: "http", Host: "frontend:80a", Path: "/actuator"}},
		{"http://front end/actuator", URL{Scheme: "http", Host: "front end", Path: "/actuator"}},
		{"http://[fd00::1/actuator", URL{Scheme: "http", Host: "[fd00::1", Path: "/actuator"}},
		{"http://u:p/w d@host/a?b", URL{Scheme: "http", Userinfo: "u:p/w d", User: "u", Password: "p/w d", Host: "host", Path: "/a", Query: "b", HasQuery: true}},
		{"/a;jsessionid=X/b;token=Y;v", URL{Path: "/a;jsessionid=X/b;token=Y;v", Params: []Param{{"jsessionid", "X"}, {"token", "Y"}, {"v", ""}}}},
		{"//host/p", URL{Host: "host", Path: "/p"}},
		{"/q?a=b@c", URL{Path: "/q", Query: "a=b@c", HasQuery: true}},
		{"", URL{}},
	} {
		t.Run(tc.raw, func(t *testing.T) {
			require.Equal(t, tc.want, Parse(tc.raw))
		})
	}
	require.Equal(t, "/admin/env", StripParams("/admin;jsessionid=x/env;a"))
	require.Len(t, Parse("/"+strings.Repeat(";a=1", 1000)).Params, maxParams)
}

// FuzzParse: Parse never fails or panics, and its parts are pieces of the
// URL in order: nothing is invented.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"http://u:p/w@h:1/a;b=c?d#e", "//h", "http://[::1", "%zz", "a://", ":///"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u := Parse(raw)
		for _, part := range []string{u.Scheme, u.Userinfo, u.Host, u.Path, u.Query, u.Fragment} {
			require.Contains(t, raw, part)
		}
		require.LessOrEqual(t, len(u.Params), maxParams)
		require.LessOrEqual(t, len(u.Scheme)+len(u.Userinfo)+len(u.Host)+len(u.Path)+len(u.Query)+len(u.Fragment), len(raw))
	})
}
