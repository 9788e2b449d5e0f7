package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Result is what a bench run measured, written to bench.json. The first
// nine keys are the contract; the others say how they were
// measured.
type Result struct {
	LimitFlowsPerS  float64 `json:"limit_flows_per_s"`
	EngineFlowsPerS float64 `json:"engine_flows_per_s"`
	NaiveFlowsPerS  float64 `json:"naive_flows_per_s"`
	EngineOverLimit float64 `json:"engine_over_limit"`
	EngineOverNaive float64 `json:"engine_over_naive"`
	P50Ms           float64 `json:"p50_ms"`
	P99Ms           float64 `json:"p99_ms"`
	AllocsPerFlow   float64 `json:"allocs_per_flow"`
	PeakRSSMiB      float64 `json:"peak_rss_mib"`

	// PeakRSSMiB100k is the engine's peak RSS on traffic naming
	// Identities distinct workloads (0: phase skipped).
	PeakRSSMiB100k float64 `json:"peak_rss_mib_100k_identities"`
	Identities     int     `json:"identities"`

	// Rounds is how many rounds of limit, engine and latency runs were
	// made, RoundRatios each round's engine/limit: the figures above are
	// the median round's, and p50/p99 those of every latency run's flows.
	Rounds      int       `json:"rounds"`
	RoundRatios []float64 `json:"round_engine_over_limit"`

	// LimitSentinelDecoderFlowsPerS is the limit with hubble-sentinel's
	// own decoder (hubble's codec, the bundled policies' field mask) in
	// place of protobuf's, and EngineOverLimitSentinelDecoder the engine
	// against it: how much the engine costs beyond its own receiving. For
	// reference; the target is against the limit above.
	LimitSentinelDecoderFlowsPerS  float64 `json:"limit_sentinel_decoder_flows_per_s"`
	EngineOverLimitSentinelDecoder float64 `json:"engine_over_limit_sentinel_decoder"`

	Flows      int `json:"flows"`
	NaiveFlows int `json:"naive_flows"`
	// EngineCPUUsPerFlow is the engine process's CPU time (user+system)
	// per flow during the engine run.
	EngineCPUUsPerFlow float64 `json:"engine_cpu_us_per_flow"`
	// CacheHitRatio is the share of the engine run's decision cache
	// lookups that hit (hubble_sentinel_policy_decision_cache_lookups_total).
	CacheHitRatio float64 `json:"decision_cache_hit_ratio"`
	// EvalP50Ms, EvalP99Ms: the engine's own evaluation time per flow
	// (hubble_sentinel_engine_evaluation_duration_seconds, queueing
	// excluded) during the engine run.
	EvalP50Ms float64 `json:"eval_p50_ms"`
	EvalP99Ms float64 `json:"eval_p99_ms"`
	// LatencyRate is the paced rate of the latency run, LatencyMethod how
	// p50/p99 were measured, and P99MsLow/P99MsHigh the bracket the
	// outside measurement guarantees (see latency.go).
	LatencyRate         float64 `json:"latency_rate_flows_per_s"`
	LatencyMethod       string  `json:"latency_method"`
	LatencyResolutionMs float64 `json:"latency_resolution_ms"`
	P99MsLow            float64 `json:"p99_ms_low"`
	P99MsHigh           float64 `json:"p99_ms_high"`
	Alerts              int     `json:"alerts_received"`
}

// ratios fills the ratios from the rates.
func (r *Result) ratios() {
	r.EngineOverLimit = ratio(r.EngineFlowsPerS, r.LimitFlowsPerS)
	r.EngineOverNaive = ratio(r.EngineFlowsPerS, r.NaiveFlowsPerS)
}

func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

// writeJSON writes r, indented, to path.
func (r Result) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Targets of the issue, on a 2-core machine.
const (
	minEngineOverLimit = 0.6
	minEngineOverNaive = 100
	maxP99Ms           = 5
	maxPeakRSSMiB100k  = 512
)

// check is one target and how the run did.
type check struct {
	name   string
	value  float64
	limit  float64
	atMost bool // value must be <= limit, else >= limit
	// skipped: the phase did not run, so the target is not judged.
	skipped bool
}

func (c check) pass() bool {
	if c.skipped || math.IsNaN(c.value) {
		return false
	}
	if c.atMost {
		return c.value <= c.limit
	}
	return c.value >= c.limit
}

func (c check) String() string {
	verdict := "FAIL"
	switch {
	case c.skipped:
		verdict = "SKIP"
	case c.pass():
		verdict = "PASS"
	}
	op := ">="
	if c.atMost {
		op = "<="
	}
	return fmt.Sprintf("%s  %-34s %10.3g  (target %s %g)", verdict, c.name, c.value, op, c.limit)
}

// checks are the targets against r; skipIdentities when the
// 100,000-identity phase did not run.
func (r Result) checks(skip skipped) []check {
	return []check{
		{name: "engine / limit", value: r.EngineOverLimit, limit: minEngineOverLimit},
		{name: "engine / naive", value: r.EngineOverNaive, limit: minEngineOverNaive, skipped: skip.naive},
		{name: "p99 receive->decision (ms)", value: r.P99Ms, limit: maxP99Ms, atMost: true, skipped: skip.latency},
		{name: "peak RSS, 100k identities (MiB)", value: r.PeakRSSMiB100k, limit: maxPeakRSSMiB100k, atMost: true, skipped: skip.identities},
	}
}

// skipped are the phases a run left out (a target of theirs is not
// judged: SKIP, never PASS).
type skipped struct{ naive, latency, identities bool }

// failed reports whether a judged target was missed.
func failed(cs []check) bool {
	for _, c := range cs {
		if !c.skipped && !c.pass() {
			return true
		}
	}
	return false
}

// print writes the figures and the targets.
func (r Result) print(w io.Writer, cs []check) {
	fmt.Fprintf(w, "\nflows: %d (naive: %d sample flows)\n", r.Flows, r.NaiveFlows)
	fmt.Fprintf(w, "  limit   %10.0f flows/s   (receive + unmarshal + discard)\n", r.LimitFlowsPerS)
	if r.LimitSentinelDecoderFlowsPerS > 0 {
		fmt.Fprintf(w, "  limit   %10.0f flows/s   (the same, decoding as hubble-sentinel does: engine/that %.3f, for reference)\n",
			r.LimitSentinelDecoderFlowsPerS, r.EngineOverLimitSentinelDecoder)
	}
	fmt.Fprintf(w, "  engine  %10.0f flows/s   (hubble-sentinel run, %.1f µs CPU/flow, %.0f allocs/flow, peak RSS %.0f MiB, %d alerts)\n",
		r.EngineFlowsPerS, r.EngineCPUUsPerFlow, r.AllocsPerFlow, r.PeakRSSMiB, r.Alerts)
	fmt.Fprintf(w, "  naive   %10.1f flows/s   (one prepared query per policy, protojson map input, one core)\n", r.NaiveFlowsPerS)
	fmt.Fprintf(w, "  engine/limit %.3f   engine/naive %.1f   decision cache hits %.1f%%\n", r.EngineOverLimit, r.EngineOverNaive, 100*r.CacheHitRatio)
	if len(r.RoundRatios) > 1 {
		rs := make([]string, len(r.RoundRatios))
		for i, x := range r.RoundRatios {
			rs[i] = strconv.FormatFloat(x, 'f', 3, 64)
		}
		fmt.Fprintf(w, "  engine/limit by round: %s (the figures above are the median round's)\n", strings.Join(rs, ", "))
	}
	fmt.Fprintf(w, "  latency at %.0f flows/s, %s: p50 %.2f ms, p99 %.2f ms (p99 within [%.2f, %.2f] ms; %s, resolution %.2f ms)\n",
		r.LatencyRate, latencyRuns(r.Rounds), r.P50Ms, r.P99Ms, r.P99MsLow, r.P99MsHigh, r.LatencyMethod, r.LatencyResolutionMs)
	fmt.Fprintf(w, "  engine evaluation time alone: p50 %.3f ms, p99 %.3f ms\n", r.EvalP50Ms, r.EvalP99Ms)
	if r.Identities > 0 {
		fmt.Fprintf(w, "  peak RSS with %d identities: %.0f MiB\n", r.Identities, r.PeakRSSMiB100k)
	}
	fmt.Fprintln(w, "\ntargets:")
	for _, c := range cs {
		fmt.Fprintln(w, "  "+c.String())
	}
}

// latencyRuns says how many latency runs the figures pool.
func latencyRuns(rounds int) string {
	if rounds <= 1 {
		return "one run"
	}
	return strconv.Itoa(rounds) + " runs pooled"
}

// percentile is the nearest-rank q-quantile (0 < q <= 1) of vs, which it
// sorts; NaN when vs is empty.
func percentile(vs []float64, q float64) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	slices.Sort(vs)
	rank := int(math.Ceil(q * float64(len(vs))))
	return vs[min(max(rank, 1), len(vs))-1]
}

// bucket is a cumulative histogram bucket: count observations <= upper.
type bucket struct {
	upper float64
	count float64
}

// histogramQuantile is the q-quantile of a cumulative histogram, as
// Prometheus' histogram_quantile computes it: linear interpolation within
// the bucket the rank falls in (from 0 in the first bucket); a rank in the
// +Inf bucket gives the highest finite bound. NaN without observations.
func histogramQuantile(q float64, bs []bucket) float64 {
	bs = slices.Clone(bs)
	slices.SortFunc(bs, func(a, b bucket) int {
		switch {
		case a.upper < b.upper:
			return -1
		case a.upper > b.upper:
			return 1
		}
		return 0
	})
	if len(bs) == 0 || bs[len(bs)-1].count == 0 {
		return math.NaN()
	}
	rank := q * bs[len(bs)-1].count
	for i, b := range bs {
		if b.count < rank {
			continue
		}
		if math.IsInf(b.upper, 1) {
			if i == 0 {
				return math.NaN()
			}
			return bs[i-1].upper
		}
		lower, below := 0.0, 0.0
		if i > 0 {
			lower, below = bs[i-1].upper, bs[i-1].count
		}
		if b.count == below {
			return b.upper
		}
		return lower + (b.upper-lower)*(rank-below)/(b.count-below)
	}
	return bs[len(bs)-1].upper
}

// statusBytes is a "VmHWM:   1234 kB"-style field of /proc/<pid>/status,
// in bytes.
func statusBytes(status io.Reader, field string) (int64, error) {
	sc := bufio.NewScanner(status)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		fs := strings.Fields(rest)
		if len(fs) != 2 || fs[1] != "kB" {
			return 0, fmt.Errorf("/proc status %s: unexpected %q", field, rest)
		}
		kb, err := strconv.ParseInt(fs[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc status %s: %w", field, err)
		}
		return kb << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("/proc status: no %s", field)
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// cpuSeconds is utime + stime of a /proc/<pid>/stat line, in seconds.
// The command name, field 2, is in parentheses and may hold spaces, so
// fields are counted after its closing parenthesis.
func cpuSeconds(stat string) (float64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc stat: no command name in %q", stat)
	}
	fs := strings.Fields(stat[i+1:])
	// After the name: state is field 3, utime 14 and stime 15.
	if len(fs) < 13 {
		return 0, fmt.Errorf("/proc stat: %d fields after the name, want at least 13", len(fs))
	}
	var total float64
	for _, f := range fs[11:13] {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc stat: %w", err)
		}
		total += float64(v)
	}
	return total / clockTicks, nil
}
