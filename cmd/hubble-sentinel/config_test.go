package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/cmd/hubble-sentinel/internal/app"
	"github.com/hubble-sentinel/hubble-sentinel/cmd/hubble-sentinel/internal/config"
)

var exampleConfig = filepath.Join("..", "..", "deploy", "config.example.yaml")

// TestConfigDefaultsAreTheFlagDefaults: the file's defaults (those of
// deploy/config.example.yaml) are the flags' defaults, so a run with the
// example file is a run without it.
func TestConfigDefaultsAreTheFlagDefaults(t *testing.T) {
	var stderr bytes.Buffer
	o, _, err := parse("run", nil, &stderr, daemonFlags)
	require.NoError(t, err)
	example, err := config.Load(exampleConfig)
	require.NoError(t, err)
	applied, err := app.ApplyConfig(o, example)
	require.NoError(t, err)
	require.Equal(t, o, applied)
}

// TestConfigPrecedence: a flag given on the command line wins over the
// file; the file wins over a flag left at its default.
func TestConfigPrecedence(t *testing.T) {
	f, err := config.Parse([]byte(`
alertmanagers:
  urls: [http://file-am:9093]
  timeout: 3s
alerts:
  resolve_after: 2m
  resend_interval: 30s
redact:
  headers: [X-File-Secret]
policies:
  max_failures: 7
`))
	require.NoError(t, err)
	var stderr bytes.Buffer
	o, _, err := parse("run", []string{"--alertmanager.url", "http://flag-am:9093", "--alerts.resolve-after", "5m", "--policies.max-failures=3"}, &stderr, daemonFlags)
	require.NoError(t, err)
	got, err := app.ApplyConfig(o, f)
	require.NoError(t, err)
	require.Equal(t, []string{"http://flag-am:9093"}, got.AlertmanagerURLs, "the flag given wins")
	require.Equal(t, 5*time.Minute, got.ResolveAfter, "the flag given wins, even at its default value")
	require.Equal(t, 3, got.PolicyLimits.Budget.Strikes, "the flag given wins, even at its default value")
	require.Equal(t, 3*time.Second, got.Alertmanager.Timeout, "the file wins over a default")
	require.Equal(t, 30*time.Second, got.ResendInterval, "the file wins over a default")
	require.Equal(t, []string{"X-File-Secret"}, got.RedactHeaders)
	require.Equal(t, []string{"http://flag-am:9093"}, o.AlertmanagerURLs, "the flag options are not changed")
	require.Equal(t, time.Minute, o.ResendInterval)

	// The flags and the file together must still make sense.
	o, _, err = parse("run", []string{"--policies.dir", "/p"}, &stderr, daemonFlags)
	require.NoError(t, err)
	f, err = config.Parse([]byte("policies:\n  bundle:\n    source: /b.tar.gz\n"))
	require.NoError(t, err)
	_, err = app.ApplyConfig(o, f)
	require.ErrorContains(t, err, "exclusive")
}

// TestConfigCheckCommand: config check accepts the example and a custom
// file naming a policy directory, and refuses a bad file naming the key
// and line, or a policy directory that does not load.
func TestConfigCheckCommand(t *testing.T) {
	ctx := context.Background()
	var stdout, stderr bytes.Buffer
	require.NoError(t, run(ctx, []string{"config", "check", exampleConfig}, &stdout, &stderr))
	require.Contains(t, stdout.String(), exampleConfig+": ok: 1 hubble source(s), 0 alertmanager(s)")

	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("alerts:\n  resolve_after: 5m\n  resend: 1m\n"), 0o600))
	err := run(ctx, []string{"config", "check", bad}, &stdout, &stderr)
	require.ErrorContains(t, err, bad+": line 3: unknown key \"resend\"")

	policyDir := filepath.Join(dir, "policies")
	require.NoError(t, os.MkdirAll(policyDir, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(policyDir, "broken.rego"), []byte("package broken\n\nviolation contains x if {\n"), 0o600))
	withPolicies := filepath.Join(dir, "policies.yaml")
	require.NoError(t, os.WriteFile(withPolicies, []byte("policies:\n  dir: "+policyDir+"\n"), 0o600))
	err = run(ctx, []string{"config", "check", withPolicies}, &stdout, &stderr)
	require.ErrorContains(t, err, withPolicies+": policies: ")
	require.ErrorContains(t, err, "broken.rego:")

	tls := filepath.Join(dir, "tls.yaml")
	require.NoError(t, os.WriteFile(tls, []byte("alertmanagers:\n  urls: [https://am:9093]\n  tls:\n    ca_file: "+filepath.Join(dir, "missing-ca.pem")+"\n"), 0o600))
	err = run(ctx, []string{"config", "check", tls}, &stdout, &stderr)
	require.ErrorContains(t, err, tls+": alertmanagers: ")

	require.ErrorContains(t, run(ctx, []string{"config", "check"}, &stdout, &stderr), "want one file")
	require.ErrorContains(t, run(ctx, []string{"config"}, &stdout, &stderr), "usage: hubble-sentinel config check")
}
