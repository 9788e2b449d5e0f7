package engine

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/engine/alert"
	"github.com/hubble-sentinel/hubble-sentinel/engine/policy"
	"github.com/hubble-sentinel/hubble-sentinel/engine/profile"
	"github.com/hubble-sentinel/hubble-sentinel/policies"
	"github.com/hubble-sentinel/hubble-sentinel/test/captures"
	"github.com/hubble-sentinel/hubble-sentinel/test/shopmesh"
)

// TestDecisionCacheChangesNoAlert is the shortcuts' correctness guard:
// the real captures and the simulated shop (its attacks included), judged
// by an engine with the decision cache and gating by flow type, one with
// gating only, and one judging every flow with one query over every
// policy, raise the same alerts, flow by flow, in the same order; and the
// cache is used.
func TestDecisionCacheChangesNoAlert(t *testing.T) {
	var flows []*flowpb.Flow
	g := shopmesh.New(shopmesh.Config{Seed: 9, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Attacks: true})
	for range 3000 {
		flows = append(flows, g.Next())
	}
	for _, f := range captures.Flows(t) {
		flows = append(flows, f.Flow)
	}
	cfg := Config{FlowClock: true}
	plain, _ := judgeAll(t, flows, cfg, policy.WithoutShortcuts())
	gated, _ := judgeAll(t, flows, cfg, policy.WithCacheSize(-1))
	cached, set := judgeAll(t, flows, cfg)
	require.NotEmpty(t, plain, "the flows raise alerts")
	require.Equal(t, plain, gated, "gating by flow type changes no verdict")
	require.Equal(t, plain, cached, "the decision cache changes no verdict")
	var hits uint64
	for _, s := range set.CacheStats() {
		t.Logf("%s group (%d policies): %d hits, %d misses", s.Group, s.Policies, s.Hits, s.Misses)
		hits += s.Hits
	}
	require.Positive(t, hits, "the cache is used")
}

// TestGuardsChangeNoAlert is the guards' correctness guard: the baseline
// scenario, learned for a minute and then judged around each of its
// labelled attacks (so the live rate, fan-out, latency, error and
// authentication-failure values cross their thresholds), raises the same
// alerts, flow by flow, with the guarded evaluation as with one query over
// every policy, and the volatile baseline policies do fire.
func TestGuardsChangeNoAlert(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := shopmesh.Config{Seed: 3, Start: start, Baseline: true, Attacks: true}
	learn := time.Minute
	// Scans and sweeps cross their thresholds within seconds; the live
	// rates, error shares and latencies are per minute.
	window := func(in shopmesh.Incident) time.Duration {
		switch in.Name {
		case shopmesh.IncidentLatencySpike, shopmesh.IncidentErrorSpike, shopmesh.IncidentRateSpike:
			return time.Minute
		}
		return 10 * time.Second
	}
	incidents := shopmesh.Incidents(cfg)
	keep := func(at time.Time) bool {
		if at.Before(start.Add(learn + 10*time.Second)) {
			return true
		}
		for _, in := range incidents {
			if !at.Before(in.Start) && at.Before(in.Start.Add(window(in))) {
				return true
			}
		}
		return false
	}
	g := shopmesh.New(cfg)
	end := shopmesh.ScenarioEnd(cfg)
	var flows []*flowpb.Flow
	for {
		f := g.Next()
		at := f.GetTime().AsTime()
		if !at.Before(end) {
			break
		}
		if keep(at) {
			flows = append(flows, f)
		}
	}
	ecfg := Config{FlowClock: true, Profiles: profile.Config{LearningPeriod: learn}}
	plain, _ := judgeAll(t, flows, ecfg, policy.WithoutShortcuts())
	guarded, set := judgeAll(t, flows, ecfg)
	require.Equal(t, plain, guarded, "the guards change no verdict")
	fired := map[string]bool{}
	for _, a := range plain {
		for _, id := range []string{"BaselineRequestRateSpike", "BaselinePortScan", "BaselineAddressSweep", "BaselineErrorSpike", "BaselineLatencySpike", "BaselineCredentialStuffing", "BaselinePolicyDropSpike"} {
			if strings.Contains(a, ": "+id+" ") {
				fired[id] = true
			}
		}
	}
	t.Logf("%d flows, %d alerts; volatile baseline policies that fired: %v", len(flows), len(plain), fired)
	require.GreaterOrEqual(t, len(fired), 5, "the scenario drives the live values past the thresholds")
	for _, st := range set.CacheStats() {
		t.Logf("%s group: %d cached, %d evaluated, %d skipped", st.Group, st.Hits, st.Misses, st.Skipped)
		if !st.Cached() {
			require.Greater(t, st.Skipped, 10*st.Misses, "the guards leave most flows nothing volatile to evaluate")
		}
	}
}

// judgeAll runs flows through an engine over the bundled policies loaded
// with opts, and lists the alerts each flow raised.
func judgeAll(t *testing.T, flows []*flowpb.Flow, cfg Config, opts ...policy.Option) ([]string, *policy.Set) {
	t.Helper()
	set, err := policy.Load(context.Background(), policies.FS, ".", opts...)
	require.NoError(t, err)
	rec := &recordingAggregator{}
	e, err := New(cfg, set, rec, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(t, err)
	var out []string
	for i, f := range flows {
		n := len(rec.alerts)
		require.NoError(t, e.Process(context.Background(), f))
		for _, a := range rec.alerts[n:] {
			out = append(out, fmt.Sprintf("flow %d: %s %v %v", i, a.Labels[alert.LabelAlertname], a.Labels, a.Annotations))
		}
	}
	return out, set
}
