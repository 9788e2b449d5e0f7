package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hubble-sentinel/hubble-sentinel/cmd/hubble-sentinel/internal/config"
)

// ApplyConfig is base with the configuration file's settings, except those
// whose flag was given on the command line (base.Explicit): a flag set
// explicitly wins over the file and stays fixed across reloads, the file
// wins over the flags' defaults. base is not changed.
func ApplyConfig(base Options, f config.File) (Options, error) {
	o := base
	set := func(flag string, apply func()) {
		if !base.Explicit[flag] {
			apply()
		}
	}
	h := f.Hubble
	set("hubble.address", func() {
		o.HubbleSources = nil
		for _, s := range h.Sources {
			o.HubbleSources = append(o.HubbleSources, HubbleSource{Name: s.Name, Address: s.Address})
		}
	})
	set("hubble.tls.enabled", func() { o.HubbleTLS.Enabled = h.TLS.Enabled })
	set("hubble.tls.ca-file", func() { o.HubbleTLS.CAFile = h.TLS.CAFile })
	set("hubble.tls.cert-file", func() { o.HubbleTLS.CertFile = h.TLS.CertFile })
	set("hubble.tls.key-file", func() { o.HubbleTLS.KeyFile = h.TLS.KeyFile })
	set("hubble.tls.server-name", func() { o.HubbleTLS.ServerName = h.TLS.ServerName })
	set("hubble.tls.insecure-skip-verify", func() { o.HubbleTLS.InsecureSkipVerify = h.TLS.InsecureSkipVerify })
	set("hubble.filter", func() { o.Stream.Filters = h.Filters })
	set("hubble.allow-filter", func() { o.HubbleAllow = flowFilters(h.AllowFilters) })
	set("hubble.deny-filter", func() { o.HubbleDeny = flowFilters(h.DenyFilters) })

	am, ao := f.Alertmanagers, &o.Alertmanager
	set("alertmanager.url", func() { o.AlertmanagerURLs = am.URLs })
	set("alertmanager.path-prefix", func() { ao.PathPrefix = am.PathPrefix })
	set("alertmanager.timeout", func() { ao.Timeout = durationOf(am.Timeout) })
	set("alertmanager.failing-after", func() { ao.FailingAfter = durationOf(am.FailingAfter) })
	set("alertmanager.tls.ca-file", func() { ao.HTTP.CAFile = am.TLS.CAFile })
	set("alertmanager.tls.cert-file", func() { ao.HTTP.CertFile = am.TLS.CertFile })
	set("alertmanager.tls.key-file", func() { ao.HTTP.KeyFile = am.TLS.KeyFile })
	set("alertmanager.tls.server-name", func() { ao.HTTP.ServerName = am.TLS.ServerName })
	set("alertmanager.tls.insecure-skip-verify", func() { ao.HTTP.InsecureSkipVerify = am.TLS.InsecureSkipVerify })
	set("alertmanager.basic-auth.username", func() { ao.HTTP.BasicAuthUsername = am.BasicAuth.Username })
	set("alertmanager.basic-auth.password-file", func() { ao.HTTP.BasicAuthPasswordFile = am.BasicAuth.PasswordFile })
	set("alertmanager.bearer-token-file", func() { ao.HTTP.BearerTokenFile = am.BearerTokenFile })
	set("alertmanager.spool-path", func() { ao.SpoolPath = am.SpoolPath })
	set("alertmanager.spool-max-bytes", func() { ao.SpoolMaxBytes = int64(am.SpoolMaxBytes) })

	a := f.Alerts
	set("alerts.resolve-after", func() { o.ResolveAfter = durationOf(a.ResolveAfter) })
	set("alerts.resend-interval", func() { o.ResendInterval = durationOf(a.ResendInterval) })
	set("alerts.max-incidents-per-policy", func() { o.Alerts.MaxIncidentsPerPolicy = a.MaxIncidentsPerPolicy })
	set("hubble.ui-url", func() { o.Alerts.HubbleUIURL = a.HubbleUIURL })
	set("alerts.visibility-grace", func() { o.Alerts.VisibilityGrace = durationOf(a.VisibilityGrace) })

	b := f.Baseline
	set("baseline.learning-period", func() { o.BaselineLearning = durationOf(b.LearningPeriod) })
	set("baseline.path", func() { o.BaselinePath = b.Path })
	set("baseline.snapshot-interval", func() { o.BaselineSnapshotInterval = durationOf(b.SnapshotInterval) })
	set("profiles.max", func() { o.ProfilesMax = b.ProfilesMax })

	p, pl, pb := f.Policies, &o.PolicyLimits, &o.PolicyBundle
	set("policies.dir", func() { o.PoliciesDir = p.Dir })
	set("policies.watch", func() { o.WatchPolicies = p.Watch })
	set("policies.eval-timeout", func() { pl.Budget.Timeout = durationOf(p.EvalTimeout) })
	set("policies.max-failures", func() { pl.Budget.Strikes = p.MaxFailures })
	set("policies.max-cost", func() { pl.MaxCost = durationOf(p.MaxCost) })
	set("policies.decision-cache-size", func() { pl.CacheSize = p.DecisionCacheSize })
	set("policies.bundle", func() { pb.Source = p.Bundle.Source })
	set("policies.bundle-poll-interval", func() { pb.PollInterval = durationOf(p.Bundle.PollInterval) })
	set("policies.bundle.tls.ca-file", func() { pb.CAFile = p.Bundle.TLS.CAFile })
	set("policies.bundle.tls.cert-file", func() { pb.CertFile = p.Bundle.TLS.CertFile })
	set("policies.bundle.tls.key-file", func() { pb.KeyFile = p.Bundle.TLS.KeyFile })
	set("policies.bundle.bearer-token-file", func() { pb.BearerTokenFile = p.Bundle.BearerTokenFile })
	set("policies.bundle.verification-key-file", func() { pb.VerificationKeyFile = p.Bundle.VerificationKeyFile })
	set("policies.bundle.verification-key-id", func() { pb.VerificationKeyID = p.Bundle.VerificationKeyID })
	set("policies.bundle.verification-scope", func() { pb.VerificationScope = p.Bundle.VerificationScope })
	if o.PoliciesDir != "" && o.PolicyBundle.Source != "" {
		return Options{}, errors.New("policies.dir and policies.bundle.source are exclusive (counting the flags given)")
	}

	set("redact.headers", func() { o.RedactHeaders = f.Redact.Headers })
	set("redact.query-keys", func() { o.RedactQueryKeys = f.Redact.QueryKeys })

	for i, s := range o.HubbleSources {
		if _, err := ParseHubbleSource(s.String()); err != nil {
			return Options{}, fmt.Errorf("hubble.sources[%d]: %w", i, err)
		}
	}
	if err := CheckHubbleSources(o.HubbleSources); err != nil {
		return Options{}, fmt.Errorf("hubble.sources: %w", err)
	}
	return o, nil
}

func durationOf(d config.Duration) time.Duration { return time.Duration(d) }

func flowFilters(fs []config.FlowFilter) []*flowpb.FlowFilter {
	var out []*flowpb.FlowFilter
	for _, f := range fs {
		out = append(out, f.FlowFilter)
	}
	return out
}

// loadConfig reads o.ConfigFile and applies it to base, then checks what
// the daemon would refuse at start: the policies it names are loaded
// (compiled, tested and checked, as a policy reload does) and the
// Alertmanager client settings are built. It returns the options and the
// policies loaded.
func loadConfig(ctx context.Context, base Options, logger *slog.Logger) (Options, loaded, error) {
	f, err := config.Load(base.ConfigFile)
	if err != nil {
		return Options{}, loaded{}, err
	}
	o, err := ApplyConfig(base, f)
	if err != nil {
		return Options{}, loaded{}, fmt.Errorf("%s: %w", base.ConfigFile, err)
	}
	// The sender's own validation (URLs, TLS files, auth) on a throwaway
	// in-memory spool and registry.
	probe := o.Alertmanager
	probe.SpoolPath = ""
	s, err := newSender(o.AlertmanagerURLs, probe, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		return Options{}, loaded{}, fmt.Errorf("%s: alertmanagers: %w", base.ConfigFile, err)
	}
	if s != nil {
		_ = s.Close()
	}
	src, err := newPolicySource(&o, logger)
	if err != nil {
		return Options{}, loaded{}, fmt.Errorf("%s: policies: %w", base.ConfigFile, err)
	}
	l, err := src.load(ctx, true)
	if err != nil {
		return Options{}, loaded{}, fmt.Errorf("%s: policies: %w", base.ConfigFile, err)
	}
	return o, l, nil
}

// ConfigCheck is `config check FILE`: the file parsed strictly and
// validated, then checked as a start or reload would check it (the
// policies it names loaded, the Alertmanager settings built). It prints
// what it found, or returns every error with its key and line.
func ConfigCheck(ctx context.Context, o Options, path string) error {
	o.defaults()
	o.ConfigFile = path
	c, l, err := loadConfig(ctx, o, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Stdout, "%s: ok: %d hubble source(s), %d alertmanager(s), %d policies from %s\n",
		path, len(c.HubbleSources), len(c.AlertmanagerURLs), len(l.set.Policies()), l.source)
	return nil
}
