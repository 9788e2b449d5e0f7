package heapfloor

import (
	"context"
	"log/slog"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

const mib = 1 << 20

func TestPercent(t *testing.T) {
	for _, tc := range []struct {
		name        string
		live, floor uint64
		want        int
	}{
		{name: "no floor", live: 10 * mib, floor: 0, want: 100},
		{name: "before the first cycle", live: 0, floor: 256 * mib, want: MaxPercent},
		{name: "a small live heap grows to the floor", live: 32 * mib, floor: 256 * mib, want: 700},
		{name: "uneven", live: 42 * mib, floor: 256 * mib, want: 509},
		{name: "half the floor: Go's default", live: 128 * mib, floor: 256 * mib, want: 100},
		{name: "just under half", live: 127 * mib, floor: 256 * mib, want: 101},
		{name: "nearing the floor", live: 140 * mib, floor: 256 * mib, want: 82},
		{name: "where 1.75 x live meets the floor", live: 256 * mib * 4 / 7, floor: 256 * mib, want: AbovePercent},
		{name: "just below that", live: 256*mib*4/7 - mib, floor: 256 * mib, want: 76},
		{name: "above the floor", live: 400 * mib, floor: 256 * mib, want: AbovePercent},
		{name: "a tiny live heap is bounded", live: 1 * mib, floor: 256 * mib, want: MaxPercent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, Percent(tc.live, tc.floor))
		})
	}
}

// fakeRuntime is a live heap the test moves and the GOGC the tuner sets.
type fakeRuntime struct {
	mu      sync.Mutex
	live    uint64
	percent int
	sets    int
}

func (f *fakeRuntime) liveHeap() uint64 { f.mu.Lock(); defer f.mu.Unlock(); return f.live }
func (f *fakeRuntime) setLive(v uint64) { f.mu.Lock(); defer f.mu.Unlock(); f.live = v }
func (f *fakeRuntime) gogc() int        { f.mu.Lock(); defer f.mu.Unlock(); return f.percent }
func (f *fakeRuntime) setCount() int    { f.mu.Lock(); defer f.mu.Unlock(); return f.sets }
func (f *fakeRuntime) set(p int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	prev := f.percent
	f.percent = p
	f.sets++
	return prev
}

// cycled reports cond after a collection: the Tuner adjusts when a cycle
// ends.
func cycled(cond func() bool) func() bool {
	return func() bool {
		runtime.GC()
		return cond()
	}
}

// TestTunerFollowsTheLiveHeap: at each collection GOGC follows the live
// heap as it grows and shrinks, the gauge says what is set, and the value
// found is restored.
func TestTunerFollowsTheLiveHeap(t *testing.T) {
	f := &fakeRuntime{live: 32 * mib, percent: 150}
	reg := prometheus.NewRegistry()
	tu := New(256*mib, reg, slog.New(slog.DiscardHandler))
	tu.live, tu.set = f.liveHeap, f.set
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tu.Run(ctx) }()

	require.Eventually(t, cycled(func() bool { return f.gogc() == 700 }), 5*time.Second, time.Millisecond)
	f.setLive(300 * mib)
	require.Eventually(t, cycled(func() bool { return f.gogc() == AbovePercent }), 5*time.Second, time.Millisecond)
	require.Equal(t, float64(AbovePercent), testutil.ToFloat64(tu.percent))
	f.setLive(64 * mib)
	require.Eventually(t, cycled(func() bool { return f.gogc() == 300 }), 5*time.Second, time.Millisecond)

	cancel()
	require.NoError(t, <-done)
	require.Equal(t, 150, f.gogc(), "the GOGC found is restored")
	sets := f.setCount()
	for range 3 {
		runtime.GC()
	}
	require.Equal(t, sets, f.setCount(), "nothing is set once stopped")
}

// TestTunerSetsTheRuntime: with the runtime's own live heap and GOGC, a
// floor far above this test's heap sets a GOGC above 100, and stopping
// restores the one found.
func TestTunerSetsTheRuntime(t *testing.T) {
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	runtime.GC() // a live heap measured
	tu := New(1<<40, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tu.Run(ctx) }()
	require.Eventually(t, cycled(func() bool { return testutil.ToFloat64(tu.percent) == MaxPercent }), 5*time.Second, time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	require.Equal(t, 100, debug.SetGCPercent(100), "restored")
}
