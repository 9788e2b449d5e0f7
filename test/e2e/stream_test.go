package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hubble-sentinel/hubble-sentinel/test/loopback"
	"github.com/hubble-sentinel/hubble-sentinel/test/testrelay"
)

// ringRelay serves ring on addr until the test ends.
func ringRelay(t *testing.T, addr string, ring *testrelay.Ring, opts ...testrelay.Option) {
	t.Helper()
	lis, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = testrelay.NewRingServer(ring, nil, opts...).Serve(ctx, lis); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// numbered writes n benign flows, numbered from first, into ring, stamped
// now (or at, when set).
func numbered(ring *testrelay.Ring, first, n int, at ...time.Time) {
	for i := first; i < first+n; i++ {
		f := benign()
		f.Uuid = fmt.Sprintf("6c1d1e9e-3333-4a43-9d0e-%012d", i)
		f.Time = timestamppb.New(time.Now())
		if len(at) > 0 {
			f.Time = timestamppb.New(at[0].Add(time.Duration(i) * time.Millisecond))
		}
		f.NodeName = "kind-worker"
		ring.Write(f)
	}
}

// metricValue is the value of the sample named name (with its labels, if
// any) on the /metrics page of web, or -1.
func metricValue(t *testing.T, web, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + web + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 64<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.WriteString(string(buf[:n]))
		if err != nil {
			break
		}
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindStringSubmatch(b.String())
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// TestKill9ResumesFromPosition: hubble-sentinel is killed with SIGKILL
// while the relay keeps its flows; the flows written while it was down are
// each evaluated once by the restarted process, from the position file,
// and none of those evaluated before is evaluated again.
func TestKill9ResumesFromPosition(t *testing.T) {
	ring := testrelay.NewRing(1 << 16)
	relayAddr := loopback.FreeT(t)
	ringRelay(t, relayAddr, ring)
	numbered(ring, 0, 10, time.Now().Add(-time.Minute)) // a live relay is never empty
	pos := filepath.Join(t.TempDir(), "position")
	web := loopback.FreeT(t)
	args := []string{"run", "--hubble.address", relayAddr, "--web.listen-address", web, "--hubble.position-path", pos,
		"--engine.workers", "1"}
	const processed = "hubble_sentinel_engine_flows_processed_total"

	p := start(t, args...)
	require.Eventually(t, func() bool { return httpStatus("http://"+web+"/readyz") == http.StatusOK }, 30*time.Second, 20*time.Millisecond)
	numbered(ring, 10, 5000)
	require.Eventually(t, func() bool { return metricValue(t, web, processed) == 5000 }, 60*time.Second, 20*time.Millisecond,
		"the first process evaluates the flows written after it connected")
	require.NoError(t, p.cmd.Process.Kill())
	<-p.done

	numbered(ring, 5010, 3000) // while hubble-sentinel is down
	start(t, args...)
	require.Eventually(t, func() bool { return metricValue(t, web, processed) == 3000 }, 60*time.Second, 20*time.Millisecond,
		"the restarted process evaluates exactly the flows written while it was down")
	numbered(ring, 8010, 1000)
	require.Eventually(t, func() bool { return metricValue(t, web, processed) == 4000 }, 60*time.Second, 20*time.Millisecond)
	time.Sleep(time.Second)
	require.Equal(t, 4000.0, metricValue(t, web, processed), "none twice")
	require.Positive(t, metricValue(t, web, "hubble_sentinel_hubble_duplicate_flows_dropped_total"), "the overlap was replayed, and dropped")
	require.Equal(t, 0.0, metricValue(t, web, `hubble_sentinel_hubble_visibility_gaps_total{kind="resume"}`))
}

// TestFrozenRelayIsNoticed: a relay frozen with SIGSTOP keeps its TCP
// connections open and answers nothing; hubble-sentinel notices within the
// status timeout (not ready, logged, counted) and streams again when the
// relay continues.
func TestFrozenRelayIsNoticed(t *testing.T) {
	relayAddr := loopback.FreeT(t)
	relay := start(t, "demo", "--demo.listen-address", relayAddr, "--demo.rate", "200")
	web := loopback.FreeT(t)
	p := start(t, "run", "--hubble.address", relayAddr, "--web.listen-address", web,
		"--hubble.status-interval", "1s", "--hubble.status-timeout", "2s")
	require.Eventually(t, func() bool { return httpStatus("http://"+web+"/readyz") == http.StatusOK }, 30*time.Second, 50*time.Millisecond)

	require.NoError(t, relay.cmd.Process.Signal(syscall.SIGSTOP))
	stopped := time.Now()
	require.Eventually(t, func() bool { return httpStatus("http://"+web+"/readyz") == http.StatusServiceUnavailable }, 10*time.Second, 50*time.Millisecond,
		"not ready once the relay stops answering")
	noticed := time.Since(stopped)
	require.Contains(t, p.log(), "hubble relay not answering")
	require.GreaterOrEqual(t, metricValue(t, web, "hubble_sentinel_hubble_relay_unresponsive_total"), 1.0)

	require.NoError(t, relay.cmd.Process.Signal(syscall.SIGCONT))
	continued := time.Now()
	require.Eventually(t, func() bool { return httpStatus("http://"+web+"/readyz") == http.StatusOK }, 30*time.Second, 50*time.Millisecond,
		"ready again once the relay continues")
	t.Logf("frozen relay noticed after %v (interval 1s + timeout 2s); streaming again %v after it continued",
		noticed.Round(time.Millisecond), time.Since(continued).Round(time.Millisecond))
	require.LessOrEqual(t, noticed, 6*time.Second, "within the status interval and timeout, give or take a probe")
}

// TestConnectionMistakesAreExplained: the two most common mistakes against
// a TLS relay each give one log line that says what to change, however
// often the connection is retried.
func TestConnectionMistakesAreExplained(t *testing.T) {
	pki, err := testrelay.NewPKI(t.TempDir())
	require.NoError(t, err)
	tlsCfg, err := pki.ServerTLSConfig(false)
	require.NoError(t, err)
	relayAddr := loopback.FreeT(t)
	ringRelay(t, relayAddr, testrelay.NewRing(16), testrelay.WithTLS(tlsCfg))

	tests := []struct {
		name string
		args []string
		hint string
	}{
		{"plaintext against TLS", nil, "it probably requires TLS"},
		{"wrong server name", []string{"--hubble.tls.ca-file", pki.CAFile, "--hubble.tls.server-name", "relay.example.com"},
			"set --hubble.tls.server-name to a name it holds"},
		{"another CA", []string{"--hubble.tls.enabled", "--hubble.tls.server-name", "ui.hubble-relay.cilium.io"},
			"set --hubble.tls.ca-file to the CA that issued it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := start(t, append([]string{"run", "--hubble.address", relayAddr, "--web.listen-address", ""}, tt.args...)...)
			require.Eventually(t, func() bool { return strings.Contains(p.log(), tt.hint) }, 30*time.Second, 50*time.Millisecond,
				"a line that says what to change")
			time.Sleep(3 * time.Second) // several retries
			require.Equal(t, 1, strings.Count(p.log(), tt.hint), "one line, not one per retry:\n%s", p.log())
		})
	}
}

// TestRelayRestartsLoseNothing: the relay is killed (connections dropped
// without a status) and restarted ten times while flows stream through
// its ring; the flows the engine evaluated equal the flows written, none
// twice, and no gap is reported. (hubble/restart_test.go streams a million
// flows through the client alone.)
func TestRelayRestartsLoseNothing(t *testing.T) {
	const total, restarts = 60_000, 10
	ring := testrelay.NewRing(1 << 17)
	numbered(ring, 0, 10, time.Now().Add(-time.Minute))
	relayAddr := loopback.FreeT(t)
	var stop context.CancelCauseFunc
	var done chan struct{}
	serve := func() time.Time {
		var lis net.Listener
		var err error
		for range 100 {
			if lis, err = net.Listen("tcp", relayAddr); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		require.NoError(t, err)
		var ctx context.Context
		ctx, stop = context.WithCancelCause(context.Background())
		done = make(chan struct{})
		go func(done chan struct{}) { _ = testrelay.NewRingServer(ring, nil).Serve(ctx, lis); close(done) }(done)
		return time.Now()
	}
	kill := func() { stop(testrelay.ErrKilled); <-done }
	serve()
	t.Cleanup(kill)

	web := loopback.FreeT(t)
	start(t, "run", "--hubble.address", relayAddr, "--web.listen-address", web, "--engine.workers", "2")
	require.Eventually(t, func() bool { return httpStatus("http://"+web+"/readyz") == http.StatusOK }, 30*time.Second, 20*time.Millisecond)
	const processed = "hubble_sentinel_engine_flows_processed_total"

	written := 10
	var resumes []time.Duration
	for k := range restarts {
		numbered(ring, written, total/restarts)
		written += total / restarts
		require.Eventually(t, func() bool { return metricValue(t, web, processed) >= float64(written-10-total/restarts/2) },
			60*time.Second, 10*time.Millisecond, "restart %d: flowing", k)
		kill()
		require.Eventually(t, func() bool { return httpStatus("http://"+web+"/readyz") == http.StatusServiceUnavailable },
			10*time.Second, 10*time.Millisecond, "restart %d: the outage is noticed", k)
		numbered(ring, written, 100) // while the relay is down
		written += 100
		back := serve()
		require.Eventually(t, func() bool { return httpStatus("http://"+web+"/readyz") == http.StatusOK }, 10*time.Second, 5*time.Millisecond,
			"restart %d: streaming again", k)
		resumes = append(resumes, time.Since(back))
	}
	want := float64(written - 10)
	require.Eventually(t, func() bool { return metricValue(t, web, processed) == want }, 120*time.Second, 20*time.Millisecond,
		"every flow written after hubble-sentinel connected is evaluated")
	time.Sleep(time.Second)
	require.Equal(t, want, metricValue(t, web, processed), "none twice")
	for _, kind := range []string{"resume", "lost_events", "node_status", "oversized"} {
		require.Equal(t, 0.0, metricValue(t, web, `hubble_sentinel_hubble_visibility_gaps_total{kind="`+kind+`"}`), kind)
	}
	t.Logf("%v flows evaluated through %d relay restarts; ready again after %v", want, restarts, resumes)
}
