package app

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/test/promtest"
)

// TestHubbleSourceFiles: a named source's snapshot and position are its
// own (PATH.NAME), an unnamed one keeps today's paths; the client opens the
// position file it is given.
func TestHubbleSourceFiles(t *testing.T) {
	for _, tc := range []struct {
		name              string
		src               HubbleSource
		position          string // --hubble.position-path, relative to the test directory
		baseline, wantPos string // relative too; wantPos "": no position file
	}{
		{name: "unnamed keeps today's paths", src: HubbleSource{Address: "relay:4245"},
			baseline: "baselines.json", wantPos: "baselines.json.position"},
		{name: "named: its own snapshot and position", src: HubbleSource{Name: "prod-eu", Address: "relay-eu:4245"},
			baseline: "baselines.json.prod-eu", wantPos: "baselines.json.prod-eu.position"},
		{name: "named with a position path", src: HubbleSource{Name: "prod-eu", Address: "relay-eu:4245"},
			position: "pos", baseline: "baselines.json.prod-eu", wantPos: "pos.prod-eu"},
		{name: "unnamed with a position path", src: HubbleSource{Address: "relay:4245"},
			position: "pos", baseline: "baselines.json", wantPos: "pos"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			o := Options{BaselinePath: filepath.Join(dir, "baselines.json"), Logger: slog.New(slog.DiscardHandler), Stream: StreamOptions{FullFlows: true}}
			if tc.position != "" {
				o.Stream.PositionPath = filepath.Join(dir, tc.position)
			}
			require.Equal(t, filepath.Join(dir, tc.baseline), tc.src.file(o.BaselinePath))
			cfg, closePosition, err := o.Stream.clientConfig(&o, tc.src, nil, o.Logger)
			require.NoError(t, err)
			closePosition()
			require.Equal(t, tc.src.Name, cfg.Cluster)
			require.Equal(t, tc.src.Address, cfg.Address)
			files, err := filepath.Glob(filepath.Join(dir, "*"))
			require.NoError(t, err)
			require.Equal(t, []string{filepath.Join(dir, tc.wantPos)}, files)
		})
	}
	require.Empty(t, HubbleSource{Name: "prod-eu"}.file(""), "in memory stays in memory")
}

func TestHubbleSourceRegisterer(t *testing.T) {
	reg := prometheus.NewRegistry()
	for _, src := range []HubbleSource{{Name: "prod-eu"}, {Name: "prod-us"}} {
		promauto.With(src.registerer(reg)).NewCounter(prometheus.CounterOpts{Name: "flows_total", Help: "h"}).Inc()
	}
	require.Equal(t, 1.0, promtest.Value(t, reg, "flows_total", "cluster", "prod-eu"))
	require.Equal(t, 1.0, promtest.Value(t, reg, "flows_total", "cluster", "prod-us"))

	plain := prometheus.NewRegistry()
	promauto.With(HubbleSource{Address: "relay:4245"}.registerer(plain)).NewCounter(prometheus.CounterOpts{Name: "flows_total", Help: "h"}).Inc()
	mfs, err := plain.Gather()
	require.NoError(t, err)
	require.Empty(t, mfs[0].GetMetric()[0].GetLabel(), "an unnamed source's metrics keep their labels")
}

func TestRunRefusesUnnamedSources(t *testing.T) {
	err := Run(context.Background(), Options{Logger: slog.New(slog.DiscardHandler),
		HubbleSources: []HubbleSource{{Name: "eu", Address: "a:4245"}, {Address: "b:4245"}}})
	require.ErrorContains(t, err, `--hubble.address: "b:4245" has no cluster name`)
}
