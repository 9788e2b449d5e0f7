// Package engine judges every Hubble flow: Go measures it and updates profiles, the Rego policies judge it, violations become alerts.
package engine

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/hubble-sentinel/hubble-sentinel/engine/alert"
	"github.com/hubble-sentinel/hubble-sentinel/engine/facts"
	"github.com/hubble-sentinel/hubble-sentinel/engine/input"
	"github.com/hubble-sentinel/hubble-sentinel/engine/policy"
	"github.com/hubble-sentinel/hubble-sentinel/engine/profile"
)

// Aggregator is what the engine needs of alert aggregation.
type Aggregator interface {
	Observe(now time.Time, a alert.Alert)
	Tick(now time.Time)
}

var _ Aggregator = (*alert.Aggregator)(nil)

// Config tunes the engine.
type Config struct {
	// FlowClock makes the flows' own timestamps the clock: after each flow
	// the aggregator ticks at that flow's time. Replay sets it so a
	// two-hour capture behaves as it did live, in seconds.
	FlowClock bool
	// Profiles bounds the profile caches.
	Profiles profile.Config
}

// Engine evaluates flows. Process is safe for concurrent use; policies can
// be swapped while it runs.
type Engine struct {
	cfg        Config
	policies   atomic.Pointer[policy.Set]
	profiles   *profile.Store
	inputs     *input.Builder
	aggregator Aggregator
	logger     *slog.Logger
	metrics    *metrics

	lastErrLog atomic.Int64
}

type metrics struct {
	flows      prometheus.Counter
	violations *prometheus.CounterVec
	evalErrors prometheus.Counter
	malformed  prometheus.Counter
	evalTime   prometheus.Histogram
	learned    *prometheus.CounterVec
}

// New returns an engine evaluating flows against set.
func New(cfg Config, set *policy.Set, agg Aggregator, logger *slog.Logger, reg prometheus.Registerer) (*Engine, error) {
	profiles, err := profile.NewStore(cfg.Profiles, reg)
	if err != nil {
		return nil, err
	}
	f := promauto.With(reg)
	e := &Engine{
		cfg:        cfg,
		profiles:   profiles,
		inputs:     input.NewBuilder(0),
		aggregator: agg,
		logger:     logger,
		metrics: &metrics{
			flows: f.NewCounter(prometheus.CounterOpts{
				Namespace: "hubble_sentinel", Subsystem: "engine", Name: "flows_processed_total",
				Help: "Flows evaluated against the policies.",
			}),
			violations: f.NewCounterVec(prometheus.CounterOpts{
				Namespace: "hubble_sentinel", Subsystem: "engine", Name: "violations_total",
				Help: "Policy violations found, by policy id and severity.",
			}, []string{"policy", "severity"}),
			evalErrors: f.NewCounter(prometheus.CounterOpts{
				Namespace: "hubble_sentinel", Subsystem: "engine", Name: "evaluation_errors_total",
				Help: "Flows whose policy evaluation failed.",
			}),
			malformed: f.NewCounter(prometheus.CounterOpts{
				Namespace: "hubble_sentinel", Subsystem: "engine", Name: "malformed_flows_total",
				Help: "Flows skipped because they lack what evaluation needs.",
			}),
			learned: f.NewCounterVec(prometheus.CounterOpts{
				Namespace: "hubble_sentinel", Subsystem: "engine", Name: "violations_learned_total",
				Help: "Violations of learnable policies not alerted because the client was learning or the baseline learned the edge, by policy id.",
			}, []string{"policy"}),
			evalTime: f.NewHistogram(prometheus.HistogramOpts{
				Namespace: "hubble_sentinel", Subsystem: "engine", Name: "evaluation_duration_seconds",
				Help:    "Time to judge one flow: measure, profile, evaluate, alert.",
				Buckets: prometheus.ExponentialBuckets(5e-6, 2, 14),
			}),
		},
	}
	e.policies.Store(set)
	return e, nil
}

// SetPolicies swaps the policy set; flows in flight finish on the old one.
func (e *Engine) SetPolicies(s *policy.Set) { e.policies.Store(s) }

// Policies returns the policy set in use.
func (e *Engine) Policies() *policy.Set { return e.policies.Load() }

// Profiles returns the profile store.
func (e *Engine) Profiles() *profile.Store { return e.profiles }

// Process judges one flow. An evaluation error is logged (at most once a
// second), counted and swallowed: one bad flow must not stop the stream.
// Only a cancelled context is returned.
func (e *Engine) Process(ctx context.Context, f *flowpb.Flow) error {
	if f == nil {
		e.metrics.malformed.Inc()
		return nil
	}
	fa := facts.Measure(f)
	return e.process(ctx, f, &fa)
}

// process judges f, whose facts are measured.
func (e *Engine) process(ctx context.Context, f *flowpb.Flow, fa *facts.Flow) error {
	start := time.Now()
	now := fa.Time
	if now.IsZero() {
		now = start
	}
	views, doc := e.input(f, fa, now)
	set := e.policies.Load()

	violations, err := set.Eval(ctx, doc)
	e.metrics.flows.Inc()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		e.metrics.evalErrors.Inc()
		e.logRateLimited("policy evaluation failed, flow skipped", "err", err)
	}
	for _, v := range violations {
		e.metrics.violations.WithLabelValues(v.ID, v.Severity).Inc()
		if set.Learnable(v.ID) && (views.Baseline.Learning || views.Baseline.LearnedEdge) {
			// Behaviour a team may have on purpose: learned, not alerted.
			e.metrics.learned.WithLabelValues(v.ID).Inc()
			continue
		}
		a := alert.Build(alert.Violation(v), fa)
		if a.StartsAt.IsZero() {
			a.StartsAt = now
		}
		e.aggregator.Observe(now, a)
	}
	if e.cfg.FlowClock {
		e.aggregator.Tick(now)
	}
	e.metrics.evalTime.Observe(time.Since(start).Seconds())
	return nil
}

// Input is the first half of the per-flow path, the only one: it measures
// f, records it in the profiles and builds the policy input document.
// Process judges that document; `policy input` prints it. A flow without a
// valid time is profiled at now.
func (e *Engine) Input(f *flowpb.Flow, now time.Time) (facts.Flow, ast.Value) {
	fa := facts.Measure(f)
	at := fa.Time
	if at.IsZero() {
		at = now
	}
	_, doc := e.input(f, &fa, at)
	return fa, doc
}

func (e *Engine) input(f *flowpb.Flow, fa *facts.Flow, at time.Time) (profile.Views, ast.Value) {
	views := e.profiles.Observe(at, fa)
	return views, e.inputs.Document(f, fa, &views)
}

func (e *Engine) logRateLimited(msg string, args ...any) {
	now := time.Now().UnixNano()
	last := e.lastErrLog.Load()
	if now-last < int64(time.Second) || !e.lastErrLog.CompareAndSwap(last, now) {
		return
	}
	e.logger.Warn(msg, args...)
}
