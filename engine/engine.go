// Package engine judges every Hubble flow: Go measures it and updates profiles, the Rego policies judge it, violations become alerts.
package engine

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"sync"
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
	cfg      Config
	policies atomic.Pointer[policy.Set]
	// fields are the parts of the input document the current set's
	// policies read (see fieldsOf).
	fields     atomic.Pointer[setFields]
	profiles   *profile.Store
	inputs     *input.Builder
	aggregator Aggregator
	logger     *slog.Logger
	metrics    *metrics

	lastErrLog atomic.Int64
	cache      *cacheCollector

	// inflight flows are being judged; done is when the last one finished
	// (unix nanoseconds): together they tell a stalled engine.
	inflight atomic.Int64
	done     atomic.Int64

	// quarantined are the policies of the running set whose
	// SentinelPolicyDegraded is held, by id.
	mu          sync.Mutex
	quarantined map[string]bool
}

// conditions holds and releases the engine's own lasting alerts; the
// alert.Aggregator implements it. Without it a quarantine is only logged
// and counted.
type conditions interface {
	Hold(now time.Time, a alert.Alert)
	Release(now time.Time, labels map[string]string) bool
}

type metrics struct {
	flows      prometheus.Counter
	byFlow     *flowCounters
	violations *prometheus.CounterVec
	evalErrors prometheus.Counter
	malformed  prometheus.Counter
	evalTime   prometheus.Histogram
	decision   prometheus.Histogram
	learned    *prometheus.CounterVec
	failures   *prometheus.CounterVec
	quarantine *prometheus.GaugeVec
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
			byFlow: newFlowCounters(f),
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
			failures: f.NewCounterVec(prometheus.CounterOpts{
				Namespace: "hubble_sentinel", Subsystem: "policy", Name: "failures_total",
				Help: "Flows a policy could not judge, by policy id and reason (timeout, error, output); the other policies judged them.",
			}, []string{"policy", "reason"}),
			quarantine: f.NewGaugeVec(prometheus.GaugeOpts{
				Namespace: "hubble_sentinel", Subsystem: "policy", Name: "quarantined",
				Help: "1 while a policy of the running set is quarantined (left out of evaluation after repeated failures), by policy id.",
			}, []string{"policy"}),
			decision: f.NewHistogram(prometheus.HistogramOpts{
				Namespace: "hubble_sentinel", Subsystem: "engine", Name: "decision_latency_seconds",
				Help:    "Time from a flow's arrival from the stream to its verdict (alerts observed), queueing included.",
				Buckets: prometheus.ExponentialBucketsRange(50e-6, 1, 30),
			}),
			evalTime: f.NewHistogram(prometheus.HistogramOpts{
				Namespace: "hubble_sentinel", Subsystem: "engine", Name: "evaluation_duration_seconds",
				Help:    "Time to judge one flow: measure, profile, evaluate, alert.",
				Buckets: prometheus.ExponentialBuckets(5e-6, 2, 14),
			}),
		},
	}
	e.policies.Store(set)
	e.cache = newCacheCollector(e.policies.Load)
	if reg != nil {
		if err := reg.Register(e.cache); err != nil {
			return nil, err
		}
	}
	if set != nil {
		e.logUncached(set)
	}
	return e, nil
}

// logUncached says which policies of set are judged on every flow, outside
// the decision cache, and why.
func (e *Engine) logUncached(set *policy.Set) {
	if u := set.Uncached(); len(u) > 0 {
		e.logger.Debug("policies judged on every flow, outside the decision cache", "policies", u)
	}
}

// SetPolicies swaps the policy set; flows in flight finish on the old one.
// The old set's quarantines end with it.
func (e *Engine) SetPolicies(s *policy.Set) {
	old := e.policies.Swap(s)
	if old != s {
		e.cache.retire(old)
	}
	if s != nil {
		e.logUncached(s)
	}
	e.mu.Lock()
	held := e.quarantined
	e.quarantined = nil
	e.mu.Unlock()
	now := time.Now()
	for id := range held {
		e.metrics.quarantine.DeleteLabelValues(id)
		if c, ok := e.aggregator.(conditions); ok {
			c.Release(now, alert.PolicyDegradedLabels(id, alert.ReasonQuarantined))
		}
	}
}

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
	return e.process(ctx, f, &fa, time.Time{})
}

// Stalled reports whether flows have been in flight without any finishing
// for longer than after: the engine is not keeping up (readiness).
func (e *Engine) Stalled(now time.Time, after time.Duration) (bool, int64) {
	n := e.inflight.Load()
	if n == 0 {
		return false, 0
	}
	return now.Sub(time.Unix(0, e.done.Load())) > after, n
}

// process judges f, whose facts are measured.
// received, when set, is when the flow arrived (Parallel.Handle): the
// decision latency runs from then to the verdict.
func (e *Engine) process(ctx context.Context, f *flowpb.Flow, fa *facts.Flow, received time.Time) error {
	start := time.Now()
	if e.inflight.Add(1) == 1 {
		// Idle until now: the wait for a flow is not a stall.
		e.done.Store(start.UnixNano())
	}
	var end time.Time // when judged: the done stamp's time too
	defer func() {
		if end.IsZero() {
			end = time.Now()
		}
		e.done.Store(end.UnixNano())
		e.inflight.Add(-1)
	}()
	now := fa.Time
	if now.IsZero() {
		now = start
	}
	set := e.policies.Load()
	sf := e.fieldsOf(set)
	views := e.profiles.Observe(now, fa)
	// The document is built only for a flow Rego evaluates: guards and
	// decision caches read their values straight from the flow.
	in := e.inputs.Lazy(sf.paths, f, fa, &views, cmp.Or(sf.light, sf.fields), sf.fields)
	var deferred policy.Deferred // nil unless something was left out
	if sf.light != nil {
		// The baselines' measurements are built only for a flow a
		// volatile policy judges; guards read them as they are.
		deferred = in
	}
	violations, err := set.EvalFlow(ctx, in, deferred)
	in.Release()
	e.metrics.flows.Inc()
	e.metrics.byFlow.inc(f)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		e.metrics.evalErrors.Inc()
		var fails policy.Failures
		if errors.As(err, &fails) {
			e.degraded(now, set, fails)
		} else {
			e.logRateLimited("policy evaluation failed, flow skipped", "err", err)
		}
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
	end = time.Now()
	e.metrics.evalTime.Observe(end.Sub(start).Seconds())
	if !received.IsZero() {
		e.metrics.decision.Observe(end.Sub(received).Seconds())
	}
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
	_, doc := e.input(f, &fa, at, nil)
	return fa, doc
}

// input profiles f and builds the parts need names of its document (nil:
// the whole document).
func (e *Engine) input(f *flowpb.Flow, fa *facts.Flow, at time.Time, need *input.Fields) (profile.Views, ast.Value) {
	views := e.profiles.Observe(at, fa)
	return views, e.inputs.DocumentOf(f, fa, &views, need)
}

type setFields struct {
	set    *policy.Set
	fields *input.Fields
	// light is fields without the deferred measurements (see
	// policy.Set.DeferredPaths); nil when nothing is deferred.
	light *input.Fields
	// paths are the set's Paths, read of every flow without its
	// document.
	paths *input.Paths
}

// fieldsOf is the parts of the document set's policies read: Process
// builds only those (nil: the whole document).
func (e *Engine) fieldsOf(set *policy.Set) *setFields {
	if sf := e.fields.Load(); sf != nil && sf.set == set {
		return sf
	}
	sf := &setFields{set: set}
	if set != nil {
		sf.fields = input.NewFields(set.InputPaths())
		if light, deferred := set.DeferredPaths(); deferred != nil {
			sf.light = input.NewFields(light)
		}
		sf.paths = input.NewPaths(set.Paths())
	}
	e.fields.Store(sf)
	return sf
}

// degraded reports policies that could not judge a flow: counted, logged
// (at most once a second), raised as SentinelPolicyDegraded, and held as
// quarantined once the set took a policy out of evaluation.
func (e *Engine) degraded(now time.Time, set *policy.Set, fails policy.Failures) {
	for _, f := range fails {
		e.metrics.failures.WithLabelValues(f.Policy.ID, f.Reason).Inc()
		e.logRateLimited("policy could not judge a flow; the others did", "policy", f.Policy.ID, "file", f.Policy.File, "reason", f.Reason, "err", f.Err)
		e.aggregator.Observe(now, alert.PolicyDegraded(now, f.Policy.ID, f.Policy.File, f.Reason, f.Err.Error()))
	}
	for _, h := range set.Health() {
		if !h.Quarantined || e.policies.Load() != set {
			continue
		}
		e.mu.Lock()
		fresh := !e.quarantined[h.Policy.ID]
		if fresh {
			if e.quarantined == nil {
				e.quarantined = map[string]bool{}
			}
			e.quarantined[h.Policy.ID] = true
		}
		e.mu.Unlock()
		if !fresh {
			continue
		}
		e.metrics.quarantine.WithLabelValues(h.Policy.ID).Set(1)
		e.logger.Error("policy quarantined: it kept failing and no longer judges flows until the policies are reloaded",
			"policy", h.Policy.ID, "file", h.Policy.File, "failures", h.Failures)
		last := "failures on earlier flows"
		for _, f := range fails {
			if f.Policy.ID == h.Policy.ID {
				last = f.Err.Error()
			}
		}
		if c, ok := e.aggregator.(conditions); ok {
			c.Hold(now, alert.PolicyDegraded(now, h.Policy.ID, h.Policy.File, alert.ReasonQuarantined, last))
		}
	}
}

func (e *Engine) logRateLimited(msg string, args ...any) {
	now := time.Now().UnixNano()
	last := e.lastErrLog.Load()
	if now-last < int64(time.Second) || !e.lastErrLog.CompareAndSwap(last, now) {
		return
	}
	e.logger.Warn(msg, args...)
}
