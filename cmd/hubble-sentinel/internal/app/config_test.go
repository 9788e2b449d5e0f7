package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/hubble-sentinel/hubble-sentinel/engine/redact"
	"github.com/hubble-sentinel/hubble-sentinel/test/amtest"
	"github.com/hubble-sentinel/hubble-sentinel/test/loopback"
	"github.com/hubble-sentinel/hubble-sentinel/test/testrelay"
)

// credentialFetch is a pod asking the cloud metadata service for the
// node's credentials: EgressToCloudMetadata, whatever the configuration.
func credentialFetch(at time.Time) *flowpb.Flow {
	return &flowpb.Flow{
		Time: timestamppb.New(at), Uuid: "0b7f3c52-4e0d-4c1e-9a51-00000000c0f1", Verdict: flowpb.Verdict_FORWARDED,
		IP: &flowpb.IP{Source: "10.0.9.4", Destination: "169.254.169.254", IpVersion: flowpb.IPVersion_IPv4},
		L4: &flowpb.Layer4{Protocol: &flowpb.Layer4_TCP{TCP: &flowpb.TCP{SourcePort: 50110, DestinationPort: 80}}},
		Source: &flowpb.Endpoint{Identity: 51234, Namespace: "billing", PodName: "invoicer-6b8f-z9x",
			Workloads: []*flowpb.Workload{{Name: "invoicer", Kind: "Deployment"}}},
		Destination: &flowpb.Endpoint{Identity: 2, Labels: []string{"reserved:world"}},
		Type:        flowpb.FlowType_L3_L4, NodeName: "node-a", TrafficDirection: flowpb.TrafficDirection_EGRESS,
		IsReply: wrapperspb.Bool(false),
	}
}

// runInBackground runs Run with o until the test ends, and then requires it
// to return nil.
func runInBackground(t *testing.T, o Options) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, o) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
}

func webGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func firingIn(am *amtest.Alertmanager, alertname string) bool {
	alerts, err := am.Alerts(context.Background(), `alertname="`+alertname+`"`)
	return err == nil && len(alerts) > 0
}

func receivedBy(am *amtest.Alertmanager, alertname string) bool {
	for _, r := range am.Received() {
		if r.Alert.Labels["alertname"] == alertname {
			return true
		}
	}
	return false
}

// TestRunReloadsConfig: run with --config.file against a relay and two real
// Alertmanagers. A valid change by SIGHUP (the reload channel) moves the
// alerts to the second Alertmanager at once; an invalid file posted to
// /-/reload is refused with its line, the old configuration keeps running
// (alerts still delivered) and SentinelConfigReloadFailed fires; the fixed
// file clears it, and a restart-only change is logged, not applied.
func TestRunReloadsConfig(t *testing.T) {
	am1, am2 := amtest.Start(t), amtest.Start(t)
	relay := loopback.FreeT(t)
	lis, err := net.Listen("tcp", relay)
	require.NoError(t, err)
	relayCtx, stopRelay := context.WithCancel(context.Background())
	relayDone := make(chan struct{})
	srv := testrelay.New(testrelay.Flows(credentialFetch(time.Now().Add(-10*time.Second))), nil)
	go func() { _ = srv.Serve(relayCtx, lis); close(relayDone) }()
	t.Cleanup(func() { stopRelay(); <-relayDone })

	dir := t.TempDir()
	path := filepath.Join(dir, "hubble-sentinel.yaml")
	write := func(body string) { require.NoError(t, os.WriteFile(path, []byte(body), 0o600)) }
	config := func(am *amtest.Alertmanager, extra string) string {
		return "hubble:\n  sources:\n    - address: " + relay + "\nalertmanagers:\n  urls: [" + am.URL.String() + "]\n" +
			"alerts:\n  resend_interval: 2s\n" + extra
	}
	write(config(am1, ""))

	web := loopback.FreeT(t)
	var logs syncBuffer
	reload := make(chan struct{}, 1)
	runInBackground(t, Options{
		ConfigFile: path, Reload: reload, WebListenAddress: web, WebLifecycle: true,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), Stdout: io.Discard, Stderr: io.Discard,
	})
	require.Eventually(t, func() bool { return firingIn(am1, "EgressToCloudMetadata") }, 90*time.Second, 200*time.Millisecond, "logs:\n%s", &logs)
	require.Contains(t, logs.String(), "config_file="+path)
	metric := func(series string) bool {
		_, body := webGet(t, "http://"+web+"/metrics")
		return strings.Contains(body, series+"\n")
	}
	require.True(t, metric("hubble_sentinel_config_last_reload_successful 1"))
	_, body := webGet(t, "http://"+web+"/metrics")
	require.Contains(t, body, `hubble_sentinel_alertmanager_requests_total{alertmanager="`+am1.URL.String()+`",result="success"}`, "the sender's metrics are served")

	// A valid change, by SIGHUP: the second Alertmanager gets the firing
	// alert at once, not at the next resend.
	write(config(am2, ""))
	reload <- struct{}{}
	require.Eventually(t, func() bool { return metric(`hubble_sentinel_config_reloads_total{result="success"} 1`) }, 60*time.Second, 100*time.Millisecond, "logs:\n%s", &logs)
	require.Eventually(t, func() bool { return firingIn(am2, "EgressToCloudMetadata") }, 30*time.Second, 100*time.Millisecond)
	require.Contains(t, logs.String(), "alertmanager settings changed; replacing the sender")
	require.Contains(t, logs.String(), "trigger=signal")
	sentTo1 := len(am1.Received())

	// GET is not a reload.
	status, _ := webGet(t, "http://"+web+"/-/reload")
	require.Equal(t, http.StatusMethodNotAllowed, status)

	// An invalid file, by POST /-/reload: refused with its line; the running
	// configuration (the second Alertmanager) keeps delivering, including
	// SentinelConfigReloadFailed.
	write(config(am1, "alerts_typo: {}\n"))
	resp, err := http.Post("http://"+web+"/-/reload", "", nil)
	require.NoError(t, err)
	reply, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	require.Contains(t, string(reply), path+": line 8: unknown key \"alerts_typo\"")
	require.True(t, metric(`hubble_sentinel_config_reloads_total{result="failure"} 1`))
	require.True(t, metric("hubble_sentinel_config_last_reload_successful 0"))
	require.Contains(t, logs.String(), "configuration reload failed, keeping the running configuration")
	require.Eventually(t, func() bool { return firingIn(am2, AlertConfigReloadFailed) }, 30*time.Second, 100*time.Millisecond)
	got, err := am2.Alerts(context.Background(), `alertname="`+AlertConfigReloadFailed+`"`)
	require.NoError(t, err)
	require.Contains(t, got[0].Annotations["description"], `line 8: unknown key "alerts_typo"`)
	require.Contains(t, got[0].Annotations["summary"], "still running the configuration loaded at")
	n := len(am2.Received())
	require.Eventually(t, func() bool { return len(am2.Received()) > n }, 30*time.Second, 100*time.Millisecond, "the old configuration still resends")
	require.False(t, receivedBy(am1, AlertConfigReloadFailed), "the refused file's Alertmanager was never used")
	require.Equal(t, sentTo1, len(am1.Received()))

	// A file naming policies that do not load is refused the same way.
	broken := filepath.Join(dir, "policies")
	require.NoError(t, os.MkdirAll(broken, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(broken, "p.rego"), []byte("package p\n\nviolation contains x if {\n"), 0o600))
	write(config(am2, "policies:\n  dir: "+broken+"\n"))
	resp, err = http.Post("http://"+web+"/-/reload", "", nil)
	require.NoError(t, err)
	reply, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	require.Contains(t, string(reply), "p.rego:")

	// The fixed file, by SIGHUP: the alert resolves; a restart-only key
	// changed is logged and not applied.
	t.Cleanup(func() { require.NoError(t, redact.Extend(nil, nil)) })
	require.False(t, redact.IsSensitiveHeader("X-Reload-Secret"))
	write(config(am2, "baseline:\n  profiles_max: 10\nredact:\n  headers: [X-Reload-Secret]\n"))
	reload <- struct{}{}
	require.Eventually(t, func() bool { return metric(`hubble_sentinel_config_reloads_total{result="success"} 2`) }, 60*time.Second, 100*time.Millisecond, "logs:\n%s", &logs)
	require.True(t, metric("hubble_sentinel_config_last_reload_successful 1"))
	require.Eventually(t, func() bool { return !firingIn(am2, AlertConfigReloadFailed) }, 30*time.Second, 100*time.Millisecond, "a good file resolves SentinelConfigReloadFailed")
	require.Regexp(t, `level=WARN msg="configuration changed; takes effect after a restart" .*key=baseline.profiles_max`, logs.String())
	require.True(t, firingIn(am2, "EgressToCloudMetadata"))
	require.True(t, redact.IsSensitiveHeader("X-Reload-Secret"), "the new redaction list is in effect")
}

// TestReloadNeedsLifecycle: /-/reload is a mutating endpoint, refused (403)
// unless --web.enable-lifecycle, and never reached by GET (405).
func TestReloadNeedsLifecycle(t *testing.T) {
	for _, tc := range []struct {
		lifecycle bool
		method    string
		want      int
	}{
		{false, http.MethodPost, http.StatusForbidden},
		{false, http.MethodGet, http.StatusMethodNotAllowed},
		{true, http.MethodGet, http.StatusMethodNotAllowed},
		{true, http.MethodPost, http.StatusOK},
	} {
		t.Run(fmt.Sprintf("%s lifecycle=%v", tc.method, tc.lifecycle), func(t *testing.T) {
			addr := loopback.FreeT(t)
			reloads := 0
			w := &Web{Address: addr, Registry: prometheus.NewRegistry(), Lifecycle: tc.lifecycle, Logger: slog.New(slog.DiscardHandler),
				Reload: func(context.Context) error { reloads++; return nil }}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- w.Run(ctx) }()
			t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
			var resp *http.Response
			require.Eventually(t, func() bool {
				req, _ := http.NewRequest(tc.method, "http://"+addr+"/-/reload", nil)
				var err error
				resp, err = http.DefaultClient.Do(req)
				return err == nil
			}, 10*time.Second, 20*time.Millisecond)
			resp.Body.Close()
			require.Equal(t, tc.want, resp.StatusCode)
			require.Equal(t, tc.want == http.StatusOK, reloads == 1)
		})
	}
}
