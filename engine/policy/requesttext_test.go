package policy

import (
	"context"
	"io/fs"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/engine/facts"
	"github.com/hubble-sentinel/hubble-sentinel/policies"
	"github.com/hubble-sentinel/hubble-sentinel/test/captures"
	"github.com/hubble-sentinel/hubble-sentinel/test/shopmesh"
)

// libraryText prepares the policy library's own computation of
// request.text, request.specials and request.path: what it does for a
// document without the engine's input.sentinel.http.text, specials and
// normalized_path.
func libraryText(t testing.TB) func(t testing.TB, path, rawPath, query string) (text, specials, normal string, ok bool) {
	t.Helper()
	src, err := fs.ReadFile(policies.FS, "http/request/request.rego")
	require.NoError(t, err)
	q, err := rego.New(
		rego.Query("t := data.sentinel.http.request.text; s := data.sentinel.http.request.specials; p := data.sentinel.http.request.path"),
		rego.Module("request.rego", string(src)),
	).PrepareForEval(context.Background())
	require.NoError(t, err)
	return func(t testing.TB, path, rawPath, query string) (string, string, string, bool) {
		t.Helper()
		in := ast.NewObject(ast.Item(ast.StringTerm("sentinel"), ast.ObjectTerm(ast.Item(ast.StringTerm("http"), ast.ObjectTerm(
			ast.Item(ast.StringTerm("path"), ast.StringTerm(path)),
			ast.Item(ast.StringTerm("raw_path"), ast.StringTerm(rawPath)),
			ast.Item(ast.StringTerm("query"), ast.StringTerm(query)),
		)))))
		rs, err := q.Eval(context.Background(), rego.EvalParsedInput(in))
		require.NoError(t, err)
		if len(rs) == 0 {
			return "", "", "", false
		}
		return rs[0].Bindings["t"].(string), rs[0].Bindings["s"].(string), rs[0].Bindings["p"].(string), true
	}
}

// TestRequestTextIsTheLibrarys: the text, specials and normalized path the
// engine measures in Go are what the policy library computes in Rego from
// path, raw_path and query, on every request target of the real captures
// and of the
// simulated shop (attacks included), and on targets written to break
// decoding. The library reads the engine's when a document has them
// (request.text, request.specials, request.path), so a difference would
// change what the injection and path policies see.
func TestRequestTextIsTheLibrarys(t *testing.T) {
	lib := libraryText(t)
	type target struct{ path, rawPath, query string }
	seen := map[target]bool{}
	var targets []target
	add := func(h *facts.HTTP) {
		if h == nil {
			return
		}
		k := target{h.Path, h.RawPath, h.Query}
		if !seen[k] {
			seen[k] = true
			targets = append(targets, k)
		}
	}
	for _, f := range captures.Flows(t) {
		fa := facts.Measure(f.Flow)
		add(fa.HTTP)
	}
	fromCaptures := len(targets)
	g := shopmesh.New(shopmesh.Config{Seed: 42, Attacks: true})
	for range 60000 {
		fa := facts.Measure(g.Next())
		add(fa.HTTP)
	}
	for _, tc := range requestTextSeeds {
		targets = append(targets, target{tc.rawPath, tc.rawPath, tc.query})
	}
	require.GreaterOrEqual(t, fromCaptures, 5, "the captures' distinct HTTP targets")
	require.Greater(t, len(targets)-fromCaptures, 500, "the shop's distinct HTTP targets")
	for _, tc := range targets {
		text, specials, normal, ok := lib(t, tc.path, tc.rawPath, tc.query)
		require.True(t, ok, "the library has a text for %q %q", tc.rawPath, tc.query)
		require.Equal(t, normal, facts.NormalPath(tc.path), "path of %q", tc.path)
		require.Equal(t, text, facts.RequestText(tc.rawPath, tc.query), "text of %q %q", tc.rawPath, tc.query)
		require.Equal(t, specials, facts.Specials(facts.RequestText(tc.rawPath, tc.query)), "specials of %q %q", tc.rawPath, tc.query)
	}
}

// requestTextSeeds are targets that take each branch of the decoding:
// escapes once and twice, "+", stray "%" anywhere, upper-case escapes and
// letters, non-ASCII and invalid UTF-8.
var requestTextSeeds = []struct{ rawPath, query string }{
	{"/", ""},
	{"/Products/ABC", ""},
	{"/a%2527b", "q=%2522x%2522+y"},
	{"/s", "q=%%27or+1=1"},
	{"/s", "q=%%"},
	{"/s", "100%+cotton%27s"},
	{"/%zz", "%a%27&b=%"},
	{"/%", "%"},
	{"/c++", ""},
	{"/x", "q=%55NION+%53ELECT"},
	{"/x", "q=%2555NION+%2553ELECT"},
	{"/x", "q=$%7Bjndi:ldap://e/a%7D"},
	{"/x", "q=%2524%257Bjndi"},
	{"/caf\u00e9", "q=\u00c9T\u00c9"},
	{"/\xff\xfe", "q=\xc3%28"},
	{"/x", "q=%C3%A9%FF"},
	{"/a\nb", "q=a\nb"},
	{"/X", "Q=A,B&C=~D"},
	{"//Actuator/./ENV", ""},
	{"/a/.//./b//", ""},
	{"/./", ""},
	{"/.", ""},
	{"/\u0130/\xc3//X", ""},
}

// FuzzRequestText: on any target, the engine's text, specials and
// normalized path (of the raw path, taken as decoded) are the library's.
func FuzzRequestText(f *testing.F) {
	for _, s := range requestTextSeeds {
		f.Add(s.rawPath, s.query)
	}
	lib := libraryText(f)
	f.Fuzz(func(t *testing.T, rawPath, query string) {
		if len(rawPath)+len(query) > 4096 {
			return
		}
		text, specials, normal, ok := lib(t, rawPath, rawPath, query)
		if !ok {
			t.Fatalf("the library has no text for %q %q", rawPath, query)
		}
		got := facts.RequestText(rawPath, query)
		if got != text {
			t.Fatalf("text of %q %q: engine %q, library %q", rawPath, query, got, text)
		}
		if p := facts.NormalPath(rawPath); p != normal {
			t.Fatalf("path of %q: engine %q, library %q", rawPath, p, normal)
		}
		if s := facts.Specials(got); s != specials {
			t.Fatalf("specials of %q %q: engine %q, library %q", rawPath, query, s, specials)
		}
		// Three forms of each part at most; lower-casing may triple a
		// byte (invalid UTF-8 becomes U+FFFD).
		if len(got) > 9*(len(rawPath)+len(query))+5 {
			t.Fatalf("text of %d bytes for a target of %d", len(got), len(rawPath)+len(query))
		}
	})
}
