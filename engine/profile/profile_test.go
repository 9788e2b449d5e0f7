package profile

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/engine/facts"
	"github.com/hubble-sentinel/hubble-sentinel/test/captures"
)

// flow is src talking to dst's port; a reply carries it back, from
// that port to an ephemeral one.
func flow(src, dst string, port uint32, reply bool) *facts.Flow {
	fa := &facts.Flow{
		Source:          facts.Endpoint{Kind: facts.KindPod, Namespace: "shop", Workload: src},
		Destination:     facts.Endpoint{Kind: facts.KindPod, Namespace: "shop", Workload: dst},
		SourcePort:      41234,
		DestinationPort: port,
		Direction:       facts.Direction{Initiated: !reply, Rule: facts.RuleIsReply},
	}
	if reply {
		fa.SourcePort, fa.DestinationPort = port, 41234
	}
	return fa
}

func TestObserveLearnsPeersAndPorts(t *testing.T) {
	s, err := NewStore(Config{}, prometheus.NewRegistry())
	require.NoError(t, err)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	p := s.Observe(t0, flow("frontend", "cart", 8080, false))
	require.Equal(t, View{NewPeer: true, NewPort: true}, p.Source, "first flow: everything new")
	require.Equal(t, View{NewPeer: true, NewPort: true}, p.Destination)

	p = s.Observe(t0.Add(time.Second), flow("frontend", "cart", 8080, false))
	require.Equal(t, View{Flows: 1, FirstSeen: t0, Peers: 1}, p.Source, "second flow: known")

	p = s.Observe(t0.Add(2*time.Second), flow("frontend", "cart", 9090, false))
	require.False(t, p.Source.NewPeer)
	require.True(t, p.Source.NewPort)

	p = s.Observe(t0.Add(3*time.Second), flow("cart", "frontend", 8080, true))
	require.False(t, p.Source.NewPeer, "a reply is the known edge frontend -> cart:8080, seen from the client")
	require.False(t, p.Source.NewPort)
	require.False(t, p.Destination.NewPeer)
	require.False(t, p.Destination.NewPort, "the client's ephemeral port is never learned")
	require.Equal(t, uint64(3), p.Source.Flows, "the source of a reply is the server, cart")
	require.Equal(t, 2, s.Len())

	// A reply whose request was never seen (the connection predates the
	// sentinel) teaches the edge the right way round, once.
	p = s.Observe(t0.Add(4*time.Second), flow("cart", "checkout", 8080, true))
	require.True(t, p.Destination.NewPeer, "checkout -> cart is new to the client, checkout")
	require.True(t, p.Destination.NewPort)
	p = s.Observe(t0.Add(5*time.Second), flow("checkout", "cart", 8080, false))
	require.False(t, p.Source.NewPeer, "the request after the reply is known")
	require.False(t, p.Source.NewPort)
}

func TestLimits(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, err := NewStore(Config{Limits: Limits{Profiles: 2, Peers: 2, Ports: 1}}, reg)
	require.NoError(t, err)
	now := time.Now()

	s.Observe(now, flow("a", "b", 1, false))
	s.Observe(now, flow("a", "c", 2, false)) // port 2 cannot be learned
	p := s.Observe(now, flow("a", "d", 3, false))
	require.False(t, p.Source.NewPeer, "a saturated profile calls nothing new")
	require.Equal(t, 2, p.Source.Peers)
	require.Equal(t, 2, s.Len(), "the LRU holds at most 2 profiles")
	require.Greater(t, testutil.ToFloat64(s.metrics.evictions), 0.0)
	require.Equal(t, 1.0, testutil.ToFloat64(s.metrics.saturated.WithLabelValues("port")), "port 2")
	require.Equal(t, 1.0, testutil.ToFloat64(s.metrics.saturated.WithLabelValues("peer")), "the edge to d")
}

// TestRealCapturesLearnNoReplyAsPeer replays the real GKE captures, whose
// older agent leaves is_reply out on some trace points: a server's answer
// to a client (a SYN-ACK from bookinfo/ratings:9080 to a node's port 58950)
// must not make the client a destination the server calls.
func TestRealCapturesLearnNoReplyAsPeer(t *testing.T) {
	s, err := NewStore(Config{}, prometheus.NewRegistry())
	require.NoError(t, err)
	// Profiles are keyed by workload; peers by workload, or for the
	// Internet by name or address.
	type edge struct{ client, server, clientPeer, serverPeer string }
	initiated := map[[2]string]bool{}
	var replies []edge
	for _, f := range captures.Flows(t) {
		fa := facts.Measure(f.Flow)
		s.Observe(fa.Time, &fa)
		e := edge{fa.Client().Key(), fa.Server().Key(), s.peerKey(fa.Client()), s.peerKey(fa.Server())}
		if fa.Direction.Initiated {
			initiated[[2]string{e.client, e.server}] = true
		} else if fa.Direction.Rule != facts.RuleIsReply {
			replies = append(replies, e)
		}
	}
	require.NotEmpty(t, replies, "the captures hold unmarked replies")
	for _, r := range replies {
		server, ok := s.cache.Peek(r.server)
		require.True(t, ok)
		calls := server.state.knowsPeer(r.clientPeer)
		require.Equal(t, initiated[[2]string{r.server, r.client}], calls,
			"%s answered %s; it calls it only if it also initiated to it", r.server, r.client)
		client, ok := s.cache.Peek(r.client)
		require.True(t, ok)
		require.True(t, client.state.knowsPeer(r.serverPeer), "the reply teaches the edge from the client's side")
	}
}
