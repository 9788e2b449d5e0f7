package app

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/engine/alert"
	"github.com/hubble-sentinel/hubble-sentinel/engine/policy"
	"github.com/hubble-sentinel/hubble-sentinel/policies"
	"github.com/hubble-sentinel/hubble-sentinel/test/amtest"
	"github.com/hubble-sentinel/hubble-sentinel/test/logtest"
	"github.com/hubble-sentinel/hubble-sentinel/test/loopback"
	"github.com/hubble-sentinel/hubble-sentinel/test/testrelay"
)

// canary fires on every forwarded flow; canaryTest is its passing test.
func canary(id string) string {
	return fmt.Sprintf(`# METADATA
# title: Canary %[1]s
# description: Fires on every forwarded flow.
# custom:
#   id: %[1]s
#   severity: info
package sentinel.custom.%[2]s

import data.sentinel.lib

violation contains lib.violation(rego.metadata.chain(), "canary") if input.verdict == "FORWARDED"
`, id, strings.ToLower(id))
}

func canaryTest(id string, want bool) string {
	not := ""
	if !want {
		not = "not "
	}
	return fmt.Sprintf(`package sentinel.custom.%[1]s_test

import data.sentinel.custom.%[1]s

test_fires if {
	%[2]scount(%[1]s.violation) > 0 with input as {"verdict": "FORWARDED"}
}
`, strings.ToLower(id), not)
}

// bundleOf is an OPA bundle of the bundled policies with extra files
// (path: content; an empty content removes a bundled file).
func bundleOf(t *testing.T, revision string, extra map[string]string, sign *policy.BundleSigning) []byte {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, policies.WriteTo(dir))
	for name, body := range extra {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if body == "" {
			require.NoError(t, os.Remove(p))
			continue
		}
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	}
	var buf bytes.Buffer
	require.NoError(t, policy.WriteBundle(&buf, os.DirFS(dir), ".", revision, sign))
	return buf.Bytes()
}

// bundleServer serves one bundle at a time with an ETag, answering 304 to
// If-None-Match with it, and counts what it answered.
type bundleServer struct {
	mu          sync.Mutex
	body        []byte
	token       string // required bearer token, when set
	requests    int
	notModified int
	unauthed    int
}

func (s *bundleServer) set(b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body = b
}

func (s *bundleServer) counts() (requests, notModified int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests, s.notModified
}

func (s *bundleServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if s.token != "" && r.Header.Get("Authorization") != "Bearer "+s.token {
		s.unauthed++
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	etag := fmt.Sprintf(`"%x"`, sha256.Sum256(s.body))
	if r.Header.Get("If-None-Match") == etag {
		s.notModified++
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("ETag", etag)
	w.Header().Set("Content-Type", "application/gzip")
	_, _ = w.Write(s.body)
}

// forwarded is a flow input every canary judges.
var forwarded = ast.MustInterfaceToValue(map[string]any{"verdict": "FORWARDED"})

func firing(t *testing.T, set *policy.Set) []string {
	t.Helper()
	vs, err := set.Eval(context.Background(), forwarded)
	require.NoError(t, err)
	var ids []string
	for _, v := range vs {
		if strings.HasPrefix(v.ID, "Canary") {
			ids = append(ids, v.ID)
		}
	}
	return ids
}

// A bundle served over HTTP is loaded, polled with If-None-Match (304
// while unchanged), replaced by a newer revision, and every broken one is
// refused: the running set stays, the failure is logged with the URL,
// counted and raised as SentinelPolicyLoadFailed, and the next good
// bundle resolves it.
func TestBundleOverHTTP(t *testing.T) {
	priv, pub := ecKeyPair(t)
	dir := t.TempDir()
	keyFile, tokenFile := filepath.Join(dir, "key.pem"), filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(keyFile, pub, 0o600))
	require.NoError(t, os.WriteFile(tokenFile, []byte("s3cret-t0ken\n"), 0o600))
	signing := &policy.BundleSigning{Key: priv, Algorithm: "ES256"}

	srv := &bundleServer{token: "s3cret-t0ken", body: bundleOf(t, "r1", map[string]string{"custom/canary_a/a.rego": canary("CanaryA")}, signing)}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	u := hs.URL + "/bundle.tar.gz"

	var logs logtest.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	reg := prometheus.NewRegistry()
	src, err := newPolicySource(&Options{PolicyBundle: BundleOptions{
		Source: u, PollInterval: 20 * time.Millisecond, BearerTokenFile: tokenFile, VerificationKeyFile: keyFile,
	}}, logger)
	require.NoError(t, err)
	src.register(reg)
	initial, err := src.load(context.Background(), true)
	require.NoError(t, err)
	require.Equal(t, []string{"CanaryA"}, firing(t, initial.set))
	require.Contains(t, logs.String(), "revision=r1")

	var mu sync.Mutex
	current := initial.set
	out := &sent{}
	agg := alert.NewAggregator(alert.DefaultAggregatorConfig, out, logger, prometheus.NewRegistry())
	r := NewReloader(src.String(), len(initial.set.Policies()), func(ctx context.Context) (*policy.Set, error) {
		l, err := src.load(ctx, false)
		if err == errNotModified {
			return nil, nil
		}
		return l.set, err
	}, func(s *policy.Set) {
		mu.Lock()
		defer mu.Unlock()
		current = s
	}, logger, reg)
	changes := make(chan struct{}, 1)
	r.Changes, r.Alerts = changes, agg
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = src.bundle.poll(ctx, changes) }()
	go func() { _ = r.Run(ctx) }()
	running := func() *policy.Set {
		mu.Lock()
		defer mu.Unlock()
		return current
	}
	successes := func() float64 { return testutil.ToFloat64(r.reloads.WithLabelValues("success")) }
	failures := func() float64 { return testutil.ToFloat64(r.reloads.WithLabelValues("failure")) }

	// Unchanged: 304s, nothing reloaded.
	require.Eventually(t, func() bool {
		_, nm := srv.counts()
		return nm >= 3 && testutil.ToFloat64(src.bundle.requests.WithLabelValues("not_modified")) >= 3
	}, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, 0.0, successes()+failures())
	require.Equal(t, 1.0, testutil.ToFloat64(src.bundle.requests.WithLabelValues("ok")))

	// A newer revision replaces the set: CanaryA is gone, CanaryB fires.
	srv.set(bundleOf(t, "r2", map[string]string{"custom/canary_b/b.rego": canary("CanaryB")}, signing))
	require.Eventually(t, func() bool { return successes() == 1 }, 30*time.Second, 10*time.Millisecond)
	require.Equal(t, []string{"CanaryB"}, firing(t, running()))
	require.Contains(t, logs.String(), "revision=r2")
	good := running()

	broken := []struct {
		name, want string
		body       []byte
	}{
		{"bad rego", "custom/canary_c/c.rego:", bundleOf(t, "r3", map[string]string{"custom/canary_c/c.rego": "package sentinel.custom.c\n\nviolation contains x if {\n"}, signing)},
		{"failing test", "policy tests failed", bundleOf(t, "r4", map[string]string{
			"custom/canary_c/c.rego": canary("CanaryC"), "custom/canary_c/c_test.rego": canaryTest("CanaryC", false)}, signing)},
		{"unsigned", "not signed", bundleOf(t, "r5", nil, nil)},
		{"wrong signature", "verify", bundleOf(t, "r6", nil, &policy.BundleSigning{Key: mustPriv(t), Algorithm: "ES256"})},
		{"truncated", "unexpected EOF", bundleOf(t, "r7", nil, signing)[:2000]},
		{"not a bundle", "not a .tar.gz", []byte("<html>maintenance</html>")},
	}
	for i, tc := range broken {
		srv.set(tc.body)
		require.Eventually(t, func() bool { return failures() == float64(i+1) }, 30*time.Second, 10*time.Millisecond, tc.name)
		require.Same(t, good, running(), "%s: the running set stays", tc.name)
		a, ok := out.last()
		require.True(t, ok)
		require.Equal(t, AlertPolicyLoadFailed, a.Labels["alertname"])
		require.Contains(t, a.Annotations["description"], tc.want, tc.name)
		require.False(t, a.Resolved(time.Now()))
	}
	// The same broken bytes are not reloaded again: their ETag answers 304.
	_, nm := srv.counts()
	require.Eventually(t, func() bool { _, n := srv.counts(); return n >= nm+3 }, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, float64(len(broken)), failures())

	// A passing test of a new policy: accepted, the alert resolves.
	srv.set(bundleOf(t, "r9", map[string]string{"custom/canary_c/c.rego": canary("CanaryC"), "custom/canary_c/c_test.rego": canaryTest("CanaryC", true)}, signing))
	require.Eventually(t, func() bool { return successes() == 2 }, 30*time.Second, 10*time.Millisecond)
	require.Equal(t, []string{"CanaryC"}, firing(t, running()))
	a, _ := out.last()
	require.True(t, a.Resolved(time.Now()), "the good bundle resolves the alert")

	text := logs.String()
	require.Contains(t, text, "policy reload failed, keeping the running policies")
	require.Contains(t, text, u, "failures name the URL")
	require.NotContains(t, text, "s3cret-t0ken")
	require.Zero(t, srv.unauthed, "every request carried the bearer token")
	require.Greater(t, testutil.ToFloat64(src.bundle.lastSuccess), 0.0)
	require.GreaterOrEqual(t, testutil.ToFloat64(src.bundle.requests.WithLabelValues("error")), 2.0)
}

// ecKeyPair is an ES256 signing key and its public key, PEM.
func ecKeyPair(t *testing.T) (priv, pub []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	require.NoError(t, err)
	pk, err := x509.MarshalECPrivateKey(k)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: pk}), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func mustPriv(t *testing.T) []byte {
	priv, _ := ecKeyPair(t)
	return priv
}

func TestBundleOptionErrors(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"dir and bundle", Options{PoliciesDir: "p", PolicyBundle: BundleOptions{Source: "b.tar.gz"}}, "--policies.dir and --policies.bundle are exclusive"},
		{"tls for a file", Options{PolicyBundle: BundleOptions{Source: "b.tar.gz", CAFile: "ca.pem"}}, "apply to an http(s):// bundle URL"},
		{"basic auth and a token", Options{PolicyBundle: BundleOptions{Source: "https://u:p@x/b.tar.gz", BearerTokenFile: "t"}}, "exclusive"},
		{"cert without key", Options{PolicyBundle: BundleOptions{Source: "https://x/b.tar.gz", CertFile: "c.pem"}}, "needs both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newPolicySource(&tc.o, logger)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// Basic auth in the URL is sent, and redacted wherever the URL is shown.
func TestBundleURLCredentialsRedacted(t *testing.T) {
	var got string
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, _ := r.BasicAuth()
		got = u + ":" + p
		http.Error(w, "gone", http.StatusGone)
	}))
	defer hs.Close()
	var logs logtest.Buffer
	src, err := newPolicySource(&Options{PolicyBundle: BundleOptions{Source: strings.Replace(hs.URL, "http://", "http://user:hunter2@", 1) + "/b.tar.gz"}},
		slog.New(slog.NewTextHandler(&logs, nil)))
	require.NoError(t, err)
	_, err = src.load(context.Background(), true)
	require.ErrorContains(t, err, "user:xxxxx@127.0.0.1")
	require.NotContains(t, logs.String(), "hunter2")
	require.ErrorContains(t, err, "HTTP status 410 Gone")
	require.NotContains(t, err.Error(), "hunter2")
	require.Equal(t, "user:hunter2", got)
	require.Equal(t, 1.0, testutil.ToFloat64(src.bundle.requests.WithLabelValues("error")))
}

// A bundle over the size limits is refused, saying what was too large.
func TestBundleTooLarge(t *testing.T) {
	srv := &bundleServer{body: bundleOf(t, "big", nil, nil)}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	src, err := newPolicySource(&Options{PolicyBundle: BundleOptions{Source: hs.URL}}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	src.bundle.limits.MaxBytes = 1000
	_, err = src.load(context.Background(), true)
	require.ErrorContains(t, err, "bundle larger than 1000 bytes")
	src.bundle.limits = policy.BundleLimits{MaxFileBytes: 1000}
	_, err = src.load(context.Background(), true)
	require.ErrorContains(t, err, "larger than 1000")
	require.ErrorContains(t, err, "data.json")
	require.Equal(t, 2.0, testutil.ToFloat64(src.bundle.requests.WithLabelValues("error")))
}

// TestRunWithBundle: the daemon started with --policies.bundle URL judges
// a relay's flows with the bundle's policies, alerts reaching a real
// Alertmanager; a newer revision replaces them (its canary alerts, the old
// one is gone from the set); a broken one is refused, counted on /metrics
// and raised as SentinelPolicyLoadFailed while the running set keeps
// judging.
func TestRunWithBundle(t *testing.T) {
	am := amtest.Start(t)
	relay := loopback.FreeT(t)
	lis, err := net.Listen("tcp", relay)
	require.NoError(t, err)
	ring := testrelay.NewRing(1024)
	relayCtx, stopRelay := context.WithCancel(context.Background())
	relayDone := make(chan struct{})
	go func() {
		_ = testrelay.NewRingServer(ring, slog.New(slog.DiscardHandler)).Serve(relayCtx, lis)
		close(relayDone)
	}()
	t.Cleanup(func() { stopRelay(); <-relayDone })
	n := 0
	flow := func() {
		n++
		f := credentialFetch(time.Now())
		f.Uuid = fmt.Sprintf("0b7f3c52-4e0d-4c1e-9a51-%012d", n)
		ring.Write(f)
	}

	bundles := &bundleServer{body: bundleOf(t, "r1", map[string]string{"custom/canary_a/a.rego": canary("CanaryA")}, nil)}
	hs := httptest.NewServer(bundles)
	defer hs.Close()
	web := loopback.FreeT(t)
	var logs logtest.Buffer
	runInBackground(t, Options{
		HubbleSources: []HubbleSource{{Address: relay}}, AlertmanagerURLs: []string{am.URL.String()},
		PolicyBundle:     BundleOptions{Source: hs.URL + "/bundle.tar.gz", PollInterval: 100 * time.Millisecond},
		WebListenAddress: web, ResendInterval: time.Second,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), Stdout: io.Discard, Stderr: io.Discard,
	})
	metric := func(series string) bool {
		_, body := webGet(t, "http://"+web+"/metrics")
		return strings.Contains(body, series+"\n")
	}
	// violations is how many violations of policy the engine found.
	violations := func(policy string) float64 {
		_, body := webGet(t, "http://"+web+"/metrics")
		prefix := `hubble_sentinel_engine_violations_total{policy="` + policy + `",severity="info"} `
		for line := range strings.Lines(body) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok {
				f, err := strconv.ParseFloat(v, 64)
				require.NoError(t, err)
				return f
			}
		}
		return 0
	}
	require.Eventually(t, func() bool { flow(); return firingIn(am, "CanaryA") }, 90*time.Second, 200*time.Millisecond, "logs:\n%s", &logs)
	require.True(t, firingIn(am, "EgressToCloudMetadata"), "the bundled policies, from the bundle, judge too")
	require.Contains(t, logs.String(), "revision=r1")
	require.Eventually(t, func() bool { return !metric(`hubble_sentinel_policy_bundle_requests_total{result="not_modified"} 0`) }, 30*time.Second, 100*time.Millisecond)

	bundles.set(bundleOf(t, "r2", map[string]string{"custom/canary_b/b.rego": canary("CanaryB")}, nil))
	require.Eventually(t, func() bool { return metric(`hubble_sentinel_policy_reloads_total{result="success"} 1`) }, 60*time.Second, 100*time.Millisecond, "logs:\n%s", &logs)
	require.Eventually(t, func() bool { flow(); return firingIn(am, "CanaryB") }, 60*time.Second, 200*time.Millisecond)
	require.Contains(t, logs.String(), "revision=r2")
	seenA, seenB := violations("CanaryA"), violations("CanaryB")
	require.Positive(t, seenA)
	require.Positive(t, seenB)

	bundles.set(bundleOf(t, "r3", map[string]string{"custom/canary_c/c.rego": "package sentinel.custom.c\n\nviolation contains x if {\n"}, nil))
	require.Eventually(t, func() bool { return metric(`hubble_sentinel_policy_reloads_total{result="failure"} 1`) }, 60*time.Second, 100*time.Millisecond, "logs:\n%s", &logs)
	require.Eventually(t, func() bool { return firingIn(am, AlertPolicyLoadFailed) }, 30*time.Second, 100*time.Millisecond)
	require.True(t, metric(`hubble_sentinel_policy_last_reload_successful 0`))
	require.Contains(t, logs.String(), "custom/canary_c/c.rego:")
	require.Contains(t, logs.String(), hs.URL)
	// The running set (r2) still judges: CanaryB finds the new flows,
	// CanaryA (gone since r2) finds none.
	require.Eventually(t, func() bool { flow(); return violations("CanaryB") > seenB+2 }, 30*time.Second, 200*time.Millisecond)
	require.Equal(t, seenA, violations("CanaryA"))
	_, body := webGet(t, "http://"+web+"/metrics")
	require.Contains(t, body, `hubble_sentinel_policy_bundle_requests_total{result="error"} 1`+"\n", "a module that does not parse makes a bundle that cannot be read")
}

// At start, a bundle that cannot be loaded is an error, as a broken
// --policies.dir is; so is giving both.
func TestRunRefusesBrokenBundle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bundle.tar.gz")
	require.NoError(t, os.WriteFile(path, bundleOf(t, "r1", nil, nil)[:3000], 0o600))
	logger := slog.New(slog.DiscardHandler)
	err := Run(context.Background(), Options{Logger: logger, PolicyBundle: BundleOptions{Source: path}})
	require.ErrorContains(t, err, "bundle "+path)
	require.ErrorContains(t, err, "unexpected EOF")
	err = Run(context.Background(), Options{Logger: logger, PoliciesDir: "policies", PolicyBundle: BundleOptions{Source: path}})
	require.ErrorContains(t, err, "--policies.dir and --policies.bundle are exclusive")
}

// A watched bundle file reports a change when it is rewritten or replaced
// by a rename, and not when a neighbour changes.
func TestWatcherOfBundleFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bundle.tar.gz")
	require.NoError(t, os.WriteFile(path, []byte("v1"), 0o600))
	w := NewWatcher(dir, nil)
	w.File = "bundle.tar.gz"
	changed := runWatcher(t, w, 300*time.Millisecond)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "other.tar.gz"), []byte("x"), 0o600))
	require.False(t, changed(), "a neighbour is not the bundle")
	require.NoError(t, os.WriteFile(path, []byte("v2"), 0o600))
	require.True(t, changed(), "rewritten")
	tmp := filepath.Join(dir, ".bundle.tmp")
	require.NoError(t, os.WriteFile(tmp, []byte("v3"), 0o600))
	require.NoError(t, os.Rename(tmp, path))
	require.True(t, changed(), "replaced by a rename")
}

// policy check and policy test read a bundle (file or URL) as they read a
// directory; a bundle whose tests fail fails policy test.
func TestPolicyCommandsOnBundle(t *testing.T) {
	good := bundleOf(t, "r1", map[string]string{"custom/canary_a/a.rego": canary("CanaryA"), "custom/canary_a/a_test.rego": canaryTest("CanaryA", true)}, nil)
	bad := bundleOf(t, "r2", map[string]string{"custom/canary_a/a.rego": canary("CanaryA"), "custom/canary_a/a_test.rego": canaryTest("CanaryA", false)}, nil)
	path := filepath.Join(t.TempDir(), "bundle.tar.gz")
	require.NoError(t, os.WriteFile(path, good, 0o600))
	srv := &bundleServer{body: bad}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	ctx := context.Background()
	var out bytes.Buffer
	o := Options{Stdout: &out, Logger: slog.New(slog.DiscardHandler), PolicyBundle: BundleOptions{Source: path}}
	require.NoError(t, PolicyCheck(ctx, o, ""))
	require.Contains(t, out.String(), "CanaryA")
	require.NoError(t, PolicyTest(ctx, o, "", PolicyTestOptions{}))
	require.Contains(t, out.String(), "PASS:")
	require.ErrorContains(t, PolicyTest(ctx, o, "policies", PolicyTestOptions{}), "not both")

	o.PolicyBundle.Source = hs.URL + "/bundle.tar.gz"
	err := PolicyTest(ctx, o, "", PolicyTestOptions{})
	require.ErrorContains(t, err, "policy test bundle "+hs.URL)
	require.ErrorContains(t, err, "1 of")
}
