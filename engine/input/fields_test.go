package input

import (
	"strconv"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/engine/facts"
	"github.com/hubble-sentinel/hubble-sentinel/engine/profile"
)

func TestFields(t *testing.T) {
	for _, tc := range []struct {
		name  string
		paths [][]string
		want  [][]string // nil: the whole document
	}{
		{name: "none", paths: nil},
		{name: "an_empty_path_is_everything", paths: [][]string{{"verdict"}, {}}},
		{name: "paths", paths: [][]string{{"verdict"}, {"sentinel", "http", "path"}, {"l4", "TCP", "flags", "SYN"}},
			want: [][]string{{"l4", "TCP", "flags", "SYN"}, {"sentinel", "http", "path"}, {"verdict"}}},
		{name: "a_shorter_path_covers_a_longer", paths: [][]string{{"sentinel", "http", "path"}, {"sentinel", "http"}, {"sentinel", "http", "query"}},
			want: [][]string{{"sentinel", "http"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFields(tc.paths)
			if tc.want == nil {
				require.Nil(t, f)
				return
			}
			require.Equal(t, tc.want, f.Paths())
			_, ok := f.child("source")
			require.False(t, ok, "what no path names is left out")
		})
	}
}

// TestDocumentOfKeepsWhatIsRead: on the real captures and the simulated
// shop, with and without learned profiles, the document built for some
// paths holds, at each of them, exactly what the whole document holds,
// and leaves out the parts no path names.
func TestDocumentOfKeepsWhatIsRead(t *testing.T) {
	paths := [][]string{
		{"verdict"}, {"l4", "TCP", "flags", "SYN"}, {"l7", "type"}, {"l7", "http", "headers"}, {"l7", "dns", "rcode"},
		{"IP", "encrypted"}, {"node_labels"}, {"event_type", "type"},
		{"sentinel", "source"}, {"sentinel", "destination_port"}, {"sentinel", "http", "path"}, {"sentinel", "dns"},
		{"sentinel", "baseline", "learning"}, {"sentinel", "baseline", "rate", "per_min"}, {"sentinel", "baseline", "latency"},
	}
	need := NewFields(paths)
	flows := realAndShopFlows(t, 7, 3000)
	b := NewBuilder(8)
	left := map[string]bool{}
	for i, f := range flows {
		fa := facts.Measure(f)
		p := testViews(i)
		whole := b.Document(f, &fa, p)
		part := b.DocumentOf(f, &fa, p, need)
		for _, path := range paths {
			ref := make(ast.Ref, len(path))
			for k, s := range path {
				ref[k] = ast.StringTerm(s)
			}
			want, werr := whole.Find(ref)
			got, gerr := part.Find(ref)
			at := "flow " + strconv.Itoa(i) + ": input." + strings.Join(path, ".")
			if werr != nil {
				require.Error(t, gerr, at)
				continue
			}
			require.NoError(t, gerr, at)
			requireSameValue(t, want, got, at)
		}
		for _, k := range []string{"time", "uuid", "source", "Summary"} {
			if whole.(ast.Object).Get(ast.StringTerm(k)) != nil {
				left[k] = true
				require.Nil(t, part.(ast.Object).Get(ast.StringTerm(k)), "flow %d: input.%s is read by no path", i, k)
			}
		}
		if p != nil {
			s := part.(ast.Object).Get(ast.StringTerm(SentinelKey)).Value.(ast.Object)
			require.Nil(t, s.Get(ast.StringTerm("profile")), "flow %d", i)
			if p.Baseline != (profile.Baseline{}) { // else the shared zero baseline, whole
				require.Nil(t, s.Get(ast.StringTerm("baseline")).Value.(ast.Object).Get(ast.StringTerm("fanout")), "flow %d", i)
			}
		}
	}
	require.Len(t, left, 4, "the flows have the fields left out")
}
