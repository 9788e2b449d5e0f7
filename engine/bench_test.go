package engine

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hubble-sentinel/hubble-sentinel/engine/alert"
	"github.com/hubble-sentinel/hubble-sentinel/engine/facts"
	"github.com/hubble-sentinel/hubble-sentinel/engine/input"
	"github.com/hubble-sentinel/hubble-sentinel/engine/profile"
	"github.com/hubble-sentinel/hubble-sentinel/test/shopmesh"
)

// benchFlows is a realistic mix: the simulated shop's HTTP, gRPC, DNS, TCP
// and world egress, with its attacks.
func benchFlows(b *testing.B) []*flowpb.Flow {
	b.Helper()
	g := shopmesh.New(shopmesh.Config{Seed: 42, Attacks: true})
	flows := make([]*flowpb.Flow, 4096)
	for i := range flows {
		flows[i] = g.Next()
	}
	return flows
}

// BenchmarkProcess is the whole per-flow path: measure, profile, build the
// input, evaluate every bundled policy, build and aggregate alerts.
func BenchmarkProcess(b *testing.B) {
	flows := benchFlows(b)
	agg := alert.NewAggregator(alert.DefaultAggregatorConfig, alert.Notifiers{}, slog.New(slog.DiscardHandler), nil)
	e, err := New(Config{FlowClock: true}, bundled(b), agg, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := e.Process(ctx, flows[i%len(flows)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProcessStream is the per-flow path as the bench's engine run
// meets it: 100,000 flows of the simulated shop, each seen once (its
// signed URLs, DNS names and ports new), through a fresh engine and policy
// set with a five-minute learning period, so that the caches fill as they
// do in a deployment instead of answering a few thousand repeated flows
// (BenchmarkProcess). It reports µs and allocations per flow.
func BenchmarkProcessStream(b *testing.B) {
	g := shopmesh.New(shopmesh.Config{Seed: 42, Attacks: true})
	flows := make([]*flowpb.Flow, 100000)
	for i := range flows {
		flows[i] = g.Next()
	}
	ctx := context.Background()
	var before, after runtime.MemStats
	var mallocs uint64
	for b.Loop() {
		b.StopTimer()
		set := bundled(b)
		agg := alert.NewAggregator(alert.DefaultAggregatorConfig, alert.Notifiers{}, slog.New(slog.DiscardHandler), nil)
		e, err := New(Config{FlowClock: true, Profiles: profile.Config{LearningPeriod: 5 * time.Minute}}, set, agg, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
		if err != nil {
			b.Fatal(err)
		}
		runtime.ReadMemStats(&before)
		b.StartTimer()
		for _, f := range flows {
			if err := e.Process(ctx, f); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		runtime.ReadMemStats(&after)
		mallocs += after.Mallocs - before.Mallocs
		b.StartTimer()
	}
	n := float64(b.N * len(flows))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n/1000, "µs/flow")
	b.ReportMetric(float64(mallocs)/n, "allocs/flow")
}

// BenchmarkDocument is the input document alone: facts and the ast.Value,
// with the engine's endpoint cache and without.
func BenchmarkDocument(b *testing.B) {
	flows := benchFlows(b)
	b.Run("cached", func(b *testing.B) {
		builder := input.NewBuilder(0)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			f := flows[i%len(flows)]
			fa := facts.Measure(f)
			_ = builder.Document(f, &fa, &profile.Views{})
		}
	})
	b.Run("uncached", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			f := flows[i%len(flows)]
			fa := facts.Measure(f)
			_ = input.Document(f, &fa, &profile.Views{})
		}
	})
	// What the engine builds for a flow Rego evaluates: only the paths
	// the bundled policies read, with the profiles' views of each flow.
	set := bundled(b)
	store, err := profile.NewStore(profile.Config{}, prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	views := make([]profile.Views, len(flows))
	measured := make([]facts.Flow, len(flows))
	for i, f := range flows {
		measured[i] = facts.Measure(f)
		views[i] = store.Observe(f.GetTime().AsTime(), &measured[i])
	}
	b.Run("read", func(b *testing.B) {
		builder := input.NewBuilder(0)
		need := input.NewFields(set.InputPaths())
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			k := i % len(flows)
			_ = builder.DocumentOf(flows[k], &measured[k], &views[k], need)
		}
	})
	// What the engine reads of most flows instead: the values at every
	// path the set's guards, caches and markers read (an upper bound: a
	// flow failing a guard reads fewer), without a document.
	b.Run("paths", func(b *testing.B) {
		builder := input.NewBuilder(0)
		paths := input.NewPaths(set.Paths())
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			k := i % len(flows)
			l := builder.Lazy(paths, flows[k], &measured[k], &views[k], nil, nil)
			for j := range paths.Len() {
				l.At(j)
			}
			l.Release()
		}
	})
}

// BenchmarkParallel is the daemon's path: flows handed to the workers,
// with one worker and with one per CPU.
func BenchmarkParallel(b *testing.B) {
	flows := benchFlows(b)
	for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			agg := alert.NewAggregator(alert.DefaultAggregatorConfig, alert.Notifiers{}, slog.New(slog.DiscardHandler), nil)
			e, err := New(Config{}, bundled(b), agg, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
			if err != nil {
				b.Fatal(err)
			}
			p := NewParallel(e, workers, 1024, nil)
			done := make(chan error, 1)
			go func() { done <- p.Run(context.Background()) }()
			ctx := context.Background()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if err := p.Handle(ctx, flows[i%len(flows)]); err != nil {
					b.Fatal(err)
				}
			}
			p.Close()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}
