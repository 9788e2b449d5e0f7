package app

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/engine/alert"
	"github.com/hubble-sentinel/hubble-sentinel/hubble"
)

// fakeGaps records the calls of alert.Gaps as strings.
type fakeGaps struct {
	mu    sync.Mutex
	calls []string
}

func (f *fakeGaps) add(s string) { f.mu.Lock(); defer f.mu.Unlock(); f.calls = append(f.calls, s) }
func (f *fakeGaps) Missed(_ time.Time, reason, node string, flows uint64, _ string) {
	f.add(fmt.Sprintf("missed %s %s %d", reason, node, flows))
}
func (f *fakeGaps) Lost(_ time.Time, reason, key, _ string)  { f.add("lost " + reason + " " + key) }
func (f *fakeGaps) Restored(_ time.Time, reason, key string) { f.add("restored " + reason + " " + key) }
func (f *fakeGaps) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.calls
	f.calls = nil
	return out
}

var _ alert.Gaps = (*fakeGaps)(nil)

func TestGapAlerts(t *testing.T) {
	for _, tc := range []struct {
		gap  hubble.Gap
		want string
	}{
		{hubble.Gap{Kind: hubble.GapLostEvents, Node: "n1", Flows: 40, Reason: "PERF_EVENT_RING_BUFFER"}, "missed lost_events n1 40"},
		{hubble.Gap{Kind: hubble.GapResume, Node: "n2", Flows: 7, Estimated: true}, "missed flows_overwritten n2 7"},
		{hubble.Gap{Kind: hubble.GapOversized, Node: "n1", Flows: 1}, "missed oversized_flow n1 1"},
		{hubble.Gap{Kind: hubble.GapNodeStatus, Node: "n3", Reason: "NODE_UNAVAILABLE"}, "lost node_unavailable n3"},
		{hubble.Gap{Kind: "shed", Flows: 90}, "missed shed  90"},
	} {
		t.Run(string(tc.gap.Kind), func(t *testing.T) {
			f := &fakeGaps{}
			var passed atomic.Int32
			g := gapAlerts{gaps: f, next: hubble.GapFuncs{OnGap: func(hubble.Gap) { passed.Add(1) }}}
			g.Gap(tc.gap)
			require.Equal(t, []string{tc.want}, f.take())
			require.Equal(t, int32(1), passed.Load(), "passed on")
		})
	}
	f := &fakeGaps{}
	gapAlerts{gaps: f}.Gap(hubble.Gap{Kind: hubble.GapNodeStatus, Node: "gone", Reason: "NODE_GONE"})
	gapAlerts{gaps: f}.NodeRecovered("relay", "", "n3")
	require.Equal(t, []string{"restored node_unavailable n3"}, f.take(), "a node gone from the cluster is no blind spot")
}

func TestWatchRelay(t *testing.T) {
	f := &fakeGaps{}
	var ready atomic.Bool
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- watchRelay(ctx, ready.Load, f, "relay:4245") }()
	wait := func(want ...string) {
		t.Helper()
		var got []string
		require.Eventually(t, func() bool { got = append(got, f.take()...); return len(got) >= len(want) }, 5*time.Second, 10*time.Millisecond)
		require.Equal(t, want, got)
	}
	wait("lost relay_disconnected relay:4245")
	ready.Store(true)
	wait("restored relay_disconnected relay:4245")
	ready.Store(false)
	wait("lost relay_disconnected relay:4245")
	cancel()
	require.NoError(t, <-done)
}

// TestBlindBaselines: each kind of gap marks the baselines blind where the
// flows are missing, and passes the gap on.
func TestBlindBaselines(t *testing.T) {
	t0 := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	pos := t0
	var spans []string
	var passed atomic.Int32
	b := &blindBaselines{
		blind: func(from, to time.Time) {
			spans = append(spans, from.Sub(t0).String()+".."+map[bool]string{true: "open", false: to.Sub(t0).String()}[to.IsZero()])
		},
		position: func() time.Time { return pos },
		next:     hubble.GapFuncs{OnGap: func(hubble.Gap) { passed.Add(1) }, OnNodeRecovered: func(_, _, _ string) { passed.Add(1) }},
	}
	b.Gap(hubble.Gap{Kind: hubble.GapResume, Start: t0.Add(time.Minute), End: t0.Add(3 * time.Minute)})
	b.Gap(hubble.Gap{Kind: hubble.GapLostEvents, Start: t0.Add(4 * time.Minute), End: t0.Add(4 * time.Minute)})
	pos = t0.Add(5 * time.Minute)
	b.Gap(hubble.Gap{Kind: hubble.GapLostEvents}) // no span: around the position
	b.Gap(hubble.Gap{Kind: hubble.GapOversized, Start: pos, End: pos})
	b.Gap(hubble.Gap{Kind: hubble.GapNodeStatus, Source: "r", Node: "a", Reason: "NODE_UNAVAILABLE"})
	b.Gap(hubble.Gap{Kind: hubble.GapNodeStatus, Source: "r", Node: "a", Reason: "NODE_ERROR"}) // still the same span
	b.Gap(hubble.Gap{Kind: hubble.GapNodeStatus, Source: "r", Node: "b", Reason: "NODE_UNAVAILABLE"})
	b.Gap(hubble.Gap{Kind: hubble.GapNodeStatus, Source: "r", Node: "c", Reason: "NODE_GONE"})
	pos = t0.Add(9 * time.Minute)
	b.NodeRecovered("r", "", "a")
	b.NodeRecovered("r", "", "never-reported")
	require.Equal(t, []string{"1m0s..3m0s", "4m0s..4m0s", "5m0s..5m0s", "5m0s..open", "5m0.000000001s..open", "5m0s..9m0s"}, spans)
	require.Equal(t, int32(10), passed.Load())
}

// TestDemoShowsAVisibilityGap: the demo's relay has one node report lost
// events once, as Cilium's agent does, and the demo prints
// SentinelVisibilityGap for it.
func TestDemoShowsAVisibilityGap(t *testing.T) {
	var out syncBuffer
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- Demo(ctx, DemoOptions{
			Options: Options{Stdout: &out, Logger: slog.New(slog.DiscardHandler)},
			Rate:    200, BlindSpotAfter: time.Second,
		})
	}()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "reason=lost_events") }, time.Minute, 50*time.Millisecond, "the demo's output: %s", &out)
	cancel()
	require.NoError(t, <-done)
	text := out.String()
	require.Contains(t, text, "simulated blind spot: ")
	i := strings.Index(text, "simulated blind spot: ")
	require.Contains(t, text[i:], "SentinelVisibilityGap", text)
	require.Contains(t, text[i:], "reason=lost_events")
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }
