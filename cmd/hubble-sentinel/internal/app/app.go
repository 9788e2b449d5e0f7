// Package app wires the Hubble sources, the engine and Alertmanager into hubble-sentinel's commands: run, replay, demo and policy input.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/oklog/run"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/hubble-sentinel/hubble-sentinel/cmd/hubble-sentinel/internal/config"
	"github.com/hubble-sentinel/hubble-sentinel/cmd/hubble-sentinel/internal/heapfloor"
	"github.com/hubble-sentinel/hubble-sentinel/engine"
	"github.com/hubble-sentinel/hubble-sentinel/engine/alert"
	"github.com/hubble-sentinel/hubble-sentinel/engine/alertmanager"
	"github.com/hubble-sentinel/hubble-sentinel/engine/policy"
	"github.com/hubble-sentinel/hubble-sentinel/engine/profile"
	"github.com/hubble-sentinel/hubble-sentinel/engine/redact"
	"github.com/hubble-sentinel/hubble-sentinel/hubble"
	"github.com/hubble-sentinel/hubble-sentinel/policies"
)

// Options are the process settings every command shares, filled from flags.
type Options struct {
	// HubbleSources are the relays run follows, each with its own engine
	// (empty: DefaultHubbleAddress). HubbleTLS applies to every one.
	HubbleSources    []HubbleSource
	HubbleTLS        hubble.TLSConfig
	HubbleAllow      []*flowpb.FlowFilter
	HubbleDeny       []*flowpb.FlowFilter
	AlertmanagerURLs []string
	// Alertmanager is how alerts reach the Alertmanagers: spool, TLS, auth.
	Alertmanager AlertmanagerOptions
	// Alerts tunes how violations become alerts.
	Alerts      AlertOptions
	PoliciesDir string // empty: the bundled policies
	// PolicyBundle loads the policies from an OPA bundle instead of
	// PoliciesDir (the two are exclusive).
	PolicyBundle BundleOptions
	// PolicyLimits bound what the policies may cost (see policy.Budget).
	PolicyLimits PolicyLimits
	// RedactHeaders and RedactQueryKeys are added to the redactor's
	// defaults (--redact.headers, --redact.query-keys).
	RedactHeaders, RedactQueryKeys []string
	// WatchPolicies reloads PoliciesDir when its files change.
	WatchPolicies    bool
	WebListenAddress string
	// WebPprof serves Go's profiles under /debug/pprof/ on the web address.
	WebPprof       bool
	ResolveAfter   time.Duration
	ResendInterval time.Duration
	ProfilesMax    int
	// BaselineLearning is the learning period in event time (0: the
	// default, a day); BaselinePath, when set, is where baselines are
	// restored from at start and snapshotted to every
	// BaselineSnapshotInterval and at the end.
	BaselineLearning         time.Duration
	BaselinePath             string
	BaselineSnapshotInterval time.Duration
	Workers                  int // engine workers for live streams; 0: one per CPU
	// HeapFloor is the heap size in bytes below which the garbage
	// collector does not run (see package heapfloor; --runtime.heap-floor);
	// 0, or GOGC set in the environment: the collector's own pacing.
	HeapFloor int64
	// Stream tunes the Hubble stream of run: filters, resume, position,
	// limits and probes.
	Stream StreamOptions
	// Gaps, when set, learns of every blind spot the Hubble client finds
	// (the client logs and counts them itself).
	Gaps hubble.GapObserver
	// Reload receives a value for each request to reload the policies, or
	// the configuration file when ConfigFile is set (the command sends one
	// per SIGHUP); nil never reloads.
	Reload <-chan struct{}
	// ConfigFile is the YAML configuration file (--config.file; empty:
	// flags only). Explicit names the flags given on the command line,
	// which win over the file (see ApplyConfig).
	ConfigFile string
	Explicit   map[string]bool
	// WebLifecycle serves POST /-/reload (--web.enable-lifecycle).
	WebLifecycle bool
	// senders, in run, is the sender a configuration reload may replace.
	senders *senders
	// preloaded are the policies loadConfig loaded with the file, which
	// the pipeline starts with instead of loading them again.
	preloaded loaded

	Logger *slog.Logger
	Stdout io.Writer
	Stderr io.Writer

	// policyFS holds the policies loaded at start (set when they load),
	// which the field mask is made from.
	policyFS fs.FS
	// stallAfter is how far behind the engine may fall before /readyz
	// says it is not keeping up (0: DefaultStallAfter); tests shorten it.
	stallAfter time.Duration
}

// BundleOptions are the --policies.bundle* settings: where an OPA bundle
// (`opa build` format) comes from, how it is fetched, and the key its
// signature is verified with.
type BundleOptions struct {
	// Source is a .tar.gz file path or an http(s):// URL; empty: no bundle.
	Source string
	// PollInterval is how often a URL is polled (0: DefaultBundlePollInterval).
	PollInterval time.Duration
	// CAFile, CertFile and KeyFile are the TLS settings of a URL (CA to
	// verify the server, client certificate and key for mTLS).
	CAFile, CertFile, KeyFile string
	// BearerTokenFile holds a bearer token sent with every request (read
	// on each request).
	BearerTokenFile string
	// VerificationKeyFile, when set, holds the key bundles must be signed
	// with (a PEM public key, or an HMAC secret); unsigned bundles are then
	// refused. VerificationKeyID names it (default "default") and
	// VerificationScope is the scope the signature must carry (optional).
	VerificationKeyFile, VerificationKeyID, VerificationScope string
}

// DefaultBundlePollInterval is how often a bundle URL is polled by default.
const DefaultBundlePollInterval = config.DefaultBundlePollInterval

// AlertmanagerOptions are the --alertmanager.* settings beyond the URLs.
type AlertmanagerOptions struct {
	// SpoolPath is the directory alerts wait in until every Alertmanager
	// has them (empty: in memory); SpoolMaxBytes bounds it (0: default).
	SpoolPath     string
	SpoolMaxBytes int64
	Timeout       time.Duration
	PathPrefix    string
	HTTP          alertmanager.HTTPConfig
	// FailingAfter is how long an Alertmanager may fail before
	// SentinelDeliveryFailing fires (0: default).
	FailingAfter time.Duration
}

// AlertOptions are the --alerts.* settings beyond resolve and resend.
type AlertOptions struct {
	// MaxIncidentsPerPolicy caps the new incidents a policy opens per
	// minute; beyond it they fold into SentinelAlertsThrottled (0: the
	// default, negative: no cap).
	MaxIncidentsPerPolicy int
	// HubbleUIURL makes each alert's generatorURL a Hubble UI link.
	HubbleUIURL string
	// VisibilityGrace is how long the relay may be unreachable, or a node
	// unavailable, before SentinelVisibilityGap fires (0: default).
	VisibilityGrace time.Duration
}

// DefaultVisibilityGrace lets a relay restart pass without an alert.
const DefaultVisibilityGrace = config.DefaultVisibilityGrace

// DefaultHeapFloor is --runtime.heap-floor's default: the engine's live
// heap on a busy node's traffic is a few tens of MB, which Go's default
// pacing collects several times a second.
const DefaultHeapFloor = 256 << 20

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
}

// PolicyLimits are the --policies.* bounds on what policies may cost.
type PolicyLimits struct {
	// Budget bounds each flow's evaluation and how often a policy may fail
	// before it is quarantined.
	Budget policy.Budget
	// MaxCost refuses a set in which a policy costs more than this per
	// sample input on average (0: no bound).
	MaxCost time.Duration
	// CacheSize is how many decisions each cached policy group keeps (0:
	// policy.DefaultCacheSize; negative: no decision cache).
	CacheSize int
}

// LoadPolicies loads the policies from dir, or the bundled ones when dir is
// empty, and logs what was loaded. A directory's Rego tests run too, and a
// set whose tests fail is refused like one that does not compile: the
// bundled policies were tested when the binary was built. Every policy
// then judges the sample inputs alone (the directory's testdata, else the
// bundled ones): a set in which one breaks the output contract, fails, or
// costs more than limits allow is refused before it judges live flows.
func LoadPolicies(ctx context.Context, dir string, limits PolicyLimits, logger *slog.Logger) (*policy.Set, error) {
	var fsys fs.FS = policies.FS
	where := "bundled policies"
	if dir != "" {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("policies directory: %w", err)
		}
		fsys, where = os.DirFS(dir), dir
	}
	return loadFS(ctx, fsys, where, dir != "", limits, logger)
}

// loadFS loads the policies under fsys as LoadPolicies does, running
// their Rego tests when tests is set; where names fsys in messages.
func loadFS(ctx context.Context, fsys fs.FS, where string, tests bool, limits PolicyLimits, logger *slog.Logger, attrs ...any) (*policy.Set, error) {
	set, err := policy.Load(ctx, fsys, ".", policy.WithBudget(limits.Budget), policy.WithCacheSize(limits.CacheSize))
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", where, err)
	}
	passed := 0
	if tests {
		report, err := policy.Test(ctx, fsys, ".", policy.TestOptions{})
		if err == nil {
			err = report.Err()
		}
		if err != nil {
			return nil, fmt.Errorf("testing %s: %w", where, err)
		}
		passed = len(report.Results)
	}
	samples, err := sampleInputs(fsys, where)
	if err != nil {
		return nil, err
	}
	if _, err := set.Check(ctx, samples, limits.MaxCost); err != nil {
		return nil, fmt.Errorf("checking %s on %d sample inputs: %w", where, len(samples), err)
	}
	logger.Info("policies loaded", append([]any{"source", where, "policies", len(set.Policies()), "tests_passed", passed,
		"exceptions", len(set.Exceptions()), "samples_judged", len(samples)}, attrs...)...)
	return set, nil
}

// sampleInputs are the sample input documents of fsys, or the bundled ones
// when it has none.
func sampleInputs(fsys fs.FS, where string) ([]ast.Value, error) {
	samples, err := policy.Samples(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if len(samples) == 0 {
		return policy.Samples(policies.FS, ".")
	}
	return samples, nil
}

// policySource is where the policies come from: the bundled set, a
// directory (--policies.dir) or an OPA bundle (--policies.bundle).
type policySource struct {
	dir    string
	bundle *bundleSource // nil unless --policies.bundle
	limits PolicyLimits
	logger *slog.Logger
}

// newPolicySource is the source o names (register puts its metrics on a
// registry).
func newPolicySource(o *Options, logger *slog.Logger) (*policySource, error) {
	s := &policySource{dir: o.PoliciesDir, limits: o.PolicyLimits, logger: logger}
	if o.PolicyBundle.Source == "" {
		return s, nil
	}
	if o.PoliciesDir != "" {
		return nil, errors.New("--policies.dir and --policies.bundle are exclusive: load the policies from one of them")
	}
	b, err := newBundleSource(o.PolicyBundle, logger)
	if err != nil {
		return nil, err
	}
	s.bundle = b
	return s, nil
}

// register puts the source's metrics (a bundle's) on reg.
func (s *policySource) register(reg prometheus.Registerer) {
	if s.bundle != nil {
		reg.MustRegister(s.bundle.requests, s.bundle.lastSuccess)
	}
}

// String names the source in messages.
func (s *policySource) String() string {
	switch {
	case s.bundle != nil:
		return s.bundle.String()
	case s.dir != "":
		return s.dir
	}
	return "bundled policies"
}

// loaded is a policy set with the files it was loaded from and the
// source they came from.
type loaded struct {
	set    *policy.Set
	fsys   fs.FS
	source *policySource
}

// load loads, tests and checks the policies. A bundle's own Rego tests run
// as a directory's do. Unless force is set, a bundle URL that has not
// changed returns errNotModified.
func (s *policySource) load(ctx context.Context, force bool) (loaded, error) {
	var fsys fs.FS = policies.FS
	tests := false
	var attrs []any
	switch {
	case s.bundle != nil:
		b, err := s.bundle.fetch(ctx, force)
		if err != nil {
			return loaded{}, err
		}
		fsys, tests = b.FS, true
		attrs = []any{"revision", b.Revision, "signed", b.Signed}
	case s.dir != "":
		if _, err := os.Stat(s.dir); err != nil {
			return loaded{}, fmt.Errorf("policies directory: %w", err)
		}
		fsys, tests = os.DirFS(s.dir), true
	}
	set, err := loadFS(ctx, fsys, s.String(), tests, s.limits, s.logger, attrs...)
	if err != nil {
		return loaded{}, err
	}
	return loaded{set: set, fsys: fsys, source: s}, nil
}

// newSender returns an Alertmanager sender, or nil when no URL is set.
func newSender(urls []string, ao AlertmanagerOptions, logger *slog.Logger, reg prometheus.Registerer) (*alertmanager.Sender, error) {
	if len(urls) == 0 {
		return nil, nil
	}
	var parsed []*url.URL
	for _, s := range urls {
		u, err := url.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("--alertmanager.url %q: %w", s, err)
		}
		parsed = append(parsed, u)
	}
	return alertmanager.New(alertmanager.Config{
		URLs: parsed, PathPrefix: ao.PathPrefix, HTTP: ao.HTTP, Timeout: ao.Timeout,
		SpoolPath: ao.SpoolPath, SpoolMaxBytes: ao.SpoolMaxBytes, FailingAfter: ao.FailingAfter,
	}, logger.With("component", "alertmanager"), reg)
}

// pipeline is the engine with its aggregator and notifiers. run builds
// one engine per source instead, all sharing the policies, the aggregator
// and the sender.
type pipeline struct {
	engine     *engine.Engine // nil in run, which has one per source
	aggregator *alert.Aggregator
	sender     *alertmanager.Sender
	snapshots  *profile.Snapshotter // nil without --baseline.path
	// senders is run's replaceable sender (sender is nil then).
	senders *senders
	// policies is the set loaded at start, which every engine begins with.
	policies *policy.Set
	// source is where policies came from, which reloads read again.
	source *policySource
}

// close releases what outlives the run: the Alertmanager spool.
func (p *pipeline) close(logger *slog.Logger) {
	if p.senders != nil {
		if err := p.senders.Close(); err != nil {
			logger.Error("closing the alertmanager spool", "err", err)
		}
	}
	if p.sender == nil {
		return
	}
	if err := p.sender.Close(); err != nil {
		logger.Error("closing the alertmanager spool", "err", err)
	}
}

// newPipeline is the pipeline of one engine, restoring --baseline.path.
func newPipeline(ctx context.Context, o *Options, aggCfg alert.AggregatorConfig, engCfg engine.Config, extra alert.Notifier, reg prometheus.Registerer) (*pipeline, error) {
	p, err := newDelivery(ctx, o, aggCfg, extra, reg)
	if err != nil {
		return nil, err
	}
	p.engine, p.snapshots, err = p.newEngine(o, engCfg, p.aggregator, o.BaselinePath, o.Logger, reg)
	if err != nil {
		p.close(o.Logger)
		return nil, err
	}
	return p, nil
}

// newDelivery is the pipeline without an engine: the policies loaded, the
// aggregator and the Alertmanager sender.
func newDelivery(ctx context.Context, o *Options, aggCfg alert.AggregatorConfig, extra alert.Notifier, reg prometheus.Registerer) (*pipeline, error) {
	if err := redact.Extend(o.RedactHeaders, o.RedactQueryKeys); err != nil {
		return nil, err
	}
	source := o.preloaded.source
	if source == nil {
		var err error
		if source, err = newPolicySource(o, o.Logger.With("component", "policy")); err != nil {
			return nil, err
		}
		if o.preloaded, err = source.load(ctx, true); err != nil {
			return nil, err
		}
	}
	source.register(reg)
	set := o.preloaded.set
	o.policyFS = o.preloaded.fsys
	var ns alert.Notifiers
	if extra != nil {
		ns = append(ns, extra)
	}
	var sender *alertmanager.Sender
	if o.senders != nil {
		// run: a sender a reload may replace, logging alerts while there
		// is no Alertmanager.
		snd, sreg, err := o.senders.build(o.AlertmanagerURLs, o.Alertmanager, nil)
		if err != nil {
			return nil, err
		}
		o.senders.set(snd, sreg)
		ns = append(ns, o.senders)
	} else {
		var err error
		if sender, err = newSender(o.AlertmanagerURLs, o.Alertmanager, o.Logger, reg); err != nil {
			return nil, err
		}
		if sender != nil {
			ns = append(ns, sender)
		}
	}
	if o.ResolveAfter > 0 {
		aggCfg.ResolveAfter = o.ResolveAfter
	}
	if o.ResendInterval > 0 && aggCfg.ResendInterval > 0 {
		aggCfg.ResendInterval = o.ResendInterval
	}
	if o.Alerts.MaxIncidentsPerPolicy != 0 {
		aggCfg.MaxIncidentsPerPolicy = o.Alerts.MaxIncidentsPerPolicy
	}
	aggCfg.HubbleUIURL = o.Alerts.HubbleUIURL
	agg := alert.NewAggregator(aggCfg, ns, o.Logger.With("component", "alerts"), reg)
	agg.SetGroupings(set.Groupings())
	if sender != nil {
		sender.SetConditions(agg)
	}
	if o.senders != nil {
		o.senders.setConditions(agg)
	}
	return &pipeline{aggregator: agg, sender: sender, senders: o.senders, policies: set, source: source}, nil
}

// newEngine is an engine judging with the policies loaded at start,
// raising alerts through sink, its baselines restored from and
// snapshotted to baselinePath (none when empty).
func (p *pipeline) newEngine(o *Options, cfg engine.Config, sink alert.Sink, baselinePath string, logger *slog.Logger, reg prometheus.Registerer) (*engine.Engine, *profile.Snapshotter, error) {
	cfg.Profiles = profile.Config{Limits: profile.Limits{Profiles: o.ProfilesMax}, LearningPeriod: o.BaselineLearning}
	eng, err := engine.New(cfg, p.policies, sink, logger.With("component", "engine"), reg)
	if err != nil {
		return nil, nil, err
	}
	if baselinePath == "" {
		return eng, nil, nil
	}
	return eng, restoreBaselines(eng.Profiles(), baselinePath, o.BaselineSnapshotInterval, logger, reg), nil
}

// restoreBaselines loads the baseline snapshot at path, if any, and
// returns what saves it. An unusable snapshot is logged, counted and moved
// aside, and learning starts afresh: it never stops the daemon.
func restoreBaselines(store *profile.Store, path string, interval time.Duration, logger *slog.Logger, reg prometheus.Registerer) *profile.Snapshotter {
	logger = logger.With("component", "baseline")
	n, err := store.LoadFile(path)
	switch {
	case err != nil:
		logger.Error("baseline snapshot unusable; learning starts afresh", "err", err)
		promauto.With(reg).NewCounter(prometheus.CounterOpts{
			Namespace: "hubble_sentinel", Subsystem: "baseline", Name: "restore_failures_total",
			Help: "Baseline snapshots found unusable at start (moved aside).",
		}).Inc()
	case n > 0:
		logger.Info("baselines restored", "path", path, "profiles", n)
	default:
		logger.Info("no baseline snapshot yet; learning", "path", path)
	}
	if interval <= 0 {
		interval = DefaultSnapshotInterval
	}
	return profile.NewSnapshotter(store, path, interval, logger, reg)
}

// DefaultSnapshotInterval bounds what a kill -9 loses of the baselines.
const DefaultSnapshotInterval = config.DefaultSnapshotInterval

// follow adds to g what judges a live stream with the pipeline's engine
// and what delivers its alerts.
func (p *pipeline) follow(ctx context.Context, g *run.Group, client *hubble.Client, workers int, reg prometheus.Registerer) {
	judge(ctx, g, p.engine, p.snapshots, client, workers, reg)
	p.deliver(ctx, g)
}

// judge adds to g the client feeding the engine's workers, the workers,
// and the baseline snapshots (when snapshots is set).
func judge(ctx context.Context, g *run.Group, eng *engine.Engine, snapshots *profile.Snapshotter, client *hubble.Client, workers int, reg prometheus.Registerer) *engine.Parallel {
	par := engine.NewParallel(eng, workerCount(workers), flowQueue, reg)
	addContext(ctx, g, func(ctx context.Context) error { return client.Run(ctx, par.Handle) })
	addContext(ctx, g, par.Run)
	if snapshots != nil {
		addContext(ctx, g, snapshots.Run)
	}
	return par
}

// deliver adds to g the aggregator's clock and the Alertmanager sender.
func (p *pipeline) deliver(ctx context.Context, g *run.Group) {
	addContext(ctx, g, p.aggregator.Run)
	if p.sender != nil {
		addContext(ctx, g, p.sender.Run)
	}
	if p.senders != nil {
		addContext(ctx, g, p.senders.Run)
	}
}

// isCanceled reports a clean shutdown.
func isCanceled(err error) bool {
	return err == nil || errors.Is(err, context.Canceled)
}

// heapFloor is the heap floor's Run, or nil when it is off or GOGC is set
// (the operator's own setting wins).
func heapFloor(o *Options, reg prometheus.Registerer) func(context.Context) error {
	if o.HeapFloor <= 0 {
		return nil
	}
	if v := os.Getenv("GOGC"); v != "" {
		o.Logger.Info("GOGC is set in the environment: --runtime.heap-floor is not applied", "gogc", v)
		return nil
	}
	return heapfloor.New(uint64(o.HeapFloor), reg, o.Logger.With("component", "runtime")).Run
}
