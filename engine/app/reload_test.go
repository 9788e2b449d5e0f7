package app

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/engine/policy"
	"github.com/hubble-sentinel/hubble-sentinel/policies"
	"github.com/hubble-sentinel/hubble-sentinel/test/logtest"
)

func TestReloaderKeepsTheRunningSetOnFailure(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, policies.WriteTo(dir))
	var logs logtest.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	initial, err := LoadPolicies(context.Background(), dir, logger)
	require.NoError(t, err)

	var mu sync.Mutex
	current := initial
	signals := make(chan struct{})
	r := NewReloader(signals, func(ctx context.Context) (*policy.Set, error) {
		return LoadPolicies(ctx, dir, logger)
	}, func(s *policy.Set) {
		mu.Lock()
		defer mu.Unlock()
		current = s
	}, logger, prometheus.NewRegistry())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	broken := filepath.Join(dir, "http", "admin_paths", "admin_paths.rego")
	require.NoError(t, os.WriteFile(broken, []byte("package sentinel.http.admin_paths\n\nviolation contains x if {\n"), 0o600))
	signals <- struct{}{}
	require.Eventually(t, func() bool { return testutil.ToFloat64(r.reloads.WithLabelValues("failure")) == 1 }, 10*time.Second, 10*time.Millisecond)
	require.Contains(t, logs.String(), "policy reload failed, keeping the running policies")
	require.Contains(t, logs.String(), "http/admin_paths/admin_paths.rego:")
	require.Equal(t, 0.0, testutil.ToFloat64(r.ok))
	mu.Lock()
	require.Same(t, initial, current, "the running set stays")
	mu.Unlock()

	require.NoError(t, os.Remove(broken))
	signals <- struct{}{}
	require.Eventually(t, func() bool { return testutil.ToFloat64(r.reloads.WithLabelValues("success")) == 1 }, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, 1.0, testutil.ToFloat64(r.ok))
	mu.Lock()
	require.NotSame(t, initial, current)
	require.Len(t, current.Policies(), len(initial.Policies())-1, "the removed policy is gone")
	mu.Unlock()

	cancel()
	require.NoError(t, <-done)
}
