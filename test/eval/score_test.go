package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/test/shopmesh"
)

var t0 = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// alertLine is one line of replay output.
func alertLine(name string, startsAt time.Time, kv ...string) string {
	var labels []string
	labels = append(labels, fmt.Sprintf("%q:%q", "alertname", name))
	for i := 0; i+1 < len(kv); i += 2 {
		labels = append(labels, fmt.Sprintf("%q:%q", kv[i], kv[i+1]))
	}
	return fmt.Sprintf(`{"annotations":{"summary":"%s fired"},"labels":{%s},"startsAt":%q}`,
		name, strings.Join(labels, ","), startsAt.Format(time.RFC3339Nano))
}

func alert(name string, startsAt time.Time, kv ...string) Alert {
	a, err := ParseAlerts(strings.NewReader(alertLine(name, startsAt, kv...)))
	if err != nil || len(a) != 1 {
		panic(fmt.Sprint(a, err))
	}
	return a[0]
}

func TestParseAlerts(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     int
		err      string
	}{
		{"replay output", alertLine("A", at(time.Minute), "source_workload", "x") + "\n" + alertLine("B", at(2*time.Minute)) + "\n", 2, ""},
		{"blank lines and no final newline", "\n" + alertLine("A", at(0)) + "\n\n" + alertLine("B", at(time.Second)), 2, ""},
		{"nothing", "", 0, ""},
		{"with endsAt", `{"labels":{"alertname":"A"},"annotations":{},"startsAt":"2026-03-14T09:00:00Z","endsAt":"2026-03-14T09:05:00Z"}`, 1, ""},
		{"not JSON", alertLine("A", at(0)) + "\nreplayed 3 flows\n", 1, "alert line 2"},
		{"no alertname", `{"labels":{"severity":"warning"},"startsAt":"2026-03-14T09:00:00Z"}`, 0, "no alertname"},
		{"no startsAt", `{"labels":{"alertname":"A"}}`, 0, "no alertname or startsAt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alerts, err := ParseAlerts(strings.NewReader(tc.in))
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
			} else {
				require.NoError(t, err)
			}
			require.Len(t, alerts, tc.want)
		})
	}
	a := alert("BaselineNewPeer", at(90*time.Second+123*time.Millisecond), "source_namespace", "shop")
	require.Equal(t, "BaselineNewPeer", a.Labels["alertname"])
	require.Equal(t, "BaselineNewPeer fired", a.Annotations["summary"])
	require.True(t, a.StartsAt.Equal(at(90*time.Second+123*time.Millisecond)))
	require.True(t, a.EndsAt.IsZero())
}

func TestMatches(t *testing.T) {
	scanner := map[string]string{"source_namespace": "shop", "source_workload": "currency"}
	edge := map[string]string{"source_namespace": "shop", "source_workload": "checkout", "destination_namespace": "shop", "destination_workload": "shipping"}
	world := map[string]string{"source_namespace": "shop", "source_workload": "ad", "destination_ip": "203.0.113.200"}
	for _, tc := range []struct {
		name  string
		actor map[string]string
		alert Alert
		want  bool
	}{
		{"all labels, more on the alert", scanner, alert("A", t0, "source_namespace", "shop", "source_workload", "currency", "source_pod", "currency-1", "destination_ip", "10.0.1.2"), true},
		{"another workload", scanner, alert("A", t0, "source_namespace", "shop", "source_workload", "cart"), false},
		{"another namespace", scanner, alert("A", t0, "source_namespace", "shop-data", "source_workload", "currency"), false},
		{"a label missing", edge, alert("A", t0, "source_namespace", "shop", "source_workload", "checkout", "destination_namespace", "shop"), false},
		{"request direction", edge, alert("A", t0, "source_namespace", "shop", "source_workload", "checkout", "destination_namespace", "shop", "destination_workload", "shipping"), true},
		{"response direction", edge, alert("A", t0, "source_namespace", "shop", "source_workload", "shipping", "destination_namespace", "shop", "destination_workload", "checkout"), true},
		{"mixed sides match neither way", edge, alert("A", t0, "source_namespace", "shop", "source_workload", "checkout", "destination_namespace", "shop", "destination_workload", "checkout"), false},
		{"the server as client is the swap", scanner, alert("A", t0, "destination_namespace", "shop", "destination_workload", "currency", "source_ip", "192.0.2.1"), true},
		{"world by address", world, alert("A", t0, "source_namespace", "shop", "source_workload", "ad", "destination_ip", "203.0.113.200", "destination_port", "443"), true},
		{"world, another address", world, alert("A", t0, "source_namespace", "shop", "source_workload", "ad", "destination_ip", "198.51.100.110"), false},
		{"an address moved to the annotations", world, Alert{
			Labels:      map[string]string{"alertname": "A", "source_namespace": "shop", "source_workload": "ad"},
			Annotations: map[string]string{"destination_ip": "203.0.113.200"},
		}, true},
		{"an address among the values an annotation lists", world, Alert{
			Labels:      map[string]string{"alertname": "A", "source_namespace": "shop", "source_workload": "ad"},
			Annotations: map[string]string{"destination_ips": "198.51.100.1, 203.0.113.200, … (7 in all)"},
		}, true},
		{"an address not among them", world, Alert{
			Labels:      map[string]string{"alertname": "A", "source_namespace": "shop", "source_workload": "ad"},
			Annotations: map[string]string{"destination_ips": "198.51.100.1, 203.0.113.201, … (7 in all)"},
		}, false},
		{"a label wins over an annotation", world, Alert{
			Labels:      map[string]string{"alertname": "A", "source_namespace": "shop", "source_workload": "ad", "destination_ip": "198.51.100.1"},
			Annotations: map[string]string{"destination_ip": "203.0.113.200"},
		}, false},
		{"an empty actor matches nothing", map[string]string{}, alert("A", t0, "source_workload", "ad"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, Matches(tc.actor, tc.alert))
		})
	}
}

var testIncidents = []shopmesh.Incident{
	{
		Name: "scan", Start: at(41 * time.Minute), End: at(43 * time.Minute),
		Actor:  map[string]string{"source_namespace": "shop", "source_workload": "currency"},
		Expect: []string{"BaselinePortScan"},
	},
	{
		Name: "latency", Start: at(44 * time.Minute), End: at(47 * time.Minute),
		Actor:  map[string]string{"source_namespace": "shop", "source_workload": "checkout", "destination_namespace": "shop", "destination_workload": "shipping"},
		Expect: []string{"BaselineLatencySpike"},
	},
	{
		Name: "exfil", Start: at(50 * time.Minute), End: at(52 * time.Minute),
		Actor:  map[string]string{"source_namespace": "shop", "source_workload": "ad", "destination_ip": "203.0.113.200"},
		Expect: []string{"BaselineNewExternalAddress"},
	},
}

func TestScore(t *testing.T) {
	scan := []string{"source_namespace", "shop", "source_workload", "currency"}
	latencyResponse := []string{"source_namespace", "shop", "source_workload", "shipping", "destination_namespace", "shop", "destination_workload", "checkout"}
	alerts := []Alert{
		// scan: a new peer first, then the scan; one just inside the grace
		// period, one just after it.
		alert("BaselineNewPeer", at(41*time.Minute+2*time.Second), append(scan, "destination_namespace", "shop-data", "destination_workload", "postgres")...),
		alert("BaselinePortScan", at(41*time.Minute+9*time.Second), scan...),
		alert("BaselinePortScan", at(45*time.Minute), scan...),
		alert("BaselinePortScan", at(45*time.Minute+time.Millisecond), scan...),
		// before its window: a false positive
		alert("BaselinePortScan", at(40*time.Minute+59*time.Second), scan...),
		// latency, on the response
		alert("BaselineLatencySpike", at(44*time.Minute+31*time.Second), latencyResponse...),
		// exfil: nothing on the right address
		alert("BaselineNewExternalAddress", at(50*time.Minute+time.Second), "source_namespace", "shop", "source_workload", "ad", "destination_ip", "198.51.100.7"),
		// false positives while learning and after, grouped
		alert("EgressToWorldUnexpectedPort", at(3*time.Minute), "source_namespace", "shop", "source_workload", "mail-relay", "source_pod", "mail-relay-1", "destination_ip", "198.51.100.62"),
		alert("EgressToWorldUnexpectedPort", at(48*time.Minute), "source_namespace", "shop", "source_workload", "mail-relay", "source_pod", "mail-relay-2", "destination_ip", "198.51.100.63"),
		alert("BaselineLatencySpike", at(42*time.Minute), "source_namespace", "shop", "source_workload", "cart", "destination_namespace", "shop", "destination_workload", "frontend"),
		alert("BaselineLatencySpike", at(60*time.Minute), "source_namespace", "shop", "source_workload", "frontend", "destination_ip", "192.0.2.7"),
		// hubble-sentinel's own: set aside
		alert("SentinelAlertsThrottled", at(41*time.Minute+30*time.Second), "policy", "sentinel.baseline.port_scan"),
	}
	r := Score(testIncidents, alerts, t0, at(40*time.Minute), 2*time.Minute)
	require.Equal(t, len(alerts), r.Alerts)
	require.Len(t, r.Results, 3)

	scanRes := r.Results[0]
	require.True(t, scanRes.Detected)
	require.Equal(t, 2*time.Second, scanRes.Delay, "from the start to the first matching alert")
	require.Equal(t, 3, scanRes.Alerts)
	require.Equal(t, map[string]int{"BaselineNewPeer": 1, "BaselinePortScan": 2}, scanRes.Alertnames)
	require.True(t, scanRes.Expected())

	lat := r.Results[1]
	require.True(t, lat.Detected)
	require.Equal(t, 31*time.Second, lat.Delay)
	require.Equal(t, 1, lat.Alerts)

	exfil := r.Results[2]
	require.False(t, exfil.Detected)
	require.Zero(t, exfil.Alerts)
	require.False(t, exfil.Expected())

	require.Equal(t, 2, r.Detected())
	d, ok := r.MedianDelay()
	require.True(t, ok)
	require.Equal(t, (2*time.Second+31*time.Second)/2, d, "the mean of the middle two of an even count")

	type group struct {
		name, src, dst          string
		alerts, learning, after int
	}
	var got []group
	for _, g := range r.FalsePositives {
		got = append(got, group{g.Alertname, g.Source, g.Destination, g.Alerts, g.Learning, g.Judging})
	}
	require.Equal(t, []group{
		{"BaselineLatencySpike", "shop/cart", "shop/frontend", 1, 0, 1},
		{"BaselineLatencySpike", "shop/frontend", "-", 1, 0, 1},
		{"BaselineNewExternalAddress", "shop/ad", "-", 1, 0, 1},
		{"BaselinePortScan", "shop/currency", "-", 2, 0, 2},
		{"EgressToWorldUnexpectedPort", "shop/mail-relay", "-", 2, 1, 1},
	}, got)
	all, learning, judging := r.FPGroups()
	require.Equal(t, []int{5, 1, 5}, []int{all, learning, judging})
	require.Equal(t, at(40*time.Minute+59*time.Second), r.FalsePositives[3].First, "the earliest alert of the group")

	require.Len(t, r.Own, 1)
	require.Equal(t, "detected 2/3, median delay 16.5s, FP groups 5 (1 during learning, 5 after)", r.Summary())
	require.Equal(t, []string{"missed exfil", "5 false-positive groups > 2"}, r.Failures(targets))
	require.Equal(t, []string{"missed exfil", "median delay 16.5s > 10s"}, r.Failures(Targets{MaxMedianDelay: 10 * time.Second, MaxFPGroups: 5}))

	var out bytes.Buffer
	require.NoError(t, r.Print(&out))
	for _, want := range []string{
		"scan ", "41:00-43:00", "detected  2s", "BaselinePortScan×2 BaselineNewPeer×1",
		"exfil ", "MISSED", "no BaselineNewExternalAddress",
		"EgressToWorldUnexpectedPort", "shop/mail-relay", "03:00 EgressToWorldUnexpectedPort fired",
		"learning ends at 40:00",
		"OWN ALERTS (not scored)", "41:30 SentinelAlertsThrottled sentinel.baseline.port_scan: SentinelAlertsThrottled fired",
		"12 alerts; detected 2/3, median delay 16.5s, FP groups 5 (1 during learning, 5 after)",
	} {
		require.Contains(t, out.String(), want)
	}
}

func TestScoreEdgeCases(t *testing.T) {
	t.Run("no alerts", func(t *testing.T) {
		r := Score(testIncidents, nil, t0, at(40*time.Minute), 2*time.Minute)
		require.Zero(t, r.Detected())
		_, ok := r.MedianDelay()
		require.False(t, ok)
		require.Equal(t, "detected 0/3, median delay n/a, FP groups 0 (0 during learning, 0 after)", r.Summary())
		require.Len(t, r.Failures(targets), 3)
		var out bytes.Buffer
		require.NoError(t, r.Print(&out))
		require.Contains(t, out.String(), "(none)")
	})
	t.Run("window bounds are inclusive", func(t *testing.T) {
		in := testIncidents[:1]
		kv := []string{"source_namespace", "shop", "source_workload", "currency"}
		for _, tc := range []struct {
			at   time.Duration
			want bool
		}{
			{41 * time.Minute, true},
			{41*time.Minute - time.Nanosecond, false},
			{45 * time.Minute, true},
			{45*time.Minute + time.Nanosecond, false},
		} {
			r := Score(in, []Alert{alert("X", at(tc.at), kv...)}, t0, at(40*time.Minute), 2*time.Minute)
			require.Equal(t, tc.want, r.Results[0].Detected, "alert at %s", tc.at)
			require.Equal(t, !tc.want, len(r.FalsePositives) == 1)
		}
	})
	t.Run("an alert on two incidents' actors counts for both", func(t *testing.T) {
		in := []shopmesh.Incident{
			{Name: "a", Start: at(41 * time.Minute), End: at(43 * time.Minute), Actor: map[string]string{"source_workload": "frontend"}},
			{Name: "b", Start: at(44 * time.Minute), End: at(46 * time.Minute), Actor: map[string]string{"destination_workload": "accounts"}},
		}
		r := Score(in, []Alert{alert("X", at(44*time.Minute+30*time.Second), "source_workload", "frontend", "destination_workload", "accounts")}, t0, at(40*time.Minute), 2*time.Minute)
		require.Equal(t, 2, r.Detected())
		require.Empty(t, r.FalsePositives)
		require.Equal(t, 3*time.Minute+30*time.Second, r.Results[0].Delay)
		require.Equal(t, 30*time.Second, r.Results[1].Delay)
	})
	t.Run("odd median", func(t *testing.T) {
		var alerts []Alert
		for i, in := range testIncidents {
			alerts = append(alerts, Alert{Labels: map[string]string{"alertname": "X"}, StartsAt: in.Start.Add(time.Duration(i+1) * 10 * time.Second)})
			for k, v := range in.Actor {
				alerts[i].Labels[k] = v
			}
		}
		r := Score(testIncidents, alerts, t0, at(40*time.Minute), 2*time.Minute)
		require.Equal(t, 3, r.Detected())
		d, _ := r.MedianDelay()
		require.Equal(t, 20*time.Second, d)
		require.Empty(t, r.Failures(targets))
	})
}

// fakeBinary writes a script standing in for hubble-sentinel that checks
// its arguments and prints body's output.
func fakeBinary(t *testing.T, body string) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("a shell script stands in for the binary")
	}
	path := filepath.Join(t.TempDir(), "hubble-sentinel")
	script := "#!/bin/sh\n" +
		`[ "$1" = replay ] && [ "$2" = --baseline.learning-period ] && [ "$3" = 40m0s ] || { echo "bad arguments: $*" >&2; exit 3; }` + "\n" +
		body + "\n"
	require.NoError(t, os.WriteFile(path, []byte(script), 0o755))
	return path
}

func TestReplay(t *testing.T) {
	capture := filepath.Join(t.TempDir(), "capture.jsonl")
	require.NoError(t, os.WriteFile(capture, []byte("{}\n"), 0o644))
	line := alertLine("BaselineNewPeer", at(41*time.Minute), "source_workload", "recommendation")

	t.Run("alerts on stdout, the summary line kept", func(t *testing.T) {
		bin := fakeBinary(t, fmt.Sprintf("echo 'level=INFO msg=\"policies loaded\"' >&2\necho '%s'\necho 'replayed 1 flows from 1 file(s) in 1ms: 1 alert(s)' >&2", line))
		var log bytes.Buffer
		out, err := replay(context.Background(), bin, capture, false, &log)
		require.NoError(t, err)
		alerts, err := ParseAlerts(bytes.NewReader(out))
		require.NoError(t, err)
		require.Len(t, alerts, 1)
		require.Equal(t, "replayed 1 flows from 1 file(s) in 1ms: 1 alert(s)\n", log.String())
	})
	t.Run("verbose passes the log on", func(t *testing.T) {
		bin := fakeBinary(t, "echo 'level=INFO msg=hello' >&2")
		var log bytes.Buffer
		_, err := replay(context.Background(), bin, capture, true, &log)
		require.NoError(t, err)
		require.Contains(t, log.String(), "msg=hello")
	})
	t.Run("a failing replay is an error, with its log", func(t *testing.T) {
		bin := fakeBinary(t, "echo 'flag provided but not defined: -baseline.learning-period' >&2\nexit 2")
		var log bytes.Buffer
		_, err := replay(context.Background(), bin, capture, false, &log)
		require.ErrorContains(t, err, "exit status 2")
		require.Contains(t, log.String(), "flag provided but not defined")
	})
}

func TestRunReportsHarnessErrors(t *testing.T) {
	var stdout, stderr bytes.Buffer
	require.Equal(t, 2, run(context.Background(), []string{"-bin", filepath.Join(t.TempDir(), "missing")}, &stdout, &stderr))
	require.Contains(t, stderr.String(), "-bin")
	stderr.Reset()
	require.Equal(t, 2, run(context.Background(), []string{"-start", "yesterday"}, &stdout, &stderr))
	require.Contains(t, stderr.String(), "-start")
	require.Equal(t, 2, run(context.Background(), []string{"-no-such-flag"}, &stdout, &stderr))
	require.Equal(t, 0, run(context.Background(), []string{"-h"}, &stdout, &stderr))
	require.Empty(t, stdout.String())
}
