package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/cmd/hubble-sentinel/internal/app"
	"github.com/hubble-sentinel/hubble-sentinel/policies"
)

func TestParseInterleavesFlagsAndFiles(t *testing.T) {
	var stderr bytes.Buffer
	o, files, err := parse("replay", []string{"a.json", "--policies.dir", "pol", "b.json", "--alertmanager.url=http://am1:9093", "--alertmanager.url", "http://am2:9093", "-"}, &stderr, replayFlags)
	require.NoError(t, err)
	require.Equal(t, []string{"a.json", "b.json", "-"}, files)
	require.Equal(t, "pol", o.PoliciesDir)
	require.Equal(t, []string{"http://am1:9093", "http://am2:9093"}, o.AlertmanagerURLs)
	require.NotNil(t, o.Logger)
}

func TestDaemonFlags(t *testing.T) {
	var stderr bytes.Buffer
	o, _, err := parse("run", []string{
		"--hubble.address", "relay:443", "--hubble.tls.ca-file", "ca.crt", "--hubble.tls.server-name", "ui.hubble-relay.cilium.io",
		"--hubble.allow-filter", `{"source_pod":["shop/"]}`, "--hubble.deny-filter", `{"verdict":["DROPPED"]}`,
		"--web.listen-address", ":0",
	}, &stderr, daemonFlags)
	require.NoError(t, err)
	require.Equal(t, []app.HubbleSource{{Address: "relay:443"}}, o.HubbleSources, "one unnamed source, as before names")
	require.Equal(t, "ca.crt", o.HubbleTLS.CAFile)
	require.Equal(t, []string{"shop/"}, o.HubbleAllow[0].GetSourcePod())
	require.Equal(t, "DROPPED", o.HubbleDeny[0].GetVerdict()[0].String())

	// Safe by default: the web endpoints listen on loopback only.
	o, _, err = parse("run", nil, &stderr, daemonFlags)
	require.NoError(t, err)
	require.Equal(t, "localhost:9966", o.WebListenAddress)
}

func TestHubbleAddressFlag(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		want    []app.HubbleSource
		wantErr string
	}{
		{name: "default", want: []app.HubbleSource{{Address: "localhost:4245"}}},
		{name: "one unnamed, as before names", args: []string{"--hubble.address", "relay:443"},
			want: []app.HubbleSource{{Address: "relay:443"}}},
		{name: "one unix socket", args: []string{"--hubble.address", "unix:///var/run/cilium/hubble.sock"},
			want: []app.HubbleSource{{Address: "unix:///var/run/cilium/hubble.sock"}}},
		{name: "one named", args: []string{"--hubble.address", "prod-eu=relay-eu.example:4245"},
			want: []app.HubbleSource{{Name: "prod-eu", Address: "relay-eu.example:4245"}}},
		{name: "several named", args: []string{"--hubble.address", "prod-eu=relay-eu.example:4245", "--hubble.address=prod_us.1=unix:///run/hubble.sock"},
			want: []app.HubbleSource{{Name: "prod-eu", Address: "relay-eu.example:4245"}, {Name: "prod_us.1", Address: "unix:///run/hubble.sock"}}},
		{name: "duplicate names", args: []string{"--hubble.address", "eu=a:4245", "--hubble.address", "eu=b:4245"},
			wantErr: `invalid value "eu=b:4245" for flag -hubble.address: cluster name "eu" given twice ("eu=b:4245")`},
		{name: "first of several unnamed", args: []string{"--hubble.address", "a:4245", "--hubble.address", "eu=b:4245"},
			wantErr: `invalid value "eu=b:4245" for flag -hubble.address: "a:4245" has no cluster name: with several --hubble.address values each needs one, NAME=a:4245`},
		{name: "second of several unnamed", args: []string{"--hubble.address", "eu=a:4245", "--hubble.address", "b:4245"},
			wantErr: `invalid value "b:4245" for flag -hubble.address: "b:4245" has no cluster name`},
		{name: "invalid name", args: []string{"--hubble.address", "prod eu=a:4245"},
			wantErr: `invalid value "prod eu=a:4245" for flag -hubble.address: cluster name "prod eu" must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$`},
		{name: "name starting with a dot", args: []string{"--hubble.address", ".eu=a:4245"}, wantErr: `cluster name ".eu" must match`},
		{name: "name too long", args: []string{"--hubble.address", strings.Repeat("a", 64) + "=a:4245"}, wantErr: "must match"},
		{name: "empty name", args: []string{"--hubble.address", "=a:4245"}, wantErr: `cluster name "" must match`},
		{name: "no address", args: []string{"--hubble.address", "eu="}, wantErr: `invalid value "eu=" for flag -hubble.address: no address`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			o, _, err := parse("run", tc.args, &stderr, daemonFlags)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, o.HubbleSources)
		})
	}
	t.Run("help", func(t *testing.T) {
		var stderr bytes.Buffer
		_, _, err := parse("run", []string{"-h"}, &stderr, daemonFlags)
		require.ErrorIs(t, err, flag.ErrHelp)
		require.Regexp(t, `(?s)-hubble.address value\n.*\[NAME=\]ADDRESS.*\(default localhost:4245\)`, stderr.String())
		require.Contains(t, stderr.String(), "applies to every --hubble.address")
	})
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"bad filter", []string{"--hubble.allow-filter", `{"source_pod": 3}`}, "not a FlowFilter"},
		{"unknown flag", []string{"--hubble.adress", "x"}, "flag provided but not defined"},
		{"bad log level", []string{"--log.level", "loud"}, "--log.level"},
		{"bad log format", []string{"--log.format", "xml"}, "--log.format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			_, _, err := parse("run", tc.args, &stderr, daemonFlags)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestCommands(t *testing.T) {
	var stdout, stderr bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"version"}, &stdout, &stderr))
	require.Contains(t, stdout.String(), "hubble-sentinel")

	require.ErrorContains(t, run(context.Background(), []string{"frobnicate"}, &stdout, &stderr), `unknown command "frobnicate"`)
	require.Error(t, run(context.Background(), nil, &stdout, &stderr))
	require.ErrorIs(t, run(context.Background(), []string{"run", "-h"}, &stdout, &stderr), flag.ErrHelp)
	require.ErrorContains(t, run(context.Background(), []string{"policy"}, &stdout, &stderr), "usage: hubble-sentinel policy check DIR")
	require.ErrorContains(t, run(context.Background(), []string{"policy", "check"}, &stdout, &stderr), "want one policy directory, got 0 arguments")
	require.ErrorContains(t, run(context.Background(), []string{"policy", "lint", "x"}, &stdout, &stderr), `unknown policy command "lint"`)
}

// simulate writes a capture that replay reads back: with attacks it alerts,
// without it does not.
func TestSimulateThenReplay(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, tc := range []struct {
		attacks bool
		alerts  bool
	}{{false, false}, {true, true}} {
		var capture, stderr bytes.Buffer
		args := []string{"simulate", "--simulate.flows", "1500", "--simulate.seed", "4"}
		if tc.attacks {
			args = append(args, "--simulate.attacks")
		}
		require.NoError(t, run(ctx, args, &capture, &stderr))
		require.Equal(t, 1500, bytes.Count(capture.Bytes(), []byte("\n")))
		path := filepath.Join(dir, fmt.Sprintf("capture-%v.json", tc.attacks))
		require.NoError(t, os.WriteFile(path, capture.Bytes(), 0o600))

		var alerts bytes.Buffer
		require.NoError(t, run(ctx, []string{"replay", path}, &alerts, &stderr))
		require.Equal(t, tc.alerts, alerts.Len() > 0, "attacks %v: %s", tc.attacks, alerts.String())
	}
	var stderr bytes.Buffer
	require.ErrorContains(t, run(ctx, []string{"simulate", "--simulate.start", "yesterday"}, io.Discard, &stderr), "--simulate.start")
	require.ErrorContains(t, run(ctx, []string{"simulate", "--simulate.flows", "0"}, io.Discard, &stderr), "must be positive")
}

// policy check and policy test work on a policy directory without an OPA
// binary: a good one passes, a broken one fails naming file and line.
func TestPolicyCommands(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, policies.WriteTo(dir))
	ctx := context.Background()

	var stdout, stderr bytes.Buffer
	require.NoError(t, run(ctx, []string{"policy", "check", dir}, &stdout, &stderr))
	require.Regexp(t, `(?m)^EgressToCloudMetadata +critical +\d+µs +\d+µs +[1-9]\d* +0 +sentinel\.egress\.cloud_metadata +egress/cloud_metadata/cloud_metadata\.rego$`, stdout.String())
	require.Regexp(t, `exceptions, [1-9]\d+ sample inputs judged: OK`, stdout.String())

	// A policy that is costlier than the bound is refused, naming it.
	stdout.Reset()
	err := run(ctx, []string{"policy", "check", "--policies.max-cost", "1ns", dir}, &stdout, &stderr)
	require.ErrorContains(t, err, "egress/cloud_metadata/cloud_metadata.rego: package sentinel.egress.cloud_metadata costs")

	stdout.Reset()
	require.NoError(t, run(ctx, []string{"policy", "test", "--min-coverage", "90", dir}, &stdout, &stderr))
	require.Regexp(t, `PASS: (\d+)/\d+`, stdout.String())
	require.NotContains(t, stdout.String(), "FAIL")

	stdout.Reset()
	require.NoError(t, run(ctx, []string{"policy", "test", "-v", "--coverage", "--run", "cloud_metadata", dir}, &stdout, &stderr))
	require.Contains(t, stdout.String(), "egress/cloud_metadata/cloud_metadata_test.rego:")
	require.NotContains(t, stdout.String(), "admin_paths_test.test_", "--run keeps only the matching tests")
	require.Contains(t, stdout.String(), "coverage egress/cloud_metadata/cloud_metadata.rego: 100.0%")

	// A test that no longer holds fails the run and is named.
	testFile := filepath.Join(dir, "egress", "cloud_metadata", "cloud_metadata_test.rego")
	src, err := os.ReadFile(testFile)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(testFile, append(src, []byte("\ntest_deliberately_wrong if {\n\t1 == 2\n}\n")...), 0o600))
	stdout.Reset()
	err = run(ctx, []string{"policy", "test", dir}, &stdout, &stderr)
	require.ErrorContains(t, err, "1 of")
	require.Regexp(t, `egress/cloud_metadata/cloud_metadata_test\.rego:\d+: data\.sentinel\.egress\.cloud_metadata_test\.test_deliberately_wrong: FAIL`, stdout.String())
	require.Contains(t, stdout.String(), "FAIL: 1/")

	// A policy calling http.send is refused, with file and line.
	sendFile := filepath.Join(dir, "egress", "exfil", "exfil.rego")
	require.NoError(t, os.MkdirAll(filepath.Dir(sendFile), 0o755))
	require.NoError(t, os.WriteFile(sendFile, []byte(`# METADATA
# title: Exfil
# custom:
#   id: Exfil
#   severity: info
package sentinel.egress.exfil

violation contains "x" if {
	http.send({"method": "get", "url": "https://example.com"}).status_code == 200
}
`), 0o600))
	err = run(ctx, []string{"policy", "check", dir}, &stdout, &stderr)
	require.ErrorContains(t, err, "egress/exfil/exfil.rego:9")
	require.ErrorContains(t, err, "undefined function http.send")
}

// TestEveryFlagIsDocumented: the README's flag table is the flag contract,
// so every flag of every command is in it.
func TestEveryFlagIsDocumented(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	require.NoError(t, err)
	flagLine := regexp.MustCompile(`^\s+-([a-z][a-z0-9.-]*)`)
	for _, cmd := range [][]string{{"run"}, {"replay"}, {"demo"}, {"simulate"}, {"policy", "check"}, {"policy", "test"}, {"policy", "input"}, {"policy", "fixtures"}} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), append(cmd, "-h"), &stdout, &stderr)
		require.ErrorIs(t, err, flag.ErrHelp, "%v", cmd)
		n := 0
		for _, line := range strings.Split(stderr.String(), "\n") {
			m := flagLine.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			n++
			name := m[1]
			require.True(t, bytes.Contains(readme, []byte("`--"+name+"`")) || bytes.Contains(readme, []byte("`-"+name+"`")),
				"%v: flag -%s is not in the README's flag table", cmd, name)
		}
		require.Positive(t, n, "%v -h lists its flags:\n%s", cmd, stderr.String())
	}
}
