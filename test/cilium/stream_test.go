//go:build hubble

package cilium

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	observerpb "github.com/cilium/cilium/api/v1/observer"
	observerTypes "github.com/cilium/cilium/pkg/hubble/observer/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hubble-sentinel/hubble-sentinel/hubble"
	"github.com/hubble-sentinel/hubble-sentinel/test/loopback"
	"github.com/hubble-sentinel/hubble-sentinel/test/shopmesh"
	"github.com/hubble-sentinel/hubble-sentinel/test/testrelay"
)

// tally counts the flows a client hands on, by UUID.
type tally struct {
	mu   sync.Mutex
	seen map[string]int
	gaps []hubble.Gap
}

func newTally() *tally { return &tally{seen: map[string]int{}} }

func (l *tally) handle(_ context.Context, f *flowpb.Flow) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen[f.GetUuid()]++
	return nil
}

func (l *tally) has(uuids []string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, u := range uuids {
		if l.seen[u] == 0 {
			return false
		}
	}
	return true
}

func (l *tally) count(uuids []string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, u := range uuids {
		if l.seen[u] > 0 {
			n++
		}
	}
	return n
}

func (l *tally) twice() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for u, n := range l.seen {
		if n > 1 {
			out = append(out, u)
		}
	}
	return out
}

func (l *tally) observer() hubble.GapObserver {
	return hubble.GapFuncs{OnGap: func(g hubble.Gap) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.gaps = append(l.gaps, g)
	}}
}

func (l *tally) gapsOf(kind hubble.GapKind) []hubble.Gap {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []hubble.Gap
	for _, g := range l.gaps {
		if g.Kind == kind {
			out = append(out, g)
		}
	}
	return out
}

// follow starts a hubble-sentinel client on addr and returns it with its
// registry; it stops with the test.
func follow(t *testing.T, addr string, l *tally) (*hubble.Client, *prometheus.Registry) {
	t.Helper()
	conn, err := hubble.Dial(addr, hubble.TLSConfig{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	reg := prometheus.NewRegistry()
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	c := hubble.NewClient(observerpb.NewObserverClient(conn), hubble.ClientConfig{
		Follow: true, Reconnect: true, Conn: conn, Address: addr, Gaps: l.observer(),
		StatusInterval: 300 * time.Millisecond, StatusTimeout: 2 * time.Second,
	}, logger.With("component", "hubble"), reg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, l.handle) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	return c, reg
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return total
}

// TestClientResumesAgainstCiliumObserver: hubble-sentinel's client against
// Cilium's own observer server and ring buffer. When the server comes back
// after an outage the ring covered, every flow arrives once; after one it
// did not cover (Hubble then silently starts at the oldest flow it holds),
// the gap is measured and reported, with an estimate of the flows missed.
func TestClientResumesAgainstCiliumObserver(t *testing.T) {
	const ring = 1<<16 - 1
	a := newAgent(t, "node-a", ring)
	l := newTally()
	c, reg := follow(t, a.addr, l)
	require.Eventually(t, c.Ready, 10*time.Second, 10*time.Millisecond, "ready: the stream is open and ServerStatus answered, before any flow")

	// Hubble serves a ring's newest flow only once the next is written:
	// each phase ends with one more flow, not counted.
	first := a.write(5000)
	a.write(1)
	require.Eventually(t, func() bool { return l.has(first) }, 30*time.Second, 10*time.Millisecond)

	a.kill()
	require.Eventually(t, func() bool { return !c.Ready() }, 10*time.Second, 10*time.Millisecond)
	during := a.write(3000)
	a.serve()
	after := a.write(1000)
	a.write(1)
	require.Eventually(t, func() bool { return l.has(during) && l.has(after) }, 30*time.Second, 10*time.Millisecond,
		"the flows written while the server was away arrive after it is back")
	require.Empty(t, l.twice(), "no flow twice")
	require.Empty(t, l.gapsOf(hubble.GapResume), "the ring covered the outage")
	require.Positive(t, metric(t, reg, "hubble_sentinel_hubble_duplicate_flows_dropped_total"), "the overlap was replayed and dropped")

	// An outage the ring does not cover.
	a.kill()
	require.Eventually(t, func() bool { return !c.Ready() }, 10*time.Second, 10*time.Millisecond)
	lost := a.write(4 * ring)
	a.serve()
	a.write(1)
	tail := lost[len(lost)-ring/2:]
	require.Eventually(t, func() bool { return l.has(tail) }, 60*time.Second, 10*time.Millisecond)
	require.Empty(t, l.twice())
	gaps := l.gapsOf(hubble.GapResume)
	require.Len(t, gaps, 1, "one gap, reported once")
	missed := len(lost) - l.count(lost)
	t.Logf("ring of %d: %d flows written during the outage, %d missed, %d estimated (gap %s)",
		ring, len(lost), missed, gaps[0].Flows, gaps[0].End.Sub(gaps[0].Start))
	require.Greater(t, missed, ring)
	require.Equal(t, "node-a", gaps[0].Node)
	// The estimate assumes the rate before the outage went on during it;
	// these writes come in bursts, so only its order of magnitude is sure.
	require.Greater(t, gaps[0].Flows, uint64(missed/10), "the estimate is of the right order")
	require.Less(t, gaps[0].Flows, uint64(missed*10), "the estimate is of the right order")
	require.Positive(t, metric(t, reg, "hubble_sentinel_hubble_resume_gap_seconds_total"))
}

// TestRealRelayReportsKilledNode: two nodes (Cilium's observer each) behind
// the real hubble-relay v1.20.2. One node is killed: the client reports it
// as a blind spot; it comes back: the client says so, and no flow is handed
// on twice though the relay replays the node's stream.
func TestRealRelayReportsKilledNode(t *testing.T) {
	relayBin := tool(t, "hubble-relay")
	a := newAgent(t, "node-a", 1<<16-1)
	b := newAgent(t, "node-b", 1<<16-1)
	relayAddr := loopback.FreeT(t)
	relay := startProc(t, relayBin, "serve",
		"--peer-service", servePeers(t, a, b),
		"--listen-address", relayAddr,
		"--health-listen-address", loopback.FreeT(t),
		"--disable-client-tls", "--disable-server-tls", "--gops=false",
		"--retry-timeout", "1s")
	l := newTally()
	c, reg := follow(t, relayAddr, l)
	require.Eventually(t, func() bool {
		return c.Ready() && metric(t, reg, "hubble_sentinel_hubble_relay_nodes_connected") == 2
	}, 60*time.Second, 50*time.Millisecond, "the relay connects both nodes:\n%s", relay.output())

	var want []string
	flush := func() {
		a.write(1)
		b.write(1)
	}
	want = append(want, a.write(500)...)
	want = append(want, b.write(500)...)
	flush()
	require.Eventually(t, func() bool { return l.has(want) }, 30*time.Second, 10*time.Millisecond)

	b.kill()
	require.Eventually(t, func() bool { return metric(t, reg, "hubble_sentinel_hubble_nodes_unavailable") == 1 }, 30*time.Second, 20*time.Millisecond,
		"the killed node is reported")
	require.NotEmpty(t, l.gapsOf(hubble.GapNodeStatus))
	require.Equal(t, "node-b", l.gapsOf(hubble.GapNodeStatus)[0].Node)
	want = append(want, a.write(500)...)
	a.write(1)

	b.serve()
	require.Eventually(t, func() bool { return metric(t, reg, "hubble_sentinel_hubble_nodes_unavailable") == 0 }, 60*time.Second, 20*time.Millisecond,
		"the node's return is noticed")
	want = append(want, a.write(500)...)
	want = append(want, b.write(500)...)
	flush()
	require.Eventually(t, func() bool { return l.has(want) }, 30*time.Second, 10*time.Millisecond, "every flow arrives")
	time.Sleep(2 * time.Second) // let the relay replay what it will
	require.Empty(t, l.twice(), "no flow handed on twice")
	t.Logf("duplicates dropped: %v; node status gaps: %d", metric(t, reg, "hubble_sentinel_hubble_duplicate_flows_dropped_total"),
		len(l.gapsOf(hubble.GapNodeStatus)))
}

// TestDemoRelayFiltersAsCilium: the demo relay's filters and time window
// select exactly the flows Cilium's observer selects, from the same
// simulated shop, for the filters hubble observe sends.
func TestDemoRelayFiltersAsCilium(t *testing.T) {
	const n = 4000
	gen := shopmesh.New(shopmesh.Config{Seed: 7, Attacks: true})
	ring := testrelay.NewRing(n)
	a := newAgent(t, "cilium", 1<<13-1)
	// After the agent's first flows: both rings are in time order, as
	// until needs.
	start := time.Now().Add(time.Second)
	for i := range n {
		f := gen.Next()
		f.Time = timestampAt(start.Add(time.Duration(i) * time.Millisecond))
		ring.Write(f)
		a.obs.GetEventsChannel() <- eventOf(f)
	}
	a.obs.GetEventsChannel() <- eventOf(&flowpb.Flow{Time: timestampAt(start.Add(time.Hour)), Uuid: "flush"})
	demo := serveRing(t, ring)
	cilium := dialObserver(t, a.addr)
	require.Eventually(t, func() bool {
		ss, err := cilium.ServerStatus(context.Background(), &observerpb.ServerStatusRequest{})
		return err == nil && ss.GetSeenFlows() >= n+9
	}, 10*time.Second, 10*time.Millisecond, "Cilium's observer has taken every flow")
	require.Len(t, uuidsOf(t, cilium, &observerpb.GetFlowsRequest{Since: timestampAt(start), Until: timestampAt(start.Add(n * time.Millisecond))}), n)

	filters := []string{
		`{"source_pod":["shop/"]}`, `{"destination_pod":["shop/cart"]}`, `{"source_pod":["kube-system/"]}`,
		`{"event_type":[{"type":129}]}`, `{"event_type":[{"type":1}]}`, `{"event_type":[{"type":4,"match_sub_type":true,"sub_type":0}]}`,
		`{"verdict":["DROPPED"]}`, `{"verdict":["FORWARDED","AUDIT"]}`,
		`{"protocol":["tcp"]}`, `{"protocol":["UDP"]}`, `{"protocol":["http"]}`, `{"protocol":["dns"]}`, `{"protocol":["icmpv4"]}`,
		`{"destination_port":["53"]}`, `{"source_port":["8080"]}`, `{"destination_port":["443","80"]}`,
		`{"destination_fqdn":["*.amazonaws.com"]}`, `{"destination_fqdn":["*"]}`, `{"source_fqdn":["*.svc.cluster.local"]}`,
		`{"http_status_code":["200"]}`, `{"http_status_code":["5+"]}`, `{"http_status_code":["40+"]}`,
		`{"http_method":["post"]}`, `{"http_path":["^/api/"]}`, `{"http_url":["\\?"]}`, `{"dns_query":["example"]}`,
		`{"reply":[true]}`, `{"reply":[false]}`, `{"traffic_direction":["EGRESS"]}`,
		`{"source_label":["k8s:app=frontend"]}`, `{"destination_label":["reserved:world"]}`, `{"source_label":["app"]}`,
		`{"source_ip":["10.0.0.0/8"]}`, `{"destination_ip":["169.254.169.254"]}`, `{"ip_version":["IPv6"]}`,
		`{"node_name":["*"]}`, `{"source_identity":[2]}`, `{"destination_service":["shop/"]}`,
		`{"source_pod":["shop/"],"destination_port":["5432"],"verdict":["FORWARDED"]}`,
	}
	matched := 0
	for _, js := range filters {
		var ff flowpb.FlowFilter
		require.NoError(t, protojson.Unmarshal([]byte(js), &ff), js)
		for _, list := range []string{"allow", "deny"} {
			req := &observerpb.GetFlowsRequest{Since: timestampAt(start), Until: timestampAt(start.Add(n * time.Millisecond))}
			if list == "allow" {
				req.Whitelist = []*flowpb.FlowFilter{&ff}
			} else {
				req.Blacklist = []*flowpb.FlowFilter{&ff}
			}
			want := uuidsOf(t, cilium, req)
			got := uuidsOf(t, demo, req)
			require.Equal(t, want, got, "%s %s: the demo relay selects as Cilium does", list, js)
			if list == "allow" && len(want) > 0 {
				matched++
			}
		}
	}
	t.Logf("%d filters, %d matching some of %d simulated flows", len(filters), matched, n)
	require.Greater(t, matched, len(filters)*2/3, "the filters are exercised")
}

func serveRing(t *testing.T, ring *testrelay.Ring) observerpb.ObserverClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- testrelay.NewRingServer(ring, nil).Serve(ctx, lis) }()
	t.Cleanup(func() { cancel(); <-done })
	return dialObserver(t, lis.Addr().String())
}

func dialObserver(t *testing.T, addr string) observerpb.ObserverClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return observerpb.NewObserverClient(conn)
}

func uuidsOf(t *testing.T, c observerpb.ObserverClient, req *observerpb.GetFlowsRequest) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := c.GetFlows(ctx, req)
	require.NoError(t, err)
	var out []string
	for {
		resp, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		if f := resp.GetFlow(); f != nil && f.GetUuid() != "flush" {
			out = append(out, f.GetUuid())
		}
	}
}

func timestampAt(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

func eventOf(f *flowpb.Flow) *observerTypes.MonitorEvent {
	return &observerTypes.MonitorEvent{Timestamp: f.GetTime().AsTime(), NodeName: f.GetNodeName(), Payload: f}
}
