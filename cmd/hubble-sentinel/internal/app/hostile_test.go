package app

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestReplayFailsWhenAlertsAreNotDelivered: replay asked to send to an
// Alertmanager on a closed port exits with an error, not 0.
func TestReplayFailsWhenAlertsAreNotDelivered(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	path := writeShopCapture(t, 3000, time.Date(2021, 10, 4, 14, 0, 0, 0, time.UTC))
	o, _, _ := quietOptions()
	o.BaselineLearning = time.Nanosecond
	o.AlertmanagerURLs = []string{"http://" + addr}
	sum, err := Replay(context.Background(), o, []string{path})
	require.ErrorIs(t, err, ErrUndelivered)
	require.Positive(t, sum.Alerts)
}

// TestReplayLeaksNoSecret: secrets in path parameters, in URLs Go refuses
// and in a malformed line reach neither the alerts nor the log; the empty
// flow is counted as malformed.
func TestReplayLeaksNoSecret(t *testing.T) {
	flow := func(uuid, url string) string {
		return `{"flow":{"uuid":"` + uuid + `","time":"2026-03-14T09:00:00Z","verdict":"FORWARDED","Type":"L7","traffic_direction":"INGRESS",` +
			`"IP":{"source":"203.0.113.77","destination":"10.0.1.11","ipVersion":"IPv4"},"l4":{"TCP":{"source_port":51234,"destination_port":8080}},` +
			`"source":{"identity":2,"labels":["reserved:world"]},"destination":{"identity":30211,"namespace":"shop","pod_name":"frontend-7d9f8b6c5d-x2k9q",` +
			`"labels":["k8s:app=frontend"],"workloads":[{"name":"frontend","kind":"Deployment"}]},"l7":{"type":"REQUEST","http":{"method":"GET","url":"` + url + `"}}}}`
	}
	lines := []string{
		flow("a", "http://frontend:8080/actuator;jsessionid=SESSIONSECRET1/env"),
		flow("b", "http://admin:PASS/SECRET2@frontend:8080/actuator/env"),
		flow("c", "http://frontend:80a/actuator/env?token=QUERYSECRET3"),
		`{"flow":{"l7":{"http":{"code":"Bearer HEADERSECRET4"}}}}`,
		`{"flow":{}}`,
	}
	path := filepath.Join(t.TempDir(), "capture.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	o, stdout, stderr := quietOptions()
	o.BaselineLearning = time.Nanosecond
	sum, err := Replay(context.Background(), o, []string{path})
	require.NoError(t, err)
	require.Equal(t, 2, sum.Malformed)
	require.Equal(t, 3, sum.Flows)
	require.Contains(t, stdout.String(), "HTTPAdminEndpointAccess")
	for _, s := range []string{"SESSIONSECRET1", "PASS/SECRET2", "SECRET2", "QUERYSECRET3", "HEADERSECRET4"} {
		require.NotContains(t, stdout.String()+stderr.String(), s)
	}
}
