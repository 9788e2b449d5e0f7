package hubble

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	observerpb "github.com/cilium/cilium/api/v1/observer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hubble-sentinel/hubble-sentinel/test/logtest"
	"github.com/hubble-sentinel/hubble-sentinel/test/testrelay"
)

// seqUUID is the UUID of flow i, so a handler can tell which flow it got.
func seqUUID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012x", i) }

func seqOf(u string) int {
	var i int
	_, _ = fmt.Sscanf(u[24:], "%x", &i)
	return i
}

// seqFlow is flow i of a stream of numbered flows spread over three nodes.
func seqFlow(i int, t time.Time) *flowpb.Flow {
	f := newFlow(t, seqUUID(i), uint32(1000+i%50000))
	f.NodeName = fmt.Sprintf("node-%d", i%3)
	f.Time = timestamppb.New(t)
	return f
}

// ledger records which numbered flows a handler got.
type ledger struct {
	mu         sync.Mutex
	seen       []bool
	delivered  int
	duplicates int
	progress   atomic.Int64
	lastAt     atomic.Int64 // UnixNano of the last delivery
}

func newLedger(n int) *ledger { return &ledger{seen: make([]bool, n)} }

func (l *ledger) handle(_ context.Context, f *flowpb.Flow) error {
	i := seqOf(f.GetUuid())
	l.mu.Lock()
	if l.seen[i] {
		l.duplicates++
	} else {
		l.seen[i] = true
		l.delivered++
	}
	l.mu.Unlock()
	l.progress.Add(1)
	l.lastAt.Store(time.Now().UnixNano())
	return nil
}

func (l *ledger) counts() (delivered, duplicates int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.delivered, l.duplicates
}

// restartingRelay serves ring on addr, killing the relay (connections
// dropped without a status, as a killed process's) and starting it again
// on the same address on request.
type restartingRelay struct {
	t    *testing.T
	addr string
	ring *testrelay.Ring
	stop context.CancelCauseFunc
	done chan error
}

func (r *restartingRelay) start() time.Time {
	r.t.Helper()
	var lis net.Listener
	var err error
	for range 100 {
		if lis, err = net.Listen("tcp", r.addr); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.NoError(r.t, err)
	ctx, cancel := context.WithCancelCause(context.Background())
	r.stop, r.done = cancel, make(chan error, 1)
	go func(done chan error) { done <- testrelay.NewRingServer(r.ring, nil).Serve(ctx, lis) }(r.done)
	return time.Now()
}

func (r *restartingRelay) kill() {
	r.stop(testrelay.ErrKilled)
	require.NoError(r.t, <-r.done)
}

// TestClientSurvivesRelayRestarts: the relay is killed and restarted ten
// times while a million flows stream through its ring; the ring (the
// agents' rings) outlives it. Every flow is handed on exactly once, no gap
// is reported (the ring always covers the outage), and streaming resumes
// within two seconds of each restart.
func TestClientSurvivesRelayRestarts(t *testing.T) {
	total := 1_000_000
	if testing.Short() || raceEnabled {
		// The race detector makes each flow ~10x dearer; a tenth of the
		// flows still spans every restart.
		total = 100_000
	}
	const restarts = 10
	ring := testrelay.NewRing(1 << 17)
	lis := listen(t)
	addr := lis.Addr().String()
	require.NoError(t, lis.Close())
	relay := &restartingRelay{t: t, addr: addr, ring: ring}
	relay.start()

	conn, err := Dial(addr, TLSConfig{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	var logs logtest.Buffer
	reg := prometheus.NewRegistry()
	c := NewClient(observerpb.NewObserverClient(conn), ClientConfig{
		Follow: true, Reconnect: true, Conn: conn, Address: addr,
	}, logs.Logger(), reg)

	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	led := newLedger(total)
	runCtx, stopRun := context.WithCancel(ctx)
	runErr := make(chan error, 1)
	go func() { runErr <- c.Run(runCtx, led.handle) }()
	require.Eventually(t, c.Ready, 10*time.Second, time.Millisecond)

	// The producer writes as fast as the client reads, keeping at most a
	// quarter of the ring unread, so the ring covers every outage.
	produced := make(chan int, 1)
	go func() {
		produced <- ring.Produce(ctx, total, 0, func(i int, now time.Time) *flowpb.Flow {
			for i-int(led.progress.Load()) > ring.Cap()/4 && ctx.Err() == nil {
				time.Sleep(time.Millisecond)
			}
			return seqFlow(i, now)
		})
	}()

	var resumes []time.Duration
	rng := rand.New(rand.NewPCG(1, 2))
	for k := range restarts {
		target := (k + 1) * total / (restarts + 1)
		require.Eventually(t, func() bool { d, _ := led.counts(); return d >= target }, 2*time.Minute, time.Millisecond,
			"restart %d: the stream reaches flow %d", k, target)
		relay.kill()
		require.Eventually(t, func() bool { return !c.Ready() }, 10*time.Second, time.Millisecond, "restart %d: the outage is noticed", k)
		time.Sleep(time.Duration(50+rng.IntN(450)) * time.Millisecond)
		back := relay.start()
		require.Eventually(t, c.Ready, 30*time.Second, time.Millisecond, "restart %d: streaming again", k)
		resumes = append(resumes, time.Since(back))
		require.Eventually(t, func() bool { return led.lastAt.Load() > back.UnixNano() }, 30*time.Second, time.Millisecond,
			"restart %d: new flows delivered", k)
	}
	require.Eventually(t, func() bool { d, _ := led.counts(); return d == total }, 2*time.Minute, 5*time.Millisecond,
		"every flow arrives")
	require.Equal(t, total, <-produced)
	stopRun()
	require.NoError(t, <-runErr)
	relay.kill()

	delivered, dups := led.counts()
	require.Equal(t, total, delivered, "flows handed on == flows sent")
	require.Zero(t, dups, "no flow handed on twice")
	for _, kind := range []GapKind{GapResume, GapLostEvents, GapNodeStatus, GapOversized} {
		require.Zero(t, testutil.ToFloat64(c.metrics.gaps.WithLabelValues(string(kind))), "no %s gap: the ring covered every outage", kind)
	}
	require.GreaterOrEqual(t, testutil.ToFloat64(c.metrics.reconnects), float64(restarts))
	require.Positive(t, testutil.ToFloat64(c.metrics.duplicatesDropped), "the overlap was replayed and dropped")
	var worst time.Duration
	for _, d := range resumes {
		worst = max(worst, d)
	}
	t.Logf("%d flows, %d relay restarts: streaming again after %v (worst %v); %v replayed duplicates dropped",
		total, restarts, resumes, worst, testutil.ToFloat64(c.metrics.duplicatesDropped))
	require.LessOrEqual(t, worst, 2*time.Second, "streaming again within 2 s of the relay accepting connections")
	require.Equal(t, restarts, strings.Count(logs.String(), `msg="hubble relay stream re-established"`))
}
