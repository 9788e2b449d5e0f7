package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/hubble-sentinel/hubble-sentinel/test/loopback"
)

// Metrics the bench reads from hubble-sentinel's /metrics.
const (
	metricProcessed = "hubble_sentinel_engine_flows_processed_total"
	metricEvalTime  = "hubble_sentinel_engine_evaluation_duration_seconds"
	metricMallocs   = "go_memstats_mallocs_total"
	// metricCacheLookups counts decision cache lookups by result.
	metricCacheLookups = "hubble_sentinel_policy_decision_cache_lookups_total"
	// metricDecisionLatency is receive -> decision per flow, when the
	// engine has it; without it the latency run measures from outside.
	metricDecisionLatency = "hubble_sentinel_engine_decision_latency_seconds"
	// metricGroupFlows counts each policy group's flows by how they were
	// judged: cached, evaluated or skipped.
	metricGroupFlows = "hubble_sentinel_policy_group_flows_total"
)

// engineEnv is added to every hubble-sentinel run's environment
// (-engine-env).
var engineEnv []string

// daemon is a `hubble-sentinel run` process following the bench relay,
// with its alerts going to a sink.
type daemon struct {
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	web     string // base URL of /metrics
	http    *http.Client
	sink    *sink
	logs    *os.File
}

// startEngine starts bin as users run it: the relay's address, plaintext,
// workers by default, the bundled policies, profiles and baselines,
// alerts to the sink; extra flags after.
func startEngine(bin string, r *relay, logDir, name string, extra ...string) (*daemon, error) {
	s, err := startSink()
	if err != nil {
		return nil, err
	}
	web, err := loopback.Free()
	if err != nil {
		s.stop()
		return nil, err
	}
	logs, err := os.Create(filepath.Join(logDir, name+".log"))
	if err != nil {
		s.stop()
		return nil, err
	}
	args := append([]string{"run",
		"--hubble.address", r.addr,
		"--web.listen-address", web,
		"--alertmanager.url", s.url,
		"--log.level", "warn",
	}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), engineEnv...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		s.stop()
		logs.Close()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	e := &daemon{cmd: cmd, exited: make(chan struct{}), web: "http://" + web, sink: s, logs: logs,
		http: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2, DisableCompression: true}}}
	go func() {
		e.waitErr = cmd.Wait()
		close(e.exited)
	}()
	return e, nil
}

// stop ends the process (SIGTERM, then SIGKILL after 10s) and the sink.
func (e *daemon) stop() {
	defer e.sink.stop()
	defer e.logs.Close()
	select {
	case <-e.exited:
		return
	default:
	}
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.exited:
	case <-time.After(10 * time.Second):
		_ = e.cmd.Process.Kill()
		<-e.exited
	}
}

// errExited is a run's process ending before the bench ended it.
var errExited = errors.New("hubble-sentinel exited")

// ready waits until the relay stream is open (p.opened) and /readyz
// answers 200.
func (e *daemon) ready(ctx context.Context, p *plan, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	select {
	case <-p.opened:
	case <-e.exited:
		return fmt.Errorf("%w before opening the stream: %v (log: %s)", errExited, e.waitErr, e.logs.Name())
	case <-ctx.Done():
		return fmt.Errorf("hubble-sentinel opened no stream within %s (log: %s)", timeout, e.logs.Name())
	}
	for {
		resp, err := e.http.Get(e.web + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-e.exited:
			return fmt.Errorf("%w before ready: %v (log: %s)", errExited, e.waitErr, e.logs.Name())
		case <-ctx.Done():
			return fmt.Errorf("hubble-sentinel not ready within %s (log: %s)", timeout, e.logs.Name())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// scrape reads the named metric families from /metrics (all without
// names).
func (e *daemon) scrape(names ...string) (map[string]*dto.MetricFamily, error) {
	q := url.Values{}
	for _, n := range names {
		q.Add("name[]", n)
	}
	resp, err := e.http.Get(e.web + "/metrics?" + q.Encode())
	if err != nil {
		return nil, fmt.Errorf("scraping hubble-sentinel: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scraping hubble-sentinel: %s", resp.Status)
	}
	return parseMetrics(resp.Body)
}

func parseMetrics(r io.Reader) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parsing /metrics: %w", err)
	}
	return mfs, nil
}

// value is the sum over series of a counter or gauge (NaN when absent).
func value(mfs map[string]*dto.MetricFamily, name string) float64 {
	mf, ok := mfs[name]
	if !ok || len(mf.GetMetric()) == 0 {
		return math.NaN()
	}
	var v float64
	for _, m := range mf.GetMetric() {
		switch {
		case m.GetCounter() != nil:
			v += m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			v += m.GetGauge().GetValue()
		case m.GetUntyped() != nil:
			v += m.GetUntyped().GetValue()
		}
	}
	return v
}

// buckets is a histogram's cumulative buckets, summed over its series;
// nil when absent.
func buckets(mfs map[string]*dto.MetricFamily, name string) []bucket {
	mf, ok := mfs[name]
	if !ok {
		return nil
	}
	sum := map[float64]float64{}
	for _, m := range mf.GetMetric() {
		h := m.GetHistogram()
		if h == nil {
			continue
		}
		inf := false
		for _, b := range h.GetBucket() {
			sum[b.GetUpperBound()] += float64(b.GetCumulativeCount())
			inf = inf || math.IsInf(b.GetUpperBound(), 1)
		}
		if !inf {
			sum[math.Inf(1)] += float64(h.GetSampleCount())
		}
	}
	var bs []bucket
	for u, c := range sum {
		bs = append(bs, bucket{upper: u, count: c})
	}
	return bs
}

// bucketDelta is after - before, bucket by bucket: the observations made
// between two scrapes.
func bucketDelta(before, after []bucket) []bucket {
	prev := map[float64]float64{}
	for _, b := range before {
		prev[b.upper] = b.count
	}
	out := make([]bucket, 0, len(after))
	for _, b := range after {
		out = append(out, bucket{upper: b.upper, count: b.count - prev[b.upper]})
	}
	return out
}

// bucketSum is two histograms' buckets added, by upper bound (a nil a is
// none).
func bucketSum(a, b []bucket) []bucket {
	sum := map[float64]float64{}
	for _, x := range a {
		sum[x.upper] += x.count
	}
	out := make([]bucket, 0, len(b))
	for _, x := range b {
		out = append(out, bucket{upper: x.upper, count: x.count + sum[x.upper]})
		delete(sum, x.upper)
	}
	for upper, count := range sum {
		out = append(out, bucket{upper: upper, count: count})
	}
	slices.SortFunc(out, func(x, y bucket) int { return cmp.Compare(x.upper, y.upper) })
	return out
}

// processed is the engine's processed-flows counter now.
func (e *daemon) processed() (float64, error) {
	mfs, err := e.scrape(metricProcessed)
	if err != nil {
		return 0, err
	}
	return processedIn(mfs)
}

// processedIn is the processed-flows counter in a scrape.
func processedIn(mfs map[string]*dto.MetricFamily) (float64, error) {
	v := value(mfs, metricProcessed)
	if v != v {
		return 0, fmt.Errorf("hubble-sentinel's /metrics has no %s", metricProcessed)
	}
	return v, nil
}

// peakRSS is the process's VmHWM in bytes.
func (e *daemon) peakRSS() (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(e.cmd.Process.Pid) + "/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return statusBytes(f, "VmHWM")
}

// cpu is the process's CPU time so far, user and system, in seconds.
func (e *daemon) cpu() (float64, error) {
	return procCPU(strconv.Itoa(e.cmd.Process.Pid))
}

// ownCPU is the bench process's CPU time so far, user and system, in
// seconds.
func ownCPU() (float64, error) { return procCPU("self") }

// procCPU is the CPU time so far of the process /proc/<pid> names, user
// and system, in seconds.
func procCPU(pid string) (float64, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, err
	}
	return cpuSeconds(string(b))
}

// pprof reports whether the web address serves net/http/pprof.
func (e *daemon) pprof() bool {
	resp, err := e.http.Get(e.web + "/debug/pprof/")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// cpuProfile writes a CPU profile of the next seconds to path.
func (e *daemon) cpuProfile(path string, seconds int) error {
	return e.saveProfile(path, "/debug/pprof/profile?seconds="+strconv.Itoa(seconds), time.Duration(seconds+30)*time.Second)
}

// trace writes an execution trace of the next seconds to path.
func (e *daemon) trace(path string, seconds int) error {
	return e.saveProfile(path, "/debug/pprof/trace?seconds="+strconv.Itoa(seconds), time.Duration(seconds+30)*time.Second)
}

// heapProfile writes the process's heap profile (after a GC) to path.
func (e *daemon) heapProfile(path string) error {
	return e.saveProfile(path, "/debug/pprof/heap?gc=1", time.Minute)
}

func (e *daemon) saveProfile(path, endpoint string, timeout time.Duration) error {
	c := &http.Client{Timeout: timeout}
	resp, err := c.Get(e.web + endpoint)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", endpoint, resp.Status)
	}
	var b bytes.Buffer
	if _, err := io.Copy(&b, resp.Body); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// sink is a minimal Alertmanager: POST /api/v2/alerts answers 200 and
// counts the alerts. A real Alertmanager would spend the shared cores on
// grouping and storage, which is not the engine's cost.
type sink struct {
	url    string
	srv    *http.Server
	alerts atomic.Int64
}

func startSink() (*sink, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("alert sink: %w", err)
	}
	s := &sink{url: "http://" + l.Addr().String()}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v2/alerts", func(w http.ResponseWriter, r *http.Request) {
		var alerts []json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&alerts); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.alerts.Add(int64(len(alerts)))
		w.WriteHeader(http.StatusOK)
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

func (s *sink) stop() { _ = s.srv.Close() }
