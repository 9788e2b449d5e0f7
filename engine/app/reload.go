package app

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/hubble-sentinel/hubble-sentinel/engine/policy"
)

// Reloader reloads the policies each time it is signalled (SIGHUP). A set
// that fails to load is reported with its file and line and counted, and
// the running set stays in place: a broken edit never leaves the engine
// without policies.
type Reloader struct {
	Signals <-chan struct{}
	Load    func(context.Context) (*policy.Set, error)
	Apply   func(*policy.Set)
	Logger  *slog.Logger

	reloads *prometheus.CounterVec
	ok      prometheus.Gauge
}

// NewReloader registers the reload metrics on reg.
func NewReloader(signals <-chan struct{}, load func(context.Context) (*policy.Set, error), apply func(*policy.Set), logger *slog.Logger, reg prometheus.Registerer) *Reloader {
	f := promauto.With(reg)
	r := &Reloader{
		Signals: signals, Load: load, Apply: apply, Logger: logger,
		reloads: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hubble_sentinel", Subsystem: "policy", Name: "reloads_total",
			Help: "Policy reloads, by result (success or failure).",
		}, []string{"result"}),
		ok: f.NewGauge(prometheus.GaugeOpts{
			Namespace: "hubble_sentinel", Subsystem: "policy", Name: "last_reload_successful",
			Help: "Whether the last policy reload succeeded (1) or kept the previous set (0).",
		}),
	}
	r.reloads.WithLabelValues("success")
	r.reloads.WithLabelValues("failure")
	r.ok.Set(1)
	return r
}

// Run reloads on every signal until ctx ends.
func (r *Reloader) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.Signals:
			set, err := r.Load(ctx)
			if err != nil {
				r.reloads.WithLabelValues("failure").Inc()
				r.ok.Set(0)
				r.Logger.Error("policy reload failed, keeping the running policies", "err", err)
				continue
			}
			r.Apply(set)
			r.reloads.WithLabelValues("success").Inc()
			r.ok.Set(1)
			r.Logger.Info("policies reloaded", "policies", len(set.Policies()))
		}
	}
}
