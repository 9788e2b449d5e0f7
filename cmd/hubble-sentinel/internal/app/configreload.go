package app

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/hubble-sentinel/hubble-sentinel/engine/alert"
)

// AlertConfigReloadFailed is the alert the daemon raises while a reload of
// --config.file fails and the running configuration stays. It resolves
// when a good file loads.
const AlertConfigReloadFailed = "SentinelConfigReloadFailed"

var configFailedLabels = map[string]string{
	alert.LabelAlertname: AlertConfigReloadFailed,
	alert.LabelSeverity:  "warning",
}

// ConfigReloader reloads the configuration file on a signal (SIGHUP) or an
// HTTP request (POST /-/reload): Load reads, parses and validates the whole
// file and loads the policies it names, and only then Apply swaps what can
// change while running. A file that fails is logged with its file and
// line, counted, and raised as SentinelConfigReloadFailed, and the running
// configuration stays.
type ConfigReloader struct {
	Path     string
	Signals  <-chan struct{}
	Requests <-chan chan<- error
	Load     func(context.Context) (Options, loaded, error)
	// Apply swaps the new configuration in; an error is a part it could
	// not apply (the rest is).
	Apply  func(Options, loaded) error
	Alerts conditions // nil: failures are only logged and counted
	Logger *slog.Logger

	reloadMetrics
	loadedAt time.Time
}

// NewConfigReloader registers the hubble_sentinel_config_* reload metrics
// on reg.
func NewConfigReloader(path string, load func(context.Context) (Options, loaded, error), apply func(Options, loaded) error, logger *slog.Logger, reg prometheus.Registerer) *ConfigReloader {
	return &ConfigReloader{
		Path: path, Load: load, Apply: apply, Logger: logger,
		reloadMetrics: newReloadMetrics("config", "Configuration", reg),
		loadedAt:      time.Now(),
	}
}

// Run reloads on every signal or request until ctx ends.
func (r *ConfigReloader) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.Signals:
			_ = r.reload(ctx, "signal")
		case reply := <-r.Requests:
			reply <- r.reload(ctx, "http")
		}
	}
}

func (r *ConfigReloader) reload(ctx context.Context, trigger string) error {
	o, l, err := r.Load(ctx)
	if err == nil {
		err = r.Apply(o, l)
	}
	now := time.Now()
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		r.Logger.Error("configuration reload failed, keeping the running configuration", "file", r.Path, "trigger", trigger, "err", err)
		if r.Alerts != nil {
			r.Alerts.Hold(now, failureAlert(configFailedLabels, fmt.Sprintf("Configuration file %s failed to load; still running the configuration loaded at %s",
				r.Path, r.loadedAt.UTC().Format(time.RFC3339)), err, now))
		}
		r.failed()
		return err
	}
	r.loadedAt = now
	r.Logger.Info("configuration reloaded", "file", r.Path, "trigger", trigger, "policies", len(l.set.Policies()))
	if r.Alerts != nil && r.Alerts.Release(now, configFailedLabels) {
		r.Logger.Info("configuration reload failure resolved", "alertname", AlertConfigReloadFailed)
	}
	r.succeeded(now)
	return nil
}

// restartOnly are the settings a running daemon cannot change: its
// sources and their streams, its baselines' stores, the spool it holds
// open, the watcher it started. Each is named by its configuration key.
var restartOnly = []struct {
	key   string
	field func(*Options) any // a pointer to the setting
}{
	{"hubble.sources", func(o *Options) any { return &o.HubbleSources }},
	{"hubble.tls", func(o *Options) any { return &o.HubbleTLS }},
	{"hubble.filters", func(o *Options) any { return &o.Stream.Filters }},
	{"hubble.allow_filters", func(o *Options) any { return &o.HubbleAllow }},
	{"hubble.deny_filters", func(o *Options) any { return &o.HubbleDeny }},
	{"alertmanagers.spool_path", func(o *Options) any { return &o.Alertmanager.SpoolPath }},
	{"alertmanagers.spool_max_bytes", func(o *Options) any { return &o.Alertmanager.SpoolMaxBytes }},
	{"alerts.visibility_grace", func(o *Options) any { return &o.Alerts.VisibilityGrace }},
	{"baseline.learning_period", func(o *Options) any { return &o.BaselineLearning }},
	{"baseline.path", func(o *Options) any { return &o.BaselinePath }},
	{"baseline.snapshot_interval", func(o *Options) any { return &o.BaselineSnapshotInterval }},
	{"baseline.profiles_max", func(o *Options) any { return &o.ProfilesMax }},
	{"policies.watch", func(o *Options) any { return &o.WatchPolicies }},
	{"policies.bundle", func(o *Options) any { return &o.PolicyBundle }},
}

// keepRestartOnly logs at WARN each restart-only setting next changes and
// puts the running value back in next, so that next is what runs.
func keepRestartOnly(running Options, next *Options, logger *slog.Logger) {
	next.impliedTLS()
	for _, s := range restartOnly {
		cur, nxt := s.field(&running), s.field(next)
		if sameSetting(cur, nxt) {
			continue
		}
		logger.Warn("configuration changed; takes effect after a restart", "key", s.key)
		reflect.ValueOf(nxt).Elem().Set(reflect.ValueOf(cur).Elem())
	}
}

// sameSetting compares two pointers to a setting; filters by their
// protobuf content.
func sameSetting(a, b any) bool {
	if fa, ok := a.(*[]*flowpb.FlowFilter); ok {
		return slices.EqualFunc(*fa, *b.(*[]*flowpb.FlowFilter), func(x, y *flowpb.FlowFilter) bool { return proto.Equal(x, y) })
	}
	return reflect.DeepEqual(a, b)
}

// impliedTLS turns Hubble TLS on when any other TLS setting is given.
func (o *Options) impliedTLS() {
	if t := &o.HubbleTLS; t.CAFile != "" || t.CertFile != "" || t.ServerName != "" || t.InsecureSkipVerify {
		t.Enabled = true
	}
}
