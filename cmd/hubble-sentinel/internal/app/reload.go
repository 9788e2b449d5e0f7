package app

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
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
	// Requests are reloads asked over HTTP (POST /-/reload), each
	// answered with the reload's error.
	Requests <-chan chan<- error
	// Load reads the set again; a nil set without an error means nothing
	// changed (a bundle server answered 304). LoadForced, when set, is
	// used on a signal or request instead: it reads even what seems
	// unchanged.
	Load       func(context.Context) (*policy.Set, error)
	LoadForced func(context.Context) (*policy.Set, error)
	Apply      func(*policy.Set)
	Alerts     conditions // nil: failures are only logged and counted
	Source     string     // what is reloaded, for messages
	Logger     *slog.Logger

	reloadMetrics
	loadedAt time.Time
	running  int
}

// reloadMetrics are a reloader's outcome, named as Prometheus names its own
// (hubble_sentinel_SUBSYSTEM_reloads_total, …_last_reload_successful,
// …_last_reload_success_timestamp_seconds).
type reloadMetrics struct {
	reloads *prometheus.CounterVec
	ok      prometheus.Gauge
	lastOK  prometheus.Gauge
}

func newReloadMetrics(subsystem, what string, reg prometheus.Registerer) reloadMetrics {
	f := promauto.With(reg)
	m := reloadMetrics{
		reloads: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hubble_sentinel", Subsystem: subsystem, Name: "reloads_total",
			Help: what + " reloads, by result (success or failure).",
		}, []string{"result"}),
		ok: f.NewGauge(prometheus.GaugeOpts{
			Namespace: "hubble_sentinel", Subsystem: subsystem, Name: "last_reload_successful",
			Help: "Whether the last " + strings.ToLower(what) + " reload succeeded (1) or kept the previous one (0).",
		}),
		lastOK: f.NewGauge(prometheus.GaugeOpts{
			Namespace: "hubble_sentinel", Subsystem: subsystem, Name: "last_reload_success_timestamp_seconds",
			Help: "When the running " + strings.ToLower(what) + " was loaded, in seconds since the epoch.",
		}),
	}
	m.reloads.WithLabelValues("success")
	m.reloads.WithLabelValues("failure")
	m.ok.Set(1)
	m.lastOK.Set(float64(time.Now().Unix()))
	return m
}

// failed records a failed reload; call it last, so whoever sees the count
// sees the log and the alert.
func (m reloadMetrics) failed() {
	m.ok.Set(0)
	m.reloads.WithLabelValues("failure").Inc()
}

// succeeded records a good reload at now; call it last.
func (m reloadMetrics) succeeded(now time.Time) {
	m.ok.Set(1)
	m.lastOK.Set(float64(now.Unix()))
	m.reloads.WithLabelValues("success").Inc()
}

// failureAlert is a reloader's self-alert: labels, summary and the error,
// bounded, as its description.
func failureAlert(labels map[string]string, summary string, err error, now time.Time) alert.Alert {
	msg := err.Error()
	if len(msg) > maxErrorText {
		msg = msg[:maxErrorText] + "\n… (truncated; the full error is in hubble-sentinel's log)"
	}
	return alert.Alert{
		Labels: labels,
		Annotations: map[string]string{
			alert.AnnotationSummary:     summary,
			alert.AnnotationDescription: msg,
		},
		StartsAt: now,
	}
}

// NewReloader registers the reload metrics on reg. running is the number of
// policies loaded at start.
func NewReloader(source string, running int, load func(context.Context) (*policy.Set, error), apply func(*policy.Set), logger *slog.Logger, reg prometheus.Registerer) *Reloader {
	return &Reloader{
		Load: load, Apply: apply, Source: source, Logger: logger,
		reloadMetrics: newReloadMetrics("policy", "Policy", reg),
		loadedAt:      time.Now(),
		running:       running,
	}
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
		case reply := <-r.Requests:
			reply <- r.reload(ctx, "http")
		}
	}
}

func (r *Reloader) reload(ctx context.Context, trigger string) error {
	load := r.Load
	if trigger != "change" && r.LoadForced != nil {
		load = r.LoadForced
	}
	set, err := load(ctx)
	if set == nil && err == nil {
		r.Logger.Debug("policies unchanged", "trigger", trigger, "source", r.Source)
		return nil
	}
	now := time.Now()
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		r.Logger.Error("policy reload failed, keeping the running policies", "trigger", trigger, "err", err)
		if r.Alerts != nil {
			r.Alerts.Hold(now, r.failedAlert(now, err))
		}
		r.failed()
		return err
	}
	r.Apply(set)
	r.loadedAt, r.running = now, len(set.Policies())
	r.Logger.Info("policies reloaded", "trigger", trigger, "policies", r.running)
	if r.Alerts != nil && r.Alerts.Release(now, failedLabels) {
		r.Logger.Info("policy load failure resolved", "alertname", AlertPolicyLoadFailed)
	}
	r.succeeded(now)
	return nil
}

var failedLabels = map[string]string{
	alert.LabelAlertname: AlertPolicyLoadFailed,
	alert.LabelSeverity:  "warning",
}

// maxErrorText bounds the error carried in the alert: a policy directory
// with many broken files would otherwise make an oversized annotation.
const maxErrorText = 4000

func (r *Reloader) failedAlert(now time.Time, err error) alert.Alert {
	return failureAlert(failedLabels, fmt.Sprintf("Policies from %s failed to load; still running the %d policies loaded at %s",
		r.Source, r.running, r.loadedAt.UTC().Format(time.RFC3339)), err, now)
}
