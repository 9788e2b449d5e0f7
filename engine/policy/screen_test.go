package policy

import (
	"context"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/stretchr/testify/require"
)

// TestScreenChangesNoVerdict: the screen's key leaves out what only the
// violation's head reads (here the pods the summary names), and a Set with
// screens gives, flow after flow, the verdicts of one judging every flow
// with one query: when the body holds but the head is undefined (no
// source pod), when the screen's cached "some body holds" meets another
// head, and for a policy whose body reads its own metadata, which has no
// screen rule and is judged whenever its guards pass.
func TestScreenChangesNoVerdict(t *testing.T) {
	files := base()
	files["test/head/head.rego"] = policyWith("Head", "head", `violation contains lib.violation(rego.metadata.chain(), sprintf("%s to %s", [input.sentinel.source.pod, input.sentinel.destination.pod])) if {
	input.sentinel.destination_port == 22
}`)
	files["test/meta/meta.rego"] = policyWith("Meta", "meta", `violation contains lib.violation(rego.metadata.chain(), "meta") if {
	input.sentinel.destination_port == 23
	some a in rego.metadata.chain()
	a.annotations.custom.id == "Meta"
}`)
	ctx := context.Background()
	screened, err := Load(ctx, fsWith(files), ".")
	require.NoError(t, err)
	plain, err := Load(ctx, fsWith(files), ".", WithoutShortcuts())
	require.NoError(t, err)

	head := screened.order["Head"]
	require.Equal(t, []string{"input.sentinel.destination.pod", "input.sentinel.destination_port", "input.sentinel.source.pod"},
		refStrings(screened.reads[head].paths))
	require.Equal(t, []string{"input.sentinel.destination_port"}, refStrings(screened.screenReads[head].paths),
		"the screen reads what the body reads, not the summary's pods")
	require.Equal(t, map[string]bool{"sentinel.test.meta": true}, screened.unscreened)
	var edge *group
	for i, g := range screened.eval.Load().groups {
		if classNames[g.class] == "edge" {
			edge = &screened.eval.Load().groups[i]
		}
	}
	require.NotNil(t, edge)
	require.NotNil(t, edge.screen, "the edge group is screened")

	flow := func(port int, src, dst string) ast.Value {
		sentinel := ast.NewObject(ast.Item(ast.StringTerm("destination_port"), ast.IntNumberTerm(port)))
		if src != "" {
			sentinel.Insert(ast.StringTerm("source"), ast.ObjectTerm(ast.Item(ast.StringTerm("pod"), ast.StringTerm(src))))
		}
		sentinel.Insert(ast.StringTerm("destination"), ast.ObjectTerm(ast.Item(ast.StringTerm("pod"), ast.StringTerm(dst))))
		return ast.NewObject(ast.Item(ast.StringTerm("sentinel"), ast.NewTerm(sentinel)))
	}
	flows := []ast.Value{
		flow(80, "a", "b"),
		flow(22, "", "b"), // body holds, head undefined: no violation
		flow(22, "a", "b"),
		flow(22, "c", "d"),
		flow(23, "a", "b"),
		flow(4444, "a", "b"),
	}
	var found int
	for range 4 { // repeated: the caches answer from the second time
		for _, in := range flows {
			want, err := plain.Eval(ctx, in)
			require.NoError(t, err)
			got, err := screened.Eval(ctx, in)
			require.NoError(t, err)
			require.Equal(t, want, got, "%v", in)
			found += len(got)
		}
	}
	require.Equal(t, 4*4, found, "Head twice, Meta and BadPort in each round")
	stats := screened.CacheStats()
	require.Equal(t, "edge", stats[0].Group)
	require.Positive(t, stats[0].Hits)
}
