package alertmanager

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/engine/alert"
	"github.com/hubble-sentinel/hubble-sentinel/test/promtest"
)

// switchAM is a fake Alertmanager that answers 503 while down and records
// every alert it accepts, in order, with its end.
type switchAM struct {
	down atomic.Bool
	fake fakeAM
}

func newSwitchAM(t *testing.T) (*switchAM, *url.URL) {
	t.Helper()
	am := &switchAM{fake: fakeAM{statuses: []int{200}}}
	srv := httptest.NewServer(am)
	t.Cleanup(srv.Close)
	return am, mustParse(t, srv.URL)
}

func (s *switchAM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.down.Load() {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	s.fake.ServeHTTP(w, r)
}

func (s *switchAM) received() []string {
	s.fake.mu.Lock()
	defer s.fake.mu.Unlock()
	return append([]string(nil), s.fake.received...)
}

// fakeConditions records what the sender raises and clears.
type fakeConditions struct {
	mu       sync.Mutex
	held     []alert.Alert
	released []map[string]string
}

func (c *fakeConditions) Hold(_ time.Time, a alert.Alert) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.held = append(c.held, a)
}

func (c *fakeConditions) Release(_ time.Time, l map[string]string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.released = append(c.released, l)
	return true
}

func (c *fakeConditions) counts() (int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.held), len(c.released)
}

var _ alert.Conditions = (*fakeConditions)(nil)

// TestOutageThenRecovery: while the Alertmanager fails, nothing is given
// up; SentinelDeliveryFailing is raised after FailingAfter; when it is
// back, everything arrives in order within a backoff, and the alert is
// cleared.
func TestOutageThenRecovery(t *testing.T) {
	for _, mode := range []string{"disk", "memory"} {
		t.Run(mode, func(t *testing.T) {
			am, u := newSwitchAM(t)
			cfg := Config{URLs: []*url.URL{u}, BackoffMin: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond, FailingAfter: 300 * time.Millisecond}
			if mode == "disk" {
				cfg.SpoolPath = t.TempDir()
			}
			h := newHarness(t, cfg)
			conds := &fakeConditions{}
			h.SetConditions(conds)
			h.run(t)
			label := []string{"alertmanager", u.String()}

			am.down.Store(true)
			var names []string
			for i := range 30 {
				n := "outage" + string(rune('A'+i%26)) + string(rune('a'+i/26))
				names = append(names, n)
				h.Send(named(n))
				time.Sleep(20 * time.Millisecond)
			}
			require.Eventually(t, func() bool { held, _ := conds.counts(); return held == 1 }, 5*time.Second, 10*time.Millisecond,
				"SentinelDeliveryFailing is raised once the outage lasts")
			conds.mu.Lock()
			require.Equal(t, map[string]string{"alertname": "SentinelDeliveryFailing", "severity": "critical", "alertmanager": u.String()}, conds.held[0].Labels)
			conds.mu.Unlock()
			require.Equal(t, 30.0, h.metric(t, "hubble_sentinel_alertmanager_queue_length", label...))
			require.Positive(t, h.metric(t, "hubble_sentinel_alertmanager_spool_oldest_age_seconds", label...))
			require.Zero(t, h.metric(t, "hubble_sentinel_alertmanager_reachable", label...))
			require.Empty(t, am.received())

			back := time.Now()
			am.down.Store(false)
			require.Eventually(t, func() bool { return len(am.received()) == 30 }, 5*time.Second, 5*time.Millisecond)
			t.Logf("%s: 30 alerts spooled over a %s outage delivered %s after recovery", mode, 600*time.Millisecond, time.Since(back).Round(time.Millisecond))
			require.Equal(t, names, am.received(), "in order")
			require.Eventually(t, func() bool { _, rel := conds.counts(); return rel == 1 }, 5*time.Second, 10*time.Millisecond, "cleared when it is back")
			h.waitMetric(t, 0, "hubble_sentinel_alertmanager_queue_length", label...)
			require.Zero(t, h.metric(t, "hubble_sentinel_alertmanager_spool_oldest_age_seconds", label...))
			require.Equal(t, 30.0, h.metric(t, "hubble_sentinel_alertmanager_notification_delay_seconds", label...), "a delay observed per alert")
			for _, r := range reasons {
				require.Zero(t, promtest.Series(t, h.reg, "hubble_sentinel_alertmanager_alerts_dropped_total", append(label, "reason", r)...), r)
			}
		})
	}
}

// TestRestartDeliversWhatWasSpooled: alerts spooled while the Alertmanager
// was down are delivered by the next process; in memory, a shutdown counts
// them as dropped.
func TestRestartDeliversWhatWasSpooled(t *testing.T) {
	am, u := newSwitchAM(t)
	am.down.Store(true)
	dir := t.TempDir()
	cfg := Config{URLs: []*url.URL{u}, SpoolPath: dir, BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond}

	first := newHarness(t, cfg)
	stop := first.run(t)
	first.Send(named("before1"), named("before2"))
	require.Eventually(t, func() bool {
		return first.metric(t, "hubble_sentinel_alertmanager_errors_total", "alertmanager", u.String()) >= 2
	}, 5*time.Second, 5*time.Millisecond)
	stop()
	require.NoError(t, first.Close())
	require.Len(t, first.log.Lines("undelivered alerts stay spooled for the next start", "alerts=2"), 1)
	require.Zero(t, first.metric(t, "hubble_sentinel_alertmanager_alerts_dropped_total", "alertmanager", u.String(), "reason", ReasonShutdown))

	am.down.Store(false)
	second := newHarness(t, cfg)
	require.Len(t, second.log.Lines("alerts spooled before the restart will be delivered", "alerts=2"), 1)
	second.run(t)
	second.Send(named("after"))
	require.Eventually(t, func() bool { return len(am.received()) == 3 }, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, []string{"before1", "before2", "after"}, am.received())

	mem := newHarness(t, Config{URLs: []*url.URL{closedURL(t)}, BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond})
	stop = mem.run(t)
	mem.Send(named("lost"))
	time.Sleep(50 * time.Millisecond)
	stop()
	require.Equal(t, 1.0, mem.metric(t, "hubble_sentinel_alertmanager_alerts_dropped_total", "alertmanager", mem.targets[0].url, "reason", ReasonShutdown),
		"without a spool path a shutdown loses what is pending, and counts it")
}

// TestDrainCoalescesVersions: an incident re-sent while the Alertmanager
// was away reaches it once, as its latest version, and a resolution is
// never overtaken by the firing it ends.
func TestDrainCoalescesVersions(t *testing.T) {
	am, u := newSwitchAM(t)
	h := newHarness(t, Config{URLs: []*url.URL{u}})
	a1, b := named("A"), named("B")
	a2 := a1
	a2.Annotations = map[string]string{"count": "2"}
	a3 := a1
	a3.EndsAt = time.Now()
	c := named("C")
	h.Send(a1, b, a2, a3, c) // spooled before Run: read in one window
	h.run(t)
	require.Eventually(t, func() bool { return len(am.received()) == 3 }, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, []string{"B", "A", "C"}, am.received())
	require.Equal(t, int32(1), am.fake.requests.Load(), "one request")
}

// TestReleaseOnReplacement: a sender being replaced resolves the
// SentinelDeliveryFailing it raised, so that an Alertmanager dropped by a
// reload does not stay firing.
func TestReleaseOnReplacement(t *testing.T) {
	am, u := newSwitchAM(t)
	am.down.Store(true)
	h := newHarness(t, Config{URLs: []*url.URL{u}, BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond, FailingAfter: 100 * time.Millisecond})
	conds := &fakeConditions{}
	h.SetConditions(conds)
	stop := h.run(t)
	h.Send(named("pending"))
	require.Eventually(t, func() bool { held, _ := conds.counts(); return held == 1 }, 5*time.Second, 10*time.Millisecond)
	stop()
	h.Release()
	_, released := conds.counts()
	require.Equal(t, 1, released)
	h.Release()
	_, released = conds.counts()
	require.Equal(t, 1, released, "released once")
}
