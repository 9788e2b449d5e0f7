package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/hubble-sentinel/hubble-sentinel/engine"
	"github.com/hubble-sentinel/hubble-sentinel/engine/alert"
	"github.com/hubble-sentinel/hubble-sentinel/engine/facts"
	"github.com/hubble-sentinel/hubble-sentinel/engine/policy"
)

// TestBundledFixturesAreCurrent: the input documents the bundled policies'
// Rego tests judge are what the engine measures today. When Measure
// changes, `make fixtures` regenerates them and the Rego tests say which
// policy the change affects.
func TestBundledFixturesAreCurrent(t *testing.T) {
	o, _, stderr := quietOptions()
	err := PolicyFixtures(context.Background(), o, filepath.Join("..", "..", "..", "..", "policies"), true)
	require.NoError(t, err, stderr.String())
}

func TestPolicyFixtures(t *testing.T) {
	const flow = `{"flow":{"uuid":"%s","time":"2026-03-14T09:00:00Z","IP":{"source":"10.0.1.2","destination":"10.0.2.3"},` +
		`"l4":{"TCP":{"source_port":40000,"destination_port":8080,"flags":{"SYN":true}}}}}` + "\n"
	write := func(t *testing.T, lines string) string {
		dir := t.TempDir()
		td := filepath.Join(dir, "x", "y", "testdata")
		require.NoError(t, os.MkdirAll(td, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(td, FixtureFlows), []byte(lines), 0o644))
		return dir
	}
	ctx := context.Background()

	t.Run("writes, then checks", func(t *testing.T) {
		dir := write(t, fmt.Sprintf(flow, "syn"))
		o, _, _ := quietOptions()
		require.ErrorIs(t, PolicyFixtures(ctx, o, dir, true), ErrStaleFixtures, "no inputs.json yet")
		require.NoError(t, PolicyFixtures(ctx, o, dir, false))
		out, err := os.ReadFile(filepath.Join(dir, "x", "y", "testdata", FixtureInputs))
		require.NoError(t, err)
		require.Contains(t, string(out), `"syn": {`)
		require.Contains(t, string(out), `"rule": "tcp_flags"`)
		require.NoError(t, PolicyFixtures(ctx, o, dir, true))

		require.NoError(t, os.WriteFile(filepath.Join(dir, "x", "y", "testdata", FixtureInputs), append(out, ' '), 0o644))
		err = PolicyFixtures(ctx, o, dir, true)
		require.ErrorIs(t, err, ErrStaleFixtures)
		require.ErrorContains(t, err, filepath.Join("x", "y", "testdata", FixtureInputs))
	})
	for _, tc := range []struct{ name, lines, want string }{
		{"no uuid", fmt.Sprintf(flow, ""), "a flow has no uuid"},
		{"duplicate uuid", fmt.Sprintf(flow, "a") + fmt.Sprintf(flow, "a"), `uuid "a" names two flows`},
		{"malformed line", fmt.Sprintf(flow, "a") + "{not json\n", "1 malformed lines"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, _, _ := quietOptions()
			require.ErrorContains(t, PolicyFixtures(ctx, o, write(t, tc.lines), false), tc.want)
		})
	}
	t.Run("nothing to do", func(t *testing.T) {
		o, _, _ := quietOptions()
		require.ErrorContains(t, PolicyFixtures(ctx, o, t.TempDir(), false), "no testdata/flows.jsonl")
	})
}

// echoPolicy reports every flow with its whole input document as the
// summary, so a test can read back what Process evaluated.
const echoPolicy = `# METADATA
# title: Echo
# custom:
#   id: EchoInput
#   severity: info
package sentinel.test.echo

violation contains {"id": "EchoInput", "severity": "info", "title": "Echo", "policy": "sentinel.test.echo",
	"summary": json.marshal(input), "description": "", "mitre": ""}
`

// recorder is an engine.Aggregator that keeps every alert it is given.
type recorder struct{ alerts []alert.Alert }

func (r *recorder) Observe(_ time.Time, a alert.Alert) { r.alerts = append(r.alerts, a) }
func (r *recorder) Tick(time.Time)                     {}

// TestPolicyInputIsWhatProcessEvaluates feeds the same flows through
// `policy input` and through Process, and compares the documents: there is
// one per-flow path, so a fixture shows exactly what a policy will see.
func TestPolicyInputIsWhatProcessEvaluates(t *testing.T) {
	ctx := context.Background()
	set, err := policy.Load(ctx, fstest.MapFS{"echo/echo.rego": {Data: []byte(echoPolicy)}}, ".")
	require.NoError(t, err)
	rec := &recorder{}
	eng, err := engine.New(engine.Config{}, set, rec, slog.New(slog.DiscardHandler), nil)
	require.NoError(t, err)

	// Flows without credentials: policy input masks them in the flow,
	// Process in the alert's text, so only those two documents differ.
	path := writeShopCapture(t, 600, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	o, _, _ := quietOptions()
	inputs := map[int]any{}
	n := 0
	_, err = eachInput(ctx, o, []string{path}, true, func(f *flowpb.Flow, doc any) error {
		require.NoError(t, eng.Process(ctx, f))
		n++
		if fa := facts.Measure(f); fa.HTTP != nil && len(fa.HTTP.Secrets()) > 0 {
			return nil
		}
		raw, err := json.Marshal(doc)
		require.NoError(t, err)
		var want any
		require.NoError(t, json.Unmarshal(raw, &want))
		inputs[n-1] = want
		return nil
	})
	require.NoError(t, err)
	require.Greater(t, len(inputs), 300)
	require.Len(t, rec.alerts, n, "the echo policy reports every flow once")
	for i, want := range inputs {
		var got any
		require.NoError(t, json.Unmarshal([]byte(rec.alerts[i].Annotations[alert.AnnotationSummary]), &got))
		require.Equal(t, want, got, "flow %d", i)
	}
}

// TestBaselineShowAndExport: a replay learns the shop and saves its
// baselines; show prints a workload's learned peers and endpoints, export
// proposes a CiliumNetworkPolicy per workload with exactly those peers.
func TestBaselineShowAndExport(t *testing.T) {
	path := writeShopCapture(t, 3000, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	snap := filepath.Join(t.TempDir(), "baseline.snap")
	o, _, stderr := quietOptions()
	o.BaselinePath = snap
	_, err := Replay(context.Background(), o, []string{path})
	require.NoError(t, err, stderr.String())

	o, stdout, _ := quietOptions()
	require.NoError(t, BaselineShow(o, snap, []string{"shop/frontend"}))
	require.Contains(t, stdout.String(), "shop/frontend")
	require.Contains(t, stdout.String(), "shop/cart")
	require.Contains(t, stdout.String(), "POST /hipstershop.CartService/GetCart")
	require.NotRegexp(t, `(?m)^shop/checkout`, stdout.String(), "only the workload asked for")
	require.ErrorContains(t, BaselineShow(o, snap, []string{"nope/nothing"}), "no profile matches")

	o, stdout, _ = quietOptions()
	require.NoError(t, BaselineExport(o, snap, "shop"))
	var frontend *cnp
	for _, doc := range strings.Split(stdout.String(), "---\n")[1:] {
		var p cnp
		require.NoError(t, yaml.UnmarshalStrict([]byte(doc), &p), doc)
		require.Equal(t, "cilium.io/v2", p.APIVersion)
		require.Equal(t, "shop", p.Metadata.Namespace)
		require.NotEmpty(t, p.Spec.EndpointSelector.MatchLabels)
		if p.Metadata.Name == "frontend-learned-egress" {
			frontend = &p
		}
	}
	require.NotNil(t, frontend)
	require.Equal(t, map[string]string{"app": "frontend"}, frontend.Spec.EndpointSelector.MatchLabels)
	require.Contains(t, frontend.Spec.Egress, cnpRule{
		ToEndpoints: []selector{{MatchLabels: map[string]string{namespaceLabel: "shop", "app": "cart"}}},
		ToPorts:     []portRule{{Ports: []port{{Port: "7070", Protocol: "TCP"}}}},
	})
	require.ErrorContains(t, BaselineExport(o, snap, "no-such-namespace"), "no workload")
	require.ErrorContains(t, BaselineExport(o, filepath.Join(t.TempDir(), "none"), "shop"), "baseline snapshot")
}
