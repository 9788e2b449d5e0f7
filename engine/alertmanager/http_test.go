package alertmanager

import (
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/test/testrelay"
)

func TestTLS(t *testing.T) {
	pki, err := testrelay.NewPKI(t.TempDir())
	require.NoError(t, err)
	for _, tc := range []struct {
		name   string
		http   HTTPConfig
		wantOK bool
	}{
		{name: "mTLS with a server name", wantOK: true, http: HTTPConfig{
			CAFile: pki.CAFile, CertFile: pki.ClientCertFile, KeyFile: pki.ClientKeyFile, ServerName: "ui.hubble-relay.cilium.io"}},
		{name: "mTLS by address", wantOK: true, http: HTTPConfig{CAFile: pki.CAFile, CertFile: pki.ClientCertFile, KeyFile: pki.ClientKeyFile}},
		{name: "no client certificate", http: HTTPConfig{CAFile: pki.CAFile}},
		{name: "unknown CA", http: HTTPConfig{CertFile: pki.ClientCertFile, KeyFile: pki.ClientKeyFile}},
		{name: "wrong server name", http: HTTPConfig{CAFile: pki.CAFile, CertFile: pki.ClientCertFile, KeyFile: pki.ClientKeyFile, ServerName: "am.example"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			am := &fakeAM{statuses: []int{200}}
			srv := httptest.NewUnstartedServer(am)
			srv.TLS, err = pki.ServerTLSConfig(true)
			require.NoError(t, err)
			srv.StartTLS()
			t.Cleanup(srv.Close)
			u := mustParse(t, srv.URL)
			h := newHarness(t, Config{URLs: []*url.URL{u}, HTTP: tc.http, BackoffMin: 10 * time.Millisecond, BackoffMax: 20 * time.Millisecond})
			h.run(t)
			h.Send(named("overTLS"))
			label := []string{"alertmanager", u.String()}
			if tc.wantOK {
				h.waitMetric(t, 1, "hubble_sentinel_alertmanager_alerts_sent_total", label...)
				return
			}
			require.Eventually(t, func() bool { return h.metric(t, "hubble_sentinel_alertmanager_errors_total", label...) >= 2 },
				5*time.Second, 5*time.Millisecond, "refused, and retried: a certificate may be fixed")
			require.Zero(t, h.metric(t, "hubble_sentinel_alertmanager_alerts_sent_total", label...))
			require.Empty(t, am.received)
		})
	}
}

// TestCredentialFilesAreReread: a rotated token is used without a restart.
func TestCredentialFilesAreReread(t *testing.T) {
	am := &fakeAM{statuses: []int{200}, bearer: "first-t0ken"}
	srv := httptest.NewServer(am)
	t.Cleanup(srv.Close)
	token := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(token, []byte("first-t0ken\n"), 0o600))
	u := mustParse(t, srv.URL)
	h := newHarness(t, Config{URLs: []*url.URL{u}, HTTP: HTTPConfig{BearerTokenFile: token}})
	h.run(t)
	label := []string{"alertmanager", u.String()}
	h.Send(named("one"))
	h.waitMetric(t, 1, "hubble_sentinel_alertmanager_alerts_sent_total", label...)

	am.mu.Lock()
	am.bearer = "second-t0ken"
	am.mu.Unlock()
	require.NoError(t, os.WriteFile(token, []byte("second-t0ken\n"), 0o600))
	h.Send(named("two"))
	h.waitMetric(t, 2, "hubble_sentinel_alertmanager_alerts_sent_total", label...)
	require.Zero(t, h.metric(t, "hubble_sentinel_alertmanager_errors_total", label...))
	require.NotContains(t, h.log.String(), "t0ken")
}
