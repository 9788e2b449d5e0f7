package engine

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"

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

// TestParallelKeepsEachClientInOrder: the flows of one client workload are
// judged one at a time, in the order they came, while workloads move to
// the worker with the least work: with the shop's uneven traffic (one
// workload a fifth of it) both workers judge a fair share.
func TestParallelKeepsEachClientInOrder(t *testing.T) {
	e, err := New(Config{}, bundled(t), &recordingAggregator{}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(t, err)
	p := NewParallel(e, 2, 64, prometheus.NewRegistry())
	g := shopmesh.New(shopmesh.Config{Seed: 5})
	const n = 4000
	flows := make([]*flowpb.Flow, n)
	seq := map[*flowpb.Flow]int{}
	for i := range flows {
		flows[i] = g.Next()
		seq[flows[i]] = i
	}
	var (
		mu       sync.Mutex
		inFlight = map[string]bool{}
		last     = map[string]int{}
		perWork  [2]int
		moved    = map[string]map[int]bool{}
		problems []string
	)
	p.judge = func(_ context.Context, worker int, m measured) error {
		mu.Lock()
		if inFlight[m.client] {
			problems = append(problems, "two flows of "+m.client+" judged at once")
		}
		inFlight[m.client] = true
		if prev, ok := last[m.client]; ok && seq[m.flow] <= prev {
			problems = append(problems, fmt.Sprintf("flow %d of %s judged after flow %d", seq[m.flow], m.client, prev))
		}
		last[m.client] = seq[m.flow]
		perWork[worker]++
		if moved[m.client] == nil {
			moved[m.client] = map[int]bool{}
		}
		moved[m.client][worker] = true
		mu.Unlock()
		time.Sleep(time.Duration(seq[m.flow]%7) * 20 * time.Microsecond) // interleave
		mu.Lock()
		inFlight[m.client] = false
		mu.Unlock()
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	for _, f := range flows {
		require.NoError(t, p.Handle(ctx, f))
	}
	p.Close()
	require.NoError(t, <-done)
	require.Empty(t, problems)
	require.Equal(t, n, perWork[0]+perWork[1])
	for w, c := range perWork {
		require.Greater(t, c, n*35/100, "worker %d judged %d of %d flows", w, c, n)
	}
	movers := 0
	for _, ws := range moved {
		if len(ws) > 1 {
			movers++
		}
	}
	require.Positive(t, movers, "workloads go where the work is least")
	p.mu.Lock()
	require.Empty(t, p.owners, "nothing held once every flow is judged")
	require.Equal(t, []int{0, 0}, p.load)
	p.mu.Unlock()
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

// TestParallelStreamYieldsToWorkers: on one core, a stream that always
// has the next flow (Handle never blocks) lets a worker it woke judge
// right away, not when the scheduler's time slice ends; not more than
// once per yieldEvery, and not a worker that was not blocked on its queue.
func TestParallelStreamYieldsToWorkers(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	for _, tc := range []struct {
		name       string
		parked     bool          // the workers wait on their queues first
		sinceYield time.Duration // when the stream last yielded
		judged     bool
	}{
		{name: "wakes_a_blocked_worker", parked: true, sinceYield: yieldEvery, judged: true},
		{name: "within_yieldEvery", parked: true, sinceYield: yieldEvery / 2},
		{name: "workers_not_blocked", sinceYield: yieldEvery},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := NewParallel(nil, 2, 1024, prometheus.NewRegistry())
			var judged atomic.Int64
			p.judge = func(context.Context, int, measured) error { judged.Add(1); return nil }
			clock := time.Unix(1000, 0)
			p.now = func() time.Time { return clock }
			p.lastYield = clock.Add(-tc.sinceYield)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error)
			go func() { done <- p.Run(ctx) }()
			if tc.parked {
				for n := 0; !(p.parked[0].Load() && p.parked[1].Load()); n++ {
					require.Less(t, n, 10000, "workers never blocked on their queues")
					runtime.Gosched()
				}
			}
			g := shopmesh.New(shopmesh.Config{Seed: 5})
			for range 12 {
				require.NoError(t, p.Handle(ctx, g.Next()))
			}
			require.Equal(t, tc.judged, judged.Load() > 0, "flows judged while the stream ran")
			cancel()
			require.NoError(t, <-done)
		})
	}
}
