// Package delivery delivers alerts to real Alertmanager processes over real
// HTTP with the engine's sender.
package delivery

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/engine/alert"
	"github.com/hubble-sentinel/hubble-sentinel/engine/alertmanager"
	"github.com/hubble-sentinel/hubble-sentinel/test/amtest"
	"github.com/hubble-sentinel/hubble-sentinel/test/logtest"
	"github.com/hubble-sentinel/hubble-sentinel/test/promtest"
	"github.com/hubble-sentinel/hubble-sentinel/test/testrelay"
)

// harness is a sender with its own registry and captured log.
type harness struct {
	*alertmanager.Sender
	reg *prometheus.Registry
	log *logtest.Buffer
}

// start runs a sender for cfg until the test ends.
func start(t *testing.T, cfg alertmanager.Config) *harness {
	t.Helper()
	h := &harness{reg: prometheus.NewRegistry(), log: &logtest.Buffer{}}
	s, err := alertmanager.New(cfg, slog.New(slog.NewTextHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug})), h.reg)
	require.NoError(t, err)
	h.Sender = s
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
		if t.Failed() {
			t.Logf("sender log:\n%s", h.log)
		}
	})
	return h
}

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

// named returns a firing alert with the given alertname that started a
// minute ago, on a whole millisecond as Alertmanager's API reports times.
func named(name string) alert.Alert {
	return alert.Alert{
		Labels:   map[string]string{alert.LabelAlertname: name, alert.LabelSeverity: "warning"},
		StartsAt: time.Now().Add(-time.Minute).Truncate(time.Millisecond),
	}
}

// waitAlerts polls am until the alerts matching filter are exactly want (by
// alertname) and returns them by alertname.
func waitAlerts(t *testing.T, am *amtest.Alertmanager, within time.Duration, filter string, want ...string) map[string]*models.GettableAlert {
	t.Helper()
	var got map[string]*models.GettableAlert
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		alerts, err := am.Alerts(ctx, filter)
		require.NoError(c, err)
		got = map[string]*models.GettableAlert{}
		var names []string
		for _, a := range alerts {
			got[a.Labels[alert.LabelAlertname]] = a
			names = append(names, a.Labels[alert.LabelAlertname])
		}
		require.ElementsMatch(c, want, names)
	}, within, 20*time.Millisecond, "alerts at %s", am.URL)
	return got
}

func TestDeliversToAlertmanager(t *testing.T) {
	am := amtest.Start(t)
	h := start(t, alertmanager.Config{URLs: []*url.URL{am.URL}})

	startsAt := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	cases := []struct {
		name  string
		alert alert.Alert
	}{
		{
			name: "labels annotations and start",
			alert: alert.Alert{
				Labels: map[string]string{
					alert.LabelAlertname:       "DeliveredFull",
					alert.LabelSeverity:        "critical",
					alert.LabelPolicy:          "egress/unknown-fqdn",
					alert.LabelSourceNamespace: "shop",
				},
				Annotations: map[string]string{
					alert.AnnotationSummary:       "shop/cart talked to evil.example:443",
					alert.AnnotationHubbleObserve: "hubble observe --from-pod shop/cart",
				},
				StartsAt:     startsAt,
				GeneratorURL: "http://sentinel.example/policies/egress",
			},
		},
		{
			name: "labels only",
			alert: alert.Alert{
				Labels:   map[string]string{alert.LabelAlertname: "DeliveredBare"},
				StartsAt: startsAt.Add(time.Second),
			},
		},
	}
	var alerts []alert.Alert
	for _, tc := range cases {
		alerts = append(alerts, tc.alert)
	}
	h.Send(alerts...)

	got := waitAlerts(t, am, 10*time.Second, `alertname=~"Delivered.*"`, "DeliveredFull", "DeliveredBare")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := got[tc.alert.Labels[alert.LabelAlertname]]
			require.NotNil(t, g)
			require.Equal(t, tc.alert.Labels, map[string]string(g.Labels))
			if len(tc.alert.Annotations) == 0 {
				require.Empty(t, g.Annotations)
			} else {
				require.Equal(t, tc.alert.Annotations, map[string]string(g.Annotations))
			}
			require.NotNil(t, g.StartsAt)
			require.True(t, tc.alert.StartsAt.Equal(time.Time(*g.StartsAt)), "startsAt %s, want %s", g.StartsAt, tc.alert.StartsAt)
			require.Equal(t, tc.alert.GeneratorURL, g.GeneratorURL.String())
			require.Equal(t, models.AlertStatusStateActive, *g.Status.State)
		})
	}
	label := []string{"alertmanager", am.URL.String()}
	h.waitMetric(t, 2, "hubble_sentinel_alertmanager_alerts_sent_total", label...)
	require.Zero(t, h.metric(t, "hubble_sentinel_alertmanager_errors_total", label...))
}

func TestResolvedAlertIsNoLongerActive(t *testing.T) {
	am := amtest.Start(t)
	h := start(t, alertmanager.Config{URLs: []*url.URL{am.URL}})

	firing := named("ResolvedLater")
	h.Send(firing)
	waitAlerts(t, am, 10*time.Second, `alertname="ResolvedLater"`, "ResolvedLater")

	resolved := firing
	resolved.EndsAt = time.Now().Add(-time.Second)
	h.Send(resolved)
	waitAlerts(t, am, 10*time.Second, `alertname="ResolvedLater"`)

	h.waitMetric(t, 2, "hubble_sentinel_alertmanager_alerts_sent_total", "alertmanager", am.URL.String())
}

func TestDeliversToEveryAlertmanager(t *testing.T) {
	up, down := amtest.Start(t), amtest.Start(t)
	h := start(t, alertmanager.Config{
		URLs:       []*url.URL{up.URL, down.URL},
		BackoffMin: 100 * time.Millisecond,
		BackoffMax: 400 * time.Millisecond,
	})
	upLabel := []string{"alertmanager", up.URL.String()}
	downLabel := []string{"alertmanager", down.URL.String()}

	h.Send(named("Everywhere"))
	waitAlerts(t, up, 10*time.Second, `alertname="Everywhere"`, "Everywhere")
	waitAlerts(t, down, 10*time.Second, `alertname="Everywhere"`, "Everywhere")
	// Received is not yet answered: stopped before its answer reached the
	// sender, the post fails and Everywhere stays in the spool.
	h.waitMetric(t, 1, "hubble_sentinel_alertmanager_alerts_sent_total", downLabel...)

	down.Stop()
	h.Send(named("WhileDown1"))
	waitAlerts(t, up, 2*time.Second, `alertname=~"WhileDown.*"`, "WhileDown1")

	// While the stopped one is being retried, the other still gets new
	// alerts at once.
	require.Eventually(t, func() bool {
		return h.metric(t, "hubble_sentinel_alertmanager_errors_total", downLabel...) >= 3
	}, 5*time.Second, 10*time.Millisecond)
	h.Send(named("WhileDown2"))
	waitAlerts(t, up, time.Second, `alertname=~"WhileDown.*"`, "WhileDown1", "WhileDown2")
	require.Equal(t, 2.0, h.metric(t, "hubble_sentinel_alertmanager_queue_length", downLabel...),
		"WhileDown1 is being retried, WhileDown2 waits behind it, both in the spool")

	h.waitMetric(t, 3, "hubble_sentinel_alertmanager_alerts_sent_total", upLabel...)
	require.Zero(t, h.metric(t, "hubble_sentinel_alertmanager_errors_total", upLabel...))
	h.waitMetric(t, 1, "hubble_sentinel_alertmanager_alerts_sent_total", downLabel...)

	require.Len(t, h.log.Lines("alertmanager unreachable, retrying", "url="+down.URL.String()), 1,
		"one message per outage, not one per retry")
	require.Empty(t, h.log.Lines("alertmanager unreachable", "url="+up.URL.String()))

	// Back, it catches up, in order.
	down.Restart()
	waitAlerts(t, down, 10*time.Second, `alertname=~"WhileDown.*"`, "WhileDown1", "WhileDown2")
	require.Equal(t, []string{"Everywhere", "WhileDown1", "WhileDown2"}, names(down.Received()))
	h.waitMetric(t, 0, "hubble_sentinel_alertmanager_queue_length", downLabel...)
	requireNothingDropped(t, h, up, down)
}

func names(rs []amtest.Received) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.Alert.Labels[alert.LabelAlertname])
	}
	return out
}

func requireNothingDropped(t *testing.T, h *harness, ams ...*amtest.Alertmanager) {
	t.Helper()
	for _, am := range ams {
		for _, r := range []string{alertmanager.ReasonInvalid, alertmanager.ReasonRejected, alertmanager.ReasonSpoolFull,
			alertmanager.ReasonSpoolError, alertmanager.ReasonCorrupt, alertmanager.ReasonShutdown} {
			require.Zero(t, promtest.Series(t, h.reg, "hubble_sentinel_alertmanager_alerts_dropped_total", "alertmanager", am.URL.String(), "reason", r), r)
		}
		require.Zero(t, am.Rejected())
	}
}

// TestLongOutageThenRecovery: an Alertmanager down while incidents fire,
// are re-sent and resolve (their endsAt long past when it is back) gets
// every one, in order, resolved ones still resolved, within seconds of its
// return. The outage here is 3 s, not 10 min: an hour-long one runs on
// synctest's clock in engine/alertmanager's TestOutageOfAnHourGivesNothingUp,
// and the spool's size bound in TestSpoolBoundDropsOldestCounted.
func TestLongOutageThenRecovery(t *testing.T) {
	am := amtest.Start(t)
	h := start(t, alertmanager.Config{URLs: []*url.URL{am.URL}, SpoolPath: t.TempDir()})
	label := []string{"alertmanager", am.URL.String()}
	am.Stop()

	var want []string
	for i := range 20 {
		a := named(fmt.Sprintf("Incident%02d", i))
		a.EndsAt = time.Now().Add(time.Minute)
		h.Send(a)
		want = append(want, a.Labels[alert.LabelAlertname])
		if i%5 == 4 { // every fifth resolves during the outage
			r := a
			r.EndsAt = time.Now()
			h.Send(r)
			want = append(want, a.Labels[alert.LabelAlertname])
		}
		time.Sleep(150 * time.Millisecond)
	}
	require.Equal(t, 24.0, h.metric(t, "hubble_sentinel_alertmanager_queue_length", label...))
	require.Greater(t, h.metric(t, "hubble_sentinel_alertmanager_spool_oldest_age_seconds", label...), 2.0)

	back := time.Now()
	am.Restart()
	require.Eventually(t, func() bool { return len(am.Received()) >= 20 }, 15*time.Second, 10*time.Millisecond)
	drain := time.Since(back)
	t.Logf("spool drained %s after the Alertmanager came back (a 3s outage, %d alerts)", drain.Round(time.Millisecond), len(am.Received()))
	require.Less(t, drain, 7*time.Second, "noticed within the 5s backoff cap, drained at once")
	got := am.Received()
	var gotNames []string
	resolved := 0
	for _, r := range got {
		gotNames = append(gotNames, r.Alert.Labels[alert.LabelAlertname])
		if time.Time(r.Alert.EndsAt).Before(r.At) {
			resolved++
		}
	}
	require.Subset(t, gotNames, want)
	require.Equal(t, 4, resolved, "resolved while it was down: delivered resolved")
	waitAlerts(t, am, 5*time.Second, `alertname=~"Incident.*"`, firingOnly(want)...)
	requireNothingDropped(t, h, am)
}

func firingOnly(names []string) []string {
	count := map[string]int{}
	for _, n := range names {
		count[n]++
	}
	var out []string
	for n, c := range count {
		if c == 1 {
			out = append(out, n)
		}
	}
	return out
}

// TestTLSAndAuthToAlertmanager: an Alertmanager behind TLS with basic auth
// (a front, as a reverse proxy provides it) gets alerts from a sender
// configured like Prometheus' alertmanager_config.
func TestTLSAndAuthToAlertmanager(t *testing.T) {
	pki, err := testrelay.NewPKI(t.TempDir())
	require.NoError(t, err)
	serverTLS, err := pki.ServerTLSConfig(true)
	require.NoError(t, err)
	clientCert, err := tls.LoadX509KeyPair(pki.ClientCertFile, pki.ClientKeyFile)
	require.NoError(t, err)
	am := amtest.StartWith(t, amtest.Options{TLS: serverTLS, BasicAuth: [2]string{"sentinel", "pa55-s3cret"},
		ClientTLS: &tls.Config{Certificates: []tls.Certificate{clientCert}, InsecureSkipVerify: true}}) //nolint:gosec // the test's own front
	password := filepath.Join(t.TempDir(), "password")
	require.NoError(t, os.WriteFile(password, []byte("pa55-s3cret\n"), 0o600))
	h := start(t, alertmanager.Config{URLs: []*url.URL{am.URL}, HTTP: alertmanager.HTTPConfig{
		CAFile: pki.CAFile, CertFile: pki.ClientCertFile, KeyFile: pki.ClientKeyFile, ServerName: "ui.hubble-relay.cilium.io",
		BasicAuthUsername: "sentinel", BasicAuthPasswordFile: password,
	}})
	h.Send(named("OverTLS"))
	waitAlerts(t, am, 10*time.Second, `alertname="OverTLS"`, "OverTLS")
	require.NotContains(t, h.log.String(), "pa55-s3cret")
}
