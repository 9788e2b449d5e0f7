package main

import (
	"bytes"
	"context"
	"flag"
	"testing"

	"github.com/stretchr/testify/require"
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
	require.Equal(t, "relay:443", o.HubbleAddress)
	require.Equal(t, "ca.crt", o.HubbleTLS.CAFile)
	require.Equal(t, []string{"shop/"}, o.HubbleAllow[0].GetSourcePod())
	require.Equal(t, "DROPPED", o.HubbleDeny[0].GetVerdict()[0].String())
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
	require.ErrorContains(t, run(context.Background(), []string{"policy", "check"}, &stdout, &stderr), "policy input")
}
