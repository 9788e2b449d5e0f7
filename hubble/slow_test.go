package hubble

import (
	"context"
	"runtime"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	observerpb "github.com/cilium/cilium/api/v1/observer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/test/testrelay"
)

// TestSlowEvaluationPushesBack: evaluation far slower than the flow rate.
// The client buffers nothing of its own: the lag metric grows, the relay's
// ring overwrites what was not read and says so (LostEvents, counted as a
// gap), memory stays bounded, and nothing fails.
func TestSlowEvaluationPushesBack(t *testing.T) {
	ring := testrelay.NewRing(1024)
	lis := listen(t)
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()
	go func() { _ = testrelay.NewRingServer(ring, nil).Serve(ctx, lis) }()
	ring.Write(newFlow(time.Now(), seqUUID(0), 1))

	conn, err := Dial(lis.Addr().String(), TLSConfig{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	c := NewClient(observerpb.NewObserverClient(conn), ClientConfig{Follow: true, Reconnect: true, Conn: conn}, nil, prometheus.NewRegistry())
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	handled := 0
	go func() {
		done <- c.Run(runCtx, func(context.Context, *flowpb.Flow) error {
			handled++
			time.Sleep(2 * time.Millisecond) // a policy set 100 times too slow
			return nil
		})
	}()
	require.Eventually(t, c.Ready, 5*time.Second, time.Millisecond)

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	produced := ring.Produce(ctx, 100_000, 50_000, func(i int, now time.Time) *flowpb.Flow { return seqFlow(i+1, now) })
	require.Equal(t, 100_000, produced)
	time.Sleep(500 * time.Millisecond)
	lag := testutil.ToFloat64(c.metrics.lag)
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	// The relay's LostEvents response queues behind the flows already in
	// flight (its send buffer and the stream's flow-control window), which
	// the slow handler drains at 500/s: on a loaded machine that takes
	// seconds, so wait for it rather than assume it has arrived.
	lostEvents := c.metrics.lostEvents.WithLabelValues("HUBBLE_RING_BUFFER")
	require.Eventually(t, func() bool { return testutil.ToFloat64(lostEvents) > 0 }, 15*time.Second, 10*time.Millisecond,
		"what the ring overwrote is counted")
	stop()
	require.NoError(t, <-done)

	lost := testutil.ToFloat64(lostEvents)
	t.Logf("100,000 flows at 50,000/s, 2 ms each to judge: %d judged, lag %.1fs, %v lost (counted), heap %+.1f MiB",
		handled, lag, lost, (float64(after.HeapAlloc)-float64(before.HeapAlloc))/(1<<20))
	require.Greater(t, lag, 0.5, "the lag metric shows evaluation falling behind")
	require.Positive(t, testutil.ToFloat64(c.metrics.gaps.WithLabelValues(string(GapLostEvents))))
	require.Less(t, float64(after.HeapAlloc)-float64(before.HeapAlloc), float64(64<<20), "memory stays bounded")
}

// TestReducedCoverage: with ShedAfter, evaluation that falls behind makes
// the client sample plain L3/L4 flows; every L7 flow is still judged, the
// sampled-out flows are counted and reported as a gap.
func TestReducedCoverage(t *testing.T) {
	ring := testrelay.NewRing(1 << 17)
	lis := listen(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	go func() { _ = testrelay.NewRingServer(ring, nil).Serve(ctx, lis) }()
	ring.Write(newFlow(time.Now(), seqUUID(0), 1))

	conn, err := Dial(lis.Addr().String(), TLSConfig{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	var gaps []Gap
	c := NewClient(observerpb.NewObserverClient(conn), ClientConfig{
		Follow: true, Reconnect: true, Conn: conn, ShedAfter: 200 * time.Millisecond,
		Gaps: GapFuncs{OnGap: func(g Gap) { gaps = append(gaps, g) }},
	}, nil, prometheus.NewRegistry())
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	l7 := 0
	go func() {
		done <- c.Run(runCtx, func(_ context.Context, f *flowpb.Flow) error {
			if f.GetL7() != nil {
				l7++
			}
			time.Sleep(200 * time.Microsecond)
			return nil
		})
	}()
	require.Eventually(t, c.Ready, 5*time.Second, time.Millisecond)

	const n = 40_000
	var last time.Time
	ring.Produce(ctx, n, 20_000, func(i int, now time.Time) *flowpb.Flow {
		last = now
		f := seqFlow(i+1, now)
		if i%20 == 0 {
			f.L7 = &flowpb.Layer7{Record: &flowpb.Layer7_Http{Http: &flowpb.HTTP{Method: "GET", Url: "http://x/"}}}
		}
		return f
	})
	// A bound on the wait only: a quiet machine catches up in a few
	// seconds, a loaded one running the race detector may take far longer.
	require.Eventually(t, func() bool { return !c.Position().Before(last) }, 90*time.Second, 10*time.Millisecond,
		"the client catches up")
	stop()
	require.NoError(t, <-done)
	shed := testutil.ToFloat64(c.metrics.shed)
	t.Logf("%d flows at 20,000/s, 0.2 ms each to judge: %v sampled out, %d L7 judged", n, shed, l7)
	require.Positive(t, shed)
	require.Equal(t, n/20, l7, "every L7 flow judged")
	require.Zero(t, testutil.ToFloat64(c.metrics.lostEvents.WithLabelValues("HUBBLE_RING_BUFFER")), "nothing lost in the ring")
	var reported uint64
	for _, g := range gaps {
		require.Equal(t, GapShed, g.Kind)
		reported += g.Flows
	}
	require.Equal(t, uint64(shed), reported, "every sampled-out flow is in a reported gap")
}
