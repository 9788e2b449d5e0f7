package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/cmd/hubble-sentinel/internal/app"
	"github.com/hubble-sentinel/hubble-sentinel/test/shopmesh"
)

// captureFlows is how long the capture is: about a minute and a half of
// the simulated shop, long enough for every periodic job (probes, scrapes,
// health checks, watches) to run several times and for the rare scenes (a
// certificate renewal, a failed checkout, an overloaded cart) to occur.
// It runs the whole replay path, which costs about a millisecond a flow.
const captureFlows = 20000

// TestLongBenignCaptureRaisesNoAlert replays a long capture of the
// simulated shop's ordinary traffic through the bundled policies: a
// detective policy that alerts on it would page someone for nothing.
func TestLongBenignCaptureRaisesNoAlert(t *testing.T) {
	if testing.Short() {
		t.Skip("replays a long capture")
	}
	path := filepath.Join(t.TempDir(), "benign.json")
	file, err := os.Create(path)
	require.NoError(t, err)
	cfg := shopmesh.Config{Seed: 1, Start: time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)}
	require.NoError(t, shopmesh.WriteCapture(file, cfg, captureFlows))
	require.NoError(t, file.Close())

	var stdout, stderr bytes.Buffer
	o := app.Options{Logger: slog.New(slog.NewTextHandler(&stderr, nil)), Stdout: &stdout, Stderr: &stderr}
	sum, err := app.Replay(context.Background(), o, []string{path})
	require.NoError(t, err, stderr.String())
	require.Equal(t, captureFlows, sum.Flows)
	require.Zero(t, sum.Malformed)

	sc := bufio.NewScanner(&stdout)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var a models.PostableAlert
		require.NoError(t, json.Unmarshal(sc.Bytes(), &a))
		t.Errorf("%s alerted on benign traffic: %s %v", a.Labels["alertname"], a.Annotations["summary"], a.Labels)
	}
	require.NoError(t, sc.Err())
}
