package app

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/engine/alert"
	"github.com/hubble-sentinel/hubble-sentinel/engine/policy"
	"github.com/hubble-sentinel/hubble-sentinel/policies"
	"github.com/hubble-sentinel/hubble-sentinel/test/logtest"
)

// sent records what the aggregator hands to Alertmanager.
type sent struct {
	mu     sync.Mutex
	alerts []alert.Alert
}

func (s *sent) Send(as ...alert.Alert) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.alerts = append(s.alerts, as...)
}

func (s *sent) last() (alert.Alert, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.alerts) == 0 {
		return alert.Alert{}, false
	}
	return s.alerts[len(s.alerts)-1], true
}

// A broken edit to a watched directory, then an edit whose Rego tests fail,
// keep the running set and raise SentinelPolicyLoadFailed naming file and
// line; the fix swaps the new set in and resolves the alert. No signal is
// sent: the watcher notices the files change.
func TestReloaderOnFileChanges(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, policies.WriteTo(dir))
	var logs logtest.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	initial, err := LoadPolicies(context.Background(), dir, PolicyLimits{}, logger)
	require.NoError(t, err)

	var mu sync.Mutex
	current := initial
	out := &sent{}
	agg := alert.NewAggregator(alert.DefaultAggregatorConfig, out, logger, prometheus.NewRegistry())
	w := NewWatcher(dir, logger)
	w.Debounce = 50 * time.Millisecond
	r := NewReloader(dir, len(initial.Policies()), func(ctx context.Context) (*policy.Set, error) {
		return LoadPolicies(ctx, dir, PolicyLimits{}, logger)
	}, func(s *policy.Set) {
		mu.Lock()
		defer mu.Unlock()
		current = s
	}, logger, prometheus.NewRegistry())
	r.Changes, r.Alerts = w.Changes(), agg
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- w.Run(ctx) }()
	go func() { done <- r.Run(ctx) }()
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "watching policies for changes") }, 5*time.Second, 10*time.Millisecond)

	failures := func() float64 { return testutil.ToFloat64(r.reloads.WithLabelValues("failure")) }
	policyFile := filepath.Join(dir, "http", "admin_paths", "admin_paths.rego")
	good, err := os.ReadFile(policyFile)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(policyFile, []byte("package sentinel.http.admin_paths\n\nviolation contains x if {\n"), 0o600))
	require.Eventually(t, func() bool { return failures() == 1 }, 60*time.Second, 10*time.Millisecond)
	require.Contains(t, logs.String(), "policy reload failed, keeping the running policies")
	require.Contains(t, logs.String(), "http/admin_paths/admin_paths.rego:")
	require.Equal(t, 0.0, testutil.ToFloat64(r.ok))
	a, ok := out.last()
	require.True(t, ok)
	require.Equal(t, map[string]string{"alertname": "SentinelPolicyLoadFailed", "severity": "warning"}, a.Labels)
	require.Contains(t, a.Annotations["description"], "http/admin_paths/admin_paths.rego:4")
	require.Contains(t, a.Annotations["summary"], "still running the "+itoa(len(initial.Policies()))+" policies loaded at")
	require.False(t, a.Resolved(time.Now()))
	mu.Lock()
	require.Same(t, initial, current, "the running set stays")
	mu.Unlock()

	// Valid Rego whose tests fail is refused too, before it replaces anything.
	require.NoError(t, os.WriteFile(policyFile, []byte(strings.Replace(string(good), `input.l7.type == "REQUEST"`, `input.l7.type == "RESPONSE"`, 1)), 0o600))
	require.Eventually(t, func() bool { return failures() == 2 }, 60*time.Second, 10*time.Millisecond)
	a, _ = out.last()
	require.Contains(t, a.Annotations["description"], "policy tests failed")
	require.Contains(t, a.Annotations["description"], "http/admin_paths/admin_paths_test.rego:")
	require.Len(t, agg.Active(), 1, "one condition, its description updated")
	mu.Lock()
	require.Same(t, initial, current)
	mu.Unlock()

	// Editor swap files alone do not reload.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "http", ".admin_paths.rego.swp"), []byte("x"), 0o600))
	time.Sleep(200 * time.Millisecond)
	require.Equal(t, 2.0, failures())

	require.NoError(t, os.WriteFile(policyFile, good, 0o600))
	require.Eventually(t, func() bool { return testutil.ToFloat64(r.reloads.WithLabelValues("success")) == 1 }, 60*time.Second, 10*time.Millisecond)
	require.Equal(t, 1.0, testutil.ToFloat64(r.ok))
	a, _ = out.last()
	require.True(t, a.Resolved(time.Now()), "the good set resolves the alert")
	require.Empty(t, agg.Active())
	mu.Lock()
	require.NotSame(t, initial, current)
	require.Len(t, current.Policies(), len(initial.Policies()))
	mu.Unlock()

	cancel()
	require.NoError(t, <-done)
	require.NoError(t, <-done)
}

// A signal reloads too; a new policy in a new directory is picked up.
func TestReloaderOnSignalAndNewDirectory(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, policies.WriteTo(dir))
	logger := slog.New(slog.DiscardHandler)
	initial, err := LoadPolicies(context.Background(), dir, PolicyLimits{}, logger)
	require.NoError(t, err)
	applied := make(chan *policy.Set, 4)
	signals := make(chan struct{}, 1)
	w := NewWatcher(dir, logger)
	w.Debounce = 50 * time.Millisecond
	r := NewReloader(dir, len(initial.Policies()), func(ctx context.Context) (*policy.Set, error) {
		return LoadPolicies(ctx, dir, PolicyLimits{}, logger)
	}, func(s *policy.Set) { applied <- s }, logger, prometheus.NewRegistry())
	r.Signals, r.Changes = signals, w.Changes()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = w.Run(ctx) }()
	go func() { _ = r.Run(ctx) }()

	signals <- struct{}{}
	select {
	case s := <-applied:
		require.Len(t, s.Policies(), len(initial.Policies()))
	case <-time.After(60 * time.Second):
		t.Fatal("no reload on signal")
	}

	time.Sleep(100 * time.Millisecond) // let the watcher start
	newDir := filepath.Join(dir, "custom", "telnet")
	require.NoError(t, os.MkdirAll(newDir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(newDir, "telnet.rego"), []byte(`# METADATA
# title: Telnet
# description: Telnet is plaintext.
# custom:
#   id: CustomTelnet
#   severity: info
package sentinel.custom.telnet

import data.sentinel.lib

violation contains lib.violation(rego.metadata.chain(), "telnet") if input.sentinel.destination_port == 23
`), 0o600))
	require.Eventually(t, func() bool {
		select {
		case s := <-applied:
			return len(s.Policies()) == len(initial.Policies())+1
		default:
			return false
		}
	}, 60*time.Second, 20*time.Millisecond, "the policy in the new directory is loaded")
}

func itoa(n int) string { return strconv.Itoa(n) }

// A directory that cannot be watched is reported once and does not stop the
// daemon: Run returns only when ctx ends.
func TestWatcherCannotWatch(t *testing.T) {
	var logs logtest.Buffer
	w := NewWatcher(filepath.Join(t.TempDir(), "missing"), slog.New(slog.NewTextHandler(&logs, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	require.Eventually(t, func() bool {
		return strings.Contains(logs.String(), "cannot watch the policy directory; reload with SIGHUP")
	}, 10*time.Second, 10*time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Run returned before ctx ended: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	cancel()
	require.NoError(t, <-done)
}

// A directory reached through a symbolic link that is swapped to a new
// target, as git-sync's --link is on every sync, is watched across swaps:
// the swap is a change, and so is an edit in the new target.
func TestWatcherFollowsSwappedLink(t *testing.T) {
	root := t.TempDir()
	mkTree := func(name string) string {
		dir := filepath.Join(root, ".worktrees", name, "policies")
		require.NoError(t, os.MkdirAll(dir, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "p.rego"), []byte("package p\n"), 0o600))
		return dir
	}
	swap := func(name string) {
		tmp := filepath.Join(root, "tmp-link")
		require.NoError(t, os.Symlink(filepath.Join(".worktrees", name), tmp))
		require.NoError(t, os.Rename(tmp, filepath.Join(root, "current")))
	}
	mkTree("a")
	require.NoError(t, os.Symlink(filepath.Join(".worktrees", "a"), filepath.Join(root, "current")))

	w := NewWatcher(filepath.Join(root, "current", "policies"), nil)
	changed := runWatcher(t, w, 500*time.Millisecond)
	drain := func() {
		for changed() {
		}
	}

	for i, name := range []string{"b", "c", "d"} {
		dir := mkTree(name)
		drain()
		swap(name)
		require.True(t, changed(), "swap %d", i)
		require.NoError(t, os.RemoveAll(filepath.Join(root, ".worktrees", []string{"a", "b", "c"}[i]))) // git-sync removes the old worktree
		drain()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "p.rego"), []byte("package p\n\n# edited\n"), 0o600))
		require.True(t, changed(), "an edit in the new target, after swap %d", i)
	}
}

// runWatcher runs w (with a short debounce) until the test ends, once it
// watches, and returns a probe reporting whether w reports a change
// within wait.
func runWatcher(t *testing.T, w *Watcher, wait time.Duration) func() bool {
	t.Helper()
	var logs logtest.Buffer
	w.Logger, w.Debounce = slog.New(slog.NewTextHandler(&logs, nil)), 20*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = w.Run(ctx) }()
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "watching policies for changes") }, 5*time.Second, 10*time.Millisecond)
	return func() bool {
		select {
		case <-w.Changes():
			return true
		case <-time.After(wait):
			return false
		}
	}
}
