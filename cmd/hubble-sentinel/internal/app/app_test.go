package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	observerpb "github.com/cilium/cilium/api/v1/observer"
	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hubble-sentinel/hubble-sentinel/test/captures"
	"github.com/hubble-sentinel/hubble-sentinel/test/shopmesh"
)

// writeShopCapture writes n simulated flows, attacks included, as
// `hubble observe -o jsonpb` would, and returns the path.
func writeShopCapture(t *testing.T, n int, start time.Time) string {
	t.Helper()
	g := shopmesh.New(shopmesh.Config{Seed: 7, Start: start, Attacks: true})
	var b bytes.Buffer
	for range n {
		f := g.Next()
		line, err := protojson.Marshal(&observerpb.GetFlowsResponse{
			ResponseTypes: &observerpb.GetFlowsResponse_Flow{Flow: f},
			NodeName:      f.GetNodeName(), Time: f.GetTime(),
		})
		require.NoError(t, err)
		b.Write(line)
		b.WriteByte('\n')
	}
	path := filepath.Join(t.TempDir(), "shop.json")
	require.NoError(t, os.WriteFile(path, b.Bytes(), 0o600))
	return path
}

func quietOptions() (Options, *bytes.Buffer, *bytes.Buffer) {
	var stdout, stderr bytes.Buffer
	return Options{Logger: slog.New(slog.NewTextHandler(&stderr, nil)), Stdout: &stdout, Stderr: &stderr}, &stdout, &stderr
}

func decodeAlerts(t *testing.T, out *bytes.Buffer) []models.PostableAlert {
	t.Helper()
	var alerts []models.PostableAlert
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var a models.PostableAlert
		require.NoError(t, json.Unmarshal(sc.Bytes(), &a), sc.Text())
		require.NoError(t, a.Validate(nil), "a valid PostableAlert: %s", sc.Text())
		alerts = append(alerts, a)
	}
	return alerts
}

// TestReplayAttacks replays a capture with every simulated attack: each
// attack's policies alert once per source/destination, with the label
// schema, on the capture's clock.
func TestReplayAttacks(t *testing.T) {
	start := time.Date(2021, 10, 4, 14, 0, 0, 0, time.UTC)
	path := writeShopCapture(t, 3000, start)
	o, stdout, stderr := quietOptions()
	// Learnable policies (EgressToWorldUnexpectedPort) record while a
	// workload learns; learn nothing here, so every attack is judged.
	o.BaselineLearning = time.Nanosecond

	sum, err := Replay(context.Background(), o, []string{path})
	require.NoError(t, err)
	require.Equal(t, 3000, sum.Flows)
	require.Zero(t, sum.Malformed)
	require.NotContains(t, stdout.String(), "0001-01-01", "zero times are left out")
	alerts := decodeAlerts(t, stdout)
	require.Equal(t, sum.Alerts, len(alerts))
	require.Contains(t, stderr.String(), "replayed 3000 flows from 1 file(s)")

	fired := map[string]bool{}
	for _, a := range alerts {
		l := a.Labels
		fired[l["alertname"]] = true
		require.Contains(t, []string{"critical", "warning", "info"}, l["severity"])
		require.True(t, strings.HasPrefix(l["policy"], "sentinel."), l["policy"])
		require.NotEmpty(t, a.Annotations["summary"])
		require.NotEmpty(t, a.Annotations["description"])
		require.True(t, strings.HasPrefix(a.Annotations["hubble_observe"], "hubble observe "))
		st := time.Time(a.StartsAt)
		require.False(t, st.Before(start), "startsAt is a flow time")
		require.True(t, st.Before(start.Add(time.Hour)), "startsAt %s is on the capture's clock", st)
		require.True(t, time.Time(a.EndsAt).IsZero(), "replay leaves endsAt to Alertmanager")
		for k, v := range l {
			require.NotEmpty(t, v, "label %s is empty", k)
		}
		// An incident names its sides by workload (or pod without one),
		// or by the world's name or address; the pods and addresses that
		// vary are annotations, with the count.
		require.True(t, l["source_workload"] != "" || l["source_pod"] != "" || a.Annotations["source_ips"] != "", "%v", l)
		require.True(t, l["destination_workload"] != "" || l["destination_pod"] != "" || l["destination_ip"] != "" ||
			l["destination_fqdn"] != "" || a.Annotations["destination_ips"] != "", "%v", l)
		require.NotContains(t, l, "source_pod", "a workload's pods do not split its incident")
		require.NotEmpty(t, a.Annotations["count"])
		require.NotEmpty(t, a.Annotations["sample_flow"])
	}
	for _, at := range shopmesh.AllAttacks() {
		for _, id := range at.Policies() {
			require.True(t, fired[id], "attack %s should fire %s; fired %v", at, id, fired)
		}
	}
}

// TestReplayRealCapturesQuiet replays the real GKE captures: no error, no
// malformed line, no alert from the bundled policies.
func TestReplayRealCapturesQuiet(t *testing.T) {
	files := captures.Files(t)
	o, stdout, _ := quietOptions()
	sum, err := Replay(context.Background(), o, files)
	require.NoError(t, err)
	require.Equal(t, 1116, sum.Flows)
	require.Zero(t, sum.Malformed)
	require.Empty(t, decodeAlerts(t, stdout))
}

// TestRealCapturesQuietAfterLearningTheirFirstHalf: each real capture,
// replayed with a learning period of half its span, so that its second
// half is judged against baselines learned from its first, raises no
// alert, baseline policies included.
func TestRealCapturesQuietAfterLearningTheirFirstHalf(t *testing.T) {
	byFile := map[string][]time.Time{}
	for _, f := range captures.Flows(t) {
		byFile[f.File] = append(byFile[f.File], f.GetTime().AsTime())
	}
	for _, path := range captures.Files(t) {
		times := byFile[filepath.Base(path)]
		first, last := slices.MinFunc(times, time.Time.Compare), slices.MaxFunc(times, time.Time.Compare)
		t.Run(filepath.Base(path), func(t *testing.T) {
			o, stdout, stderr := quietOptions()
			o.BaselineLearning = max(last.Sub(first)/2, time.Millisecond)
			sum, err := Replay(context.Background(), o, []string{path})
			require.NoError(t, err, stderr.String())
			require.Equal(t, len(times), sum.Flows)
			for _, a := range decodeAlerts(t, stdout) {
				t.Errorf("%s: %s", a.Labels["alertname"], a.Annotations["summary"])
			}
		})
	}
}

func TestReplayMalformedLineKeepsGoing(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	good := writeShopCapture(t, 200, start)
	b, err := os.ReadFile(good)
	require.NoError(t, err)
	lines := strings.SplitAfter(string(b), "\n")
	bad := strings.Join(lines[:10], "") + "{\"flow\": {\"time\": 12}}\nnot json at all\n" + strings.Join(lines[10:], "")
	path := filepath.Join(t.TempDir(), "bad.json")
	require.NoError(t, os.WriteFile(path, []byte(bad), 0o600))

	o, _, stderr := quietOptions()
	sum, err := Replay(context.Background(), o, []string{path})
	require.NoError(t, err)
	require.Equal(t, 200, sum.Flows)
	require.Equal(t, 2, sum.Malformed)
	require.Contains(t, stderr.String(), "line=11")
	// The second is counted in the next log line, not logged on its own.
	require.Contains(t, stderr.String(), "skipped_unlogged=1")
	require.Contains(t, stderr.String(), "2 malformed line(s) skipped")
}

func TestReplayErrors(t *testing.T) {
	o, _, _ := quietOptions()
	_, err := Replay(context.Background(), o, nil)
	require.ErrorContains(t, err, "no capture files")

	_, err = Replay(context.Background(), o, []string{"/nonexistent/capture.json"})
	require.ErrorContains(t, err, "/nonexistent/capture.json")

	o.PoliciesDir = t.TempDir()
	_, err = Replay(context.Background(), o, []string{"-"})
	require.ErrorContains(t, err, "no detective policies found")

	broken := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(broken, "x", "y"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(broken, "x", "y", "y.rego"),
		[]byte("package sentinel.x.y\n\nviolation contains v if {\n\tv := input.\n}\n"), 0o600))
	o.PoliciesDir = broken
	_, err = Replay(context.Background(), o, []string{"-"})
	require.ErrorContains(t, err, "x/y/y.rego:5: rego_parse_error", "a broken policy is named with file and line")
}

func TestPolicyInputMasksSecrets(t *testing.T) {
	path := writeShopCapture(t, 2000, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	o, stdout, _ := quietOptions()
	require.NoError(t, PolicyInput(context.Background(), o, []string{path}))
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 1<<20)
	n, withAuth := 0, 0
	for sc.Scan() {
		var doc map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &doc))
		require.Contains(t, doc, "sentinel")
		require.Contains(t, doc, "time")
		if strings.Contains(sc.Text(), `"Authorization"`) || strings.Contains(sc.Text(), `"Cookie"`) {
			withAuth++
			require.NotContains(t, sc.Text(), "Bearer ey", "credentials are masked in fixtures")
			require.NotContains(t, sc.Text(), "shop_session-id=", "cookies are masked in fixtures")
			require.Contains(t, sc.Text(), "[REDACTED]")
		}
		n++
	}
	require.Equal(t, 2000, n)
	require.Positive(t, withAuth, "the simulated shop sends Authorization headers")
}
