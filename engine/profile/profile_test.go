package profile

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/engine/input"
)

func facts(src, dst string, port uint32, reply bool) *input.Facts {
	return &input.Facts{
		Source:          input.Endpoint{Kind: input.KindPod, Namespace: "shop", Workload: src},
		Destination:     input.Endpoint{Kind: input.KindPod, Namespace: "shop", Workload: dst},
		DestinationPort: port,
		Reply:           reply,
	}
}

func TestObserveLearnsPeersAndPorts(t *testing.T) {
	s, err := NewStore(Limits{}, prometheus.NewRegistry())
	require.NoError(t, err)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	p := s.Observe(t0, facts("frontend", "cart", 8080, false))
	require.Equal(t, input.Profile{NewPeer: true, NewPort: true}, p.Source, "first flow: everything new")
	require.Equal(t, input.Profile{NewPeer: true, NewPort: true}, p.Destination)

	p = s.Observe(t0.Add(time.Second), facts("frontend", "cart", 8080, false))
	require.Equal(t, input.Profile{Flows: 1, FirstSeen: t0, Peers: 1}, p.Source, "second flow: known")

	p = s.Observe(t0.Add(2*time.Second), facts("frontend", "cart", 9090, false))
	require.False(t, p.Source.NewPeer)
	require.True(t, p.Source.NewPort)

	p = s.Observe(t0.Add(3*time.Second), facts("cart", "frontend", 41234, true))
	require.False(t, p.Source.NewPeer, "replies teach nothing")
	require.False(t, p.Source.NewPort)
	require.Equal(t, uint64(3), p.Source.Flows)
	require.Equal(t, 2, s.Len())
}

func TestLimits(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, err := NewStore(Limits{Profiles: 2, Peers: 2, Ports: 1}, reg)
	require.NoError(t, err)
	now := time.Now()

	s.Observe(now, facts("a", "b", 1, false))
	s.Observe(now, facts("a", "c", 2, false)) // port 2 cannot be learned
	p := s.Observe(now, facts("a", "d", 3, false))
	require.False(t, p.Source.NewPeer, "a saturated profile calls nothing new")
	require.Equal(t, 2, p.Source.Peers)
	require.Equal(t, 2, s.Len(), "the LRU holds at most 2 profiles")
	require.Greater(t, testutil.ToFloat64(s.metrics.evictions), 0.0)
	require.Equal(t, 3.0, testutil.ToFloat64(s.metrics.saturated)) // port 2, port 3, peer d
}
