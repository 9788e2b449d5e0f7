package input

import (
	"slices"
	"testing"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/hubble-sentinel/hubble-sentinel/engine/facts"
	"github.com/hubble-sentinel/hubble-sentinel/engine/profile"
)

// FuzzDocument: any flow (decoded from fuzzed JSON or protobuf bytes) is
// measured and becomes a policy input document without panicking, exactly
// the reference conversion's, cached or not, and what it shows of the
// request stays within the bounds.
func FuzzDocument(f *testing.F) {
	for _, s := range []string{
		`{"time":"0001-01-01T00:00:00Z","IP":{"source":"10.0.0.1"},"l7":{"type":"REQUEST","http":{"method":"GET","url":"http://u:p/w@[fd00::1:80a/a;jsessionid=x/%zz?q=1#f","headers":[{"key":"User-Agent","value":"curl"}]}}}`,
		`{"l7":{"dns":{"query":"a.b.example.com.","qtypes":["A"]}},"destination_names":["Example.COM."]}`,
		`{"l4":{"TCP":{"source_port":40000,"destination_port":443,"flags":{"SYN":true}}},"is_reply":true}`,
		`{}`,
	} {
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, json bool) {
		fl := &flowpb.Flow{}
		var err error
		if json {
			err = protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(data, fl)
		} else {
			err = proto.Unmarshal(data, fl)
		}
		if err != nil {
			return
		}
		fa := facts.Measure(fl)
		b := NewBuilder(16)
		doc := b.Document(fl, &fa, &profile.Views{})
		for i := range 4 {
			p := testViews(len(data) + i)
			want := refDocument(fl, &fa, p)
			requireSameValue(t, want, Document(fl, &fa, p), "uncached")
			requireSameValue(t, want, b.Document(fl, &fa, p), "cached")
		}
		_, err = ast.JSON(doc)
		require.NoError(t, err)
		// A Lazy finds the document's value at every path it has.
		p := testViews(len(data))
		whole := b.Document(fl, &fa, p)
		paths := append([][]string{{"nope"}, {"l7", "http", "nope"}, {"sentinel", "dns", "nope"}}, pathsOf(whole, map[string]bool{})...)
		for _, presence := range []bool{false, true} {
			l := b.Lazy(NewPaths(paths, slices.Repeat([]bool{presence}, len(paths))), fl, &fa, p, nil, nil)
			for i, path := range paths {
				got, ok := l.At(i)
				require.True(t, ok)
				want, err := whole.Find(refOf(path))
				if err != nil {
					require.Nil(t, got, "%v", path)
					continue
				}
				require.NotNil(t, got, "%v", path)
				if presence && want.Compare(ast.Boolean(false)) != 0 {
					want = ast.Boolean(true)
				}
				require.Equal(t, 0, want.Compare(got.Value), "%v: %v, want %v", path, got, want)
			}
			l.Release()
		}
		if h := fa.HTTP; h != nil {
			require.LessOrEqual(t, len(h.RawPath), facts.MaxPathBytes)
			require.LessOrEqual(t, len(h.Query), facts.MaxQueryBytes)
			require.LessOrEqual(t, len(h.Record().GetUrl()), facts.MaxURLBytes)
			require.LessOrEqual(t, len(h.Record().GetHeaders()), facts.MaxHeaders)
			_ = h.Secrets()
		}
		if d := fa.DNS; d != nil {
			require.LessOrEqual(t, len(d.Query), facts.MaxDNSNameBytes)
		}
	})
}
