package alertmanager

import (
	"context"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/engine/alert"
	"github.com/hubble-sentinel/hubble-sentinel/test/logtest"
	"github.com/hubble-sentinel/hubble-sentinel/test/promtest"
)

// harness is a Sender under test with its own registry and captured log.
type harness struct {
	*Sender
	reg *prometheus.Registry
	log *logtest.Buffer
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	h := &harness{reg: prometheus.NewRegistry(), log: &logtest.Buffer{}}
	logger := slog.New(slog.NewTextHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := New(cfg, logger, h.reg)
	require.NoError(t, err)
	h.Sender = s
	t.Cleanup(func() {
		require.NoError(t, s.Close())
		if t.Failed() {
			t.Logf("sender log:\n%s", h.log)
		}
	})
	return h
}

// run runs the sender until the returned stop function is called or the
// test ends, and checks that Run returns nil promptly on cancellation.
func (h *harness) run(t *testing.T) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(flushTimeout + 2*time.Second):
				t.Error("Run did not return after cancellation")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// metric returns the value of the counter or gauge name with the given
// labels, or 0 if the series does not exist.
func (h *harness) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	return promtest.Value(t, h.reg, name, labels...)
}

// waitMetric waits for metric to reach want: Alertmanager shows an alert as
// soon as it has handled the POST, a moment before the sender counts it.
func (h *harness) waitMetric(t *testing.T, want float64, name string, labels ...string) {
	t.Helper()
	require.Eventually(t, func() bool { return h.metric(t, name, labels...) == want },
		5*time.Second, 5*time.Millisecond, "%s%v = %v, want %v", name, labels, h.metric(t, name, labels...), want)
}

// closedURL returns the URL of a loopback port nothing listens on, so
// connections are refused at once.
func closedURL(t *testing.T) *url.URL {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return &url.URL{Scheme: "http", Host: addr}
}

// named returns a firing alert with the given alertname that started a
// minute ago, on a whole millisecond as Alertmanager's API reports times.
func named(name string) alert.Alert {
	return alert.Alert{
		Labels:   map[string]string{alert.LabelAlertname: name, alert.LabelSeverity: "warning"},
		StartsAt: time.Now().Add(-time.Minute).Truncate(time.Millisecond),
	}
}

func mustParse(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}
