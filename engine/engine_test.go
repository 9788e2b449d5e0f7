package engine

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/engine/alert"
	"github.com/hubble-sentinel/hubble-sentinel/engine/policy"
	"github.com/hubble-sentinel/hubble-sentinel/policies"
	"github.com/hubble-sentinel/hubble-sentinel/test/shopmesh"
)

type recordingAggregator struct {
	mu     sync.Mutex
	alerts []alert.Alert
	ticks  []time.Time
}

func (r *recordingAggregator) Observe(_ time.Time, a alert.Alert) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.alerts = append(r.alerts, a)
}

func (r *recordingAggregator) Tick(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ticks = append(r.ticks, now)
}

func bundled(t testing.TB) *policy.Set {
	t.Helper()
	set, err := policy.Load(context.Background(), policies.FS, ".")
	require.NoError(t, err)
	return set
}

func TestProcessRaisesAlertsForAttacks(t *testing.T) {
	rec := &recordingAggregator{}
	reg := prometheus.NewRegistry()
	e, err := New(Config{FlowClock: true}, bundled(t), rec, slog.New(slog.DiscardHandler), reg)
	require.NoError(t, err)

	g := shopmesh.New(shopmesh.Config{Seed: 3, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Attacks: true})
	want := map[string]bool{}
	var last *flowpb.Flow
	for range 2500 {
		f := g.Next()
		last = f
		if a := shopmesh.Classify(f); a != "" {
			for _, id := range a.Policies() {
				want[id] = true
			}
		}
		require.NoError(t, e.Process(context.Background(), f))
	}
	got := map[string]bool{}
	for _, a := range rec.alerts {
		got[a.Labels[alert.LabelAlertname]] = true
	}
	require.Equal(t, want, got, "exactly the attacks' policies alert")
	require.Len(t, rec.ticks, 2500, "the flow clock ticks once per flow")
	require.Equal(t, last.GetTime().AsTime(), rec.ticks[len(rec.ticks)-1])
	require.Equal(t, 2500.0, testutil.ToFloat64(e.metrics.flows))
	require.Equal(t, 21, e.Profiles().Len(), "profiles are per workload, not per pod: 16 workloads and 5 reserved kinds (world, host, remote-node, health, kube-apiserver)")
}

func TestProcessSurvivesEvaluationErrors(t *testing.T) {
	// A complete rule with two values conflicts at evaluation time only.
	fsys := fstest.MapFS{
		"lib.rego": {Data: []byte("package sentinel.lib\n\nviolation(chain, summary) := {\"id\": \"Conflict\", \"severity\": \"info\", \"policy\": \"sentinel.x.conflict\", \"summary\": summary}\n")},
		"x/conflict/conflict.rego": {Data: []byte(`# METADATA
# title: Conflict
# custom:
#   id: Conflict
#   severity: info
package sentinel.x.conflict

import data.sentinel.lib

port := input.sentinel.destination_port
port := 1 if input.verdict == "DROPPED"

violation contains lib.violation(rego.metadata.chain(), "x") if port > 0
`)},
	}
	set, err := policy.Load(context.Background(), fsys, ".")
	require.NoError(t, err)
	var logs bytes.Buffer
	rec := &recordingAggregator{}
	e, err := New(Config{}, set, rec, slog.New(slog.NewTextHandler(&logs, nil)), prometheus.NewRegistry())
	require.NoError(t, err)

	g := shopmesh.New(shopmesh.Config{Seed: 1, Attacks: true})
	for range 2000 {
		require.NoError(t, e.Process(context.Background(), g.Next()))
	}
	require.Positive(t, testutil.ToFloat64(e.metrics.evalErrors), "drops conflict and are counted")
	require.NotEmpty(t, rec.alerts, "other flows are still judged")
	require.Contains(t, logs.String(), "policy evaluation failed")
	require.Equal(t, 2000.0, testutil.ToFloat64(e.metrics.flows))
}

func TestProcessNilFlow(t *testing.T) {
	e, err := New(Config{}, bundled(t), &recordingAggregator{}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(t, err)
	require.NoError(t, e.Process(context.Background(), nil))
	require.Equal(t, 1.0, testutil.ToFloat64(e.metrics.malformed))
}
