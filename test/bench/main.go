// Command bench measures hubble-sentinel end to end against the transport
// limit and the naive way, on the same generated traffic: the simulated
// shop (test/shopmesh) with its attacks, encoded once and streamed over
// loopback gRPC by a bench relay that sends the pre-encoded messages.
//
//	go run ./test/bench [-bin bin/hubble-sentinel] [-flows 100000] [-out bench.json]
//
// Phases, each on the same flows:
//
//   - limit: a gRPC client that receives, unmarshals and discards;
//   - engine: `hubble-sentinel run` against the bench relay as users run
//     it (workers by default, the bundled policies, profiles and
//     baselines, alerts to a sink answering Alertmanager's API): flows/s,
//     allocations and CPU per flow, peak RSS;
//   - (limit and engine alternate for -rounds rounds; the round with the
//     median engine/limit ratio gives the figures)
//   - latency: runs paced at half the median round's engine rate, one per
//     round: p50 and p99 receive -> decision of all their flows;
//   - naive: one prepared query per policy on a protojson-built map, in
//     this process, one core, on a sample;
//   - identities: a run whose traffic names 100,000 distinct workloads:
//     peak RSS.
//
// It prints the figures and the targets with PASS/FAIL, writes
// them to -out, and exits 1 when a target is missed, 2 when the bench
// itself fails.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	bin               string
	flows             int
	rounds            int
	naiveFlows        int
	identities        int
	latencyDuration   time.Duration
	learning          time.Duration
	poll              time.Duration
	seed              int64
	out               string
	latencyLoad       float64
	cpuProfile        string
	cpuProfileSeconds int
	heapProfile       string
	engineHeapProfile string
	allocProfile      string
	trace             string
	traceAfter        time.Duration
	engineTrace       string
	logDir            string
	keepLogs          bool
	log               io.Writer
	extra             []string // more flags for every hubble-sentinel run
}

// engineFlags are the flags every run passes besides the relay, web and
// sink addresses: baselines judge after learning (a short learning period
// so most of the traffic meets learned baselines, as in steady state).
func (o options) engineFlags() []string {
	return append([]string{"--baseline.learning-period", o.learning.String(), "--web.enable-pprof"}, o.extra...)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := options{log: stderr}
	fs.StringVar(&o.bin, "bin", "bin/hubble-sentinel", "the hubble-sentinel binary")
	fs.IntVar(&o.flows, "flows", 300000, "flows of the limit, engine and latency runs (the engine runs some seconds, its caches warm and the collector cycling, as a stream runs for days)")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds of limit, engine and latency runs: the round with the median engine/limit ratio gives the figures, the latency runs are pooled")
	fs.IntVar(&o.naiveFlows, "naive-flows", 2000, "sample flows the naive evaluation judges (0: no naive phase)")
	fs.IntVar(&o.identities, "identities", 100000, "distinct workloads of the memory run (0: skip it)")
	fs.Float64Var(&o.latencyLoad, "latency-load", 0.5, "the latency run's rate, as a fraction of the engine run's (the target is set at half; 0: no latency runs)")
	fs.DurationVar(&o.latencyDuration, "latency-duration", 20*time.Second, "length of each paced latency run, at most: it sends each of -flows once")
	fs.DurationVar(&o.learning, "learning", 5*time.Minute, "--baseline.learning-period of the runs (event time; the shop makes about 140 flows per event second)")
	fs.DurationVar(&o.poll, "poll", 20*time.Millisecond, "how often the latency run reads the processed counter (each read is a scrape of /metrics, about 1 ms of the engine's CPU)")
	fs.Int64Var(&o.seed, "seed", 42, "seed of the simulated shop")
	fs.StringVar(&o.out, "out", "bench.json", "where the figures are written")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "bin/bench-engine.pprof", "CPU profile of the engine run, when hubble-sentinel serves /debug/pprof/ (empty: none)")
	fs.IntVar(&o.cpuProfileSeconds, "cpuprofile-seconds", 5, "length of that profile, from the engine run's start (the engine is kept, idle, until it ends)")
	fs.StringVar(&o.heapProfile, "heapprofile", "bin/bench-identities-heap.pprof", "heap profile at the end of the identities run, when hubble-sentinel serves /debug/pprof/ (empty: none)")
	fs.StringVar(&o.engineHeapProfile, "engine-heapprofile", "", "heap profile at the end of the engine run (what the collector scans during the latency run), when hubble-sentinel serves /debug/pprof/ (empty: none)")
	fs.StringVar(&o.allocProfile, "allocprofile", "bin/bench-engine-allocs.pprof", "allocation profile at the end of the engine run (since the process started; PATH.start, taken before the run, is its base: go tool pprof -base PATH.start PATH), when hubble-sentinel serves /debug/pprof/ (empty: none)")
	fs.StringVar(&o.trace, "trace", "", "execution trace of 5 seconds of the latency run, -trace-after its start, when hubble-sentinel serves /debug/pprof/ (go tool trace; empty: none)")
	fs.StringVar(&o.engineTrace, "engine-trace", "", "execution trace of the engine run's first 2 seconds, when hubble-sentinel serves /debug/pprof/ (go tool trace; empty: none)")
	fs.DurationVar(&o.traceAfter, "trace-after", 0, "when -trace starts, after the latency run's start (its caches fill and its live heap grows as it runs)")
	fs.BoolVar(&o.keepLogs, "keep-logs", false, "keep hubble-sentinel's logs (their directory is printed) after a run that succeeds")
	fs.Func("engine-env", "an environment variable for every hubble-sentinel run, e.g. -engine-env=GOGC=200 (repeatable)", func(v string) error {
		if !strings.Contains(v, "=") {
			return fmt.Errorf("%q is not NAME=VALUE", v)
		}
		engineEnv = append(engineEnv, v)
		return nil
	})
	fs.Func("engine-flag", "a flag for every hubble-sentinel run, e.g. -engine-flag=--policies.decision-cache-size=8192 (repeatable)", func(v string) error {
		o.extra = append(o.extra, v)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if _, err := os.Stat(o.bin); err != nil {
		fmt.Fprintln(stderr, "bench: -bin:", err, "(make bench builds it)")
		return 2
	}
	dir, err := os.MkdirTemp("", "hubble-sentinel-bench-")
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	o.logDir = dir
	r, err := bench(ctx, o)
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		fmt.Fprintln(stderr, "bench: hubble-sentinel's logs are in", dir)
		return 2
	}
	if o.keepLogs {
		fmt.Fprintln(stderr, "bench: hubble-sentinel's logs are in", dir)
	} else {
		os.RemoveAll(dir)
	}
	cs := r.checks(skipped{naive: o.naiveFlows <= 0, latency: o.latencyLoad <= 0, identities: o.identities <= 0})
	r.print(stdout, cs)
	if err := r.writeJSON(o.out); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	fmt.Fprintln(stdout, "\nwritten to", o.out)
	if failed(cs) {
		return 1
	}
	return 0
}

// bench runs every phase.
func bench(ctx context.Context, o options) (Result, error) {
	say := func(format string, args ...any) {
		fmt.Fprintf(o.log, "bench: "+format+"\n", args...)
	}
	started := time.Now()
	// Event times end about now, as a relay's recent flows do.
	start := time.Now().Add(-time.Duration(float64(o.flows)/shopFlowsPerSecond) * time.Second).Truncate(time.Second)
	say("generating and encoding %d flows of the simulated shop", o.flows)
	t, err := shopTraffic(o.flows, o.seed, start)
	if err != nil {
		return Result{}, err
	}
	say("  %d flows, %d MiB encoded, %d workloads", len(t.frames), t.bytes>>20, t.identities)
	r, err := startRelay()
	if err != nil {
		return Result{}, err
	}
	defer r.stop()
	res := Result{Flows: len(t.frames)}

	// Rounds alternate the limit and the engine on the same traffic, so
	// that the shared machine's drift (these cores' speed moves by a
	// fifth within minutes) falls on both; the round whose ratio is the
	// median is the run's figures, and the latency runs are pooled.
	rounds := max(o.rounds, 1)
	var runs []round
	for i := range rounds {
		say("round %d of %d", i+1, rounds)
		say("limit: receive + unmarshal + discard")
		limit, err := measureLimit(ctx, r, t, false)
		if err != nil {
			return Result{}, err
		}
		say("  %.0f flows/s", limit)
		say("limit, decoding as hubble-sentinel does (for reference)")
		limitOwn, err := measureLimit(ctx, r, t, true)
		if err != nil {
			return Result{}, err
		}
		say("  %.0f flows/s", limitOwn)
		// Profiles and traces are of the first round's engine only.
		name := "engine"
		if i > 0 {
			name = fmt.Sprintf("engine%d", i+1)
		}
		say("engine: %s run", o.bin)
		eng, err := measureEngine(ctx, o, r, t, name)
		if err != nil {
			return Result{}, err
		}
		say("  %.0f flows/s (%.3f × limit), %.1f µs CPU/flow (the bench's relay meanwhile %.1f µs/flow), %.0f allocs/flow, %.0f MiB peak RSS", eng.rate, ratio(eng.rate, limit), eng.cpuUsPerFlow, eng.benchUsPerFlow, eng.allocsPerFlow, mib(eng.peakRSS))
		for _, g := range eng.groups {
			say("  policy group %s", g)
		}
		runs = append(runs, round{limit: limit, limitOwn: limitOwn, engine: eng})
	}
	m := runs[medianRound(runs)]
	res.Rounds = rounds
	for _, rd := range runs {
		res.RoundRatios = append(res.RoundRatios, ratio(rd.engine.rate, rd.limit))
	}
	res.LimitFlowsPerS, res.EngineFlowsPerS = m.limit, m.engine.rate
	res.LimitSentinelDecoderFlowsPerS = m.limitOwn
	res.EngineOverLimitSentinelDecoder = ratio(m.engine.rate, m.limitOwn)
	res.AllocsPerFlow, res.EngineCPUUsPerFlow = m.engine.allocsPerFlow, m.engine.cpuUsPerFlow
	res.CacheHitRatio = m.engine.cacheHits
	res.PeakRSSMiB, res.Alerts = mib(m.engine.peakRSS), m.engine.alerts
	res.EvalP50Ms, res.EvalP99Ms = m.engine.evalP50*1e3, m.engine.evalP99*1e3

	if o.latencyLoad > 0 {
		if err := latencyPhase(ctx, o, r, t, m.engine.rate, &res, say); err != nil {
			return Result{}, err
		}
	}
	if o.naiveFlows > 0 {
		say("naive: %d sample flows, one query per policy", o.naiveFlows)
		nv, err := measureNaive(ctx, t, o.naiveFlows, o.learning)
		if err != nil {
			return Result{}, err
		}
		res.NaiveFlowsPerS, res.NaiveFlows = nv.rate, nv.flows
		say("  %.1f flows/s over %d policies (%d violations)", nv.rate, nv.policies, nv.violations)
	}

	if o.identities > 0 {
		say("identities: generating traffic naming %d workloads", o.identities)
		it, err := identityTraffic(o.identities, o.seed, start)
		if err != nil {
			return Result{}, err
		}
		t = nil // the shop's frames are no longer needed
		say("  %d flows, %d MiB encoded, %d workloads", len(it.frames), it.bytes>>20, it.identities)
		// Every identity's profile is kept: the LRU holds them all.
		mem, err := measureEngine(ctx, o, r, it, "identities", "--profiles.max", strconv.Itoa(2*it.identities))
		if err != nil {
			return Result{}, err
		}
		res.PeakRSSMiB100k, res.Identities = mib(mem.peakRSS), it.identities
		say("  %.0f flows/s, %.0f MiB peak RSS", mem.rate, res.PeakRSSMiB100k)
	}
	res.ratios()
	say("done in %s", time.Since(started).Round(time.Second))
	return res, nil
}

// latencyPhase runs the paced latency runs, one per round, at
// o.latencyLoad of rate, and pools them into res.
func latencyPhase(ctx context.Context, o options, r *relay, t *traffic, rate float64, res *Result, say func(string, ...any)) error {
	rounds := max(o.rounds, 1)
	res.LatencyRate = rate * o.latencyLoad
	var lats []latencyFigures
	lo := o
	n := latencyFlows(len(t.frames), res.LatencyRate, o.latencyDuration)
	lasts := time.Duration(float64(n) / res.LatencyRate * float64(time.Second)).Round(100 * time.Millisecond)
	for i := range rounds {
		say("latency, round %d of %d: %s run paced at %.0f flows/s: %d flows, %s", i+1, rounds, o.bin, res.LatencyRate, n, lasts)
		lat, err := measureLatency(ctx, lo, r, t, res.LatencyRate, o.latencyDuration)
		if err != nil {
			return err
		}
		lo.trace = "" // of the first round only
		say("  %d flows, p50 %.2f ms, p99 %.2f ms (polled every %s)", lat.flows, lat.p50, lat.p99, lat.pollMeanInterval.Round(time.Microsecond))
		lats = append(lats, lat)
	}
	lat := poolLatency(lats)
	res.P50Ms, res.P99Ms, res.P99MsLow, res.P99MsHigh = lat.p50, lat.p99, lat.p99Low, lat.p99High
	res.LatencyMethod, res.LatencyResolutionMs = lat.method, lat.resolution
	say("latency, %d rounds pooled: %d flows, p50 %.2f ms, p99 %.2f ms", rounds, lat.flows, lat.p50, lat.p99)
	return nil
}

// latencyFlows is how many of frames flows a latency run paced at rate
// sends: duration's worth, each at most once (a run is shorter than
// duration when that many do not last it).
func latencyFlows(frames int, rate float64, duration time.Duration) int {
	return min(frames, max(int(rate*duration.Seconds()), 1))
}

// round is one round's limit rate and engine run.
type round struct {
	limit    float64
	limitOwn float64 // the limit decoding as hubble-sentinel does
	engine   engineFigures
}

// medianRound is the index of the round whose engine/limit ratio is the
// median (the lower of the two middle ones for an even count).
func medianRound(runs []round) int {
	idx := make([]int, len(runs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		return cmp.Compare(ratio(runs[a].engine.rate, runs[a].limit), ratio(runs[b].engine.rate, runs[b].limit))
	})
	return idx[(len(idx)-1)/2]
}

// shopFlowsPerSecond is about how many flows the simulated shop makes
// per second of event time.
const shopFlowsPerSecond = 140

func mib(b int64) float64 { return float64(b) / (1 << 20) }
