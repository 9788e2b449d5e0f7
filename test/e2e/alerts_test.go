package e2e

// End-to-end tests of the alert contract (issue 10): one alert per
// incident, delivery across Alertmanager outages and hubble-sentinel
// restarts, secrets nowhere, a backlog that fires, resolution when quiet,
// and SentinelVisibilityGap. Intervals are compressed (seconds where
// production uses minutes) through the flags that set them.

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	observerpb "github.com/cilium/cilium/api/v1/observer"
	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/hubble-sentinel/hubble-sentinel/test/amtest"
	"github.com/hubble-sentinel/hubble-sentinel/test/loopback"
	"github.com/hubble-sentinel/hubble-sentinel/test/testrelay"
)

// uuidN makes the n-th UUID of a test series.
func uuidN(series, n int) string {
	return fmt.Sprintf("7d2e0000-%04d-4a43-9d0e-%012d", series, n)
}

func workload(ns, name string) []*flowpb.Workload {
	return []*flowpb.Workload{{Name: name, Kind: "Deployment"}}
}

// theftBy is metadataTheft from another pod (and workload), at time at.
func theftBy(ns, wl, pod string, n int, at time.Time) *flowpb.Flow {
	f := metadataTheft()
	f.Uuid = uuidN(1, n)
	f.Time = timestamppb.New(at)
	f.Source.Namespace, f.Source.PodName = ns, pod
	f.Source.Workloads = workload(ns, wl)
	f.Source.Labels = []string{"k8s:app=" + wl, "k8s:io.kubernetes.pod.namespace=" + ns}
	f.L4.GetTCP().SourcePort = uint32(32768 + n%28000)
	return f
}

// synProbe is a SYN from shop/currency to a port of the postgres pod, and
// the RST-ACK of the closed port.
func synProbe(n int, port uint32, at time.Time) []*flowpb.Flow {
	client := &flowpb.Endpoint{ID: 901, Identity: 41001, Namespace: "shop", PodName: "currency-6b7d9c5f4-k2x7p",
		Labels: []string{"k8s:app=currency", "k8s:io.kubernetes.pod.namespace=shop"}, Workloads: workload("shop", "currency")}
	server := &flowpb.Endpoint{ID: 902, Identity: 41002, Namespace: "shop", PodName: "postgres-0",
		Labels: []string{"k8s:app=postgres", "k8s:io.kubernetes.pod.namespace=shop"}, Workloads: []*flowpb.Workload{{Name: "postgres", Kind: "StatefulSet"}}}
	syn := &flowpb.Flow{
		Time: timestamppb.New(at), Uuid: uuidN(2, 2*n), Verdict: flowpb.Verdict_FORWARDED, Type: flowpb.FlowType_L3_L4,
		IP: &flowpb.IP{Source: "10.0.2.31", Destination: "10.0.3.40", IpVersion: flowpb.IPVersion_IPv4},
		L4: &flowpb.Layer4{Protocol: &flowpb.Layer4_TCP{TCP: &flowpb.TCP{SourcePort: 51515, DestinationPort: port,
			Flags: &flowpb.TCPFlags{SYN: true}}}},
		Source: client, Destination: server, NodeName: "kind-worker", IsReply: wrapperspb.Bool(false),
		TrafficDirection: flowpb.TrafficDirection_EGRESS, EventType: &flowpb.CiliumEventType{Type: 4},
		TraceReason: flowpb.TraceReason_NEW,
	}
	rst := &flowpb.Flow{
		Time: timestamppb.New(at.Add(200 * time.Microsecond)), Uuid: uuidN(2, 2*n+1), Verdict: flowpb.Verdict_FORWARDED, Type: flowpb.FlowType_L3_L4,
		IP: &flowpb.IP{Source: "10.0.3.40", Destination: "10.0.2.31", IpVersion: flowpb.IPVersion_IPv4},
		L4: &flowpb.Layer4{Protocol: &flowpb.Layer4_TCP{TCP: &flowpb.TCP{SourcePort: port, DestinationPort: 51515,
			Flags: &flowpb.TCPFlags{RST: true, ACK: true}}}},
		Source: server, Destination: client, NodeName: "kind-worker", IsReply: wrapperspb.Bool(true),
		TrafficDirection: flowpb.TrafficDirection_INGRESS, EventType: &flowpb.CiliumEventType{Type: 4},
		TraceReason: flowpb.TraceReason_REPLY,
	}
	return []*flowpb.Flow{syn, rst}
}

// tunnelQuery is a TXT query carrying base32 data from shop/recommendation
// to one of two CoreDNS replicas.
func tunnelQuery(n int, at time.Time, rng *rand.Rand) *flowpb.Flow {
	chunk := make([]byte, 60)
	for i := range chunk {
		chunk[i] = byte(rng.IntN(256))
	}
	b32 := base32.StdEncoding.WithPadding(base32.NoPadding)
	query := strings.ToLower(b32.EncodeToString(chunk[:35])+"."+b32.EncodeToString(chunk[35:])) + ".t.exfil-c2.example."
	replica := []string{"coredns-5d78c9869d-8xkqv", "coredns-5d78c9869d-r2m4w"}[n%2]
	ip := []string{"10.0.0.11", "10.0.1.12"}[n%2]
	return &flowpb.Flow{
		Time: timestamppb.New(at), Uuid: uuidN(3, n), Verdict: flowpb.Verdict_FORWARDED, Type: flowpb.FlowType_L7,
		IP: &flowpb.IP{Source: "10.0.2.50", Destination: ip, IpVersion: flowpb.IPVersion_IPv4},
		L4: &flowpb.Layer4{Protocol: &flowpb.Layer4_UDP{UDP: &flowpb.UDP{SourcePort: uint32(40000 + n), DestinationPort: 53}}},
		Source: &flowpb.Endpoint{ID: 903, Identity: 41003, Namespace: "shop", PodName: "recommendation-7c9d8b6f5-q4w8e",
			Labels: []string{"k8s:app=recommendation", "k8s:io.kubernetes.pod.namespace=shop"}, Workloads: workload("shop", "recommendation")},
		Destination: &flowpb.Endpoint{ID: 904, Identity: 102, Namespace: "kube-system", PodName: replica,
			Labels: []string{"k8s:k8s-app=kube-dns", "k8s:io.kubernetes.pod.namespace=kube-system"}, Workloads: workload("kube-system", "coredns")},
		NodeName: "kind-worker", IsReply: wrapperspb.Bool(false), TrafficDirection: flowpb.TrafficDirection_EGRESS,
		EventType: &flowpb.CiliumEventType{Type: 129},
		L7: &flowpb.Layer7{Type: flowpb.L7FlowType_REQUEST, Record: &flowpb.Layer7_Dns{Dns: &flowpb.DNS{
			Query: query, Qtypes: []string{"TXT"}, ObservationSource: "proxy",
		}}},
	}
}

// attacks are the three simulated attacks: a 200-port scan, 10,000
// cloud-metadata thefts from 8 pods of one deployment within a minute, and
// a DNS tunnel through 2 CoreDNS replicas.
func attacks(start time.Time) []*flowpb.Flow {
	var out []*flowpb.Flow
	for i := range 200 {
		out = append(out, synProbe(i, uint32(1000+i*7), start.Add(time.Duration(i)*200*time.Millisecond))...)
	}
	for i := range 10000 {
		pod := fmt.Sprintf("catalog-7d9f8b6c5d-%05d", i%8)
		out = append(out, theftBy("shop", "catalog", pod, i, start.Add(time.Duration(i)*5*time.Millisecond)))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 60 {
		out = append(out, tunnelQuery(i, start.Add(time.Duration(i)*time.Second), rng))
	}
	return out
}

// activeByName returns the firing alerts in am by alertname.
func activeByName(t *testing.T, am *amtest.Alertmanager) map[string][]*models.GettableAlert {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	alerts, err := am.Alerts(ctx)
	require.NoError(t, err)
	out := map[string][]*models.GettableAlert{}
	for _, a := range alerts {
		out[a.Labels["alertname"]] = append(out[a.Labels["alertname"]], a)
	}
	return out
}

// TestOneAlertPerIncident: each simulated attack is one firing alert in a
// real Alertmanager, whose annotations carry the count and what varied.
func TestOneAlertPerIncident(t *testing.T) {
	am := amtest.Start(t)
	relayAddr := loopback.FreeT(t)
	begin := time.Now().Add(-2 * time.Minute).UTC().Truncate(time.Millisecond)
	serveRelay(t, relayAddr, nil, attacks(begin)...)
	p := start(t, "run", "--hubble.address", relayAddr, "--alertmanager.url", am.URL.String(), "--web.listen-address", "",
		"--baseline.learning-period", "1ns",
		"--alerts.resend-interval", "1s")

	want := map[string]func(c *assert.CollectT, a *models.GettableAlert){
		"BaselinePortScan": func(c *assert.CollectT, a *models.GettableAlert) {
			// The policy groups by client workload (METADATA group_by).
			assert.Equal(c, "currency", a.Labels["source_workload"])
			assert.NotContains(c, a.Labels, "destination_port")
			assert.Equal(c, "postgres", a.Annotations["destination_workloads"])
			assert.Regexp(c, `^1\d\d\d, 1\d\d\d, .*, … \(\d+ in all\)$`, a.Annotations["destination_ports"])
		},
		"EgressToCloudMetadata": func(c *assert.CollectT, a *models.GettableAlert) {
			assert.Equal(c, "catalog", a.Labels["source_workload"])
			assert.Equal(c, "10000", a.Annotations["count"])
			assert.Len(c, strings.Split(a.Annotations["source_pods"], ", "), 8)
		},
		"DNSTunnelingSuspected": func(c *assert.CollectT, a *models.GettableAlert) {
			assert.Equal(c, "coredns", a.Labels["destination_workload"])
			assert.Equal(c, "60", a.Annotations["count"])
			assert.Equal(c, "coredns-5d78c9869d-8xkqv, coredns-5d78c9869d-r2m4w", a.Annotations["destination_pods"])
		},
	}
	t.Cleanup(func() { // also when it fails: the numbers to compare
		counts := map[string]int{}
		for name, as := range activeByName(t, am) {
			counts[name] = len(as)
		}
		t.Logf("firing alerts by alertname: %v", counts)
	})
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		got := activeByName(t, am)
		for name, check := range want {
			if !assert.Len(c, got[name], 1, "%s: one alert", name) {
				continue
			}
			check(c, got[name][0])
		}
	}, 90*time.Second, 500*time.Millisecond)

	got := activeByName(t, am)
	require.NotContains(t, got, "SentinelAlertsThrottled")
	require.True(t, p.running())
}

// sentinelMetric reads one sample from hubble-sentinel's /metrics text, 0
// when the series is absent.
func sentinelMetric(t *testing.T, web, series string) float64 {
	t.Helper()
	v, _ := sentinelSample(t, web, series)
	return v
}

// sentinelSeries reads a sample that must be there: a counter required to
// stay 0 is checked against the series itself, not its absence.
func sentinelSeries(t *testing.T, web, series string) float64 {
	t.Helper()
	v, ok := sentinelSample(t, web, series)
	require.True(t, ok, "no series %s in /metrics", series)
	return v
}

func sentinelSample(t *testing.T, web, series string) (float64, bool) {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindStringSubmatch(metrics(t, web))
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	require.NoError(t, err)
	return v, true
}

// killableRelay is a Hubble ring served on an address until stopped, as a
// relay that can be killed and restarted.
type killableRelay struct {
	ring   *testrelay.Ring
	addr   string
	cancel context.CancelCauseFunc
	done   chan struct{}
}

func startKillableRelay(t *testing.T, addr string, ring *testrelay.Ring) *killableRelay {
	t.Helper()
	var lis net.Listener
	var err error
	for range 50 {
		if lis, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.NoError(t, err)
	ctx, cancel := context.WithCancelCause(context.Background())
	r := &killableRelay{ring: ring, addr: addr, cancel: cancel, done: make(chan struct{})}
	srv := testrelay.NewRingServer(ring, nil)
	go func() { _ = srv.Serve(ctx, lis); close(r.done) }()
	t.Cleanup(r.kill)
	return r
}

// kill stops the relay as a crash does: streams break at once.
func (r *killableRelay) kill() {
	r.cancel(testrelay.ErrKilled)
	<-r.done
}

// TestOutageEveryIncidentArrives: two Alertmanagers, one stopped while
// twelve incidents happen, start, re-send and resolve, with hubble-sentinel
// killed with SIGKILL and restarted in the middle of the outage. The other
// Alertmanager gets everything at once and SentinelDeliveryFailing; when
// the stopped one starts again it gets every incident, in order, resolved
// ones resolved, and SentinelDeliveryFailing resolves. The outage lasts
// about 15 s with a 4 s resolve timeout and a 1 s resend interval: the
// same sequence as 10 minutes with the defaults, compressed. That the
// sender gives nothing up however long an outage lasts is shown on a fake
// clock with the production defaults: an hour in
// engine/alertmanager's TestOutageOfAnHourGivesNothingUp.
func TestOutageEveryIncidentArrives(t *testing.T) {
	up, down := amtest.Start(t), amtest.Start(t)
	ring := testrelay.NewRing(100000)
	relayAddr := loopback.FreeT(t)
	startKillableRelay(t, relayAddr, ring)
	spool := filepath.Join(t.TempDir(), "spool")
	web := loopback.FreeT(t)
	args := []string{"run", "--hubble.address", relayAddr, "--web.listen-address", web,
		"--alertmanager.url", up.URL.String(), "--alertmanager.url", down.URL.String(),
		"--alertmanager.spool-path", spool, "--alertmanager.failing-after", "2s",
		"--alerts.resend-interval", "1s", "--alerts.resolve-after", "4s",
		"--hubble.position-path", filepath.Join(t.TempDir(), "position")}
	p := start(t, args...)
	require.Eventually(t, func() bool { return httpStatus("http://"+web+"/readyz") == 200 }, 30*time.Second, 50*time.Millisecond)
	down.Stop()

	n := 0
	incident := func(i int) {
		wl := fmt.Sprintf("job-%02d", i)
		for k := range 3 {
			ring.Write(theftBy("batch", wl, fmt.Sprintf("%s-%d-x", wl, k), 1000*i+n, time.Now()))
			n++
		}
	}
	for i := range 6 {
		incident(i)
		time.Sleep(500 * time.Millisecond)
	}
	downQueue := `hubble_sentinel_alertmanager_queue_length{alertmanager="` + down.URL.String() + `"}`
	require.Eventually(t, func() bool { return sentinelMetric(t, web, downQueue) >= 6 }, 10*time.Second, 50*time.Millisecond,
		"the first six incidents are spooled for the stopped Alertmanager")
	waitForAlert(t, up, "SentinelDeliveryFailing", 10*time.Second)

	require.NoError(t, p.cmd.Process.Kill())
	<-p.done
	spooled, err := filepath.Glob(filepath.Join(spool, "*.seg"))
	require.NoError(t, err)
	require.NotEmpty(t, spooled)
	p = start(t, args...)
	require.Eventually(t, func() bool { return httpStatus("http://"+web+"/readyz") == 200 }, 30*time.Second, 50*time.Millisecond)
	require.Contains(t, p.log(), "alerts spooled before the restart will be delivered")
	for i := 6; i < 12; i++ {
		incident(i)
		time.Sleep(500 * time.Millisecond)
	}
	time.Sleep(6 * time.Second) // the last incidents resolve too, during the outage

	back := time.Now()
	down.Restart()
	workloads := func(am *amtest.Alertmanager) (fired map[string]bool, resolved map[string]bool) {
		fired, resolved = map[string]bool{}, map[string]bool{}
		for _, r := range am.Received() {
			if r.Alert.Labels["alertname"] != "EgressToCloudMetadata" {
				continue
			}
			wl := r.Alert.Labels["source_workload"]
			fired[wl] = true
			if time.Time(r.Alert.EndsAt).Before(r.At) {
				resolved[wl] = true
			}
		}
		return fired, resolved
	}
	require.Eventually(t, func() bool {
		fired, resolved := workloads(down)
		return len(fired) == 12 && len(resolved) == 12
	}, 30*time.Second, 20*time.Millisecond, "every incident reaches the Alertmanager that was down, resolution included")
	t.Logf("the Alertmanager that was down had every incident %s after it started again (%d alerts received)",
		time.Since(back).Round(time.Millisecond), len(down.Received()))
	fired, _ := workloads(up)
	require.Len(t, fired, 12, "the other one got everything meanwhile")

	// In order: an incident's versions arrive as they were sent (re-sends
	// of one incident are coalesced into the latest within a read), so
	// its end only moves forward and its last version is the resolution.
	ends := map[string]time.Time{}
	for _, r := range down.Received() {
		if r.Alert.Labels["alertname"] != "EgressToCloudMetadata" {
			continue
		}
		wl, end := r.Alert.Labels["source_workload"], time.Time(r.Alert.EndsAt)
		require.False(t, end.Before(ends[wl]), "%s: a version older than one already delivered", wl)
		ends[wl] = end
	}
	for wl, end := range ends {
		require.True(t, end.Before(back), "%s ends resolved", wl)
	}

	require.Eventually(t, func() bool {
		alerts, err := up.Alerts(context.Background(), `alertname="SentinelDeliveryFailing"`)
		return err == nil && len(alerts) == 0
	}, 30*time.Second, 100*time.Millisecond, "SentinelDeliveryFailing resolves when the Alertmanager is back")
	for _, reason := range []string{"invalid", "rejected", "spool_full", "spool_error", "corrupt", "shutdown"} {
		for _, am := range []*amtest.Alertmanager{up, down} {
			require.Zero(t, sentinelSeries(t, web, `hubble_sentinel_alertmanager_alerts_dropped_total{alertmanager="`+am.URL.String()+`",reason="`+reason+`"}`), reason)
		}
	}
	require.Zero(t, up.Rejected()+down.Rejected())
	for _, am := range []*amtest.Alertmanager{up, down} {
		l := `{alertmanager="` + am.URL.String() + `"}`
		sum := sentinelMetric(t, web, "hubble_sentinel_alertmanager_notification_delay_seconds_sum"+l)
		n := sentinelMetric(t, web, "hubble_sentinel_alertmanager_notification_delay_seconds_count"+l)
		t.Logf("%s: %v alerts since the restart, mean delay from spool to acceptance %.3fs", am.URL, n, sum/max(n, 1))
	}
}

// secretFlow carries credentials in every place HTTP has them.
func secretFlow(at time.Time) *flowpb.Flow {
	f := metadataTheft()
	f.Uuid = uuidN(4, 1)
	f.Time = timestamppb.New(at)
	h := f.L7.GetHttp()
	h.Url = "http://admin:hunter2-pa55@169.254.169.254/latest/meta-data/?token=tok-9f8e7d6c5b&password=pw-1a2b3c4d5e"
	h.Headers = []*flowpb.HTTPHeader{
		{Key: "Authorization", Value: "Bearer eyJsecret-bearer-7777"},
		{Key: "Cookie", Value: "session=cookie-5ec2e7-value; theme=dark"},
	}
	return f
}

var leakedValues = []string{"hunter2-pa55", "tok-9f8e7d6c5b", "pw-1a2b3c4d5e", "eyJsecret-bearer-7777", "cookie-5ec2e7-value"}

func requireNoLeak(t *testing.T, where, text string) {
	t.Helper()
	for _, v := range leakedValues {
		require.NotContains(t, text, v, "%s leaks a secret", where)
	}
}

// TestSecretsNeverLeak: a flow with Authorization and Cookie headers, URL
// credentials and secret query parameters alerts, and none of the secret
// values is in Alertmanager, the log, the spool files or replay's output.
func TestSecretsNeverLeak(t *testing.T) {
	am := amtest.Start(t)
	relayAddr := loopback.FreeT(t)
	at := time.Now().Add(-10 * time.Second).UTC()
	serveRelay(t, relayAddr, nil, secretFlow(at))
	spool := filepath.Join(t.TempDir(), "spool")
	p := start(t, "run", "--hubble.address", relayAddr, "--web.listen-address", "", "--log.level", "debug",
		"--alertmanager.url", am.URL.String(), "--alertmanager.spool-path", spool, "--alerts.resend-interval", "1s")
	got := waitForAlert(t, am, "EgressToCloudMetadata", 60*time.Second)
	require.Contains(t, got.Annotations["sample_flow"], "[REDACTED]")
	require.Eventually(t, func() bool { return len(am.Received()) >= 2 }, 20*time.Second, 100*time.Millisecond, "a re-send too")

	b, err := json.Marshal(am.Received())
	require.NoError(t, err)
	requireNoLeak(t, "what Alertmanager received", string(b))
	alerts, err := am.Alerts(context.Background())
	require.NoError(t, err)
	b, err = json.Marshal(alerts)
	require.NoError(t, err)
	requireNoLeak(t, "Alertmanager's API", string(b))
	requireNoLeak(t, "the log", p.log())
	files, err := filepath.Glob(filepath.Join(spool, "*"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		requireNoLeak(t, f, string(b))
	}

	capture := filepath.Join(t.TempDir(), "capture.json")
	line, err := protojson.Marshal(&observerpb.GetFlowsResponse{ResponseTypes: &observerpb.GetFlowsResponse_Flow{Flow: secretFlow(at)}, Time: timestamppb.New(at)})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(capture, append(line, '\n'), 0o600))
	cmd := exec.Command(binary(t), "replay", "--log.level", "debug", capture)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), stderr.String())
	require.Contains(t, stdout.String(), "EgressToCloudMetadata")
	requireNoLeak(t, "replay's output", stdout.String())
	requireNoLeak(t, "replay's log", stderr.String())
}

// TestBacklogFiresThenResolves: flows an hour old when they arrive (a
// resumed backlog) fire, with startsAt at the flow; once no more come, the
// incident resolves in Alertmanager after the resolve timeout.
func TestBacklogFiresThenResolves(t *testing.T) {
	am := amtest.Start(t)
	relayAddr := loopback.FreeT(t)
	old := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	serveRelay(t, relayAddr, nil, theftBy("shop", "catalog", "catalog-1", 1, old), theftBy("shop", "catalog", "catalog-2", 2, old.Add(time.Second)))
	start(t, "run", "--hubble.address", relayAddr, "--web.listen-address", "", "--alertmanager.url", am.URL.String(),
		"--alerts.resolve-after", "4s", "--alerts.resend-interval", "1s")

	got := waitForAlert(t, am, "EgressToCloudMetadata", 60*time.Second)
	fired := time.Now()
	require.True(t, time.Time(*got.StartsAt).Equal(old), "startsAt %s is the flow's time", time.Time(*got.StartsAt))
	require.True(t, time.Time(*got.EndsAt).After(time.Now()), "it fires, though its flows are older than the resolve timeout")
	require.Equal(t, models.AlertStatusStateActive, *got.Status.State)
	require.Eventually(t, func() bool {
		got = waitForAlert(t, am, "EgressToCloudMetadata", time.Second)
		return got.Annotations["count"] == "2"
	}, 10*time.Second, 100*time.Millisecond, "the re-sent alert counts both flows")
	require.Equal(t, "catalog-1, catalog-2", got.Annotations["source_pods"])

	require.Eventually(t, func() bool {
		alerts, err := am.Alerts(context.Background(), `alertname="EgressToCloudMetadata"`)
		return err == nil && len(alerts) == 0
	}, 20*time.Second, 100*time.Millisecond, "resolves once quiet")
	t.Logf("resolved in Alertmanager %s after it fired (resolve timeout 4s)", time.Since(fired).Round(100*time.Millisecond))
	rs := am.Received()
	last := rs[len(rs)-1].Alert
	require.Equal(t, "EgressToCloudMetadata", last.Labels["alertname"])
	require.True(t, time.Time(last.EndsAt).Before(time.Now()), "the last notification is the resolution")
}

// TestRelayKilledRaisesVisibilityGap: events a node's Hubble lost raise
// SentinelVisibilityGap at once, with the count, and it resolves once
// nothing more is lost for the resolve timeout; a relay gone longer than
// the grace period raises it too, and that resolves when the stream is
// back.
func TestRelayKilledRaisesVisibilityGap(t *testing.T) {
	am := amtest.Start(t)
	ring := testrelay.NewRing(1000)
	relayAddr := loopback.FreeT(t)
	relay := startKillableRelay(t, relayAddr, ring)
	web := loopback.FreeT(t)
	start(t, "run", "--hubble.address", relayAddr, "--web.listen-address", web, "--alertmanager.url", am.URL.String(),
		"--alerts.visibility-grace", "3s", "--alerts.resend-interval", "1s", "--alerts.resolve-after", "3s")
	require.Eventually(t, func() bool { return httpStatus("http://"+web+"/readyz") == 200 }, 30*time.Second, 50*time.Millisecond)
	time.Sleep(4 * time.Second)
	alerts, err := am.Alerts(context.Background(), `alertname="SentinelVisibilityGap"`)
	require.NoError(t, err)
	require.Empty(t, alerts, "connected within the grace period at start: no alert")

	now := time.Now()
	ring.Lose("kind-worker", 42, now.Add(-2*time.Second), now.Add(-time.Second))
	ring.Write(benign())
	lost := waitForAlert(t, am, "SentinelVisibilityGap", 30*time.Second)
	require.Equal(t, models.LabelSet{"alertname": "SentinelVisibilityGap", "severity": "warning", "reason": "lost_events"}, lost.Labels)
	require.Equal(t, "42", lost.Annotations["count"])
	require.Equal(t, "kind-worker", lost.Annotations["nodes"])
	require.Eventually(t, func() bool {
		alerts, err := am.Alerts(context.Background(), `alertname="SentinelVisibilityGap"`)
		return err == nil && len(alerts) == 0
	}, 30*time.Second, 100*time.Millisecond, "resolves once nothing more is lost for the resolve timeout")

	relay.kill()
	killed := time.Now()
	got := waitForAlert(t, am, "SentinelVisibilityGap", 30*time.Second)
	t.Logf("SentinelVisibilityGap in Alertmanager %s after the relay died (grace 3s)", time.Since(killed).Round(100*time.Millisecond))
	require.GreaterOrEqual(t, time.Since(killed), 3*time.Second, "not before the grace period")
	require.Equal(t, models.LabelSet{"alertname": "SentinelVisibilityGap", "severity": "warning", "reason": "relay_disconnected"}, got.Labels)
	require.Contains(t, got.Annotations["summary"], relayAddr)

	startKillableRelay(t, relayAddr, ring)
	back := time.Now()
	require.Eventually(t, func() bool {
		alerts, err := am.Alerts(context.Background(), `alertname="SentinelVisibilityGap"`)
		return err == nil && len(alerts) == 0
	}, 60*time.Second, 100*time.Millisecond, "resolves when the stream is back")
	t.Logf("resolved %s after the relay came back", time.Since(back).Round(100*time.Millisecond))
	require.Equal(t, 42.0, sentinelSeries(t, web, `hubble_sentinel_hubble_flows_missed_total{kind="lost_events"}`),
		"the resumed stream's overlap sent the loss again: counted once")
	for _, r := range am.Received() {
		if r.Alert.Labels["reason"] == "lost_events" {
			require.True(t, r.At.Before(back), "no second lost_events alert once the relay is back")
		}
	}
}
