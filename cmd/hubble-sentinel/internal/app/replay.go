package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hubble-sentinel/hubble-sentinel/engine"
	"github.com/hubble-sentinel/hubble-sentinel/engine/alert"
	"github.com/hubble-sentinel/hubble-sentinel/engine/alertmanager"
	"github.com/hubble-sentinel/hubble-sentinel/hubble"
)

// ReplayAggregatorConfig makes replay report each incident once, on the
// capture's own clock, when it is over (quiet for the resolve timeout of
// flow time, or at the end of the capture), with its count and what varied.
var ReplayAggregatorConfig = alert.AggregatorConfig{
	ResolveAfter:          alert.DefaultAggregatorConfig.ResolveAfter,
	MaxActive:             alert.DefaultAggregatorConfig.MaxActive,
	MaxIncidentsPerPolicy: alert.DefaultAggregatorConfig.MaxIncidentsPerPolicy,
	ThrottleInterval:      alert.DefaultAggregatorConfig.ThrottleInterval,
	ReportWhenDone:        true,
}

// ReplaySummary is what a replay saw.
type ReplaySummary struct {
	Files      int
	Flows      int
	Alerts     int
	Malformed  int
	LostEvents int
	Duration   time.Duration
}

// Replay evaluates captures (`hubble observe -o jsonpb`, "-" for stdin)
// offline, on the flows' own timestamps, printing each incident as one
// JSON line in Alertmanager's PostableAlert form on stdout once it is over,
// and a summary on stderr. With Alertmanager URLs it sends them too.
func Replay(ctx context.Context, o Options, files []string) (ReplaySummary, error) {
	o.defaults()
	if len(files) == 0 {
		return ReplaySummary{}, fmt.Errorf("replay: no capture files given (use - for stdin)")
	}
	reg := prometheus.NewRegistry()
	printer := &jsonPrinter{w: o.Stdout}
	p, err := newPipeline(ctx, &o, ReplayAggregatorConfig, engine.Config{FlowClock: true}, printer, reg)
	if err != nil {
		return ReplaySummary{}, err
	}
	defer p.close(o.Logger)
	senderDone := make(chan error, 1)
	sctx, stopSender := context.WithCancel(context.WithoutCancel(ctx))
	if p.sender != nil {
		go func() { senderDone <- p.sender.Run(sctx) }()
	} else {
		senderDone <- nil
	}

	if floor := heapFloor(&o, reg); floor != nil {
		fctx, stopFloor := context.WithCancel(ctx)
		floorDone := make(chan struct{})
		go func() { _ = floor(fctx); close(floorDone) }()
		defer func() { stopFloor(); <-floorDone }()
	}
	start := time.Now()
	obs := hubble.NewFileObserver(files, os.Stdin, o.Logger.With("component", "replay"), reg)
	client := hubble.NewClient(obs, hubble.ClientConfig{}, o.Logger.With("component", "hubble"), reg)
	// One worker keeps the capture's order (and so the output) exactly
	// reproducible, while reading and parsing overlap with judging.
	worker := engine.NewParallel(p.engine, 1, flowQueue, reg)
	workerDone := make(chan error, 1)
	go func() { workerDone <- worker.Run(ctx) }()
	prog := newProgress(o.Stderr, printer.count)
	stopProgress := prog.run(ctx)
	runErr := client.Run(ctx, prog.handler(worker.Handle))
	stopProgress()
	worker.Close()
	if err := <-workerDone; err != nil && runErr == nil {
		runErr = err
	}

	if p.snapshots != nil {
		// Learned once, judged later: `replay --baseline.path` on a
		// capture, then `run` or another replay with the same path.
		if err := p.snapshots.Save(); err != nil && runErr == nil {
			runErr = err
		}
	}
	// Incidents still open at the end of the capture are reported as they
	// stand; then the sender flushes what is spooled when stopped.
	p.aggregator.Flush(time.Now())
	stopSender()
	if err := <-senderDone; err != nil && runErr == nil {
		runErr = err
	}
	if p.sender != nil && runErr == nil {
		// Asked to deliver: alerts still spooled or dropped are a failure
		// the exit status must show, not only a log line.
		if n := undelivered(reg); n > 0 {
			runErr = fmt.Errorf("%w: %d alert(s) not delivered to every Alertmanager", ErrUndelivered, n)
		}
	}
	st := obs.Stats()
	sum := ReplaySummary{
		Files: len(files), Flows: st.Flows, Alerts: printer.count(), Malformed: st.Malformed,
		LostEvents: st.LostEvents, Duration: time.Since(start),
	}
	fmt.Fprintf(o.Stderr, "replayed %d flows from %d file(s) in %s: %d alert(s), %d malformed line(s) skipped, %d lost-events record(s)\n",
		sum.Flows, sum.Files, sum.Duration.Round(time.Millisecond), sum.Alerts, sum.Malformed, sum.LostEvents)
	if runErr != nil && !isCanceled(runErr) {
		return sum, fmt.Errorf("replay: %w", runErr)
	}
	return sum, nil
}

// ErrUndelivered is returned by Replay when alerts it was asked to send to
// Alertmanager could not be delivered (they stay in a disk spool, if any,
// for the next run).
var ErrUndelivered = errors.New("alerts not delivered")

// undelivered is how many alerts the sender dropped or still holds: the sum
// of its alerts_dropped_total and queue_length over all Alertmanagers.
func undelivered(g prometheus.Gatherer) int {
	mfs, err := g.Gather()
	if err != nil {
		return 0
	}
	n := 0.0
	for _, mf := range mfs {
		switch mf.GetName() {
		case "hubble_sentinel_alertmanager_alerts_dropped_total":
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		case "hubble_sentinel_alertmanager_queue_length":
			for _, m := range mf.GetMetric() {
				n += m.GetGauge().GetValue()
			}
		}
	}
	return int(n)
}

// jsonPrinter writes alerts as PostableAlert JSON lines.
type jsonPrinter struct {
	mu sync.Mutex
	w  io.Writer
	n  int
}

func (j *jsonPrinter) Send(alerts ...alert.Alert) {
	j.mu.Lock()
	defer j.mu.Unlock()
	enc := json.NewEncoder(j.w)
	for _, a := range alerts {
		if err := enc.Encode(postableJSON(a)); err == nil {
			j.n++
		}
	}
}

// postableJSON is the PostableAlert as a JSON object without the zero
// times the generated model would print as 0001-01-01: an unset endsAt is
// absent, as in what Prometheus posts.
func postableJSON(a alert.Alert) map[string]any {
	b, err := json.Marshal(alertmanager.Postable(a))
	if err != nil {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil
	}
	for _, k := range []string{"startsAt", "endsAt"} {
		if s, ok := m[k].(string); ok && strings.HasPrefix(s, "0001-01-01") {
			delete(m, k)
		}
	}
	return m
}

func (j *jsonPrinter) count() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.n
}
