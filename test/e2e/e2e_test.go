// Package e2e runs hubble-sentinel end to end: a Hubble relay on gRPC, the built binary as its own process, and a real Alertmanager.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/hubble-sentinel/hubble-sentinel/engine/profile"
	"github.com/hubble-sentinel/hubble-sentinel/policies"
	"github.com/hubble-sentinel/hubble-sentinel/test/amtest"
	"github.com/hubble-sentinel/hubble-sentinel/test/loopback"
	"github.com/hubble-sentinel/hubble-sentinel/test/testrelay"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// EnvBinary names a hubble-sentinel binary built ahead of the tests (make
// test builds it before any test timeout starts).
const EnvBinary = "HUBBLE_SENTINEL_BIN"

// binary returns $HUBBLE_SENTINEL_BIN, else builds cmd/hubble-sentinel
// once per test run.
func binary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv(EnvBinary); bin != "" {
		return bin
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hubble-sentinel-e2e")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "hubble-sentinel")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/hubble-sentinel/hubble-sentinel/cmd/hubble-sentinel").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return binPath
}

// process is a running hubble-sentinel whose stderr is captured.
type process struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs bytes.Buffer
	done chan struct{}
}

func start(t *testing.T, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(binary(t), args...), done: make(chan struct{})}
	stderr, err := p.cmd.StderrPipe()
	require.NoError(t, err)
	p.cmd.Stdout = io.Discard
	require.NoError(t, p.cmd.Start())
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.logs.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("hubble-sentinel logs:\n%s", p.log())
		}
	})
	return p
}

func (p *process) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

func (p *process) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func serveRelay(t *testing.T, addr string, opts []testrelay.Option, flows ...*flowpb.Flow) {
	t.Helper()
	lis, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	srv := testrelay.New(testrelay.Flows(flows...), nil, opts...)
	done := make(chan struct{})
	go func() { _ = srv.Serve(ctx, lis); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

var flowTime = time.Now().Add(-30 * time.Second).UTC().Truncate(time.Millisecond)

// metadataTheft is a pod fetching cloud credentials from the metadata
// service, with a bearer token that must not reach Alertmanager.
func metadataTheft() *flowpb.Flow {
	return &flowpb.Flow{
		Time:    timestamppb.New(flowTime),
		Uuid:    "6c1d1e9e-1111-4a43-9d0e-000000000001",
		Verdict: flowpb.Verdict_FORWARDED,
		IP:      &flowpb.IP{Source: "10.0.2.17", Destination: "169.254.169.254", IpVersion: flowpb.IPVersion_IPv4},
		L4:      &flowpb.Layer4{Protocol: &flowpb.Layer4_TCP{TCP: &flowpb.TCP{SourcePort: 43122, DestinationPort: 80}}},
		Source: &flowpb.Endpoint{ID: 812, Identity: 40123, Namespace: "shop", PodName: "catalog-7d9f8b6c5d-x2k9q",
			Labels:    []string{"k8s:app=catalog", "k8s:io.kubernetes.pod.namespace=shop"},
			Workloads: []*flowpb.Workload{{Name: "catalog", Kind: "Deployment"}}},
		Destination:      &flowpb.Endpoint{Identity: 2, Labels: []string{"reserved:world"}},
		Type:             flowpb.FlowType_L7,
		NodeName:         "kind-worker",
		EventType:        &flowpb.CiliumEventType{Type: 129},
		TrafficDirection: flowpb.TrafficDirection_EGRESS,
		IsReply:          wrapperspb.Bool(false),
		L7: &flowpb.Layer7{Type: flowpb.L7FlowType_REQUEST, Record: &flowpb.Layer7_Http{Http: &flowpb.HTTP{
			Method: "GET", Protocol: "HTTP/1.1",
			Url:     "http://169.254.169.254/latest/meta-data/iam/security-credentials/node-role?sig=Zm9vYmFyYmF6",
			Headers: []*flowpb.HTTPHeader{{Key: "Authorization", Value: "Bearer e2e-super-secret-token"}},
		}}},
	}
}

func benign() *flowpb.Flow {
	return &flowpb.Flow{
		Time:        timestamppb.New(flowTime.Add(-time.Second)),
		Uuid:        "6c1d1e9e-1111-4a43-9d0e-000000000000",
		Verdict:     flowpb.Verdict_FORWARDED,
		IP:          &flowpb.IP{Source: "10.0.2.17", Destination: "10.0.3.4", IpVersion: flowpb.IPVersion_IPv4},
		L4:          &flowpb.Layer4{Protocol: &flowpb.Layer4_TCP{TCP: &flowpb.TCP{SourcePort: 43100, DestinationPort: 8080}}},
		Source:      &flowpb.Endpoint{Identity: 40123, Namespace: "shop", PodName: "catalog-7d9f8b6c5d-x2k9q"},
		Destination: &flowpb.Endpoint{Identity: 40124, Namespace: "shop", PodName: "cart-5f6d7c8b9d-q7w2z"},
		Type:        flowpb.FlowType_L3_L4,
		IsReply:     wrapperspb.Bool(false),
	}
}

func waitForAlert(t *testing.T, am *amtest.Alertmanager, alertname string, timeout time.Duration) *models.GettableAlert {
	t.Helper()
	var found *models.GettableAlert
	require.Eventually(t, func() bool {
		alerts, err := am.Alerts(context.Background(), fmt.Sprintf("alertname=%q", alertname))
		if err != nil || len(alerts) == 0 {
			return false
		}
		found = alerts[0]
		return true
	}, timeout, 200*time.Millisecond, "alert %s never reached Alertmanager", alertname)
	return found
}

func httpStatus(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// TestRelayToAlertmanager: flows on gRPC -> hubble-sentinel run -> a real
// Alertmanager, checked through Alertmanager's own API. A second,
// unreachable Alertmanager must not hold delivery back.
func TestRelayToAlertmanager(t *testing.T) {
	am := amtest.Start(t)
	relayAddr := loopback.FreeT(t)
	serveRelay(t, relayAddr, nil, benign(), metadataTheft())
	web := loopback.FreeT(t)
	dead := "http://" + loopback.FreeT(t)

	p := start(t, "run",
		"--hubble.address", relayAddr,
		"--alertmanager.url", am.URL.String(),
		"--alertmanager.url", dead,
		"--web.listen-address", web,
	)

	got := waitForAlert(t, am, "EgressToCloudMetadata", 60*time.Second)
	require.Equal(t, models.LabelSet{
		"alertname":        "EgressToCloudMetadata",
		"severity":         "critical",
		"policy":           "sentinel.egress.cloud_metadata",
		"source_namespace": "shop",
		"source_workload":  "catalog",
		"destination_ip":   "169.254.169.254",
		"destination_port": "80",
		"protocol":         "tcp",
	}, got.Labels)
	require.True(t, time.Time(*got.StartsAt).Equal(flowTime), "startsAt %s is the violating flow's time %s", time.Time(*got.StartsAt), flowTime)
	require.NotEmpty(t, got.Annotations["summary"])
	require.NotEmpty(t, got.Annotations["description"])
	require.Equal(t, "hubble observe --since "+flowTime.Add(-time.Minute).Format(time.RFC3339)+
		" --from-namespace shop --from-workload catalog --to-ip 169.254.169.254 --to-port 80 --protocol tcp", got.Annotations["hubble_observe"])
	require.Equal(t, "catalog-7d9f8b6c5d-x2k9q", got.Annotations["source_pod"], "the pod is an annotation now")
	require.Equal(t, "1", got.Annotations["count"])
	for k, v := range got.Annotations {
		require.NotContains(t, v, "e2e-super-secret-token", k)
		require.NotContains(t, v, "Zm9vYmFyYmF6", k)
	}
	require.Equal(t, http.StatusOK, httpStatus("http://"+web+"/healthz"))
	require.Equal(t, http.StatusOK, httpStatus("http://"+web+"/readyz"))

	require.Eventually(t, func() bool {
		return strings.Count(p.log(), "alertmanager unreachable") == 1
	}, 30*time.Second, 200*time.Millisecond, "one clear message for the unreachable Alertmanager")
	require.Contains(t, p.log(), strings.TrimPrefix(dead, "http://"))
	require.NotContains(t, p.log(), "e2e-super-secret-token")
	require.True(t, p.running())
}

// TestUnreachableRelay: hubble-sentinel starts before its relay, says so,
// keeps running and not ready, then connects and alerts once the relay is up.
func TestUnreachableRelay(t *testing.T) {
	am := amtest.Start(t)
	relayAddr := loopback.FreeT(t)
	web := loopback.FreeT(t)
	p := start(t, "run",
		"--hubble.address", relayAddr,
		"--alertmanager.url", am.URL.String(),
		"--web.listen-address", web,
	)
	require.Eventually(t, func() bool {
		return strings.Contains(p.log(), "hubble relay stream failed, reconnecting")
	}, 30*time.Second, 100*time.Millisecond)
	require.Contains(t, p.log(), relayAddr)
	require.True(t, p.running())
	require.Eventually(t, func() bool { return httpStatus("http://"+web+"/readyz") == http.StatusServiceUnavailable }, 10*time.Second, 100*time.Millisecond)
	require.Equal(t, http.StatusOK, httpStatus("http://"+web+"/healthz"))

	// Let a few reconnect attempts fail: still one message for the outage.
	require.Eventually(t, func() bool { return strings.Contains(p.log(), "msg=\"hubble relay stream failed") }, 10*time.Second, 100*time.Millisecond)
	time.Sleep(2 * time.Second)

	serveRelay(t, relayAddr, nil, metadataTheft())
	waitForAlert(t, am, "EgressToCloudMetadata", 90*time.Second)
	require.Equal(t, http.StatusOK, httpStatus("http://"+web+"/readyz"))
	require.Equal(t, 1, strings.Count(p.log(), "hubble relay stream failed, reconnecting"), "one clear message for the outage")
	require.Contains(t, p.log(), `msg="connected to hubble relay"`, "one INFO line on the first connection")
}

// TestMutualTLSRelay: the relay requires TLS 1.3 and a client certificate,
// served for *.hubble-relay.cilium.io as Cilium's relay is.
func TestMutualTLSRelay(t *testing.T) {
	am := amtest.Start(t)
	pki, err := testrelay.NewPKI(t.TempDir())
	require.NoError(t, err)
	tlsCfg, err := pki.ServerTLSConfig(true)
	require.NoError(t, err)
	relayAddr := loopback.FreeT(t)
	serveRelay(t, relayAddr, []testrelay.Option{testrelay.WithTLS(tlsCfg)}, metadataTheft())

	start(t, "run",
		"--hubble.address", relayAddr,
		"--hubble.tls.ca-file", pki.CAFile,
		"--hubble.tls.cert-file", pki.ClientCertFile,
		"--hubble.tls.key-file", pki.ClientKeyFile,
		"--hubble.tls.server-name", "ui.hubble-relay.cilium.io",
		"--alertmanager.url", am.URL.String(),
		"--web.listen-address", "",
	)
	waitForAlert(t, am, "EgressToCloudMetadata", 60*time.Second)
}

// TestPolicyReload: a broken policy edit during run is noticed without a
// signal, leaves the running policies in place, says what is wrong where and
// raises SentinelPolicyLoadFailed in a real Alertmanager; the fix resolves
// it. SIGHUP reloads too.
func TestPolicyReload(t *testing.T) {
	am := amtest.Start(t)
	dir := t.TempDir()
	require.NoError(t, policies.WriteTo(dir))
	relayAddr := loopback.FreeT(t)
	serveRelay(t, relayAddr, nil, benign())
	web := loopback.FreeT(t)
	p := start(t, "run", "--hubble.address", relayAddr, "--policies.dir", dir, "--web.listen-address", web,
		"--alertmanager.url", am.URL.String())
	require.Eventually(t, func() bool { return httpStatus("http://"+web+"/readyz") == http.StatusOK }, 30*time.Second, 100*time.Millisecond)
	require.Eventually(t, func() bool { return strings.Contains(p.log(), "watching policies for changes") }, 30*time.Second, 100*time.Millisecond)

	broken := filepath.Join(dir, "egress", "world_ports", "world_ports.rego")
	good, err := os.ReadFile(broken)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(broken, []byte("package sentinel.egress.world_ports\n\nviolation contains x if {\n"), 0o600))

	got := waitForAlert(t, am, "SentinelPolicyLoadFailed", 60*time.Second)
	require.Equal(t, models.LabelSet{"alertname": "SentinelPolicyLoadFailed", "severity": "warning"}, got.Labels)
	require.Contains(t, got.Annotations["description"], "egress/world_ports/world_ports.rego:4")
	require.Contains(t, got.Annotations["summary"], "failed to load; still running the")
	require.Contains(t, p.log(), "policy reload failed, keeping the running policies")
	require.Contains(t, p.log(), "egress/world_ports/world_ports.rego:")
	require.True(t, p.running())
	require.Contains(t, metrics(t, web), "hubble_sentinel_policy_last_reload_successful 0")

	require.NoError(t, os.WriteFile(broken, good, 0o600))
	require.Eventually(t, func() bool {
		alerts, err := am.Alerts(context.Background(), `alertname="SentinelPolicyLoadFailed"`)
		return err == nil && len(alerts) == 0
	}, 60*time.Second, 200*time.Millisecond, "the good set resolves SentinelPolicyLoadFailed")
	require.Contains(t, metrics(t, web), "hubble_sentinel_policy_last_reload_successful 1")
	require.Contains(t, metrics(t, web), `hubble_sentinel_policy_reloads_total{result="success"} 1`)

	require.NoError(t, p.cmd.Process.Signal(syscall.SIGHUP))
	require.Eventually(t, func() bool {
		return strings.Contains(metrics(t, web), `hubble_sentinel_policy_reloads_total{result="success"} 2`)
	}, 30*time.Second, 100*time.Millisecond)
	require.Contains(t, p.log(), "trigger=signal")
	require.True(t, p.running())
}

func metrics(t *testing.T, web string) string {
	t.Helper()
	resp, err := http.Get("http://" + web + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// crowd returns n flows from n distinct workloads, so that a baseline
// snapshot is large enough to take a while to write.
func crowd(n int) []*flowpb.Flow {
	out := make([]*flowpb.Flow, n)
	for i := range out {
		f := benign()
		f.Uuid = fmt.Sprintf("6c1d1e9e-2222-4a43-9d0e-%012d", i)
		f.Time = timestamppb.New(flowTime.Add(time.Duration(i) * time.Millisecond))
		f.Source = &flowpb.Endpoint{Identity: uint32(50000 + i), Namespace: "load", PodName: fmt.Sprintf("wl-%d-0", i),
			Labels: []string{fmt.Sprintf("k8s:app=wl-%d", i)}}
		out[i] = f
	}
	return out
}

// TestBaselineSurvivesKill9: hubble-sentinel snapshots its baselines every
// 20 ms while a relay streams; it is killed with SIGKILL at random moments,
// many of them during a write, and each time the snapshot on disk loads
// whole, and the restarted process restores it.
func TestBaselineSurvivesKill9(t *testing.T) {
	relayAddr := loopback.FreeT(t)
	serveRelay(t, relayAddr, nil, crowd(20000)...)
	path := filepath.Join(t.TempDir(), "baseline.snap")
	args := []string{"run", "--hubble.address", relayAddr, "--web.listen-address", "",
		"--baseline.path", path, "--baseline.snapshot-interval", "20ms", "--engine.workers", "1"}

	p := start(t, args...)
	require.Eventually(t, func() bool { _, err := os.Stat(path); return err == nil }, 30*time.Second, 20*time.Millisecond,
		"the first snapshot is written")
	midWrite := 0
	defer func() { t.Logf("%d of 8 kills landed while a snapshot was being written", midWrite) }()
	for i := range 8 {
		time.Sleep(time.Duration(5+i*7) * time.Millisecond)
		require.NoError(t, p.cmd.Process.Kill())
		<-p.done
		if tmp, _ := filepath.Glob(path + ".tmp-*"); len(tmp) > 0 {
			midWrite++
		}
		s, err := profile.NewStore(profile.Config{}, nil)
		require.NoError(t, err)
		n, err := s.LoadFile(path)
		require.NoError(t, err, "kill %d: the snapshot on disk is whole", i)
		require.Positive(t, n)
		corrupt, _ := filepath.Glob(path + ".corrupt-*")
		require.Empty(t, corrupt)
		p = start(t, args...)
		require.Eventually(t, func() bool { return strings.Contains(p.log(), "baselines restored") }, 10*time.Second, 10*time.Millisecond,
			"restart %d restores the baselines", i)
	}
}
