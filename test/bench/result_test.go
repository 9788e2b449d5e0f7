package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/stretchr/testify/require"
)

func TestPercentile(t *testing.T) {
	hundred := make([]float64, 100)
	for i := range hundred {
		hundred[i] = float64(100 - i) // 100 … 1, unsorted
	}
	for _, tc := range []struct {
		name string
		vs   []float64
		q    float64
		want float64
	}{
		{"p50 of 1..100 is 50", hundred, 0.5, 50},
		{"p99 of 1..100 is 99", hundred, 0.99, 99},
		{"p100 is the maximum", hundred, 1, 100},
		{"one value", []float64{7}, 0.99, 7},
		{"nearest rank rounds up", []float64{1, 2, 3}, 0.5, 2},
		{"p99 of ten values is the largest", []float64{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}, 0.99, 10},
		{"tiny q is the minimum", []float64{3, 1, 2}, 0.0001, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, percentile(slices.Clone(tc.vs), tc.q))
		})
	}
	require.True(t, math.IsNaN(percentile(nil, 0.5)), "no values: NaN")
}

func TestHistogramQuantile(t *testing.T) {
	inf := math.Inf(1)
	// 100 observations: 50 <= 1ms, 40 in (1,2], 9 in (2,4], 1 above 4ms.
	bs := []bucket{{0.001, 50}, {0.002, 90}, {0.004, 99}, {inf, 100}}
	for _, tc := range []struct {
		name string
		bs   []bucket
		q    float64
		want float64
	}{
		{"median at the first bucket's bound", bs, 0.5, 0.001},
		{"interpolated from 0 in the first bucket", bs, 0.25, 0.0005},
		{"interpolated inside a bucket", bs, 0.7, 0.0015},
		{"p99 at the third bucket's bound", bs, 0.99, 0.004},
		{"rank in +Inf gives the highest finite bound", bs, 0.995, 0.004},
		{"buckets in any order", []bucket{{inf, 100}, {0.002, 90}, {0.001, 50}, {0.004, 99}}, 0.7, 0.0015},
		{"empty buckets before the rank are skipped", []bucket{{0.001, 0}, {0.002, 0}, {0.004, 10}, {inf, 10}}, 0.5, 0.003},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.InDelta(t, tc.want, histogramQuantile(tc.q, tc.bs), 1e-12)
		})
	}
	require.True(t, math.IsNaN(histogramQuantile(0.5, nil)), "no buckets")
	require.True(t, math.IsNaN(histogramQuantile(0.5, []bucket{{0.001, 0}, {inf, 0}})), "no observations")
}

// TestScrapedHistogram reads a histogram from the text format, as the
// engine serves it (its +Inf bucket counted once), and the observations
// between two scrapes.
func TestScrapedHistogram(t *testing.T) {
	scrape := func(le1, le2, inf float64) string {
		return strings.NewReplacer("A", ftoa(le1), "B", ftoa(le2), "C", ftoa(inf)).Replace(`# TYPE x_seconds histogram
x_seconds_bucket{le="0.001"} A
x_seconds_bucket{le="0.002"} B
x_seconds_bucket{le="+Inf"} C
x_seconds_sum 1
x_seconds_count C
# TYPE x_total counter
x_total C
`)
	}
	before, err := parseMetrics(strings.NewReader(scrape(10, 20, 20)))
	require.NoError(t, err)
	after, err := parseMetrics(strings.NewReader(scrape(60, 110, 120)))
	require.NoError(t, err)
	require.Equal(t, 120.0, value(after, "x_total"))
	require.True(t, math.IsNaN(value(after, "absent_total")))

	d := bucketDelta(buckets(before, "x_seconds"), buckets(after, "x_seconds"))
	slices.SortFunc(d, func(a, b bucket) int { return int(math.Copysign(1, a.upper-b.upper)) })
	require.Equal(t, []bucket{{0.001, 50}, {0.002, 90}, {math.Inf(1), 100}}, d)
	require.InDelta(t, 0.001, histogramQuantile(0.5, d), 1e-12)
	require.Nil(t, buckets(after, "absent_seconds"))
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func TestStatusBytes(t *testing.T) {
	status := "Name:\thubble-sentinel\nVmPeak:\t 1234 kB\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n"
	for _, tc := range []struct {
		name, status, field string
		want                int64
		err                 string
	}{
		{"peak RSS", status, "VmHWM", 200 << 20, ""},
		{"current RSS", status, "VmRSS", 100 << 20, ""},
		{"field absent", status, "VmSwap", 0, "no VmSwap"},
		{"a prefix is not the field", "VmHWMx:\t1 kB\n", "VmHWM", 0, "no VmHWM"},
		{"unit other than kB", "VmHWM:\t1 MB\n", "VmHWM", 0, "unexpected"},
		{"not a number", "VmHWM:\tlots kB\n", "VmHWM", 0, "invalid syntax"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := statusBytes(strings.NewReader(tc.status), tc.field)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestCPUSeconds(t *testing.T) {
	for _, tc := range []struct {
		name, stat string
		want       float64
		err        string
	}{
		{"utime and stime", "4242 (hubble-sentinel) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 12 0 100 0 0", 3, ""},
		{"a command name with spaces and parentheses", "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0", 0.03, ""},
		{"truncated", "7 (x) R 1 7", 0, "fields after the name"},
		{"no name", "garbage", 0, "no command name"},
		{"not a number", "7 (x) R 1 7 7 0 -1 0 0 0 0 0 a 2", 0, "invalid syntax"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cpuSeconds(tc.stat)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.InDelta(t, tc.want, got, 1e-9)
		})
	}
	self, err := os.ReadFile("/proc/self/stat")
	if err == nil {
		_, err := cpuSeconds(string(self))
		require.NoError(t, err, "this process's own stat parses")
	}
}

func TestChecks(t *testing.T) {
	good := Result{EngineOverLimit: 0.7, EngineOverNaive: 150, P99Ms: 4, PeakRSSMiB100k: 300}
	for _, tc := range []struct {
		name   string
		r      Result
		skip   skipped
		want   []string // verdict per target
		failed bool
	}{
		{"all met", good, skipped{}, []string{"PASS", "PASS", "PASS", "PASS"}, false},
		{"exactly at the targets", Result{EngineOverLimit: 0.6, EngineOverNaive: 100, P99Ms: 5, PeakRSSMiB100k: 512}, skipped{}, []string{"PASS", "PASS", "PASS", "PASS"}, false},
		{"engine too slow for the limit", func() Result { r := good; r.EngineOverLimit = 0.59; return r }(), skipped{}, []string{"FAIL", "PASS", "PASS", "PASS"}, true},
		{"not 100x naive", func() Result { r := good; r.EngineOverNaive = 99; return r }(), skipped{}, []string{"PASS", "FAIL", "PASS", "PASS"}, true},
		{"p99 too high", func() Result { r := good; r.P99Ms = 5.01; return r }(), skipped{}, []string{"PASS", "PASS", "FAIL", "PASS"}, true},
		{"too much memory", func() Result { r := good; r.PeakRSSMiB100k = 513; return r }(), skipped{}, []string{"PASS", "PASS", "PASS", "FAIL"}, true},
		{"memory phase skipped: not judged", func() Result { r := good; r.PeakRSSMiB100k = 0; return r }(), skipped{identities: true}, []string{"PASS", "PASS", "PASS", "SKIP"}, false},
		{"an unmeasured latency fails", func() Result { r := good; r.P99Ms = math.NaN(); return r }(), skipped{}, []string{"PASS", "PASS", "FAIL", "PASS"}, true},
		{"latency and naive phases skipped: not judged", func() Result { r := good; r.P99Ms, r.EngineOverNaive = 0, 0; return r }(), skipped{naive: true, latency: true}, []string{"PASS", "SKIP", "SKIP", "PASS"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := tc.r.checks(tc.skip)
			var got []string
			for _, c := range cs {
				got = append(got, strings.Fields(c.String())[0])
			}
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.failed, failed(cs))
		})
	}
}

// TestResultJSON: bench.json has the keys, the ratios computed
// from the rates.
func TestResultJSON(t *testing.T) {
	r := Result{LimitFlowsPerS: 50000, EngineFlowsPerS: 30000, NaiveFlowsPerS: 200, P50Ms: 0.5, P99Ms: 3,
		AllocsPerFlow: 40, PeakRSSMiB: 150, PeakRSSMiB100k: 400, Identities: 100000}
	r.ratios()
	require.InDelta(t, 0.6, r.EngineOverLimit, 1e-12)
	require.InDelta(t, 150, r.EngineOverNaive, 1e-12)

	path := filepath.Join(t.TempDir(), "bench.json")
	require.NoError(t, r.writeJSON(path))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(b, &got))
	for k, v := range map[string]float64{
		"limit_flows_per_s": 50000, "engine_flows_per_s": 30000, "naive_flows_per_s": 200,
		"engine_over_limit": 0.6, "engine_over_naive": 150, "p50_ms": 0.5, "p99_ms": 3,
		"allocs_per_flow": 40, "peak_rss_mib": 150, "peak_rss_mib_100k_identities": 400,
	} {
		require.Contains(t, got, k)
		require.InDelta(t, v, got[k], 1e-9, k)
	}

	var none Result
	none.ratios()
	require.Zero(t, none.EngineOverLimit, "no rate measured: no ratio, not Inf")
}

func TestLatencyBrackets(t *testing.T) {
	const ms = int64(1e6)
	// Flows sent at 0, 1 and 2 ms; polls every 2 ms, each taking 0.5 ms.
	sent := []int64{0, 1 * ms, 2 * ms}
	polls := []poll{
		{start: 0, end: ms / 2, count: 0},
		{start: 2 * ms, end: 5 * ms / 2, count: 1},
		{start: 4 * ms, end: 9 * ms / 2, count: 3},
	}
	lo, hi, err := latencyBrackets(sent, polls)
	require.NoError(t, err)
	// Flow 1: after poll 0 began (0) and before poll 1 ended (2.5 ms).
	// Flow 2: after poll 1 began (2 ms) and before poll 2 ended (4.5 ms).
	// Flow 3: sent at 2 ms, after poll 1 began: from its send, 2.5 ms.
	require.Equal(t, []float64{0, 1, 0}, lo)
	require.Equal(t, []float64{2.5, 3.5, 2.5}, hi)

	f := summarizeLatency(lo, hi)
	require.Equal(t, 1.25, f.p50)
	require.Equal(t, 2.25, f.p99)
	require.Equal(t, 1.0, f.p99Low)
	require.Equal(t, 3.5, f.p99High)
	require.InDelta(t, 2.5, f.resolution, 1e-12)

	_, _, err = latencyBrackets(sent, polls[:2])
	require.ErrorContains(t, err, "flow 2 of 3 was never counted")
}

func TestTenantOfBothDirections(t *testing.T) {
	flow := func(src, dst string, sport, dport uint32) *flowpb.Flow {
		return &flowpb.Flow{IP: &flowpb.IP{Source: src, Destination: dst},
			L4: &flowpb.Layer4{Protocol: &flowpb.Layer4_TCP{TCP: &flowpb.TCP{SourcePort: sport, DestinationPort: dport}}}}
	}
	req, reply := flow("10.0.0.1", "10.0.0.2", 40000, 80), flow("10.0.0.2", "10.0.0.1", 80, 40000)
	require.Equal(t, tenantOf(req, 7, 1000), tenantOf(reply, 7, 1000), "a request and its reply are one tenant")
	require.NotEqual(t, tenantOf(req, 7, 1000), tenantOf(req, 8, 1000), "the next block is another tenant")
	spread := map[int]bool{}
	for p := range uint32(200) {
		spread[tenantOf(flow("10.0.0.1", "10.0.0.2", 40000+p, 80), 0, 1000)] = true
	}
	require.Greater(t, len(spread), 150, "connections spread over tenants")
}

func TestRename(t *testing.T) {
	ids := map[[2]uint32]uint32{}
	ep := func() *flowpb.Endpoint {
		return &flowpb.Endpoint{Identity: 1234, Namespace: "shop", PodName: "cart-7d9f-abcde",
			Labels:    []string{"k8s:app=cart", "k8s:io.kubernetes.pod.namespace=shop"},
			Workloads: []*flowpb.Workload{{Name: "cart", Kind: "Deployment"}}}
	}
	a, b, c := ep(), ep(), ep()
	rename(a, 42, ids)
	rename(b, 42, ids)
	rename(c, 7, ids)
	require.Equal(t, "cart-t00042", a.Workloads[0].Name)
	require.Equal(t, "cart-t00042-7d9f-abcde", a.PodName)
	require.Equal(t, []string{"k8s:app=cart-t00042", "k8s:io.kubernetes.pod.namespace=shop"}, a.Labels)
	require.Equal(t, a.Identity, b.Identity, "one identity per workload and tenant")
	require.NotEqual(t, a.Identity, c.Identity)
	require.NotEqual(t, uint32(1234), a.Identity)

	world := &flowpb.Endpoint{Identity: 2, Labels: []string{"reserved:world"}}
	rename(world, 42, ids)
	require.Equal(t, &flowpb.Endpoint{Identity: 2, Labels: []string{"reserved:world"}}, world, "reserved endpoints stay")
}

func TestMedianRound(t *testing.T) {
	rd := func(limit, engine float64) round { return round{limit: limit, engine: engineFigures{rate: engine}} }
	for _, tc := range []struct {
		name string
		runs []round
		want int
	}{
		{name: "one", runs: []round{rd(100, 50)}, want: 0},
		{name: "by ratio, not by rate", runs: []round{rd(100, 70), rd(150, 60), rd(120, 66)}, want: 2}, // 0.70, 0.40, 0.55
		{name: "even: the lower middle", runs: []round{rd(100, 80), rd(100, 50), rd(100, 60), rd(100, 70)}, want: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, medianRound(tc.runs))
		})
	}
}

// TestPoolLatency: pooled runs give the quantiles of all their flows, from
// the summed histograms when every run has one, else from the brackets.
func TestPoolLatency(t *testing.T) {
	inf := math.Inf(1)
	// Run a: 99 flows within 1 ms, 1 within 10 ms; run b: 90 and 10.
	a := latencyFigures{lo: []float64{0}, hi: []float64{1}, hist: []bucket{{0.001, 99}, {0.01, 100}, {inf, 100}}, pollMeanInterval: 2 * time.Millisecond}
	b := latencyFigures{lo: []float64{2}, hi: []float64{3}, hist: []bucket{{0.001, 90}, {0.01, 100}, {inf, 100}}, pollMeanInterval: 4 * time.Millisecond}
	f := poolLatency([]latencyFigures{a, b})
	require.Equal(t, []bucket{{0.001, 189}, {0.01, 200}, {inf, 200}}, f.hist)
	require.Equal(t, "engine histogram "+metricDecisionLatency, f.method)
	require.InDelta(t, histogramQuantile(0.99, f.hist)*1e3, f.p99, 1e-12)
	require.Greater(t, f.p99, histogramQuantile(0.99, a.hist)*1e3, "b's tail counts")
	require.Equal(t, 2, f.flows)
	require.Equal(t, 3*time.Millisecond, f.pollMeanInterval)

	b.hist = nil
	f = poolLatency([]latencyFigures{a, b})
	require.Nil(t, f.hist)
	require.Equal(t, 2.5, f.p99, "the brackets' midpoints: 0.5 and 2.5")
	require.Contains(t, f.method, "outside")
}
