package app

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"testing/fstest"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	observerpb "github.com/cilium/cilium/api/v1/observer"
	ciliummask "github.com/cilium/cilium/pkg/hubble/parser/fieldmask"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hubble-sentinel/hubble-sentinel/engine"
	"github.com/hubble-sentinel/hubble-sentinel/engine/alert"
	"github.com/hubble-sentinel/hubble-sentinel/engine/input"
	"github.com/hubble-sentinel/hubble-sentinel/engine/policy"
	"github.com/hubble-sentinel/hubble-sentinel/hubble"
	"github.com/hubble-sentinel/hubble-sentinel/policies"
	"github.com/hubble-sentinel/hubble-sentinel/test/captures"
	"github.com/hubble-sentinel/hubble-sentinel/test/shopmesh"
)

// TestBundledPoliciesReadOnlyMaskedFields: every flow field a bundled
// policy reads is in hubble.FlowFields, so the mask run sends for the
// bundled policies is FlowFields itself.
func TestBundledPoliciesReadOnlyMaskedFields(t *testing.T) {
	fields, whole, err := policyFlowFields(policies.FS)
	require.NoError(t, err)
	require.Empty(t, whole)
	require.NotEmpty(t, fields)
	for _, f := range fields {
		require.Contains(t, hubble.FlowFields, f, "a bundled policy reads input.%s", f)
	}
	fm, whole, err := fieldMask(policies.FS)
	require.NoError(t, err)
	require.Empty(t, whole)
	require.ElementsMatch(t, hubble.FlowFields, fm.GetPaths())
}

// TestFieldMaskOfCustomPolicies: a policy reading another field adds it;
// one reading the input as a whole turns the mask off, saying where.
func TestFieldMaskOfCustomPolicies(t *testing.T) {
	for _, tc := range []struct {
		name, rego string
		want       []string // added to FlowFields
		whole      string
	}{
		{name: "a field", rego: "deny if input.Summary == \"x\"", want: []string{"Summary"}},
		{name: "object.get", rego: "deny if object.get(input, \"node_labels\", []) == []", want: []string{"node_labels"}},
		{name: "object.get path", rego: "deny if object.get(input, [\"interface\", \"name\"], \"\") == \"\"", want: []string{"interface"}},
		{name: "a name the flow lacks", rego: "deny if input.no_such_field == 1"},
		{name: "sentinel", rego: "deny if input.sentinel.initiated"},
		{name: "a variable key", rego: "deny if { some k; input[k] == 1 }", whole: "p.rego:3: input[k]"},
		{name: "the whole input", rego: "deny if count(input) > 3", whole: "p.rego:3: the whole input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{"p.rego": {Data: []byte("package p\n\n" + tc.rego + "\n")}}
			fm, whole, err := fieldMask(fsys)
			require.NoError(t, err)
			if tc.whole != "" {
				require.Equal(t, tc.whole, whole)
				require.Nil(t, fm)
				return
			}
			require.Empty(t, whole)
			require.ElementsMatch(t, append(slices.Clone(hubble.FlowFields), tc.want...), fm.GetPaths())
		})
	}
}

// TestFieldMaskKeepsEverythingTheEngineReads is the proof that
// hubble.FlowFields is complete: every flow of the real captures and of
// the simulated shop (attacks included) goes through Cilium's own field
// mask (pkg/hubble/parser/fieldmask, one reused flow as Hubble does) and
// the wire, and the masked flow measures, profiles, judges and alerts
// exactly as the whole one: the same engine facts and baselines
// (input.sentinel), the same flow fields for the policies, the same
// violations and the same alerts (labels, annotations, sample flow). It
// logs the bytes per flow on the wire with and without the mask.
func TestFieldMaskKeepsEverythingTheEngineReads(t *testing.T) {
	fm, err := hubble.FieldMask()
	require.NoError(t, err)
	mask, err := ciliummask.New(fm)
	require.NoError(t, err)
	set, err := policy.Load(t.Context(), policies.FS, ".")
	require.NoError(t, err)

	// 3,000 flows of the shop hold every kind of flow and attack it makes
	// (its attacks come every 300 to 500 flows); more add time, not cases.
	n := 3000
	if testing.Short() {
		n = 2000
	}
	gen := shopmesh.New(shopmesh.Config{Seed: 3, Start: time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC), Attacks: true})
	mesh := make([]*flowpb.Flow, n)
	for i := range mesh {
		mesh[i] = gen.Next()
	}
	var real []*flowpb.Flow
	for _, f := range captures.Flows(t) {
		real = append(real, f.Flow)
	}

	for _, tc := range []struct {
		name  string
		flows []*flowpb.Flow
	}{{"simulated shop", mesh}, {"gke-2021 captures", real}} {
		t.Run(tc.name, func(t *testing.T) {
			whole, masked := newInputEngine(t, set), newInputEngine(t, set)
			reused := new(flowpb.Flow)
			mask.Alloc(reused.ProtoReflect())
			var bytesWhole, bytesMasked, violations int
			for i, f := range tc.flows {
				mask.Copy(reused.ProtoReflect(), f.ProtoReflect())
				wire, err := proto.Marshal(response(reused, f))
				require.NoError(t, err)
				var resp observerpb.GetFlowsResponse
				require.NoError(t, proto.Unmarshal(wire, &resp))
				bytesWhole += proto.Size(response(f, f))
				bytesMasked += len(wire)

				now := time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)
				fa, doc := whole.Input(f, now)
				mfa, mdoc := masked.Input(resp.GetFlow(), now)
				require.Equal(t, alert.SampleFlow(&fa, nil), alert.SampleFlow(&mfa, nil), "flow %d", i)
				obj, mobj := doc.(ast.Object), mdoc.(ast.Object)
				require.Equal(t, obj.Get(ast.InternedTerm(input.SentinelKey)).String(), mobj.Get(ast.InternedTerm(input.SentinelKey)).String(),
					"flow %d: the engine's facts and baselines", i)
				for _, field := range hubble.FlowFields {
					require.Equal(t, termString(obj.Get(ast.StringTerm(field))), termString(mobj.Get(ast.StringTerm(field))), "flow %d: input.%s", i, field)
				}
				vs, err := set.Eval(t.Context(), doc)
				require.NoError(t, err)
				mvs, err := set.Eval(t.Context(), mdoc)
				require.NoError(t, err)
				require.Equal(t, vs, mvs, "flow %d: violations", i)
				for j := range vs {
					a, ma := alert.Build(alert.Violation(vs[j]), &fa), alert.Build(alert.Violation(mvs[j]), &mfa)
					require.Equal(t, a.Labels, ma.Labels)
					require.Equal(t, a.Annotations, ma.Annotations)
					require.Equal(t, a.Occurrence.Labels, ma.Occurrence.Labels)
					require.Equal(t, a.Occurrence.Sample, ma.Occurrence.Sample)
				}
				violations += len(vs)
			}
			if tc.name == "simulated shop" {
				require.NotZero(t, violations, "the attacks must violate policies, or the comparison proves little")
			}
			t.Logf("%s: %d flows, %d violations; bytes per flow on the wire (GetFlowsResponse): %.0f whole, %.0f masked (%.0f%%)",
				tc.name, len(tc.flows), violations, float64(bytesWhole)/float64(len(tc.flows)),
				float64(bytesMasked)/float64(len(tc.flows)), 100*float64(bytesMasked)/float64(bytesWhole))
		})
	}
}

// termString prints a term, "(absent)" for none.
func termString(t *ast.Term) string {
	if t == nil {
		return "(absent)"
	}
	return t.String()
}

// response wraps f as Relay sends it, with orig's node name and time.
func response(f, orig *flowpb.Flow) *observerpb.GetFlowsResponse {
	return &observerpb.GetFlowsResponse{
		NodeName:      orig.GetNodeName(),
		Time:          cmpTime(orig.GetTime()),
		ResponseTypes: &observerpb.GetFlowsResponse_Flow{Flow: f},
	}
}

func cmpTime(t *timestamppb.Timestamp) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return proto.Clone(t).(*timestamppb.Timestamp)
}

// newInputEngine is an engine for Input: its aggregator is never called.
func newInputEngine(t *testing.T, set *policy.Set) *engine.Engine {
	t.Helper()
	e, err := engine.New(engine.Config{}, set, discardAggregator{}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(t, err)
	return e
}

type discardAggregator struct{}

func (discardAggregator) Observe(time.Time, alert.Alert) {}
func (discardAggregator) Tick(time.Time)                 {}

var _ engine.Aggregator = discardAggregator{}

// TestRunAsksForTheFieldMask: run's stream asks for the bundled policies'
// fields by default, adds those of a --policies.dir, and asks for every
// field with --hubble.field-mask=false.
func TestRunAsksForTheFieldMask(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "p.rego"), []byte("package p\n\ndeny if input.Summary == \"x\"\n"), 0o600))
	for _, tc := range []struct {
		name string
		o    Options
		want []string
	}{
		{name: "bundled", want: hubble.FlowFields},
		{name: "a policy directory", o: Options{PoliciesDir: dir}, want: append(slices.Clone(hubble.FlowFields), "Summary")},
		{name: "off", o: Options{Stream: StreamOptions{FullFlows: true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Logger = slog.New(slog.DiscardHandler)
			cfg, closePosition, err := tc.o.Stream.clientConfig(&tc.o, HubbleSource{Address: DefaultHubbleAddress}, nil, tc.o.Logger)
			require.NoError(t, err)
			closePosition()
			require.Equal(t, tc.want, cfg.FieldMask.GetPaths())
		})
	}
}
