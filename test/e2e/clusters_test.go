package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hubble-sentinel/hubble-sentinel/test/amtest"
	"github.com/hubble-sentinel/hubble-sentinel/test/loopback"
	"github.com/hubble-sentinel/hubble-sentinel/test/testrelay"
)

// clusterAlerts are the alerts named alertname in am, by their cluster
// label.
func clusterAlerts(t *testing.T, am *amtest.Alertmanager, filter ...string) map[string]*models.GettableAlert {
	t.Helper()
	alerts, err := am.Alerts(context.Background(), filter...)
	require.NoError(t, err)
	out := map[string]*models.GettableAlert{}
	for _, a := range alerts {
		out[a.Labels["cluster"]] = a
	}
	return out
}

// readyzBody is /readyz's status and body.
func readyzBody(t *testing.T, web string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + web + "/readyz")
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestSeveralClusters: one hubble-sentinel follows the relays of two
// clusters. The same violation by the same namespace/workload in each is
// two alerts differing only by cluster; per-source metrics carry the
// cluster; each cluster has its own baseline snapshot and position. One
// relay killed raises SentinelVisibilityGap for its cluster only, /readyz
// names it, and the other cluster's flows keep being judged.
func TestSeveralClusters(t *testing.T) {
	am := amtest.Start(t)
	eu, us := testrelay.NewRing(1000), testrelay.NewRing(1000)
	euAddr, usAddr := loopback.FreeT(t), loopback.FreeT(t)
	euRelay := startKillableRelay(t, euAddr, eu)
	startKillableRelay(t, usAddr, us)
	web := loopback.FreeT(t)
	baselines := filepath.Join(t.TempDir(), "baselines.json")
	p := start(t, "run",
		"--hubble.address", "prod-eu="+euAddr, "--hubble.address", "prod-us="+usAddr,
		"--alertmanager.url", am.URL.String(), "--web.listen-address", web,
		"--baseline.path", baselines, "--baseline.snapshot-interval", "500ms",
		"--alerts.visibility-grace", "2s", "--alerts.resend-interval", "1s")
	require.Eventually(t, func() bool { return httpStatus("http://"+web+"/readyz") == http.StatusOK }, 30*time.Second, 50*time.Millisecond,
		"ready once both streams are")
	require.Contains(t, p.log(), fmt.Sprintf(`hubble_sources="prod-eu=%s,prod-us=%s"`, euAddr, usAddr), "the startup line lists the sources")

	theft := func(at time.Time) *flowpb.Flow {
		f := metadataTheft()
		f.Time = timestamppb.New(at)
		return f
	}
	now := time.Now()
	eu.Write(theft(now))
	us.Write(theft(now))
	var got map[string]*models.GettableAlert
	require.Eventually(t, func() bool {
		got = clusterAlerts(t, am, `alertname="EgressToCloudMetadata"`)
		return len(got) == 2
	}, 30*time.Second, 100*time.Millisecond, "one alert per cluster")
	require.Contains(t, got, "prod-eu")
	require.Contains(t, got, "prod-us")
	want := models.LabelSet{
		"alertname": "EgressToCloudMetadata", "severity": "critical", "policy": "sentinel.egress.cloud_metadata",
		"source_namespace": "shop", "source_workload": "catalog",
		"destination_ip": "169.254.169.254", "destination_port": "80", "protocol": "tcp",
	}
	for _, c := range []string{"prod-eu", "prod-us"} {
		want["cluster"] = c
		require.Equal(t, want, got[c].Labels, "the same incident, told apart by cluster only")
		require.Equal(t, "1", got[c].Annotations["count"], "each cluster's own incident")
	}

	m := metrics(t, web)
	for _, series := range []string{
		`hubble_sentinel_engine_flows_processed_total{cluster="prod-eu"} 1`,
		`hubble_sentinel_engine_flows_processed_total{cluster="prod-us"} 1`,
		`hubble_sentinel_engine_violations_total{cluster="prod-eu",policy="EgressToCloudMetadata",severity="critical"} 1`,
		`hubble_sentinel_alerts_fired_total{alertname="EgressToCloudMetadata",severity="critical"} 2`,
	} {
		require.Contains(t, m, series+"\n")
	}
	require.Regexp(t, `hubble_sentinel_hubble_\w+\{cluster="prod-us"`, m, "the stream's metrics are per cluster")
	require.NotRegexp(t, `(?m)^hubble_sentinel_engine_flows_processed_total `, m, "no unlabelled engine series")
	require.Eventually(t, func() bool {
		_, errEU := os.Stat(baselines + ".prod-eu")
		_, errUS := os.Stat(baselines + ".prod-us")
		return errEU == nil && errUS == nil
	}, 10*time.Second, 100*time.Millisecond, "a baseline snapshot per cluster")
	require.FileExists(t, baselines+".prod-eu.position")
	require.FileExists(t, baselines+".prod-us.position")
	require.NoFileExists(t, baselines)
	require.NoFileExists(t, baselines+".position")

	euRelay.kill()
	killed := time.Now()
	var gap map[string]*models.GettableAlert
	require.Eventually(t, func() bool {
		gap = clusterAlerts(t, am, `alertname="SentinelVisibilityGap"`)
		return len(gap) > 0
	}, 30*time.Second, 100*time.Millisecond, "the dead relay's cluster is blind")
	t.Logf("SentinelVisibilityGap %s after prod-eu's relay died (grace 2s)", time.Since(killed).Round(100*time.Millisecond))
	require.Equal(t, models.LabelSet{"alertname": "SentinelVisibilityGap", "severity": "warning", "reason": "relay_disconnected", "cluster": "prod-eu"},
		gap["prod-eu"].Labels)
	require.Contains(t, gap["prod-eu"].Annotations["summary"], euAddr)
	require.Len(t, gap, 1, "only prod-eu is blind")
	code, body := readyzBody(t, web)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, fmt.Sprintf("cluster prod-eu (%s): not connected to hubble relay", euAddr), strings.TrimSpace(body))
	require.Contains(t, p.log(), "cluster=prod-eu hubble_address="+euAddr, "the source's log lines say which cluster")

	// prod-us keeps being judged while prod-eu is down.
	f := theftBy("shop", "search", "search-5c6d7f8b9-abcde", 1, time.Now())
	us.Write(f)
	require.Eventually(t, func() bool {
		a := clusterAlerts(t, am, `alertname="EgressToCloudMetadata"`, `source_workload="search"`)
		return len(a) == 1 && a["prod-us"] != nil
	}, 30*time.Second, 100*time.Millisecond, "the other cluster's flows are still judged")
	require.Contains(t, metrics(t, web), `hubble_sentinel_engine_flows_processed_total{cluster="prod-us"} 2`+"\n")
	require.True(t, p.running())
}
