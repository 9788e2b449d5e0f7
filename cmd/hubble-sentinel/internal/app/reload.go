package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/hubble-sentinel/hubble-sentinel/engine/alert"
	"github.com/hubble-sentinel/hubble-sentinel/engine/policy"
)

// AlertPolicyLoadFailed is the alert the daemon raises while the policies
// on disk fail to load (or their tests fail) and an older set keeps
// running. It resolves when a good set loads.
const AlertPolicyLoadFailed = "SentinelPolicyLoadFailed"

// conditions raises and clears the engine's own alerts; the aggregator
// implements it.
type conditions interface {
	Hold(now time.Time, a alert.Alert)
	Release(now time.Time, labels map[string]string) bool
}

// Reloader replaces the running policies when they change: on a signal
// (SIGHUP) and, when Changes is set, on every change the policy directory
// watcher reports. The new set is compiled, checked and tested by Load
// before Apply swaps it in. A set that fails is reported with its file and
// line, counted, and raised as SentinelPolicyLoadFailed, and the running
// set stays: a broken edit never leaves the engine without policies.
type Reloader struct {
	Signals <-chan struct{}
	Changes <-chan struct{}
	Load    func(context.Context) (*policy.Set, error)
	Apply   func(*policy.Set)
	Alerts  conditions // nil: failures are only logged and counted
	Source  string     // what is reloaded, for messages
	Logger  *slog.Logger

	reloads  *prometheus.CounterVec
	ok       prometheus.Gauge
	lastOK   prometheus.Gauge
	loadedAt time.Time
	running  int
}

// NewReloader registers the reload metrics on reg. running is the number of
// policies loaded at start.
func NewReloader(source string, running int, load func(context.Context) (*policy.Set, error), apply func(*policy.Set), logger *slog.Logger, reg prometheus.Registerer) *Reloader {
	f := promauto.With(reg)
	r := &Reloader{
		Load: load, Apply: apply, Source: source, Logger: logger,
		reloads: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hubble_sentinel", Subsystem: "policy", Name: "reloads_total",
			Help: "Policy reloads, by result (success or failure).",
		}, []string{"result"}),
		ok: f.NewGauge(prometheus.GaugeOpts{
			Namespace: "hubble_sentinel", Subsystem: "policy", Name: "last_reload_successful",
			Help: "Whether the last policy reload succeeded (1) or kept the previous set (0).",
		}),
		lastOK: f.NewGauge(prometheus.GaugeOpts{
			Namespace: "hubble_sentinel", Subsystem: "policy", Name: "last_reload_success_timestamp_seconds",
			Help: "When the running policy set was loaded, in seconds since the epoch.",
		}),
		loadedAt: time.Now(),
		running:  running,
	}
	r.reloads.WithLabelValues("success")
	r.reloads.WithLabelValues("failure")
	r.ok.Set(1)
	r.lastOK.Set(float64(r.loadedAt.Unix()))
	return r
}

// Run reloads on every signal or change until ctx ends.
func (r *Reloader) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.Signals:
			r.reload(ctx, "signal")
		case <-r.Changes:
			r.reload(ctx, "change")
		}
	}
}

func (r *Reloader) reload(ctx context.Context, trigger string) {
	set, err := r.Load(ctx)
	now := time.Now()
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		r.ok.Set(0)
		r.Logger.Error("policy reload failed, keeping the running policies", "trigger", trigger, "err", err)
		if r.Alerts != nil {
			r.Alerts.Hold(now, r.failedAlert(now, err))
		}
		// Counted last: whoever sees the count sees the log and the alert.
		r.reloads.WithLabelValues("failure").Inc()
		return
	}
	r.Apply(set)
	r.loadedAt, r.running = now, len(set.Policies())
	r.ok.Set(1)
	r.lastOK.Set(float64(now.Unix()))
	r.Logger.Info("policies reloaded", "trigger", trigger, "policies", r.running)
	if r.Alerts != nil && r.Alerts.Release(now, failedLabels) {
		r.Logger.Info("policy load failure resolved", "alertname", AlertPolicyLoadFailed)
	}
	r.reloads.WithLabelValues("success").Inc()
}

var failedLabels = map[string]string{
	alert.LabelAlertname: AlertPolicyLoadFailed,
	alert.LabelSeverity:  "warning",
}

// maxErrorText bounds the error carried in the alert: a policy directory
// with many broken files would otherwise make an oversized annotation.
const maxErrorText = 4000

func (r *Reloader) failedAlert(now time.Time, err error) alert.Alert {
	msg := err.Error()
	if len(msg) > maxErrorText {
		msg = msg[:maxErrorText] + "\n… (truncated; the full error is in hubble-sentinel's log)"
	}
	return alert.Alert{
		Labels: failedLabels,
		Annotations: map[string]string{
			alert.AnnotationSummary: fmt.Sprintf("Policies from %s failed to load; still running the %d policies loaded at %s",
				r.Source, r.running, r.loadedAt.UTC().Format(time.RFC3339)),
			alert.AnnotationDescription: msg,
		},
		StartsAt: now,
	}
}
