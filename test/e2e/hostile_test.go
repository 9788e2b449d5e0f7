package e2e

// End-to-end tests of hostile input (issue 11): the flows an attacker
// shapes, through a relay on gRPC, the built binary and a real
// Alertmanager, and through replay.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	observerpb "github.com/cilium/cilium/api/v1/observer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/hubble-sentinel/hubble-sentinel/test/amtest"
	"github.com/hubble-sentinel/hubble-sentinel/test/loopback"
)

// probe is an HTTP request from the Internet to the shop's frontend, as
// Hubble reports it at the frontend's L7 proxy.
func probe(n int, at time.Time, rawURL string, headers ...*flowpb.HTTPHeader) *flowpb.Flow {
	return &flowpb.Flow{
		Time: timestamppb.New(at), Uuid: uuidN(5, n), Verdict: flowpb.Verdict_FORWARDED, Type: flowpb.FlowType_L7,
		IP:     &flowpb.IP{Source: "203.0.113.77", Destination: "10.0.1.11", IpVersion: flowpb.IPVersion_IPv4},
		L4:     &flowpb.Layer4{Protocol: &flowpb.Layer4_TCP{TCP: &flowpb.TCP{SourcePort: uint32(51000 + n), DestinationPort: 8080}}},
		Source: &flowpb.Endpoint{Identity: 2, Labels: []string{"reserved:world"}},
		Destination: &flowpb.Endpoint{ID: 905, Identity: 30211, Namespace: "shop", PodName: "frontend-7d9f8b6c5d-x2k9q",
			Labels: []string{"k8s:app=frontend", "k8s:io.kubernetes.pod.namespace=shop"}, Workloads: workload("shop", "frontend")},
		NodeName: "kind-worker", IsReply: wrapperspb.Bool(false), TrafficDirection: flowpb.TrafficDirection_INGRESS,
		EventType: &flowpb.CiliumEventType{Type: 129},
		L7: &flowpb.Layer7{Type: flowpb.L7FlowType_REQUEST, Record: &flowpb.Layer7_Http{Http: &flowpb.HTTP{
			Method: "GET", Protocol: "HTTP/1.1", Url: rawURL, Headers: headers,
		}}},
	}
}

// adminProbes are one admin-path probe written the ways Go's URL parser
// refuses or reads differently (issue 11's evasion variants), and with
// secrets where the redactor used to miss them: a path parameter and a
// password Go cannot parse.
var adminProbes = []string{
	"http://frontend.shop:8080/actuator/env",
	"http://frontend.shop:80a/actuator/env",
	"http://frontend shop:8080/actuator/env",
	"http://frontend.shop:8080/actuator/env%zz",
	"http://[fd00::1/actuator/env",
	"http://admin:PASS/SECRET2@frontend.shop:8080/actuator/env",
	"http://admin:pa55 w0rd-SECRET5@frontend.shop:8080/actuator/env",
	"http://frontend.shop:8080/actuator;jsessionid=SESSIONSECRET1/env",
	"http://frontend.shop:x/actuator/env?token=QUERYSECRET3&x=%zz",
}

var hostileSecrets = []string{"PASS/SECRET2", "SECRET2", "pa55 w0rd-SECRET5", "SECRET5", "SESSIONSECRET1", "QUERYSECRET3", "HEADERSECRET4"}

// hostileFlows are, in order: a flow at the zero time and one with no
// time at all, an empty flow and one with nothing but its identity, a
// 5 MB request (above gRPC's default 4 MiB message limit), a 20 MB one
// (above the default --hubble.max-flow-size, 16 MiB), the admin probes, a
// 6.4 MB SQL injection URL, and last a metadata theft, which alerts only
// if the stream went on past all of them.
func hostileFlows(at time.Time) (small, large []*flowpb.Flow) {
	zero := theftBy("batch", "zero-time", "zero-time-1", 900, time.Time{}) // 0001-01-01T00:00:00Z
	none := theftBy("batch", "no-time", "no-time-1", 901, at)
	none.Time = nil
	small = append(small, zero, none, &flowpb.Flow{}, &flowpb.Flow{Uuid: uuidN(5, 999), NodeName: "kind-worker"})
	for i, u := range adminProbes {
		small = append(small, probe(i, at.Add(time.Duration(i)*time.Millisecond), u))
	}
	blob := func(n, size int) *flowpb.Flow {
		return probe(n, at.Add(time.Duration(n)*time.Millisecond), "http://frontend.shop:8080/upload",
			&flowpb.HTTPHeader{Key: "X-Blob", Value: strings.Repeat("a", size)})
	}
	payload := "1%27+UNION+SELECT+username%2C+password+FROM+users--+"
	injection := "http://frontend.shop:8080/product?id=" + strings.Repeat(payload, 6400<<10/len(payload))
	large = []*flowpb.Flow{blob(100, 5<<20), blob(101, 20<<20), probe(102, at.Add(102*time.Millisecond), injection)}
	last := theftBy("shop", "catalog", "catalog-1", 902, at.Add(time.Second))
	return small, append(large, last)
}

// TestHostileFlowsThroughRun: flows without a time, empty flows, flows
// above gRPC's default message size and above the configured bound, URLs
// Go refuses, secrets where the redactor used to miss them and a 6.4 MB
// injection, on a real relay stream: nothing panics, the empty flows are
// counted as malformed and not judged, the 20 MB flow is skipped, counted
// and reported as a visibility gap, the stream goes on to the flows after
// them, every evasion variant is judged, and no secret reaches
// Alertmanager, the log or the spool. The small flows replayed from a
// capture (with a line whose decoding error would quote a credential) give
// the same verdicts and leak nothing either.
func TestHostileFlowsThroughRun(t *testing.T) {
	am := amtest.Start(t)
	at := time.Now().Add(-10 * time.Second).UTC().Truncate(time.Millisecond)
	small, large := hostileFlows(at)
	relayAddr := loopback.FreeT(t)
	serveRelay(t, relayAddr, nil, append(small, large...)...)
	web := loopback.FreeT(t)
	spool := filepath.Join(t.TempDir(), "spool")
	p := start(t, "run", "--hubble.address", relayAddr, "--web.listen-address", web, "--log.level", "debug",
		"--alertmanager.url", am.URL.String(), "--alertmanager.spool-path", spool, "--alerts.resend-interval", "1s")

	waitForAlert(t, am, "EgressToCloudMetadata", 90*time.Second)
	var byName map[string][]string // alertname -> source_workload or count
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		alerts, err := am.Alerts(context.Background())
		require.NoError(c, err)
		byName = map[string][]string{}
		for _, a := range alerts {
			n := a.Labels["alertname"]
			switch n {
			case "EgressToCloudMetadata":
				byName[n] = append(byName[n], a.Labels["source_workload"])
			case "HTTPAdminEndpointAccess":
				byName[n] = append(byName[n], a.Annotations["count"])
			case "SentinelVisibilityGap":
				byName[n] = append(byName[n], a.Labels["reason"])
			default:
				byName[n] = append(byName[n], "")
			}
		}
		assert.ElementsMatch(c, []string{"zero-time", "no-time", "catalog"}, byName["EgressToCloudMetadata"], "flows without a time are judged")
		assert.Equal(c, []string{fmt.Sprint(len(adminProbes))}, byName["HTTPAdminEndpointAccess"], "one incident, every variant counted")
		assert.Contains(c, byName, "HTTPSQLInjectionAttempt", "the 6.4 MB injection is judged")
		assert.Contains(c, byName, "HTTPOversizedRequest")
		assert.Equal(c, []string{"oversized_flow"}, byName["SentinelVisibilityGap"])
	}, 60*time.Second, 250*time.Millisecond)
	t.Logf("firing: %v", byName)

	judged := len(small) - 2 + len(large) - 1 // not the two empty flows nor the 20 MB one
	require.Equal(t, float64(judged), sentinelSeries(t, web, "hubble_sentinel_engine_flows_processed_total"))
	require.Equal(t, 2.0, sentinelSeries(t, web, "hubble_sentinel_hubble_malformed_flows_skipped_total"))
	require.Equal(t, 1.0, sentinelSeries(t, web, "hubble_sentinel_hubble_oversized_flows_skipped_total"))
	require.Equal(t, 200, httpStatus("http://"+web+"/readyz"))
	require.True(t, p.running())
	require.NotContains(t, p.log(), "panic")
	require.Equal(t, 1, strings.Count(p.log(), "kind=oversized"), "the skipped flow is logged once")

	received, err := json.Marshal(am.Received())
	require.NoError(t, err)
	alerts, err := am.Alerts(context.Background())
	require.NoError(t, err)
	api, err := json.Marshal(alerts)
	require.NoError(t, err)
	outputs := map[string]string{"what Alertmanager received": string(received), "Alertmanager's API": string(api), "the log": p.log()}
	files, err := filepath.Glob(filepath.Join(spool, "*"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		outputs[f] = string(b)
	}

	// The same small flows as a capture, with a line whose field of the
	// wrong type holds a credential.
	var capture bytes.Buffer
	for _, f := range small {
		line, err := protojson.Marshal(&observerpb.GetFlowsResponse{ResponseTypes: &observerpb.GetFlowsResponse_Flow{Flow: f}})
		require.NoError(t, err)
		capture.Write(append(line, '\n'))
	}
	capture.WriteString(`{"flow":{"l7":{"http":{"code":"Bearer HEADERSECRET4"}}}}` + "\n")
	path := filepath.Join(t.TempDir(), "capture.json")
	require.NoError(t, os.WriteFile(path, capture.Bytes(), 0o600))
	cmd := exec.Command(binary(t), "replay", "--log.level", "debug", path)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), stderr.String())
	require.Contains(t, stdout.String(), `"HTTPAdminEndpointAccess"`)
	require.Contains(t, stdout.String(), `"count":"`+fmt.Sprint(len(adminProbes))+`"`)
	require.Contains(t, stdout.String(), `"source_workload":"zero-time"`, "replay judges a flow at the zero time")
	require.Contains(t, stderr.String(), "3 malformed line(s) skipped")
	outputs["replay's output"], outputs["replay's log"] = stdout.String(), stderr.String()

	for where, text := range outputs {
		for _, s := range hostileSecrets {
			require.NotContains(t, text, s, "%s leaks a secret", where)
		}
	}
}
