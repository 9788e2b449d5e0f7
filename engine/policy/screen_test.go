package policy

import (
	"context"
	"fmt"
	"slices"
	"testing"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/hubble-sentinel/hubble-sentinel/engine/facts"
	"github.com/hubble-sentinel/hubble-sentinel/engine/input"
	"github.com/hubble-sentinel/hubble-sentinel/engine/profile"
	"github.com/hubble-sentinel/hubble-sentinel/policies"
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
	screened, plain := screenedAndPlain(t, files)

	head := screened.order["Head"]
	require.Equal(t, []string{"input.sentinel.destination.pod", "input.sentinel.destination_port", "input.sentinel.source.pod"},
		refStrings(screened.reads[head].paths))
	require.Equal(t, []string{"input.sentinel.destination_port"}, refStrings(screened.screenReads[head].paths),
		"the screen reads what the body reads, not the summary's pods")
	require.Equal(t, map[string]bool{"sentinel.test.meta": true}, screened.unscreened)
	require.NotNil(t, groupOf(t, screened, "edge").screen, "the edge group is screened")

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

// TestDeferredPaths: the measurement groups the policy package defers are
// the input package's, the bundled policies read them (so their documents
// are built without), and a policy reading the whole baseline or the whole
// input leaves nothing deferred.
func TestDeferredPaths(t *testing.T) {
	var names []string
	for _, d := range deferrable {
		keys, ok := keysOf(d)
		require.True(t, ok)
		names = append(names, keys[2])
	}
	require.Equal(t, input.Measurements(), names)

	bundled, err := Load(context.Background(), policies.FS, ".")
	require.NoError(t, err)
	light, deferred := bundled.DeferredPaths()
	require.NotEmpty(t, light)
	require.NotEmpty(t, deferred)
	for _, p := range light {
		require.False(t, len(p) > 2 && p[0] == input.SentinelKey && p[1] == "baseline" && slices.Contains(names, p[2]), "%v is deferred", p)
	}

	for _, body := range []string{
		`violation contains lib.violation(rego.metadata.chain(), "x") if count(input.sentinel.baseline) > 3`,
		`violation contains lib.violation(rego.metadata.chain(), "x") if count(input) > 3`,
	} {
		files := base()
		files["test/p/p.rego"] = policyWith("Probe", "p", body+"\n\nm if input.sentinel.baseline.rate.per_min > 3")
		s, err := Load(context.Background(), fsWith(files), ".")
		require.NoError(t, err)
		light, deferred := s.DeferredPaths()
		require.Nil(t, light, body)
		require.Nil(t, deferred, body)
	}
	plain, err := Load(context.Background(), policies.FS, ".", WithoutShortcuts())
	require.NoError(t, err)
	light, deferred = plain.DeferredPaths()
	require.Nil(t, light)
	require.Nil(t, deferred)
}

// deferredFlow is a flow's document built without the deferred paths, and
// the Deferred giving them, as the engine builds them.
type deferredFlow struct {
	b      *input.Builder
	f      *flowpb.Flow
	fa     facts.Flow
	views  *profile.Views
	need   *input.Fields
	wholes int
}

func (d *deferredFlow) Float(path []*ast.Term) (float64, bool) {
	return input.MeasurementFloat(&d.views.Baseline, string(path[2].Value.(ast.String)), string(path[3].Value.(ast.String)))
}

func (d *deferredFlow) Whole() ast.Value {
	d.wholes++
	return d.b.DocumentOf(d.f, &d.fa, d.views, d.need)
}

// TestEvalDeferredChangesNoVerdict: guards read from measurements and a
// document built without them give, around every threshold of the
// bundled volatile baseline policies' guards, the verdicts of the whole
// document; the whole document is built only for flows some guard lets
// through, and not for most.
func TestEvalDeferredChangesNoVerdict(t *testing.T) {
	set, err := Load(context.Background(), policies.FS, ".")
	require.NoError(t, err)
	light, _ := set.DeferredPaths()
	lightNeed, need := input.NewFields(light), input.NewFields(set.InputPaths())
	b := input.NewBuilder(0)
	f := &flowpb.Flow{
		Verdict: flowpb.Verdict_FORWARDED, IsReply: wrapperspb.Bool(false),
		IP:          &flowpb.IP{Source: "10.0.0.1", Destination: "10.0.0.2"},
		Source:      &flowpb.Endpoint{Namespace: "shop", PodName: "a-1", Workloads: []*flowpb.Workload{{Name: "a", Kind: "Deployment"}}},
		Destination: &flowpb.Endpoint{Namespace: "shop", PodName: "b-1", Workloads: []*flowpb.Workload{{Name: "b", Kind: "Deployment"}}},
		L4:          &flowpb.Layer4{Protocol: &flowpb.Layer4_TCP{TCP: &flowpb.TCP{DestinationPort: 8080, SourcePort: 40000}}},
		L7: &flowpb.Layer7{Type: flowpb.L7FlowType_RESPONSE, LatencyNs: 5e6,
			Record: &flowpb.Layer7_Http{Http: &flowpb.HTTP{Code: 503, Method: "GET", Url: "http://b/x"}}},
	}
	fa := facts.Measure(f)
	var flows, judged, wholes, fired int
	for _, v := range []float64{0, 0.3, 0.994, 0.995, 0.996, 1, 2.5, 4.994, 4.995, 5, 5.006, 9.99, 10, 19.994, 19.995, 20, 30, 99.994, 99.995, 100, 100.004, 300, 1000, 1e6} {
		for _, base := range []float64{0, 0.2, 1, 20, 60} {
			bl := profile.Baseline{Peer: "shop/b", KnownEdge: true, LearnedEdge: true,
				LatencyMs: v * 10, BaselineLatencyMs: base, LatencyRatio: v, LatencyDeviations: v, LatencySamples: uint32(v),
				ErrorRatio: v / 100, BaselineErrorRatio: base / 100, ClientErrorRatio: v / 100, Responses: v,
				RatePerMin: v, BaselineRatePerMin: base, FanoutIPs: v, FanoutPorts: v / 10, BaselineFanoutIPs: base,
				RefusedRatio: v / 1000, AuthFailuresPerMin: v, BaselineAuthFailuresPerMin: base, AuthFailureSources: v / 10,
				DropsPerMin: v, BaselineDropsPerMin: base, NXDomainRatio: v / 1000, BaselineNXDomainRatio: base / 1000}
			views := &profile.Views{Baseline: bl}
			want, err := set.Eval(context.Background(), b.DocumentOf(f, &fa, views, need))
			require.NoError(t, err)
			d := &deferredFlow{b: b, f: f, fa: fa, views: views, need: need}
			got, err := set.EvalDeferred(context.Background(), b.DocumentOf(f, &fa, views, lightNeed), d)
			require.NoError(t, err)
			require.Equal(t, ids(want), ids(got), "%v/%v", v, base)
			flows++
			judged += min(d.wholes, 1)
			wholes += d.wholes
			if len(want) > 0 {
				fired++
				require.Positive(t, d.wholes)
			}
		}
	}
	t.Logf("%d flows, %d with violations, %d whole documents built", flows, fired, judged)
	require.Positive(t, fired, "volatile policies fire")
	require.LessOrEqual(t, wholes, judged, "built once per flow at most")
	require.Less(t, judged, flows, "not built for every flow")
	require.Positive(t, judged, "built for the flows a volatile policy judges")
}

// TestScreenUnitsAnswerWithoutRego: when the screen's cache has not seen a
// flow's values together, each policy's verdict comes from the policies
// reading the same values (its unit): a new pairing of a path and a user
// agent each seen before is judged without Rego, with the verdicts of a
// Set judging every flow, and a pairing whose path policy holds still
// goes to the full query.
func TestScreenUnitsAnswerWithoutRego(t *testing.T) {
	// sprintf: no guard (see guardsOf), so the units decide.
	screened, plain := pathAnd(t, policyWith("Agent", "agent", `violation contains lib.violation(rego.metadata.chain(), "scanner") if {
	contains(sprintf("%s", [input.sentinel.http.user_agent]), "sqlmap")
}`))
	judge := func(path, agent string) []string {
		return judgedAlike(t, screened, plain, `{"sentinel": {"http": {"path": "`+path+`", "user_agent": "`+agent+`"}}}`)
	}
	runs := func() uint64 { return wideRuns(t, screened) }
	paths, agents := []string{"/a", "/b", "/admin/x"}, []string{"curl", "go", "sqlmap 1.7"}
	for range 3 { // the screen keeps what it has seen twice, the units at once
		for i := range paths {
			judge(paths[i], agents[i])
		}
	}
	before := runs()
	require.Empty(t, judge("/a", "go"))
	require.Empty(t, judge("/b", "curl"))
	require.Equal(t, before, runs(), "known values in a new pairing: no Rego")
	require.Equal(t, []string{"Path"}, judge("/admin/x", "curl"))
	require.Equal(t, []string{"Agent"}, judge("/b", "sqlmap 1.7"))
	require.ElementsMatch(t, []string{"Path", "Agent"}, judge("/admin/x", "sqlmap 1.7"))
}

// TestScreenRunsOnlyWhatMissed: a flow with a value never seen (a signed
// URL's query) misses the unit of a policy reading it, but when that
// policy's guards fail in Go (a builtin test of the query) it is not
// evaluated, and the other policies' units answer: no Rego. When a unit
// misses for a policy whose guards pass, only the policies of the units
// that missed are evaluated, and the verdicts stay a plain Set's.
func TestScreenRunsOnlyWhatMissed(t *testing.T) {
	screened, plain := pathAnd(t, policyWith("Quote", "quote", `violation contains lib.violation(rego.metadata.chain(), "quote") if {
	regex.match("['\"]", input.sentinel.http.query)
	count(split(input.sentinel.http.query, "&")) > 1
}`))
	judge := func(path, query string) []string {
		return judgedAlike(t, screened, plain, `{"sentinel": {"http": {"path": "`+path+`", "query": "`+query+`"}}}`)
	}
	runs := func() uint64 { return wideRuns(t, screened) }
	for range 2 {
		judge("/img/a.jpg", "sig=0")
		judge("/admin/x", "sig=0")
	}
	before := runs()
	for i := range 50 {
		require.Empty(t, judge("/img/a.jpg", fmt.Sprintf("sig=%x&exp=900", i*7919)))
	}
	require.Equal(t, before, runs(), "new queries that fail Quote's guards, a known path: no Rego")
	require.Equal(t, []string{"Quote"}, judge("/img/b.jpg", "q=1'&x=2"))
	require.Empty(t, judge("/img/c.jpg", "q=1'"))
	require.Equal(t, []string{"Path"}, judge("/admin/y", "sig=1"))
	require.ElementsMatch(t, []string{"Path", "Quote"}, judge("/admin/z", "q='&x"))
}

// pathAnd loads, screened and plain, a policy on the path without guards
// (Path: /admin…) and other, a policy reading other values, and requires
// the wide group's screen to have a unit for each.
func pathAnd(t *testing.T, other string) (screened, plain *Set) {
	t.Helper()
	files := base()
	files["test/path/path.rego"] = policyWith("Path", "path", `violation contains lib.violation(rego.metadata.chain(), "admin") if {
	startswith(sprintf("%s", [input.sentinel.http.path]), "/admin")
}`)
	files["test/other/other.rego"] = other
	screened, plain = screenedAndPlain(t, files)
	wide := groupOf(t, screened, "wide")
	require.NotNil(t, wide.screen)
	require.Len(t, wide.screen.units, 2, "one unit per set of paths read")
	return screened, plain
}

// judgedAlike judges the input document js with both Sets, requires the
// same verdicts and returns the policies that fired.
func judgedAlike(t *testing.T, screened, plain *Set, js string) []string {
	t.Helper()
	in := parseInput(t, js)
	want, err := plain.Eval(context.Background(), in)
	require.NoError(t, err)
	got, err := screened.Eval(context.Background(), in)
	require.NoError(t, err)
	require.Equal(t, ids(want), ids(got), js)
	return ids(got)
}

// wideRuns is how many flows the wide group judged with Rego.
func wideRuns(t *testing.T, s *Set) uint64 {
	t.Helper()
	for _, st := range s.CacheStats() {
		if st.Group == "wide" {
			return st.Misses
		}
	}
	t.Fatal("no wide group")
	return 0
}

// screenedAndPlain loads files as the engine does and as a Set judging
// every flow with one query does.
func screenedAndPlain(t *testing.T, files map[string]string) (screened, plain *Set) {
	t.Helper()
	screened, err := Load(context.Background(), fsWith(files), ".")
	require.NoError(t, err)
	plain, err = Load(context.Background(), fsWith(files), ".", WithoutShortcuts())
	require.NoError(t, err)
	return screened, plain
}

// groupOf is s's group of the class named name.
func groupOf(t *testing.T, s *Set, name string) *group {
	t.Helper()
	groups := s.eval.Load().groups
	for i := range groups {
		if classNames[groups[i].class] == name {
			return &groups[i]
		}
	}
	t.Fatalf("no %s group", name)
	return nil
}
