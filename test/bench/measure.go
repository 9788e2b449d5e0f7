package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"

	observerpb "github.com/cilium/cilium/api/v1/observer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/hubble-sentinel/hubble-sentinel/hubble"
)

// startTimeout bounds a hubble-sentinel's start: compiling the bundled
// policies takes seconds on two busy cores.
const startTimeout = 2 * time.Minute

// stallTimeout fails a run whose processed count stops moving.
const stallTimeout = 30 * time.Second

// measureLimit is the transport's limit: a client that only receives and
// unmarshals every flow of t, and discards it, over loopback gRPC. With
// sentinelDecoder it decodes as hubble-sentinel's stream does (its codec
// and the bundled policies' field mask), not with protobuf's codec.
func measureLimit(ctx context.Context, r *relay, t *traffic, sentinelDecoder bool) (float64, error) {
	var (
		conn *grpc.ClientConn
		err  error
	)
	if sentinelDecoder {
		fm, ferr := hubble.FieldMask()
		if ferr != nil {
			return 0, ferr
		}
		conn, err = hubble.Dial(r.addr, hubble.TLSConfig{}, hubble.DialOptions{FieldMask: fm})
	} else {
		conn, err = grpc.NewClient(r.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	p := newPlan(t.frames, 0, false)
	r.serve(p)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := observerpb.NewObserverClient(conn).GetFlows(ctx, &observerpb.GetFlowsRequest{Follow: true})
	if err != nil {
		return 0, fmt.Errorf("limit: GetFlows: %w", err)
	}
	select {
	case <-p.opened:
	case <-time.After(startTimeout):
		return 0, errors.New("limit: the stream did not open")
	}
	close(p.start)
	var end time.Time
	for i := range t.frames {
		resp, err := stream.Recv()
		if err != nil {
			return 0, fmt.Errorf("limit: receiving flow %d: %w", i, err)
		}
		if resp.GetFlow() == nil {
			return 0, fmt.Errorf("limit: response %d holds no flow", i)
		}
		end = time.Now()
	}
	<-p.done
	if p.err != nil {
		return 0, fmt.Errorf("limit: %w", p.err)
	}
	return float64(len(t.frames)) / end.Sub(p.first).Seconds(), nil
}

// engineFigures are what a run of hubble-sentinel over t measured.
type engineFigures struct {
	rate          float64
	allocsPerFlow float64
	cpuUsPerFlow  float64
	// benchUsPerFlow is the bench's own CPU per flow meanwhile: the relay
	// sending (and the polls), which shares the cores with the engine.
	benchUsPerFlow float64
	peakRSS        int64
	evalP50        float64 // seconds
	evalP99        float64
	alerts         int
	cacheHits      float64  // decision cache hits / lookups, over the run
	groups         []string // how each policy group judged the run's flows
}

// throughputPoll is how often the engine run reads the processed count:
// each read is a scrape of /metrics, whose cost (the process collector
// reads /proc) the engine pays, so not more often than its effect on the
// end time (under 0.5% of a run of several seconds) needs.
const throughputPoll = 25 * time.Millisecond

// measureEngine runs hubble-sentinel over t as fast as it takes the
// flows: flows/s from the first flow sent until the processed counter
// reaches len(t.frames), allocations per flow from the process's
// go_memstats_mallocs_total (the bench's own scrapes subtracted), CPU per
// flow from /proc, peak RSS (VmHWM).
func measureEngine(ctx context.Context, o options, r *relay, t *traffic, name string, extra ...string) (engineFigures, error) {
	e, err := startEngine(o.bin, r, o.logDir, name, append(o.engineFlags(), extra...)...)
	if err != nil {
		return engineFigures{}, err
	}
	defer e.stop()
	p := newPlan(t.frames, 0, false)
	r.serve(p)
	if err := e.ready(ctx, p, startTimeout); err != nil {
		return engineFigures{}, err
	}
	names := []string{metricProcessed, metricMallocs, metricEvalTime, metricCacheLookups, metricGroupFlows}
	// The allocation profile is since the process started; one taken
	// now, beside it, is the base that leaves the run's own allocations
	// (go tool pprof -base PROFILE.start PROFILE).
	if name == "engine" && o.allocProfile != "" && e.pprof() {
		if err := e.saveProfile(o.allocProfile+".start", "/debug/pprof/allocs", time.Minute); err != nil {
			fmt.Fprintln(o.log, "bench: allocation profile:", err)
		}
	}
	// Two scrapes before the start: the second minus the first is what
	// one scrape allocates in the engine, subtracted from the run's.
	m0, err := e.scrape(names...)
	if err != nil {
		return engineFigures{}, err
	}
	m1, err := e.scrape(names...)
	if err != nil {
		return engineFigures{}, err
	}
	perScrape := max(value(m1, metricMallocs)-value(m0, metricMallocs), 0)
	base := value(m1, metricProcessed)
	cpu0, err := e.cpu()
	if err != nil {
		return engineFigures{}, err
	}
	own0, _ := ownCPU()
	// The CPU profile is of the engine run only (the identities run's
	// traffic is another), and the engine is kept until it is written:
	// a run shorter than the profile leaves it idle for the rest.
	var profiled sync.WaitGroup
	if o.cpuProfile != "" && name == "engine" {
		if e.pprof() {
			profiled.Go(func() {
				if err := e.cpuProfile(o.cpuProfile, o.cpuProfileSeconds); err != nil {
					fmt.Fprintln(o.log, "bench: CPU profile:", err)
				}
			})
		} else {
			fmt.Fprintf(o.log, "bench: %s serves no /debug/pprof/ on its web address: no CPU profile\n", o.bin)
		}
	}

	if o.engineTrace != "" && name == "engine" && e.pprof() {
		profiled.Go(func() {
			if err := e.trace(o.engineTrace, 2); err != nil {
				fmt.Fprintln(o.log, "bench: trace:", err)
			}
		})
	}
	close(p.start)
	n := float64(len(t.frames))
	scrapes := 0
	var end time.Time
	last, lastMove := base, time.Now()
	for {
		select {
		case <-e.exited:
			return engineFigures{}, fmt.Errorf("%w during the run: %v (log: %s)", errExited, e.waitErr, e.logs.Name())
		case <-ctx.Done():
			return engineFigures{}, ctx.Err()
		case <-time.After(throughputPoll):
		}
		v, err := e.processed()
		if err != nil {
			return engineFigures{}, err
		}
		scrapes++
		now := time.Now()
		if v-base >= n {
			end = now
			break
		}
		if v != last {
			last, lastMove = v, now
		} else if now.Sub(lastMove) > stallTimeout {
			return engineFigures{}, fmt.Errorf("%s: processed %.0f of %.0f flows, then nothing for %s (log: %s)", name, v-base, n, stallTimeout, e.logs.Name())
		}
	}
	cpu1, err := e.cpu()
	if err != nil {
		return engineFigures{}, err
	}
	own1, _ := ownCPU()
	m2, err := e.scrape(names...)
	if err != nil {
		return engineFigures{}, err
	}
	<-p.done
	if p.err != nil {
		return engineFigures{}, fmt.Errorf("%s: %w", name, p.err)
	}
	if rc := r.reconnects(); rc > 0 {
		return engineFigures{}, fmt.Errorf("%s: hubble-sentinel reopened the stream %d time(s); the run is not valid (log: %s)", name, rc, e.logs.Name())
	}
	rss, err := e.peakRSS()
	if err != nil {
		return engineFigures{}, err
	}
	profiled.Wait()
	if name == "engine" && o.allocProfile != "" && e.pprof() {
		if err := e.saveProfile(o.allocProfile, "/debug/pprof/allocs", time.Minute); err != nil {
			fmt.Fprintln(o.log, "bench: allocation profile:", err)
		}
	}
	if name == "engine" && o.engineHeapProfile != "" && e.pprof() {
		if err := e.heapProfile(o.engineHeapProfile); err != nil {
			fmt.Fprintln(o.log, "bench: heap profile:", err)
		}
	}
	if name == "identities" && o.heapProfile != "" && e.pprof() {
		if err := e.heapProfile(o.heapProfile); err != nil {
			fmt.Fprintln(o.log, "bench: heap profile:", err)
		}
	}
	mallocs := value(m2, metricMallocs) - value(m1, metricMallocs) - float64(scrapes+1)*perScrape
	eval := bucketDelta(buckets(m1, metricEvalTime), buckets(m2, metricEvalTime))
	return engineFigures{
		rate:           n / end.Sub(p.first).Seconds(),
		allocsPerFlow:  mallocs / n,
		cpuUsPerFlow:   (cpu1 - cpu0) / n * 1e6,
		benchUsPerFlow: (own1 - own0) / n * 1e6,
		peakRSS:        rss,
		evalP50:        histogramQuantile(0.5, eval),
		evalP99:        histogramQuantile(0.99, eval),
		alerts:         int(e.sink.alerts.Load()),
		cacheHits:      hitRatio(m1, m2),
		groups:         groupShares(m1, m2),
	}, nil
}

// latencyFigures are the latency run's.
type latencyFigures struct {
	p50, p99         float64 // ms
	p99Low, p99High  float64 // ms: the bracket the outside measurement guarantees
	resolution       float64 // ms: mean width of a flow's bracket
	method           string
	flows            int
	pollMeanInterval time.Duration
	// lo, hi are each flow's bracket (ms) and hist the engine's latency
	// histogram over the run (nil when it has none): what pools rounds.
	lo, hi []float64
	hist   []bucket
}

// poolLatency is the figures of several latency runs taken as one: p50
// and p99 of all their flows, from the engine histograms when every run
// has one.
func poolLatency(runs []latencyFigures) latencyFigures {
	var lo, hi []float64
	var hist []bucket
	whole := len(runs) > 0
	var interval time.Duration
	for _, r := range runs {
		lo, hi = append(lo, r.lo...), append(hi, r.hi...)
		interval += r.pollMeanInterval
		if r.hist == nil {
			whole = false
			continue
		}
		hist = bucketSum(hist, r.hist)
	}
	f := summarizeLatency(lo, hi)
	f.flows, f.lo, f.hi = len(lo), lo, hi
	f.method = "outside: relay send time to processed counter, polled"
	if len(runs) > 0 {
		f.pollMeanInterval = interval / time.Duration(len(runs))
	}
	if whole {
		if p50 := histogramQuantile(0.5, hist); !math.IsNaN(p50) {
			f.p50, f.p99 = p50*1e3, histogramQuantile(0.99, hist)*1e3
			f.method = "engine histogram " + metricDecisionLatency
			f.hist = hist
		}
	}
	return f
}

// measureLatency runs hubble-sentinel over the first rate × duration
// flows of t, paced at rate, and measures receive -> decision per flow.
//
// From outside: the relay notes when each flow's Send returned, and the
// bench reads the processed counter every o.poll. Flow i is decided
// after the last read that counted fewer than i+1 flows began and before
// the first read that counted i+1 ended, which brackets its latency; the
// figures are the brackets' midpoints, and the true p99 lies between the
// p99 of the lower and of the upper ends. This assumes flows are decided
// in the order they are sent, which holds at half load up to what two
// workers reorder, and counts loopback transit as latency.
//
// When hubble-sentinel exposes metricDecisionLatency, p50 and p99 come
// from that histogram instead (method "engine histogram"), the bracket
// still from outside.
func measureLatency(ctx context.Context, o options, r *relay, t *traffic, rate float64, duration time.Duration) (latencyFigures, error) {
	n := latencyFlows(len(t.frames), rate, duration)
	e, err := startEngine(o.bin, r, o.logDir, "latency", o.engineFlags()...)
	if err != nil {
		return latencyFigures{}, err
	}
	defer e.stop()
	p := newPlan(t.frames[:n], rate, true)
	r.serve(p)
	if err := e.ready(ctx, p, startTimeout); err != nil {
		return latencyFigures{}, err
	}
	m0, err := e.scrape(metricProcessed, metricDecisionLatency)
	if err != nil {
		return latencyFigures{}, err
	}
	base := int64(value(m0, metricProcessed))

	if o.trace != "" && e.pprof() {
		go func() {
			time.Sleep(o.traceAfter)
			if err := e.trace(o.trace, 5); err != nil {
				fmt.Fprintln(o.log, "bench: trace:", err)
			}
		}()
	}
	own0, _ := ownCPU()
	eng0, _ := e.cpu()
	t0 := time.Now()
	close(p.start)
	var polls []poll
	// quarters are the latency histogram once each quarter of the flows
	// was processed: how the tail moves as the caches fill.
	var quarters [][]bucket
	next := time.Now()
	for {
		select {
		case <-e.exited:
			return latencyFigures{}, fmt.Errorf("%w during the latency run: %v (log: %s)", errExited, e.waitErr, e.logs.Name())
		case <-ctx.Done():
			return latencyFigures{}, ctx.Err()
		default:
		}
		next = next.Add(o.poll)
		if wait := time.Until(next); wait > 0 {
			time.Sleep(wait)
		}
		start := time.Now().UnixNano()
		mfs, err := e.scrape(metricProcessed, metricDecisionLatency)
		if err != nil {
			return latencyFigures{}, err
		}
		v, err := processedIn(mfs)
		if err != nil {
			return latencyFigures{}, err
		}
		polls = append(polls, poll{start: start, end: time.Now().UnixNano(), count: int64(v) - base})
		if q := len(quarters); q < 4 && int64(v)-base >= int64(n)*int64(q+1)/4 {
			quarters = append(quarters, buckets(mfs, metricDecisionLatency))
		}
		if int64(v)-base >= int64(n) {
			break
		}
		if len(polls) > 1 && time.Duration(polls[len(polls)-1].end-polls[0].start) > duration+stallTimeout {
			return latencyFigures{}, fmt.Errorf("latency run: %d of %d flows processed after %s (log: %s)", int64(v)-base, n, duration+stallTimeout, e.logs.Name())
		}
	}
	<-p.done
	if p.err != nil {
		return latencyFigures{}, fmt.Errorf("latency run: %w", p.err)
	}
	// Both share the two cores: what the bench itself (the relay, the
	// polls) takes is not the engine's.
	if own1, err := ownCPU(); err == nil {
		if eng1, err := e.cpu(); err == nil {
			wall := time.Since(t0).Seconds()
			fmt.Fprintf(o.log, "bench:   CPU during the paced run: engine %.2f cores, bench (relay, polls) %.2f cores\n", (eng1-eng0)/wall, (own1-own0)/wall)
		}
	}
	if rc := r.reconnects(); rc > 0 {
		return latencyFigures{}, fmt.Errorf("latency run: hubble-sentinel reopened the stream %d time(s) (log: %s)", rc, e.logs.Name())
	}
	lo, hi, err := latencyBrackets(p.sent, polls)
	if err != nil {
		return latencyFigures{}, err
	}
	logWindows(o.log, lo, hi)
	logLateness(o.log, p)
	m1, err := e.scrape(metricProcessed, metricDecisionLatency)
	if err != nil {
		return latencyFigures{}, err
	}
	run := latencyFigures{lo: lo, hi: hi, pollMeanInterval: time.Duration((polls[len(polls)-1].start - polls[0].start) / int64(max(len(polls)-1, 1)))}
	if d := bucketDelta(buckets(m0, metricDecisionLatency), buckets(m1, metricDecisionLatency)); len(d) > 0 {
		run.hist = d
	}
	f := poolLatency([]latencyFigures{run})
	if d := f.hist; d != nil {
		// The shape of the tail: a few slow flows, or many.
		fmt.Fprintf(o.log, "bench:   engine histogram: p50 %.2f ms, p90 %.2f ms, p95 %.2f ms, p99 %.2f ms, p99.9 %.2f ms\n",
			f.p50, histogramQuantile(0.9, d)*1e3, histogramQuantile(0.95, d)*1e3, f.p99, histogramQuantile(0.999, d)*1e3)
		prev := buckets(m0, metricDecisionLatency)
		for i, q := range quarters {
			if d := bucketDelta(prev, q); len(d) > 0 {
				fmt.Fprintf(o.log, "bench:     quarter %d of the flows: p50 %.2f ms, p99 %.2f ms\n", i+1, histogramQuantile(0.5, d)*1e3, histogramQuantile(0.99, d)*1e3)
			}
			prev = q
		}
	}
	return f, nil
}

// logLateness logs how late the relay sent the paced flows against their
// schedule: a relay descheduled on the shared cores sends the flows it
// owes in a burst, which queue in the engine however fast it is.
func logLateness(w io.Writer, p *plan) {
	if len(p.sent) == 0 || p.rate <= 0 {
		return
	}
	interval := float64(time.Second) / p.rate
	late := make([]float64, len(p.sent))
	for i, at := range p.sent {
		late[i] = max(float64(at-p.first.UnixNano())-interval*float64(i), 0) / 1e6
	}
	slices.Sort(late)
	q := func(f float64) float64 { return late[min(int(f*float64(len(late))), len(late)-1)] }
	fmt.Fprintf(w, "bench:   relay sends behind schedule: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
		q(0.5), q(0.9), q(0.99), late[len(late)-1])
}

// poll is one read of the processed counter: when the request began and
// its answer ended (Unix ns), and the flows counted.
type poll struct {
	start, end int64
	count      int64
}

// latencyBrackets bounds each flow's receive -> decision latency in ms:
// flow i (sent at sent[i]) was decided after polls[k-1] began (or after
// it was sent) and before polls[k] ended, k being the first poll counting
// i+1 flows. polls are in order, their counts non-decreasing.
func latencyBrackets(sent []int64, polls []poll) (lo, hi []float64, err error) {
	lo, hi = make([]float64, len(sent)), make([]float64, len(sent))
	for i, s := range sent {
		k := sort.Search(len(polls), func(k int) bool { return polls[k].count >= int64(i+1) })
		if k == len(polls) {
			return nil, nil, fmt.Errorf("latency: flow %d of %d was never counted", i+1, len(sent))
		}
		after := s
		if k > 0 {
			after = max(after, polls[k-1].start)
		}
		lo[i] = float64(after-s) / 1e6
		hi[i] = float64(max(polls[k].end, after)-s) / 1e6
	}
	return lo, hi, nil
}

// summarizeLatency is p50 and p99 of the brackets' midpoints, and the p99
// of their ends.
func summarizeLatency(lo, hi []float64) latencyFigures {
	mid := make([]float64, len(lo))
	width := 0.0
	for i := range lo {
		mid[i] = (lo[i] + hi[i]) / 2
		width += hi[i] - lo[i]
	}
	f := latencyFigures{
		p50: percentile(mid, 0.5), p99: percentile(mid, 0.99),
		p99Low:  percentile(append([]float64(nil), lo...), 0.99),
		p99High: percentile(append([]float64(nil), hi...), 0.99),
	}
	if len(lo) > 0 {
		f.resolution = width / float64(len(lo))
	}
	return f
}

// hitRatio is the share of decision cache lookups that hit between two
// scrapes (0 when there were none).
func hitRatio(before, after map[string]*dto.MetricFamily) float64 {
	count := func(mfs map[string]*dto.MetricFamily, result string) float64 {
		var v float64
		for _, m := range mfs[metricCacheLookups].GetMetric() {
			if labelValue(m, "result") == result {
				v += m.GetCounter().GetValue()
			}
		}
		return v
	}
	hits := count(after, "hit") - count(before, "hit")
	all := hits + count(after, "miss") - count(before, "miss")
	if all <= 0 {
		return 0
	}
	return hits / all
}

// labelValue is m's value of the label name ("" without it).
func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// groupShares says, for each policy group, which share of the flows
// between two scrapes it took from its decision cache, evaluated and
// skipped (no policy of the group could match), e.g. "edge: cached 91.2%,
// evaluated 6.0%, skipped 2.8%", in group order.
func groupShares(before, after map[string]*dto.MetricFamily) []string {
	counts := map[string]map[string]float64{}
	add := func(mfs map[string]*dto.MetricFamily, sign float64) {
		for _, m := range mfs[metricGroupFlows].GetMetric() {
			group, how := labelValue(m, "group"), labelValue(m, "how")
			if counts[group] == nil {
				counts[group] = map[string]float64{}
			}
			counts[group][how] += sign * m.GetCounter().GetValue()
		}
	}
	add(after, 1)
	add(before, -1)
	groups := slices.Sorted(maps.Keys(counts))
	var out []string
	for _, g := range groups {
		c := counts[g]
		all := c["cached"] + c["evaluated"] + c["skipped"]
		if all <= 0 {
			continue
		}
		out = append(out, fmt.Sprintf("%s: cached %.1f%%, evaluated %.1f%%, skipped %.1f%%",
			g, 100*c["cached"]/all, 100*c["evaluated"]/all, 100*c["skipped"]/all))
	}
	return out
}

// logWindows logs p50, p99 and the worst latency of each twentieth of the
// latency run, in the order flows were sent: whether the tail comes from
// a start-up, from stretches of the traffic (scans, new names: flows the
// decision caches have not seen) or from anywhere.
func logWindows(w io.Writer, lo, hi []float64) {
	per := max(len(lo)/20, 1)
	for start := 0; start+per <= len(lo); start += per {
		mid := make([]float64, per)
		for i := range mid {
			mid[i] = (lo[start+i] + hi[start+i]) / 2
		}
		worst := slices.Max(mid)
		fmt.Fprintf(w, "bench:   flows %6d-%6d: p50 %6.2f ms, p99 %7.2f ms, max %7.2f ms\n",
			start, start+per, percentile(append([]float64(nil), mid...), 0.5), percentile(mid, 0.99), worst)
	}
}
