// Package heapfloor keeps the Go garbage collector from running more often than a minimum heap size warrants.
package heapfloor

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// By default the collector runs each time the heap doubles its live part
// (GOGC=100). A small live heap that allocates fast, as the engine's does
// (tens of MB live, a document and its terms per flow), is then collected
// several times a second, and the collector takes a fifth of the CPU. A
// floor lets the heap grow to the floor before a cycle: the collector runs
// as if GOGC were higher while the live heap is below half the floor, and
// as usual above it, so a large heap (many identities) costs no more
// memory than before. It is the idea of Uber's GOGC tuner and of a heap
// ballast, without the ballast.

// MaxPercent bounds the GOGC a floor sets: a live heap of a few MB would
// otherwise ask for a collection every gigabyte or so.
const MaxPercent = 2000

// Percent is the GOGC that puts the heap goal (live × (1 + GOGC/100)) at
// floor: 100 once the live heap is half the floor or more, at most
// MaxPercent; MaxPercent before the first cycle has measured the live heap.
func Percent(live, floor uint64) int {
	if floor == 0 || 2*live >= floor {
		return 100
	}
	if live == 0 {
		return MaxPercent
	}
	p := (floor - live) * 100 / live
	return int(min(max(p, 100), MaxPercent))
}

// Tuner sets GOGC from the live heap, every Interval, while it runs.
type Tuner struct {
	floor    uint64
	interval time.Duration
	percent  prometheus.Gauge
	logger   *slog.Logger
	// live reads the heap marked live by the last cycle; set sets GOGC
	// and returns the previous value (tests replace them).
	live func() uint64
	set  func(int) int
}

// DefaultInterval is how often the live heap is read: a cycle or a few.
const DefaultInterval = 250 * time.Millisecond

// New returns a Tuner keeping the heap goal at least floor bytes.
func New(floor uint64, reg prometheus.Registerer, logger *slog.Logger) *Tuner {
	return &Tuner{
		floor:    floor,
		interval: DefaultInterval,
		percent: promauto.With(reg).NewGauge(prometheus.GaugeOpts{
			Namespace: "hubble_sentinel", Subsystem: "runtime", Name: "gc_percent",
			Help: "The GOGC the heap floor (--runtime.heap-floor) has set: 100 once the live heap is half the floor or more.",
		}),
		logger: logger,
		live:   liveHeap,
		set:    debug.SetGCPercent,
	}
}

// Run sets GOGC until ctx ends, then restores the value it found.
func (t *Tuner) Run(ctx context.Context) error {
	cur := Percent(t.live(), t.floor)
	prev := t.set(cur)
	t.percent.Set(float64(cur))
	t.logger.Debug("heap floor", "floor_bytes", t.floor, "gogc", cur)
	defer t.set(prev)
	tick := time.NewTicker(t.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if p := Percent(t.live(), t.floor); p != cur {
			t.set(p)
			cur = p
			t.percent.Set(float64(p))
		}
	}
}

// liveHeap is the heap marked live by the last cycle (0 before the first).
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
