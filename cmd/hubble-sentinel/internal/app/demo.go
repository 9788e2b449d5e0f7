package app

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	observerpb "github.com/cilium/cilium/api/v1/observer"
	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hubble-sentinel/hubble-sentinel/engine"
	"github.com/hubble-sentinel/hubble-sentinel/engine/alert"
	"github.com/hubble-sentinel/hubble-sentinel/hubble"
	"github.com/hubble-sentinel/hubble-sentinel/test/shopmesh"
	"github.com/hubble-sentinel/hubble-sentinel/test/testrelay"
)

// DemoOptions configure the demo.
type DemoOptions struct {
	Options
	Duration time.Duration // 0: until ctx ends
	Rate     float64       // simulated flows per second
	Seed     int64
	// ListenAddress is where the demo relay serves the Observer API, for
	// `hubble observe --server` (empty: a free loopback port).
	ListenAddress string
	// BlindSpotAfter is when one simulated node's agent reports lost
	// events, once, as Cilium does when its perf ring overflows, so the
	// demo shows SentinelVisibilityGap (0: DefaultBlindSpotAfter;
	// negative: never).
	BlindSpotAfter time.Duration
}

// DefaultBlindSpotAfter: the demo's blind spot comes after the baselines
// have learned.
const DefaultBlindSpotAfter = DemoLearningPeriod + 30*time.Second

// DemoLearningPeriod is the demo's default --baseline.learning-period: long
// enough to learn the shop's regular traffic, short enough to watch.
const DemoLearningPeriod = 2 * time.Minute

// Demo starts the built-in test relay on loopback, streaming a simulated
// shop mesh with attacks mixed in, and runs the real pipeline against it
// over gRPC, printing alerts as they fire (and sending them to
// Alertmanager when URLs are given).
func Demo(ctx context.Context, d DemoOptions) error {
	o := d.Options
	o.defaults()
	if d.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.Duration)
		defer cancel()
	}
	if d.Rate <= 0 {
		d.Rate = 200
	}
	reg := prometheus.NewRegistry()
	printer := &prettyPrinter{w: o.Stdout, seen: map[uint64]bool{}}
	aggCfg := alert.DefaultAggregatorConfig
	p, err := newPipeline(ctx, &o, aggCfg, engine.Config{}, printer, reg)
	if err != nil {
		return err
	}
	defer p.close(o.Logger)

	listen := d.ListenAddress
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	lis, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("demo relay: --demo.listen-address %s: %w", listen, err)
	}
	// The shop's flows go into a Hubble ring, which the relay serves as
	// Hubble does, to hubble-sentinel and to `hubble observe` alike.
	ring := testrelay.NewRing(testrelay.DefaultRingCapacity)
	relay := testrelay.NewRingServer(ring, o.Logger.With("component", "demo-relay"))
	addr := lis.Addr().String()
	conn, err := hubble.Dial(addr, hubble.TLSConfig{})
	if err != nil {
		return err
	}
	defer conn.Close()
	// Blind spots alert and keep baselines from learning, as in run.
	visibility := alert.NewVisibility(p.aggregator, cmp.Or(o.Alerts.VisibilityGrace, DefaultVisibilityGrace), o.Logger.With("component", "visibility"))
	var client *hubble.Client
	blind := &blindBaselines{blind: p.engine.Profiles().Blind, position: func() time.Time { return client.Position() }, next: o.Gaps}
	client = hubble.NewClient(observerpb.NewObserverClient(conn), hubble.ClientConfig{
		Follow: true, Reconnect: true, Address: addr, Conn: conn, Gaps: gapAlerts{gaps: visibility, next: blind},
	}, o.Logger.With("component", "hubble"), reg)

	fmt.Fprintf(o.Stdout, "hubble-sentinel demo: simulated shop mesh on the built-in Hubble relay at %s, %.0f flows/s, %d policies\n",
		addr, d.Rate, len(p.engine.Policies().Policies()))
	fmt.Fprintf(o.Stdout, "watch it with: hubble observe --server %s --follow\n", addr)
	fmt.Fprintf(o.Stdout, "attacks are mixed into the traffic; alerts print below as they fire (Ctrl-C to stop)\n\n")

	var g run.Group
	if floor := heapFloor(&o, reg); floor != nil {
		addContext(ctx, &g, floor)
	}
	addContext(ctx, &g, func(ctx context.Context) error { return relay.Serve(ctx, lis) })
	addContext(ctx, &g, func(ctx context.Context) error {
		gen := shopmesh.New(shopmesh.Config{Seed: d.Seed, Attacks: true})
		ring.Produce(ctx, 0, d.Rate, func(_ int, t time.Time) *flowpb.Flow {
			f := gen.Next()
			f.Time = timestamppb.New(t)
			return f
		})
		return nil
	})
	if o.BaselineLearning > 0 {
		fmt.Fprintf(o.Stdout, "baselines learn for %s, then judge too\n", o.BaselineLearning)
		addContext(ctx, &g, func(ctx context.Context) error {
			select {
			case <-time.After(o.BaselineLearning):
				fmt.Fprintf(o.Stdout, "\nbaselines learned (%d workloads): new peers, endpoints, spikes, scans and stuffing now alert\n\n",
					p.engine.Profiles().Len())
			case <-ctx.Done():
			}
			<-ctx.Done()
			return nil
		})
	}
	addContext(ctx, &g, visibility.Run)
	if after := cmp.Or(d.BlindSpotAfter, DefaultBlindSpotAfter); after > 0 {
		addContext(ctx, &g, func(ctx context.Context) error {
			blindSpot(ctx, ring, after, d.Rate, o.Stdout)
			return nil
		})
	}
	p.follow(ctx, &g, client, o.Workers, reg)
	start := time.Now()
	err = g.Run()
	fmt.Fprintf(o.Stdout, "\ndemo stopped after %s: %d alert(s) fired, %d profiles learned\n",
		time.Since(start).Round(time.Second), printer.count(), p.engine.Profiles().Len())
	return err
}

// blindSpot waits after, then has one node's agent report the events of
// the last two seconds lost, and waits for ctx to end.
func blindSpot(ctx context.Context, ring *testrelay.Ring, after time.Duration, rate float64, w io.Writer) {
	select {
	case <-time.After(after):
	case <-ctx.Done():
		return
	}
	nodes := ring.Nodes()
	if len(nodes) == 0 {
		return
	}
	n := uint64(max(2*rate/float64(len(nodes)), 1))
	now := time.Now()
	ring.Lose(nodes[0], n, now.Add(-2*time.Second), now)
	fmt.Fprintf(w, "\nsimulated blind spot: %s's agent lost %d events (its perf ring overflowed); hubble-sentinel says so:\n\n", nodes[0], n)
	<-ctx.Done()
}

// prettyPrinter prints alerts for people: once when they fire, once when
// they resolve.
type prettyPrinter struct {
	mu   sync.Mutex
	w    io.Writer
	seen map[uint64]bool
	n    int
}

func (pp *prettyPrinter) Send(alerts ...alert.Alert) {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	now := time.Now()
	for _, a := range alerts {
		fp := alert.Fingerprint(a.Labels)
		resolved := a.Resolved(now)
		switch {
		case resolved && pp.seen[fp]:
			delete(pp.seen, fp)
			fmt.Fprintf(pp.w, "RESOLVED %s %s\n", a.Labels[alert.LabelAlertname], alert.DescribeIncident(a.Labels))
		case !resolved && !pp.seen[fp]:
			pp.seen[fp] = true
			pp.n++
			fmt.Fprint(pp.w, formatAlert(a))
		}
	}
}

func (pp *prettyPrinter) count() int {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	return pp.n
}

func formatAlert(a alert.Alert) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s [%s] %s  %s\n", a.StartsAt.Local().Format("15:04:05"),
		strings.ToUpper(a.Labels[alert.LabelSeverity]), a.Labels[alert.LabelAlertname], alert.DescribeIncident(a.Labels))
	fmt.Fprintf(&b, "    %s\n", a.Annotations[alert.AnnotationSummary])
	keys := make([]string, 0, len(a.Labels))
	for k := range a.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var kv []string
	for _, k := range keys {
		kv = append(kv, k+"="+a.Labels[k])
	}
	fmt.Fprintf(&b, "    labels: %s\n", strings.Join(kv, " "))
	fmt.Fprintf(&b, "    $ %s\n\n", a.Annotations[alert.AnnotationHubbleObserve])
	return b.String()
}

// Simulate writes n flows of the simulated shop as a `hubble observe -o
// jsonpb` capture to o.Stdout: the demo's traffic, for replay and for
// tuning policies offline. The same configuration gives the same bytes.
func Simulate(o Options, cfg shopmesh.Config, n int) error {
	o.defaults()
	if n <= 0 {
		return fmt.Errorf("simulate: --simulate.flows must be positive, got %d", n)
	}
	return shopmesh.WriteCapture(o.Stdout, cfg, n)
}
