package hubble

import (
	"context"
	"strings"
	"testing"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	observerpb "github.com/cilium/cilium/api/v1/observer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/test/logtest"
	"github.com/hubble-sentinel/hubble-sentinel/test/testrelay"
)

// bigFlow is an HTTP flow with a header of size bytes.
func bigFlow(sec int, uuid string, size int) *flowpb.Flow {
	f := newFlow(at(sec), uuid, 80)
	f.L7 = &flowpb.Layer7{Record: &flowpb.Layer7_Http{Http: &flowpb.HTTP{
		Method: "POST", Url: "http://x/upload",
		Headers: []*flowpb.HTTPHeader{{Key: "X-Blob", Value: strings.Repeat("a", size)}},
	}}}
	return f
}

// TestLargeFlowsDoNotWedgeTheStream: a 5 MiB flow, above gRPC's default
// 4 MiB limit, is delivered; a flow above the configured bound is skipped,
// counted and logged, and the flows after it still arrive.
func TestLargeFlowsDoNotWedgeTheStream(t *testing.T) {
	tests := []struct {
		name      string
		maxFlow   int
		flows     []*flowpb.Flow
		want      []string
		oversized float64
	}{
		{name: "5 MiB under the default bound", flows: []*flowpb.Flow{
			newFlow(at(1), "a", 80), bigFlow(2, "big", 5<<20), newFlow(at(3), "c", 80),
		}, want: []string{"a", "big", "c"}},
		{name: "above a 1 MiB bound", maxFlow: 1 << 20, flows: []*flowpb.Flow{
			newFlow(at(1), "a", 80), bigFlow(2, "big", 5<<20), bigFlow(3, "fits", 512<<10), newFlow(at(4), "d", 80),
		}, want: []string{"a", "fits", "d"}, oversized: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := startRelay(t, listen(t), testrelay.Flows(tt.flows...))
			conn, err := Dial(r.Addr, TLSConfig{}, DialOptions{MaxFlowSize: tt.maxFlow})
			require.NoError(t, err)
			t.Cleanup(func() { _ = conn.Close() })
			var logs logtest.Buffer
			c := NewClient(observerpb.NewObserverClient(conn), ClientConfig{}, logs.Logger(), prometheus.NewRegistry())
			var got []string
			require.NoError(t, c.Run(t.Context(), func(_ context.Context, f *flowpb.Flow) error {
				got = append(got, f.GetUuid())
				return nil
			}))
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.oversized, testutil.ToFloat64(c.metrics.oversized))
			if tt.oversized > 0 {
				require.Contains(t, logs.String(), "kind=oversized")
				require.Equal(t, tt.oversized, testutil.ToFloat64(c.metrics.missed.WithLabelValues("oversized")))
			}
		})
	}
}
