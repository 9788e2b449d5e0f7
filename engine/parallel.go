package engine

import (
	"context"
	"hash/maphash"
	"sync/atomic"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"

	"github.com/hubble-sentinel/hubble-sentinel/engine/facts"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"golang.org/x/sync/errgroup"
)

// Parallel spreads flows over several workers running the engine. Flows
// are measured as they arrive, and every flow of one client workload (the
// side that initiated, whose profile holds the edge's windows) goes to the
// same worker, so each workload's statistics are updated in the order the
// relay sent them. A full queue blocks the stream rather than
// dropping flows: the relay's own buffer then overflows and reports
// LostEvents, which the hubble client counts, so the blind spot is visible.
type Parallel struct {
	engine *Engine
	queues []chan measured
	seed   maphash.Seed
	depth  prometheus.GaugeFunc
	// took is, per queue, when its worker took its last flow, and waited
	// how long that flow had waited in the queue (Unix and plain
	// nanoseconds): what Behind reads.
	took, waited []atomic.Int64
}

// NewParallel returns a Parallel with workers workers, each with a queue
// of queue flows.
func NewParallel(e *Engine, workers, queue int, reg prometheus.Registerer) *Parallel {
	workers = max(workers, 1)
	queue = max(queue, 1)
	p := &Parallel{engine: e, queues: make([]chan measured, workers), seed: maphash.MakeSeed(),
		took: make([]atomic.Int64, workers), waited: make([]atomic.Int64, workers)}
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

// measured is a flow with its facts.
type measured struct {
	flow     *flowpb.Flow
	facts    *facts.Flow
	received time.Time
}

// Handle measures a flow and queues it for its client's worker. It has
// the signature of a hubble.Client handler.
func (p *Parallel) Handle(ctx context.Context, f *flowpb.Flow) error {
	m := measured{flow: f, received: time.Now()}
	if f != nil {
		fa := facts.Measure(f)
		m.facts = &fa
	}
	q := p.queues[p.shard(m.facts)]
	select {
	case q <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *Parallel) shard(fa *facts.Flow) int {
	if len(p.queues) == 1 || fa == nil {
		return 0
	}
	return int(maphash.String(p.seed, fa.Client().Key()) % uint64(len(p.queues)))
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

// Run runs the workers until ctx ends or, after Close, the queues are
// drained; then it returns nil.
func (p *Parallel) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	for i, q := range p.queues {
		g.Go(func() error {
			for {
				select {
				case <-ctx.Done():
					return nil
				case m, ok := <-q:
					if !ok {
						return nil
					}
					now := time.Now()
					p.took[i].Store(now.UnixNano())
					p.waited[i].Store(int64(now.Sub(m.received)))
					var err error
					if m.facts == nil {
						err = p.engine.Process(ctx, m.flow)
					} else {
						err = p.engine.process(ctx, m.flow, m.facts, m.received)
					}
					if err != nil && ctx.Err() == nil {
						return err
					}
				}
			}
		})
	}
	return g.Wait()
}
