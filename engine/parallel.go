package engine

import (
	"context"
	"hash/maphash"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"golang.org/x/sync/errgroup"
)

// Parallel spreads flows over several workers running the engine. Flows of
// one source endpoint always go to the same worker, so each workload's
// flows are judged in the order the relay sent them (profiles and alert
// start times depend on it). A full queue blocks the stream rather than
// dropping flows: the relay's own buffer then overflows and reports
// LostEvents, which the hubble client counts, so the blind spot is visible.
type Parallel struct {
	engine *Engine
	queues []chan *flowpb.Flow
	seed   maphash.Seed
	depth  prometheus.GaugeFunc
}

// NewParallel returns a Parallel with workers workers, each with a queue
// of queue flows.
func NewParallel(e *Engine, workers, queue int, reg prometheus.Registerer) *Parallel {
	workers = max(workers, 1)
	queue = max(queue, 1)
	p := &Parallel{engine: e, queues: make([]chan *flowpb.Flow, workers), seed: maphash.MakeSeed()}
	for i := range p.queues {
		p.queues[i] = make(chan *flowpb.Flow, queue)
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

// Handle queues a flow for its source's worker. It has the signature of a
// hubble.Client handler.
func (p *Parallel) Handle(ctx context.Context, f *flowpb.Flow) error {
	q := p.queues[p.shard(f)]
	select {
	case q <- f:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *Parallel) shard(f *flowpb.Flow) int {
	if len(p.queues) == 1 {
		return 0
	}
	var h maphash.Hash
	h.SetSeed(p.seed)
	src := f.GetSource()
	h.WriteString(src.GetNamespace())
	h.WriteString(src.GetPodName())
	if src.GetPodName() == "" {
		h.WriteString(f.GetIP().GetSource())
	}
	return int(h.Sum64() % uint64(len(p.queues)))
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
	for _, q := range p.queues {
		g.Go(func() error {
			for {
				select {
				case <-ctx.Done():
					return nil
				case f, ok := <-q:
					if !ok {
						return nil
					}
					if err := p.engine.Process(ctx, f); err != nil && ctx.Err() == nil {
						return err
					}
				}
			}
		})
	}
	return g.Wait()
}
