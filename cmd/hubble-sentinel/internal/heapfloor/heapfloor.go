// Package heapfloor keeps the Go garbage collector from running more often than a minimum heap size warrants.
package heapfloor

import (
	"context"
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// By default the collector runs each time the heap doubles its live part
// (GOGC=100). A small live heap that allocates fast, as the engine's does
// (tens of MB live, a document and its terms per flow), is then collected
// several times a second, and the collector takes a fifth of the CPU. A
// floor lets the heap grow to the floor before a cycle: the collector runs
// as if GOGC were higher while the live heap is small. It is the idea of
// Uber's GOGC tuner and of a heap ballast, without the ballast.
//
// Above the floor the live heap is large (many identities' profiles), and
// memory is what is short: the heap then grows by three quarters of its
// live part before a cycle (GOGC=75, Prometheus's default since 2.53), not
// by all of it. The heap goal is max(floor, 1.75 × live), continuous where
// the two meet.

// MaxPercent bounds the GOGC a floor sets: a live heap of a few MB would
// otherwise ask for a collection every gigabyte or so.
const MaxPercent = 2000

// AbovePercent is the GOGC once the live heap is large enough that 1.75 ×
// live reaches the floor.
const AbovePercent = 75

// Percent is the GOGC that puts the heap goal (live × (1 + GOGC/100)) at
// floor, at least AbovePercent and at most MaxPercent; MaxPercent before
// the first cycle has measured the live heap, and Go's default (100)
// without a floor.
func Percent(live, floor uint64) int {
	if floor == 0 {
		return 100
	}
	if live == 0 {
		return MaxPercent
	}
	if live*(100+AbovePercent) >= floor*100 {
		return AbovePercent
	}
	p := (floor - live) * 100 / live
	return int(min(max(p, AbovePercent), MaxPercent))
}

// Tuner sets GOGC from the live heap after every collection, while it
// runs. It adjusts at each cycle's end (a finalizer re-armed each cycle,
// as Uber's tuner does), not on a timer: a live heap growing fast would
// otherwise keep a high GOGC for a while and overshoot the floor by as much
// as it grew.
type Tuner struct {
	floor   uint64
	percent prometheus.Gauge
	logger  *slog.Logger
	// live reads the heap marked live by the last cycle; set sets GOGC
	// and returns the previous value (tests replace them).
	live func() uint64
	set  func(int) int

	mu      sync.Mutex
	running bool
	cur     int
}

// New returns a Tuner keeping the heap goal at least floor bytes.
func New(floor uint64, reg prometheus.Registerer, logger *slog.Logger) *Tuner {
	return &Tuner{
		floor: floor,
		percent: promauto.With(reg).NewGauge(prometheus.GaugeOpts{
			Namespace: "hubble_sentinel", Subsystem: "runtime", Name: "gc_percent",
			Help: "The GOGC the heap floor (--runtime.heap-floor) has set: 75 once 1.75 times the live heap reaches the floor.",
		}),
		logger: logger,
		live:   liveHeap,
		set:    debug.SetGCPercent,
	}
}

// Run sets GOGC until ctx ends, then restores the value it found.
func (t *Tuner) Run(ctx context.Context) error {
	t.mu.Lock()
	t.running = true
	t.cur = Percent(t.live(), t.floor)
	prev := t.set(t.cur)
	t.percent.Set(float64(t.cur))
	t.mu.Unlock()
	t.logger.Debug("heap floor", "floor_bytes", t.floor, "gogc", t.cur)
	t.arm()
	<-ctx.Done()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.running = false
	t.set(prev)
	return nil
}

// cycle is an object the collector frees at each cycle: its finalizer
// adjusts GOGC to the live heap just measured and arms the next one.
type cycle struct {
	t *Tuner
	_ [16]byte // not a tiny allocation, which may share a block and never be freed alone
}

func (t *Tuner) arm() {
	runtime.SetFinalizer(&cycle{t: t}, func(c *cycle) {
		if c.t.adjust() {
			c.t.arm()
		}
	})
}

// adjust sets GOGC for the live heap now, and reports whether the Tuner
// still runs.
func (t *Tuner) adjust() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.running {
		return false
	}
	if p := Percent(t.live(), t.floor); p != t.cur {
		t.set(p)
		t.cur = p
		t.percent.Set(float64(p))
	}
	return true
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
