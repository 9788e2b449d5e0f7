package engine

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"

	"github.com/hubble-sentinel/hubble-sentinel/engine/facts"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"golang.org/x/sync/errgroup"
)

// Parallel spreads flows over several workers running the engine. A
// flow's endpoints are measured as it arrives (facts.MeasureL4), the rest
// on its worker, and the flows of one client workload (the
// side that initiated, whose profile holds the edge's windows) are judged
// one at a time in the order the relay sent them: while a workload has
// flows queued or being judged, its next flow joins them on the same
// worker; a workload with none goes to the worker with the least work.
// Workloads thus move between workers only between bursts, and a worker
// is never idle while another holds a backlog of many workloads, however
// unevenly the cluster's traffic is spread over them (a fixed hash split
// of a few busy workloads left one of two workers a quarter busier).
//
// A full queue blocks the stream rather than dropping flows: the relay's
// own buffer then overflows and reports LostEvents, which the hubble
// client counts, so the blind spot is visible.
type Parallel struct {
	engine *Engine
	queues []chan measured
	depth  prometheus.GaugeFunc
	// mu guards owners and load: which worker holds each client workload
	// that has flows queued or being judged, with how many, and how many
	// flows each worker holds.
	mu     sync.Mutex
	owners map[string]owner
	load   []int
	// took is, per queue, when its worker took its last flow, and waited
	// how long that flow had waited in the queue (Unix and plain
	// nanoseconds): what Behind reads.
	took, waited []atomic.Int64
	// parked is, per worker, whether it is blocked on its empty queue;
	// lastYield is when Handle last gave up its core to a worker it woke
	// (only the stream's goroutine calls Handle).
	parked    []atomic.Bool
	lastYield time.Time
	// now is the clock (tests set it).
	now func() time.Time
	// judge judges one flow on a worker (the engine; tests watch it).
	judge func(ctx context.Context, worker int, m measured) error
}

// owner is the worker holding a client workload's flows, and how many.
type owner struct{ worker, pending int }

// NewParallel returns a Parallel with workers workers, each with a queue
// of queue flows.
func NewParallel(e *Engine, workers, queue int, reg prometheus.Registerer) *Parallel {
	workers = max(workers, 1)
	queue = max(queue, 1)
	p := &Parallel{engine: e, queues: make([]chan measured, workers), owners: map[string]owner{}, load: make([]int, workers),
		took: make([]atomic.Int64, workers), waited: make([]atomic.Int64, workers), parked: make([]atomic.Bool, workers), now: time.Now}
	p.judge = func(ctx context.Context, _ int, m measured) error {
		if m.facts == nil {
			return e.Process(ctx, m.flow)
		}
		m.facts.MeasureL7(m.flow)
		return e.process(ctx, m.flow, m.facts, m.received)
	}
	now := time.Now().UnixNano()
	for i := range p.queues {
		p.queues[i] = make(chan measured, queue)
		p.took[i].Store(now)
	}
	p.depth = promauto.With(reg).NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "hubble_sentinel", Subsystem: "engine", Name: "queued_flows",
		Help: "Flows received and waiting for a worker.",
	}, func() float64 {
		n := 0
		for _, q := range p.queues {
			n += len(q)
		}
		return float64(n)
	})
	return p
}

// measured is a flow with its facts and its client workload's key.
type measured struct {
	flow     *flowpb.Flow
	facts    *facts.Flow
	client   string
	received time.Time
}

// Handle measures a flow and queues it for a worker. It has the signature
// of a hubble.Client handler.
func (p *Parallel) Handle(ctx context.Context, f *flowpb.Flow) error {
	m := measured{flow: f, received: p.now()}
	if f != nil {
		// Only what names the client here: the rest is measured on the
		// worker, off the stream's goroutine, which every flow waits for.
		fa := facts.MeasureL4(f)
		m.facts = &fa
		m.client = fa.Client().Key()
	}
	w := p.route(m.client)
	select {
	case p.queues[w] <- m:
		p.yield(w, m.received)
		return nil
	case <-ctx.Done():
		p.done(m.client)
		return ctx.Err()
	}
}

// yield gives up the stream goroutine's core when the flow it just sent
// to worker w woke that worker (it was blocked on its empty queue), at most
// once per yieldEvery. The scheduler runs a goroutine another wakes on the
// waker's core, once the waker blocks or has run its time slice (10 ms),
// and a stream taking a burst of flows does neither: while the other core
// is busy (the other worker, the garbage collector), the woken worker's
// flows waited that long. A worker that is not blocked, because it keeps
// up or waits for a core of its own, is not yielded to: the stream is what
// every flow waits for (yielding every 0.5 ms, or whenever a worker had
// taken no flow for 0.5 ms, cost a fifth of the engine's rate, and
// yielding on every wake-up half of it).
func (p *Parallel) yield(w int, now time.Time) {
	if p.parked[w].Load() && now.Sub(p.lastYield) >= yieldEvery {
		p.lastYield = now
		runtime.Gosched()
	}
}

// yieldEvery bounds how often the stream yields: how long a woken worker
// may wait for the stream's core, at most. 1 ms until the stream's own
// decoding halved (stop 25); since, the engine runs at twice the rate at
// half load, and in runs interleaved in one hour (engine/limit, the median
// of three rounds; p99 of three paced runs pooled) 1 ms gave 0.69–0.85
// and p99 3.6–6.2 ms, 0.5 ms 0.77–0.94 and 3.8–4.0 ms, 0.25 ms 0.65–0.73
// and 2.3–3.5 ms, 0.1 ms 0.58–0.62 and 1.6–2.6 ms.
const yieldEvery = 250 * time.Microsecond

// route picks the worker of a client workload's next flow: the one
// holding its earlier flows, else the one with the least work.
func (p *Parallel) route(client string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	o, ok := p.owners[client]
	if !ok {
		o.worker = 0
		for i := range p.load {
			if p.load[i] < p.load[o.worker] {
				o.worker = i
			}
		}
	}
	o.pending++
	p.owners[client] = o
	p.load[o.worker]++
	return o.worker
}

// done records that a flow of client was judged (or never queued).
func (p *Parallel) done(client string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	o := p.owners[client]
	p.load[o.worker]--
	if o.pending--; o.pending <= 0 {
		delete(p.owners, client)
		return
	}
	p.owners[client] = o
}

// Behind reports whether the workers are not keeping up at now: some
// worker has flows waiting, and either the flow it took last had waited in
// its queue longer than after, or it has been judging that flow for longer
// than after. queued is how many flows wait in all. An engine that judges
// every flow, but more slowly than they arrive, is behind; an idle one
// never is.
func (p *Parallel) Behind(now time.Time, after time.Duration) (behind bool, queued int) {
	for i, q := range p.queues {
		n := len(q)
		if n == 0 {
			continue
		}
		queued += n
		if time.Duration(p.waited[i].Load()) > after || now.Sub(time.Unix(0, p.took[i].Load())) > after {
			behind = true
		}
	}
	return behind, queued
}

// Close tells the workers that no more flows will come: Run returns once
// they have judged what is queued. Handle must not be called after Close.
func (p *Parallel) Close() {
	for _, q := range p.queues {
		close(q)
	}
}

// next is worker i's next flow from its queue q: ok is false once q is
// closed and drained, live false once ctx ends. A worker blocking on its
// empty queue says so (parked) while it waits.
func (p *Parallel) next(ctx context.Context, i int, q chan measured) (m measured, ok, live bool) {
	select {
	case <-ctx.Done():
		return m, false, false
	case m, ok = <-q:
		return m, ok, true
	default:
	}
	p.parked[i].Store(true)
	defer p.parked[i].Store(false)
	select {
	case <-ctx.Done():
		return m, false, false
	case m, ok = <-q:
		return m, ok, true
	}
}

// Run runs the workers until ctx ends or, after Close, the queues are
// drained; then it returns nil.
func (p *Parallel) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	for i, q := range p.queues {
		g.Go(func() error {
			for {
				m, ok, live := p.next(ctx, i, q)
				if !ok || !live {
					return nil
				}
				now := time.Now()
				p.took[i].Store(now.UnixNano())
				p.waited[i].Store(int64(now.Sub(m.received)))
				err := p.judge(ctx, i, m)
				p.done(m.client)
				if err != nil && ctx.Err() == nil {
					return err
				}
			}
		})
	}
	return g.Wait()
}
