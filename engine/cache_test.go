package engine

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/engine/alert"
	"github.com/hubble-sentinel/hubble-sentinel/engine/policy"
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
	judge := func(opts ...policy.Option) ([]string, *policy.Set) {
		set, err := policy.Load(context.Background(), policies.FS, ".", opts...)
		require.NoError(t, err)
		rec := &recordingAggregator{}
		e, err := New(Config{FlowClock: true}, set, rec, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
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
	plain, _ := judge(policy.WithoutShortcuts())
	gated, _ := judge(policy.WithCacheSize(-1))
	cached, set := judge()
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
