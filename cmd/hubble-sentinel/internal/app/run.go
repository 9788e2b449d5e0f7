package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	observerpb "github.com/cilium/cilium/api/v1/observer"
	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hubble-sentinel/hubble-sentinel/engine"
	"github.com/hubble-sentinel/hubble-sentinel/engine/alert"
	"github.com/hubble-sentinel/hubble-sentinel/engine/policy"
	"github.com/hubble-sentinel/hubble-sentinel/engine/redact"
	"github.com/hubble-sentinel/hubble-sentinel/hubble"
)

// Run is the daemon: it follows one or more Hubble Relays, judges every
// flow and sends alerts to Alertmanager until ctx ends. An unreachable relay
// or Alertmanager is logged and retried, never fatal.
//
// Each relay (HubbleSources) has its own stream, engine, baselines and
// visibility alerts, so that two clusters never share a baseline and one
// cluster's flood or outage does not blind the other's; they share the
// policies, the aggregator, the Alertmanager sender, the registry and the
// web server.
func Run(ctx context.Context, o Options) error {
	o.defaults()
	base := o
	if o.ConfigFile != "" {
		var err error
		if o, o.preloaded, err = loadConfig(ctx, base, o.Logger.With("component", "policy")); err != nil {
			return err
		}
	}
	if len(o.HubbleSources) == 0 {
		o.HubbleSources = []HubbleSource{{Address: DefaultHubbleAddress}}
	}
	if err := CheckHubbleSources(o.HubbleSources); err != nil {
		return fmt.Errorf("--hubble.address: %w", err)
	}
	o.impliedTLS()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	if len(o.AlertmanagerURLs) == 0 {
		o.Logger.Warn("no --alertmanager.url given: alerts are only logged")
	}
	o.senders = newSenders(o.Logger)
	p, err := newDelivery(ctx, &o, alert.DefaultAggregatorConfig, nil, reg)
	if err != nil {
		return err
	}
	defer p.close(o.Logger)

	var g run.Group
	followers := make([]*follower, 0, len(o.HubbleSources))
	for _, src := range o.HubbleSources {
		f, err := p.followSource(ctx, &g, &o, src, reg)
		if err != nil {
			return err
		}
		defer f.close()
		followers = append(followers, f)
	}
	p.deliver(ctx, &g)
	if floor := heapFloor(&o, reg); floor != nil {
		addContext(ctx, &g, floor)
	}
	// running is the configuration in effect, which a configuration
	// reload replaces and the policy reloader reads.
	var mu sync.Mutex
	running := o
	current := func() Options { mu.Lock(); defer mu.Unlock(); return running }
	setPolicies := func(set *policy.Set) {
		p.aggregator.SetGroupings(set.Groupings())
		for _, f := range followers {
			f.engine.SetPolicies(set)
		}
	}
	requests := make(chan chan<- error)
	if o.ConfigFile != "" {
		logger := o.Logger.With("component", "config")
		r := NewConfigReloader(o.ConfigFile, func(ctx context.Context) (Options, loaded, error) {
			return loadConfig(ctx, base, o.Logger.With("component", "policy"))
		}, func(next Options, l loaded) error {
			err := applyReload(current(), &next, l, p, setPolicies, logger)
			mu.Lock()
			running = next
			mu.Unlock()
			return err
		}, logger, reg)
		r.Signals, r.Requests, r.Alerts = o.Reload, requests, p.aggregator
		addContext(ctx, &g, r.Run)
	}
	if src := p.source; (o.ConfigFile == "" && (o.Reload != nil || o.WebLifecycle)) || (o.WatchPolicies && o.PoliciesDir != "") || src.bundle != nil {
		logger := o.Logger.With("component", "policy")
		loader := func(force bool) func(ctx context.Context) (*policy.Set, error) {
			return func(ctx context.Context) (*policy.Set, error) {
				// The directory and limits are the running configuration's;
				// a bundle's source is restart-only, so the one started with.
				c := current()
				s := &policySource{dir: c.PoliciesDir, bundle: src.bundle, limits: c.PolicyLimits, logger: logger}
				l, err := s.load(ctx, force)
				if errors.Is(err, errNotModified) {
					return nil, nil
				}
				return l.set, err
			}
		}
		r := NewReloader(src.String(), len(p.policies.Policies()), loader(false), setPolicies, logger, reg)
		r.LoadForced = loader(true)
		r.Alerts = p.aggregator
		if o.ConfigFile == "" {
			// With a configuration file, SIGHUP and /-/reload reload it,
			// the policies included.
			r.Signals, r.Requests = o.Reload, requests
		}
		changes := make(chan struct{}, 1)
		switch {
		case src.bundle != nil && src.bundle.url != nil:
			r.Changes = changes
			addContext(ctx, &g, func(ctx context.Context) error { return src.bundle.poll(ctx, changes) })
		case src.bundle != nil && o.WatchPolicies:
			dir, file := filepath.Split(filepath.Clean(o.PolicyBundle.Source))
			w := NewWatcher(filepath.Clean(dir+"."), logger)
			w.File = file
			r.Changes = w.Changes()
			addContext(ctx, &g, w.Run)
		case o.WatchPolicies && o.PoliciesDir != "":
			w := NewWatcher(o.PoliciesDir, logger)
			r.Changes = w.Changes()
			addContext(ctx, &g, w.Run)
		}
		addContext(ctx, &g, r.Run)
	}
	if o.WebListenAddress != "" {
		web := &Web{Address: o.WebListenAddress, Registry: reg, More: o.senders, Pprof: o.WebPprof, Logger: o.Logger.With("component", "web"),
			Ready:     func() error { return ready(followers, time.Now(), cmp.Or(o.stallAfter, DefaultStallAfter)) },
			Lifecycle: o.WebLifecycle, Reload: func(ctx context.Context) error { return askReload(ctx, requests) }}
		addContext(ctx, &g, web.Run)
	}
	attrs := []any{"hubble_address", o.HubbleSources[0].Address}
	if len(o.HubbleSources) > 1 || o.HubbleSources[0].Name != "" {
		names := make([]string, len(o.HubbleSources))
		for i, s := range o.HubbleSources {
			names[i] = s.String()
		}
		attrs = []any{"hubble_sources", strings.Join(names, ",")}
	}
	if o.ConfigFile != "" {
		attrs = append(attrs, "config_file", o.ConfigFile)
	}
	o.Logger.Info("hubble-sentinel running", append(attrs, "tls", o.HubbleTLS.Enabled,
		"alertmanagers", len(o.AlertmanagerURLs), "web", o.WebListenAddress)...)
	return g.Run()
}

// applyReload swaps a reloaded configuration in over running: the
// restart-only settings that changed are logged and kept as they run, then
// redaction, alert tuning, the policies and (when its settings changed)
// the Alertmanager sender are replaced. next ends as what runs.
func applyReload(running Options, next *Options, l loaded, p *pipeline, setPolicies func(*policy.Set), logger *slog.Logger) error {
	keepRestartOnly(running, next, logger)
	if err := redact.Extend(next.RedactHeaders, next.RedactQueryKeys); err != nil {
		next.RedactHeaders, next.RedactQueryKeys = running.RedactHeaders, running.RedactQueryKeys
		return err
	}
	p.aggregator.Retune(alert.Tuning{
		ResolveAfter: next.ResolveAfter, ResendInterval: next.ResendInterval,
		MaxIncidentsPerPolicy: next.Alerts.MaxIncidentsPerPolicy, HubbleUIURL: next.Alerts.HubbleUIURL,
	})
	setPolicies(l.set)
	if slices.Equal(running.AlertmanagerURLs, next.AlertmanagerURLs) && running.Alertmanager == next.Alertmanager {
		return nil
	}
	logger.Info("alertmanager settings changed; replacing the sender", "alertmanagers", len(next.AlertmanagerURLs))
	if err := p.senders.replace(next.AlertmanagerURLs, next.Alertmanager, running.AlertmanagerURLs, running.Alertmanager, p.aggregator.Active); err != nil {
		next.AlertmanagerURLs, next.Alertmanager = running.AlertmanagerURLs, running.Alertmanager
		return fmt.Errorf("alertmanagers: %w (the previous settings stay)", err)
	}
	return nil
}

// askReload asks the reloader listening on requests for a reload and
// waits for its result.
func askReload(ctx context.Context, requests chan<- chan<- error) error {
	reply := make(chan error, 1)
	select {
	case requests <- reply:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// follower is one source's stream and engine.
type follower struct {
	HubbleSource
	engine  *engine.Engine
	workers *engine.Parallel
	client  *hubble.Client
	close   func()
}

// followSource adds to g what follows src: its client, its engine (with
// its own baselines), and its visibility alerts. A named source labels its
// alerts, logs and metrics with its cluster and keeps its own position and
// snapshot files.
func (p *pipeline) followSource(ctx context.Context, g *run.Group, o *Options, src HubbleSource, reg prometheus.Registerer) (*follower, error) {
	logger, sink := o.Logger, alert.Sink(p.aggregator)
	if src.Name != "" {
		logger = logger.With(alert.LabelCluster, src.Name, "hubble_address", src.Address)
		sink = alert.Cluster{Sink: p.aggregator, Name: src.Name}
	}
	reg = src.registerer(reg)
	eng, snapshots, err := p.newEngine(o, engine.Config{}, sink, src.file(o.BaselinePath), logger, reg)
	if err != nil {
		return nil, err
	}
	visibility := alert.NewVisibility(sink, cmp.Or(o.Alerts.VisibilityGrace, DefaultVisibilityGrace), logger.With("component", "visibility"))
	// Baselines learn no rate over a gap; the span of a gap without one is
	// the client's position, read once the client exists.
	f := &follower{HubbleSource: src, engine: eng}
	blind := &blindBaselines{blind: eng.Profiles().Blind, position: func() time.Time { return f.client.Position() }, next: o.Gaps}
	cfg, closePosition, err := o.Stream.clientConfig(o, src, gapAlerts{gaps: visibility, next: blind}, logger)
	if err != nil {
		return nil, err
	}
	// The codec decodes what the stream asks for, whether or not the
	// relay applies the mask.
	dial := o.Stream.dialOptions()
	dial.FieldMask = cfg.FieldMask
	dial.Registerer = reg
	conn, err := hubble.Dial(src.Address, o.HubbleTLS, dial)
	if err != nil {
		closePosition()
		return nil, fmt.Errorf("hubble relay %s: %w", src.Address, err)
	}
	f.close = func() {
		closePosition()
		_ = conn.Close()
	}
	cfg.Conn = conn
	f.client = hubble.NewClient(observerpb.NewObserverClient(conn), cfg, logger.With("component", "hubble"), reg)
	f.workers = judge(ctx, g, eng, snapshots, f.client, o.Workers, reg)
	addContext(ctx, g, visibility.Run)
	addContext(ctx, g, func(ctx context.Context) error {
		return watchRelay(ctx, f.client.Ready, visibility, src.Address)
	})
	return f, nil
}

// ready is /readyz: every source's stream is up and no engine is falling
// behind: stalled on a flow, or judging flows more than stallAfter after
// they arrived. With several sources, the error names each one that is
// not ready.
func ready(followers []*follower, now time.Time, stallAfter time.Duration) error {
	var errs []error
	for _, f := range followers {
		var err error
		if !f.client.Ready() {
			err = errors.New("not connected to hubble relay")
		} else if stalled, n := f.engine.Stalled(now, stallAfter); stalled {
			err = fmt.Errorf("engine not keeping up: %d flows in flight, none judged for %s", n, stallAfter)
		} else if behind, n := f.workers.Behind(now, stallAfter); behind {
			err = fmt.Errorf("engine not keeping up: %d flows queued, judged more than %s after they arrive", n, stallAfter)
		}
		if err != nil && f.Name != "" {
			err = fmt.Errorf("cluster %s (%s): %w", f.Name, f.Address, err)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// relayPoll is how often watchRelay looks at the stream's readiness.
const relayPoll = 250 * time.Millisecond

// watchRelay reports the relay unreachable to gaps while the stream is not
// ready (from the start, until it first connects, too), and restored when
// it is, until ctx ends.
func watchRelay(ctx context.Context, ready func() bool, gaps alert.Gaps, address string) error {
	t := time.NewTicker(relayPoll)
	defer t.Stop()
	up := false
	gaps.Lost(time.Now(), alert.ReasonRelayDisconnected, address, "not connected yet")
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			r := ready()
			switch {
			case r && !up:
				gaps.Restored(now, alert.ReasonRelayDisconnected, address)
			case !r && up:
				gaps.Lost(now, alert.ReasonRelayDisconnected, address, "stream lost; reconnecting")
			}
			up = r
		}
	}
}

// gapAlerts turns the Hubble client's blind spots into
// SentinelVisibilityGap, and passes them on to next.
type gapAlerts struct {
	gaps alert.Gaps
	next hubble.GapObserver
}

var _ hubble.GapObserver = gapAlerts{}

func (g gapAlerts) Gap(gp hubble.Gap) {
	now := time.Now()
	switch gp.Kind {
	case hubble.GapLostEvents:
		g.gaps.Missed(now, alert.ReasonLostEvents, gp.Node, gp.Flows, "Hubble's count, source "+gp.Reason+".")
	case hubble.GapResume:
		g.gaps.Missed(now, alert.ReasonFlowsOverwritten, gp.Node, gp.Flows,
			fmt.Sprintf("Flows between %s and %s were gone from the ring when the stream resumed.", gp.Start.UTC().Format(time.RFC3339), gp.End.UTC().Format(time.RFC3339)))
	case hubble.GapOversized:
		g.gaps.Missed(now, alert.ReasonOversizedFlow, gp.Node, gp.Flows, gp.Reason)
	case hubble.GapNodeStatus:
		// A node gone from the cluster is no blind spot; one unavailable
		// or in error is until the relay reports it back.
		if gp.Reason != "NODE_GONE" {
			g.gaps.Lost(now, alert.ReasonNodeUnavailable, gp.Node, strings.TrimSpace(gp.Reason+" "+gp.Message))
		}
	default:
		// A kind added later (sampled coverage, say) is still a blind spot;
		// the kinds are few and fixed, so they stay a bounded label.
		g.gaps.Missed(now, string(gp.Kind), gp.Node, gp.Flows, gp.Reason)
	}
	if g.next != nil {
		g.next.Gap(gp)
	}
}

func (g gapAlerts) NodeRecovered(source, cluster, node string) {
	g.gaps.Restored(time.Now(), alert.ReasonNodeUnavailable, node)
	if g.next != nil {
		g.next.NodeRecovered(source, cluster, node)
	}
}

// StreamOptions tune the Hubble stream (the --hubble.* flags beyond the
// address and TLS).
type StreamOptions struct {
	// Filters are server-side filters in hubble observe's vocabulary
	// ("namespace=shop", "not-verdict=DROPPED"), added to the JSON ones.
	Filters []string
	// PositionPath keeps the stream position across restarts; empty: beside
	// --baseline.path when that is set, else in memory only.
	PositionPath string
	// ResumeOverlap, DedupSize, MaxFlowSize, Keepalive*, Status*: see
	// hubble.ClientConfig and hubble.DialOptions; zero means the default.
	ResumeOverlap                   time.Duration
	DedupSize                       int
	MaxFlowSize                     int
	KeepaliveTime, KeepaliveTimeout time.Duration
	StatusInterval, StatusTimeout   time.Duration
	// ShedAfter turns on the reduced-coverage mode (hubble.ClientConfig);
	// zero keeps back-pressure only.
	ShedAfter time.Duration
	// FullFlows asks the relay for every flow field. By default only the
	// fields the engine and the policies read are asked for (a field
	// mask: hubble.FlowFields and the top-level fields the policies read).
	FullFlows bool
}

func (s StreamOptions) dialOptions() hubble.DialOptions {
	return hubble.DialOptions{KeepaliveTime: s.KeepaliveTime, KeepaliveTimeout: s.KeepaliveTimeout, MaxFlowSize: s.MaxFlowSize}
}

// clientConfig is src's live client configuration, telling gaps of its
// blind spots, with its position file opened (close it once the client has
// stopped). A named source's position file is its own: PATH.NAME.
func (s StreamOptions) clientConfig(o *Options, src HubbleSource, gaps hubble.GapObserver, logger *slog.Logger) (hubble.ClientConfig, func(), error) {
	allow, deny, err := hubble.ObserveFilters(s.Filters)
	if err != nil {
		return hubble.ClientConfig{}, nil, fmt.Errorf("--hubble.filter: %w", err)
	}
	cfg := hubble.ClientConfig{
		Follow: true, Reconnect: true, Address: src.Address, Cluster: src.Name, TLS: o.HubbleTLS.Enabled,
		Allow:   append(append([]*flowpb.FlowFilter(nil), o.HubbleAllow...), allow...),
		Deny:    append(append([]*flowpb.FlowFilter(nil), o.HubbleDeny...), deny...),
		Overlap: s.ResumeOverlap, DedupSize: s.DedupSize, Gaps: gaps,
		StatusInterval: s.StatusInterval, StatusTimeout: s.StatusTimeout, ShedAfter: s.ShedAfter,
	}
	if !s.FullFlows {
		if cfg.FieldMask, err = policiesFieldMask(o); err != nil {
			return hubble.ClientConfig{}, nil, err
		}
	}
	path := src.file(s.PositionPath)
	if path == "" && o.BaselinePath != "" {
		path = src.file(o.BaselinePath) + ".position"
	}
	if path == "" {
		return cfg, func() {}, nil
	}
	logger = logger.With("component", "hubble")
	pos, err := hubble.OpenPosition(path, s.DedupSize)
	if pos == nil {
		return cfg, nil, fmt.Errorf("--hubble.position-path: %w", err)
	}
	if err != nil {
		logger.Error("stream position unusable; starting from now", "err", err)
	}
	cfg.Position = pos
	return cfg, func() {
		if err := pos.Close(); err != nil {
			logger.Error("closing the stream position", "err", err)
		}
	}, nil
}

// flowQueue is each engine worker's queue: enough to ride out a burst,
// small enough that a stalled engine pushes back on the relay stream soon.
const flowQueue = 1024

func workerCount(n int) int {
	if n > 0 {
		return n
	}
	return runtime.GOMAXPROCS(0)
}

// addContext adds a Run(ctx) actor to g: the first actor to return stops
// the others, and cancellation of the parent stops all of them.
func addContext(parent context.Context, g *run.Group, fn func(context.Context) error) {
	ctx, cancel := context.WithCancel(parent)
	g.Add(func() error {
		if err := fn(ctx); !isCanceled(err) {
			return err
		}
		return nil
	}, func(error) { cancel() })
}

// DefaultStallAfter is how far behind the engine may fall before /readyz
// says it is not keeping up: flows in flight with none judged, or a worker
// taking up flows that waited in its queue, for that long. It is many
// times what the evaluation budget allows one flow.
const DefaultStallAfter = 15 * time.Second

// Web serves /metrics, /healthz and /readyz, and Go's profiles under
// /debug/pprof/ when Pprof is set.
type Web struct {
	Address  string
	Registry *prometheus.Registry
	// More are gathered with Registry (the replaceable sender's metrics).
	More  prometheus.Gatherer
	Ready func() error // nil: ready
	Pprof bool
	// Lifecycle serves POST /-/reload, which calls Reload and answers with
	// its error (--web.enable-lifecycle); without it /-/reload answers 403.
	Lifecycle bool
	Reload    func(context.Context) error
	Logger    *slog.Logger
}

// Run serves until ctx ends.
func (w *Web) Run(ctx context.Context) error {
	mux := http.NewServeMux()
	gatherers := prometheus.Gatherers{w.Registry}
	if w.More != nil {
		gatherers = append(gatherers, w.More)
	}
	mux.Handle("/metrics", promhttp.HandlerFor(gatherers, promhttp.HandlerOpts{Registry: w.Registry}))
	mux.HandleFunc("/-/reload", w.reload)
	mux.HandleFunc("/healthz", func(rw http.ResponseWriter, _ *http.Request) {
		_, _ = rw.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(rw http.ResponseWriter, _ *http.Request) {
		if w.Ready != nil {
			if err := w.Ready(); err != nil {
				http.Error(rw, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = rw.Write([]byte("ok\n"))
	})
	if w.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	lis, err := net.Listen("tcp", w.Address)
	if err != nil {
		return fmt.Errorf("--web.listen-address %s: %w", w.Address, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	w.Logger.Info("serving metrics and health", "address", lis.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}

// reload is /-/reload, as Prometheus serves it: POST only (405
// otherwise), and only with the lifecycle API enabled (403 otherwise);
// a reload that fails answers 500 with the error.
func (w *Web) reload(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		rw.Header().Set("Allow", http.MethodPost)
		http.Error(rw, "only POST requests allowed", http.StatusMethodNotAllowed)
		return
	}
	if !w.Lifecycle || w.Reload == nil {
		http.Error(rw, "lifecycle API is not enabled (--web.enable-lifecycle)", http.StatusForbidden)
		return
	}
	if err := w.Reload(r.Context()); err != nil {
		http.Error(rw, "reload failed, the running configuration stays: "+err.Error(), http.StatusInternalServerError)
		return
	}
	_, _ = rw.Write([]byte("reloaded\n"))
}

// logNotifier logs alerts when no Alertmanager is configured, so nothing is
// silently dropped.
type logNotifier struct{ logger *slog.Logger }

func (l logNotifier) Send(alerts ...alert.Alert) {
	for _, a := range alerts {
		state := "firing"
		if a.Resolved(time.Now()) {
			state = "resolved"
		}
		l.logger.Warn("alert", "state", state, "alertname", a.Labels[alert.LabelAlertname],
			"severity", a.Labels[alert.LabelSeverity], "summary", a.Annotations[alert.AnnotationSummary],
			"labels", a.Labels)
	}
}
