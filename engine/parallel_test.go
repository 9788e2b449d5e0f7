package engine

import (
	"github.com/hubble-sentinel/hubble-sentinel/engine/facts"

	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/engine/alert"
	"github.com/hubble-sentinel/hubble-sentinel/test/shopmesh"
)

func TestParallelJudgesEveryFlowOnce(t *testing.T) {
	rec := &recordingAggregator{}
	set := bundled(t)
	e, err := New(Config{}, set, rec, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(t, err)
	p := NewParallel(e, 3, 8, prometheus.NewRegistry())

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	g := shopmesh.New(shopmesh.Config{Seed: 5, Attacks: true})
	want := map[string]bool{}
	const n = 3000
	for range n {
		f := g.Next()
		for _, id := range shopmesh.Classify(f).Policies() {
			if !set.Learnable(id) { // learnable ones record while the shop learns
				want[id] = true
			}
		}
		require.NoError(t, p.Handle(ctx, f))
	}
	require.Eventually(t, func() bool { return testutil.ToFloat64(e.metrics.flows) == n }, 30*time.Second, 10*time.Millisecond)
	cancel()
	require.NoError(t, <-done)

	got := map[string]bool{}
	rec.mu.Lock()
	for _, a := range rec.alerts {
		got[a.Labels[alert.LabelAlertname]] = true
	}
	rec.mu.Unlock()
	require.Equal(t, want, got)
}

func TestParallelCloseDrains(t *testing.T) {
	e, err := New(Config{}, bundled(t), &recordingAggregator{}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(t, err)
	p := NewParallel(e, 2, 500, prometheus.NewRegistry())
	g := shopmesh.New(shopmesh.Config{Seed: 5})
	for range 400 {
		require.NoError(t, p.Handle(context.Background(), g.Next()))
	}
	p.Close()
	require.NoError(t, p.Run(context.Background()), "returns once the queues are drained")
	require.Equal(t, 400.0, testutil.ToFloat64(e.metrics.flows))

	// Each flow's arrival-to-verdict time is observed, queueing included.
	var m dto.Metric
	require.NoError(t, e.metrics.decision.(prometheus.Metric).Write(&m))
	require.Equal(t, uint64(400), m.GetHistogram().GetSampleCount())
	require.Positive(t, m.GetHistogram().GetSampleSum())
}

func TestParallelShardsByClientWorkload(t *testing.T) {
	e, err := New(Config{}, bundled(t), &recordingAggregator{}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(t, err)
	p := NewParallel(e, 4, 1, prometheus.NewRegistry())
	g := shopmesh.New(shopmesh.Config{Seed: 5})
	shardOf := map[string]int{}
	used := map[int]bool{}
	for range 2000 {
		fa := facts.Measure(g.Next())
		key := fa.Client().Key()
		s := p.shard(&fa)
		if prev, ok := shardOf[key]; ok {
			require.Equal(t, prev, s, "one client workload, requests and replies alike, one worker")
		}
		shardOf[key] = s
		used[s] = true
	}
	require.Greater(t, len(used), 1, "workloads spread over workers")
}

func TestParallelHandleRespectsCancel(t *testing.T) {
	e, err := New(Config{}, bundled(t), &recordingAggregator{}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(t, err)
	p := NewParallel(e, 1, 1, prometheus.NewRegistry())
	g := shopmesh.New(shopmesh.Config{Seed: 5})
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, p.Handle(ctx, g.Next())) // fills the queue; no worker runs
	cancel()
	require.ErrorIs(t, p.Handle(ctx, g.Next()), context.Canceled, "a full queue blocks until cancelled, never drops")
}
