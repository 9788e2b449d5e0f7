// Command hubble-sentinel watches Hubble flows and raises Alertmanager alerts when they break detective policies.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hubble-sentinel/hubble-sentinel/cmd/hubble-sentinel/internal/app"
	"github.com/hubble-sentinel/hubble-sentinel/cmd/hubble-sentinel/internal/config"
	"github.com/hubble-sentinel/hubble-sentinel/engine/alert"
	"github.com/hubble-sentinel/hubble-sentinel/engine/alertmanager"
	"github.com/hubble-sentinel/hubble-sentinel/engine/policy"
	"github.com/hubble-sentinel/hubble-sentinel/hubble"
	"github.com/hubble-sentinel/hubble-sentinel/test/shopmesh"
)

const usage = `hubble-sentinel: detective controls for Cilium service meshes.

Usage:
  hubble-sentinel run [flags]              follow a Hubble Relay, alert to Alertmanager
  hubble-sentinel replay [flags] FILE...   evaluate hubble observe -o jsonpb captures offline ("-" = stdin)
  hubble-sentinel demo [flags]             run against a built-in demo relay streaming a simulated shop
  hubble-sentinel simulate [flags]         write the simulated shop's flows as a hubble observe -o jsonpb capture
  hubble-sentinel policy check DIR         compile policies (sandbox, schema, metadata, exceptions), list ids (or --policies.bundle FILE|URL)
  hubble-sentinel policy test DIR          run the Rego tests of a policy directory, like opa test (or --policies.bundle FILE|URL)
  hubble-sentinel policy input FILE...     print the policy input document of each flow
  hubble-sentinel policy fixtures DIR      write testdata/inputs.json beside every testdata/flows.jsonl under DIR
  hubble-sentinel config check FILE        parse and validate a --config.file strictly (and load its policies)
  hubble-sentinel baseline show [WORKLOAD...]     what the baselines in --baseline.path learned
  hubble-sentinel baseline export --namespace NS  the learned egress of NS's workloads as CiliumNetworkPolicy YAML
  hubble-sentinel version                  print the version

Run "hubble-sentinel COMMAND -h" for the flags of a command.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "hubble-sentinel:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "run":
		o, _, err := parse("run", args, stderr, daemonFlags)
		if err != nil {
			return err
		}
		o.Stdout, o.Stderr = stdout, stderr
		o.Reload = reloadSignals(ctx)
		return app.Run(ctx, o)
	case "replay":
		o, files, err := parse("replay", args, stderr, replayFlags)
		if err != nil {
			return err
		}
		o.Stdout, o.Stderr = stdout, stderr
		_, err = app.Replay(ctx, o, files)
		return err
	case "demo":
		var d app.DemoOptions
		o, _, err := parse("demo", args, stderr, func(fs *flag.FlagSet, o *app.Options) {
			replayFlags(fs, o)
			// The demo learns for two minutes, then judges baselines too.
			learning := fs.Lookup("baseline.learning-period")
			learning.DefValue = app.DemoLearningPeriod.String()
			_ = learning.Value.Set(learning.DefValue)
			fs.DurationVar(&d.Duration, "demo.duration", 0, "stop after this long (0: until interrupted)")
			fs.Float64Var(&d.Rate, "demo.rate", 200, "simulated flows per second")
			fs.Int64Var(&d.Seed, "demo.seed", 1, "seed of the simulated traffic")
			fs.StringVar(&d.ListenAddress, "demo.listen-address", "127.0.0.1:4245", "address of the demo relay, for hubble observe --server (empty: a free port)")
		})
		if err != nil {
			return err
		}
		o.Stdout, o.Stderr = stdout, stderr
		d.Options = o
		return app.Demo(ctx, d)
	case "policy":
		return policyCommand(ctx, args, stdout, stderr)
	case "baseline":
		return baselineCommand(args, stdout, stderr)
	case "config":
		if len(args) == 0 || args[0] != "check" {
			return errors.New(configUsage)
		}
		o, pos, err := parse("config check", args[1:], stderr, daemonFlags)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return fmt.Errorf("config check: want one file, got %d arguments; %s", len(pos), configUsage)
		}
		o.Stdout, o.Stderr = stdout, stderr
		return app.ConfigCheck(ctx, o, pos[0])
	case "simulate":
		var cfg shopmesh.Config
		var n int
		var start string
		o, _, err := parse("simulate", args, stderr, func(fs *flag.FlagSet, _ *app.Options) {
			fs.IntVar(&n, "simulate.flows", 10000, "flows to write")
			fs.Int64Var(&cfg.Seed, "simulate.seed", 1, "seed of the simulated traffic")
			fs.BoolVar(&cfg.Attacks, "simulate.attacks", false, "mix the demo's attacks in")
			fs.StringVar(&start, "simulate.start", "2026-01-01T00:00:00Z", "time of the first flow (RFC 3339)")
		})
		if err != nil {
			return err
		}
		if cfg.Start, err = time.Parse(time.RFC3339, start); err != nil {
			return fmt.Errorf("--simulate.start: %w", err)
		}
		o.Stdout, o.Stderr = stdout, stderr
		return app.Simulate(o, cfg, n)
	case "version", "--version":
		fmt.Fprintln(stdout, "hubble-sentinel", version())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

const policyUsage = "usage: hubble-sentinel policy check DIR | policy test [flags] DIR | policy input FILE... | policy fixtures [--check] DIR (check and test take --policies.bundle FILE|URL instead of DIR)"

func policyCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(policyUsage)
	}
	sub, args := args[0], args[1:]
	var to app.PolicyTestOptions
	var check bool
	define := func(*flag.FlagSet, *app.Options) {}
	if sub == "fixtures" {
		define = func(fs *flag.FlagSet, _ *app.Options) {
			fs.BoolVar(&check, "check", false, "write nothing; fail when a fixture file is stale")
		}
	}
	if sub == "check" {
		define = func(fs *flag.FlagSet, o *app.Options) {
			policyLimitFlags(fs, o)
			bundleFlags(fs, o)
		}
	}
	if sub == "test" {
		define = func(fs *flag.FlagSet, o *app.Options) {
			bundleFlags(fs, o)
			fs.BoolVar(&to.Verbose, "v", false, "list every test and the coverage of every file")
			fs.StringVar(&to.Run, "run", "", "run only tests whose name matches this regular expression")
			fs.BoolVar(&to.Coverage, "coverage", false, "report line coverage per file")
			fs.Float64Var(&to.MinCoverage, "min-coverage", 0, "fail when a policy file's line coverage is below this percentage")
			fs.DurationVar(&to.Timeout, "timeout", 0, "time limit of each test (default 5s)")
		}
	}
	o, pos, err := parse("policy "+sub, args, stderr, define)
	if err != nil {
		return err
	}
	o.Stdout, o.Stderr = stdout, stderr
	switch sub {
	case "input":
		return app.PolicyInput(ctx, o, pos)
	case "check", "test", "fixtures":
		if sub != "fixtures" && o.PolicyBundle.Source != "" && len(pos) == 0 {
			pos = []string{""} // the bundle instead of a directory
		}
		if len(pos) != 1 {
			return fmt.Errorf("policy %s: want one policy directory, got %d arguments", sub, len(pos))
		}
		switch sub {
		case "check":
			return app.PolicyCheck(ctx, o, pos[0])
		case "fixtures":
			return app.PolicyFixtures(ctx, o, pos[0], check)
		}
		return app.PolicyTest(ctx, o, pos[0], to)
	}
	return fmt.Errorf("unknown policy command %q; %s", sub, policyUsage)
}

const configUsage = "usage: hubble-sentinel config check [flags] FILE (flags given win over the file, as in run)"

const baselineUsage = "usage: hubble-sentinel baseline show --baseline.path FILE [WORKLOAD...] | baseline export --baseline.path FILE --namespace NS"

func baselineCommand(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(baselineUsage)
	}
	sub, args := args[0], args[1:]
	var namespace string
	o, pos, err := parse("baseline "+sub, args, stderr, func(fs *flag.FlagSet, o *app.Options) {
		fs.StringVar(&o.BaselinePath, "baseline.path", "", "the baseline snapshot to read (as written by run or replay)")
		if sub == "export" {
			fs.StringVar(&namespace, "namespace", "", "the namespace whose workloads' learned egress to export")
		}
	})
	if err != nil {
		return err
	}
	o.Stdout, o.Stderr = stdout, stderr
	switch sub {
	case "show":
		return app.BaselineShow(o, o.BaselinePath, pos)
	case "export":
		return app.BaselineExport(o, o.BaselinePath, namespace)
	}
	return fmt.Errorf("unknown baseline command %q; %s", sub, baselineUsage)
}

// reloadSignals turns SIGHUP into reload requests, as Prometheus and
// Alertmanager do.
func reloadSignals(ctx context.Context) <-chan struct{} {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	out := make(chan struct{}, 1)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				select {
				case out <- struct{}{}:
				default: // a reload is already pending
				}
			}
		}
	}()
	return out
}

// parse parses flags and positional arguments in any order.
func parse(name string, args []string, stderr io.Writer, define func(*flag.FlagSet, *app.Options)) (app.Options, []string, error) {
	var o app.Options
	fs := flag.NewFlagSet("hubble-sentinel "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	logLevel := fs.String("log.level", "info", "log level: debug, info, warn, error")
	logFormat := fs.String("log.format", "logfmt", "log format: logfmt or json")
	define(fs, &o)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return o, nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	// The flags given win over --config.file's keys.
	o.Explicit = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { o.Explicit[f.Name] = true })
	logger, err := newLogger(*logLevel, *logFormat, stderr)
	if err != nil {
		return o, nil, err
	}
	o.Logger = logger
	return o, positional, nil
}

func newLogger(level, format string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log.level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "logfmt":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log.format %q: want logfmt or json", format)
}

// replayFlags are the flags of everything that evaluates flows.
func replayFlags(fs *flag.FlagSet, o *app.Options) {
	fs.Var((*stringList)(&o.AlertmanagerURLs), "alertmanager.url", "Alertmanager URL to send alerts to (repeatable; every Alertmanager gets every alert)")
	alertmanagerFlags(fs, o)
	fs.StringVar(&o.PoliciesDir, "policies.dir", "", "directory of Rego policies and data (default: the bundled policies)")
	bundleFlags(fs, o)
	policyLimitFlags(fs, o)
	fs.Var((*commaList)(&o.RedactHeaders), "redact.headers", "HTTP headers whose values are credentials, comma-separated, masked in alerts and logs in addition to the defaults (Authorization, Cookie, X-Api-Key, …)")
	fs.Var((*commaList)(&o.RedactQueryKeys), "redact.query-keys", "parameter names whose name=value is masked in free text (summaries, logs), comma-separated, in addition to the defaults (token, password, jsessionid, …)")
	fs.DurationVar(&o.ResolveAfter, "alerts.resolve-after", alert.DefaultAggregatorConfig.ResolveAfter, "resolve an alert after this long without a violating flow")
	fs.IntVar(&o.ProfilesMax, "profiles.max", config.DefaultProfilesMax, "workloads whose profiles and baselines are kept (LRU)")
	fs.DurationVar(&o.BaselineLearning, "baseline.learning-period", config.DefaultLearningPeriod, "event time a namespace's workloads learn before their baselines judge (a workload first seen later gets its own)")
	fs.StringVar(&o.BaselinePath, "baseline.path", "", "file the baselines are restored from at start and snapshotted to (empty: in memory only); run keeps one per named --hubble.address, PATH.NAME")
	fs.DurationVar(&o.BaselineSnapshotInterval, "baseline.snapshot-interval", config.DefaultSnapshotInterval, "how often baselines are snapshotted to --baseline.path (and at shutdown)")
	o.HeapFloor = app.DefaultHeapFloor
	fs.Var((*offOrSize)(&o.HeapFloor), "runtime.heap-floor", "heap size below which the garbage collector does not run, e.g. 256MiB: trades this much memory for CPU while the live heap is small; above it the heap grows by 75% of its live part before a cycle (GOGC=75) (0: Go's default pacing; ignored when GOGC is set)")
}

// bundleFlags load the policies from an OPA bundle, as OPA's bundle plugin
// and keys configuration do.
func bundleFlags(fs *flag.FlagSet, o *app.Options) {
	b := &o.PolicyBundle
	fs.StringVar(&b.Source, "policies.bundle", "", "OPA bundle (opa build) to load the policies and data from: a .tar.gz file or an http(s):// URL (exclusive with --policies.dir)")
	fs.StringVar(&b.CAFile, "policies.bundle.tls.ca-file", "", "CA certificate to verify the bundle server with")
	fs.StringVar(&b.CertFile, "policies.bundle.tls.cert-file", "", "client certificate for mTLS to the bundle server")
	fs.StringVar(&b.KeyFile, "policies.bundle.tls.key-file", "", "client key for mTLS to the bundle server")
	fs.StringVar(&b.BearerTokenFile, "policies.bundle.bearer-token-file", "", "file holding a bearer token sent to the bundle server (read on every request)")
	fs.StringVar(&b.VerificationKeyFile, "policies.bundle.verification-key-file", "", "key bundles must be signed with (opa sign): a PEM public key (RS256, ES256, PS256, ...) or an HMAC secret; unsigned bundles are then refused")
	fs.StringVar(&b.VerificationKeyID, "policies.bundle.verification-key-id", "default", "id of --policies.bundle.verification-key-file, as OPA's signing.keyid: the key used whatever the signature's kid")
	fs.StringVar(&b.VerificationScope, "policies.bundle.verification-scope", "", "scope the bundle signature must carry (optional)")
}

// policyLimitFlags bound what policies may cost.
func policyLimitFlags(fs *flag.FlagSet, o *app.Options) {
	l := &o.PolicyLimits
	fs.DurationVar(&l.Budget.Timeout, "policies.eval-timeout", policy.DefaultBudget.Timeout, "time limit of judging one flow; a policy over it is cut off for that flow, the others' verdicts stand")
	fs.IntVar(&l.Budget.Strikes, "policies.max-failures", policy.DefaultBudget.Strikes, "flows a policy may fail (time out or error) before it is quarantined until the next reload")
	fs.IntVar(&l.CacheSize, "policies.decision-cache-size", policy.DefaultCacheSize, "decisions kept per cached policy group (flows whose read values repeat are judged once), as many again by each group's screen and by its screen units together; negative: no cache, every flow evaluated")
	fs.DurationVar(&l.MaxCost, "policies.max-cost", app.DefaultPolicyMaxCost, "refuse a policy set in which a policy costs more than this per sample input on average (0: no bound)")
}

// alertmanagerFlags are how alerts reach the Alertmanagers, as Prometheus'
// alertmanager_config has them, and how violations become alerts.
func alertmanagerFlags(fs *flag.FlagSet, o *app.Options) {
	am := &o.Alertmanager
	fs.StringVar(&am.SpoolPath, "alertmanager.spool-path", "", "directory alerts are spooled in until every Alertmanager has them, across outages and restarts (empty: in memory, outages only)")
	am.SpoolMaxBytes = alertmanager.DefaultSpoolMaxBytes
	fs.Var((*byteSize)(&am.SpoolMaxBytes), "alertmanager.spool-max-bytes", "bound of the spool, e.g. 256MiB; beyond it the oldest alerts are dropped and counted")
	fs.DurationVar(&am.Timeout, "alertmanager.timeout", alertmanager.DefaultTimeout, "timeout of each request to an Alertmanager")
	fs.StringVar(&am.PathPrefix, "alertmanager.path-prefix", "", "prefix of the Alertmanager API path, before each URL's own path (API v2 only)")
	fs.StringVar(&am.HTTP.CAFile, "alertmanager.tls.ca-file", "", "CA certificate to verify Alertmanagers with")
	fs.StringVar(&am.HTTP.CertFile, "alertmanager.tls.cert-file", "", "client certificate for mTLS to Alertmanagers")
	fs.StringVar(&am.HTTP.KeyFile, "alertmanager.tls.key-file", "", "client key for mTLS to Alertmanagers")
	fs.StringVar(&am.HTTP.ServerName, "alertmanager.tls.server-name", "", "name expected in Alertmanagers' certificates")
	fs.BoolVar(&am.HTTP.InsecureSkipVerify, "alertmanager.tls.insecure-skip-verify", false, "do not verify Alertmanagers' certificates (debugging only)")
	fs.StringVar(&am.HTTP.BasicAuthUsername, "alertmanager.basic-auth.username", "", "HTTP basic auth username for Alertmanagers")
	fs.StringVar(&am.HTTP.BasicAuthPasswordFile, "alertmanager.basic-auth.password-file", "", "file holding the basic auth password (read on every request)")
	fs.StringVar(&am.HTTP.BearerTokenFile, "alertmanager.bearer-token-file", "", "file holding a bearer token sent to Alertmanagers (read on every request)")
	fs.DurationVar(&am.FailingAfter, "alertmanager.failing-after", alertmanager.DefaultFailingAfter, "raise SentinelDeliveryFailing when an Alertmanager has failed this long")
	fs.IntVar(&o.Alerts.MaxIncidentsPerPolicy, "alerts.max-incidents-per-policy", alert.DefaultMaxIncidentsPerPolicy, "new incidents a policy may open per minute; beyond it they fold into SentinelAlertsThrottled (negative: no cap)")
	fs.StringVar(&o.Alerts.HubbleUIURL, "hubble.ui-url", "", "Hubble UI base URL, e.g. https://hubble.example.com/: alerts link to their flows there (generatorURL)")
}

// daemonFlags are the flags of the run command.
func daemonFlags(fs *flag.FlagSet, o *app.Options) {
	replayFlags(fs, o)
	o.HubbleSources = []app.HubbleSource{{Address: app.DefaultHubbleAddress}}
	fs.Var(&hubbleSources{list: &o.HubbleSources}, "hubble.address", "Hubble Relay gRPC address, [NAME=]ADDRESS (host:port or unix:///path); repeatable, one per cluster: "+
		"with several, each needs a distinct cluster NAME (e.g. prod-eu=relay-eu.example:4245), which labels its alerts and metrics (cluster) and suffixes its files (--baseline.path and --hubble.position-path + .NAME)")
	fs.BoolVar(&o.HubbleTLS.Enabled, "hubble.tls.enabled", false, "connect to Hubble Relay over TLS (implied by the other --hubble.tls.* flags; every --hubble.tls.* flag applies to every --hubble.address)")
	fs.StringVar(&o.HubbleTLS.CAFile, "hubble.tls.ca-file", "", "CA certificate to verify Hubble Relay")
	fs.StringVar(&o.HubbleTLS.CertFile, "hubble.tls.cert-file", "", "client certificate for mTLS")
	fs.StringVar(&o.HubbleTLS.KeyFile, "hubble.tls.key-file", "", "client key for mTLS")
	fs.StringVar(&o.HubbleTLS.ServerName, "hubble.tls.server-name", "", "name expected in Hubble Relay's certificate, e.g. ui.hubble-relay.cilium.io")
	fs.BoolVar(&o.HubbleTLS.InsecureSkipVerify, "hubble.tls.insecure-skip-verify", false, "do not verify Hubble Relay's certificate (debugging only)")
	fs.Var((*filterList)(&o.HubbleAllow), "hubble.allow-filter", `server-side allow filter, a FlowFilter as JSON, e.g. '{"source_pod":["shop/"]}' (repeatable)`)
	fs.Var((*filterList)(&o.HubbleDeny), "hubble.deny-filter", `server-side deny filter, a FlowFilter as JSON (repeatable)`)
	fs.Var((*stringList)(&o.Stream.Filters), "hubble.filter", `server-side filter in hubble observe's words, NAME=VALUE: namespace=shop, to-fqdn=*.example.com, type=l7, http-status=5+, not-verdict=DROPPED (repeatable)`)
	fs.StringVar(&o.Stream.PositionPath, "hubble.position-path", "", "file keeping the stream position across restarts, so a restart resumes where it stopped (default: --baseline.path + .position when set, else none); a named --hubble.address keeps its own, PATH.NAME (PATH.NAME.position by default)")
	fs.DurationVar(&o.Stream.ResumeOverlap, "hubble.resume-overlap", hubble.DefaultOverlap, "a resumed stream starts this long before the newest flow seen; replays are dropped by UUID")
	fs.IntVar(&o.Stream.DedupSize, "hubble.dedup-size", hubble.DefaultDedupSize, "recent flows remembered to drop replays (must cover the overlap at the peak flow rate)")
	fs.IntVar(&o.Stream.MaxFlowSize, "hubble.max-flow-size", hubble.DefaultMaxFlowSize, "largest flow in bytes decoded; a larger one is skipped, counted and logged")
	fs.DurationVar(&o.Stream.KeepaliveTime, "hubble.keepalive-time", hubble.DefaultKeepaliveTime, "ping a quiet relay connection this often")
	fs.DurationVar(&o.Stream.KeepaliveTimeout, "hubble.keepalive-timeout", hubble.DefaultKeepaliveTimeout, "declare the connection dead when a ping is not answered in this time")
	fs.DurationVar(&o.Stream.StatusInterval, "hubble.status-interval", hubble.DefaultStatusInterval, "ask the relay ServerStatus this often while streaming (coverage, liveness)")
	fs.DurationVar(&o.Stream.StatusTimeout, "hubble.status-timeout", hubble.DefaultStatusTimeout, "reopen the stream when the relay does not answer ServerStatus in this time")
	fs.DurationVar(&o.Stream.ShedAfter, "hubble.shed-after", 0, "reduced coverage: once evaluation lags this far behind, sample plain L3/L4 flows one in ten (never L7, DNS, drops or new connections), each span a visibility gap (0: back-pressure only)")
	fs.Var((*negated)(&o.Stream.FullFlows), "hubble.field-mask", "ask the relay only for the flow fields the engine and the policies read (false: every field)")
	fs.BoolVar(&o.WebPprof, "web.enable-pprof", false, "serve Go's CPU, heap and goroutine profiles under /debug/pprof/ on the web address (they reveal internals: keep the address private)")
	fs.BoolVar(&o.WebLifecycle, "web.enable-lifecycle", false, "serve POST /-/reload on the web address, which reloads --config.file (or the policies) as SIGHUP does (a mutating endpoint: off by default)")
	fs.StringVar(&o.ConfigFile, "config.file", "", "YAML configuration file (see deploy/config.example.yaml): sources, filters, Alertmanagers, alerts, baselines, policies, redaction; flags given on the command line win over it; reloaded on SIGHUP and POST /-/reload")
	fs.StringVar(&o.WebListenAddress, "web.listen-address", "localhost:9966", "address serving /metrics, /healthz and /readyz (empty: off); set :9966 or the pod address to be scraped from elsewhere")
	fs.DurationVar(&o.ResendInterval, "alerts.resend-interval", alert.DefaultAggregatorConfig.ResendInterval, "re-send firing alerts this often")
	fs.DurationVar(&o.Alerts.VisibilityGrace, "alerts.visibility-grace", app.DefaultVisibilityGrace, "raise SentinelVisibilityGap when the relay is unreachable, or a node unavailable, this long")
	fs.BoolVar(&o.WatchPolicies, "policies.watch", true, "reload --policies.dir, or a --policies.bundle file, when its files change (SIGHUP always reloads)")
	fs.DurationVar(&o.PolicyBundle.PollInterval, "policies.bundle-poll-interval", app.DefaultBundlePollInterval, "how often a --policies.bundle URL is polled (plus up to a fifth as jitter; If-None-Match with the last ETag)")
	fs.IntVar(&o.Workers, "engine.workers", 0, "flows judged in parallel per --hubble.address, each source workload on one worker (0: one per CPU)")
}

// negated is a boolean flag that sets its variable to the opposite: the
// flag says what is on by default, the option what turns it off.
type negated bool

func (n *negated) String() string   { return strconv.FormatBool(!bool(*n)) }
func (n *negated) IsBoolFlag() bool { return true }
func (n *negated) Set(v string) error {
	b, err := strconv.ParseBool(v)
	*n = negated(!b)
	return err
}

// byteSize is a size in bytes, with an optional unit: 512MiB, 1GiB, 100MB, 4096.
type byteSize int64

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }
func (b *byteSize) Set(v string) error {
	n, err := config.ParseSize(v)
	if err != nil {
		return err
	}
	*b = byteSize(n)
	return nil
}

// offOrSize is a byteSize that may also be 0: off.
type offOrSize int64

func (b *offOrSize) String() string { return strconv.FormatInt(int64(*b), 10) }
func (b *offOrSize) Set(v string) error {
	if strings.TrimSpace(v) == "0" {
		*b = 0
		return nil
	}
	return (*byteSize)(b).Set(v)
}

// hubbleSources is the repeatable --hubble.address: the default until the
// flag is given, then every value given, checked as each is added.
type hubbleSources struct {
	list *[]app.HubbleSource
	set  bool
}

func (h *hubbleSources) String() string {
	if h.list == nil {
		return ""
	}
	out := make([]string, len(*h.list))
	for i, s := range *h.list {
		out[i] = s.String()
	}
	return strings.Join(out, ",")
}

func (h *hubbleSources) Set(v string) error {
	s, err := app.ParseHubbleSource(v)
	if err != nil {
		return err
	}
	var next []app.HubbleSource
	if h.set {
		next = slices.Clone(*h.list)
	}
	next = append(next, s)
	if err := app.CheckHubbleSources(next); err != nil {
		return err
	}
	*h.list, h.set = next, true
	return nil
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

type filterList []*flowpb.FlowFilter

func (f *filterList) String() string { return fmt.Sprint(len(*f), " filters") }
func (f *filterList) Set(v string) error {
	var ff flowpb.FlowFilter
	if err := protojson.Unmarshal([]byte(v), &ff); err != nil {
		return fmt.Errorf("not a FlowFilter: %w", err)
	}
	*f = append(*f, &ff)
	return nil
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "devel"
}

// commaList is a flag of comma-separated values, repeatable.
type commaList []string

func (c *commaList) String() string { return strings.Join(*c, ",") }

func (c *commaList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*c = append(*c, s)
		}
	}
	return nil
}
