// Package profile keeps bounded per-identity connection profiles of what each workload talks to.
package profile

import (
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/hubble-sentinel/hubble-sentinel/engine/facts"
)

// Limits bound the memory profiles may use. A profile that reaches a limit
// stops learning new peers or ports and reports itself saturated rather than
// growing without bound under a scan.
type Limits struct {
	Profiles int // identities kept, least recently seen evicted first
	Peers    int // distinct peers remembered per identity
	Ports    int // distinct ports remembered per identity
}

// DefaultLimits suit a cluster of tens of thousands of workloads in a few
// hundred MiB.
var DefaultLimits = Limits{Profiles: 50000, Peers: 1024, Ports: 256}

// Profile is what hubble-sentinel learned about one identity.
type Profile struct {
	mu        sync.Mutex
	firstSeen time.Time
	lastSeen  time.Time
	flows     uint64
	peersOut  map[string]struct{}
	peersIn   map[string]struct{}
	portsOut  map[uint32]struct{}
	portsIn   map[uint32]struct{}
}

// View is what an identity's profile knew before the flow being judged.
type View struct {
	Flows     uint64
	FirstSeen time.Time
	Peers     int
	NewPeer   bool
	NewPort   bool
}

// Views are the profiles of both sides of a flow.
type Views struct {
	Source, Destination View
}

// Store holds the profiles of all identities in an LRU cache.
type Store struct {
	limits  Limits
	cache   *lru.Cache[string, *Profile]
	metrics *metrics
}

type metrics struct {
	evictions prometheus.Counter
	size      prometheus.GaugeFunc
	saturated prometheus.Counter
}

// NewStore returns a store bounded by limits; zero fields take DefaultLimits.
func NewStore(limits Limits, reg prometheus.Registerer) (*Store, error) {
	if limits.Profiles <= 0 {
		limits.Profiles = DefaultLimits.Profiles
	}
	if limits.Peers <= 0 {
		limits.Peers = DefaultLimits.Peers
	}
	if limits.Ports <= 0 {
		limits.Ports = DefaultLimits.Ports
	}
	s := &Store{limits: limits}
	f := promauto.With(reg)
	s.metrics = &metrics{
		evictions: f.NewCounter(prometheus.CounterOpts{
			Namespace: "hubble_sentinel", Subsystem: "profiles", Name: "evictions_total",
			Help: "Profiles evicted from the LRU cache because it was full.",
		}),
		saturated: f.NewCounter(prometheus.CounterOpts{
			Namespace: "hubble_sentinel", Subsystem: "profiles", Name: "saturated_total",
			Help: "Peers or ports not learned because a profile reached its limit.",
		}),
	}
	cache, err := lru.NewWithEvict(limits.Profiles, func(string, *Profile) { s.metrics.evictions.Inc() })
	if err != nil {
		return nil, err
	}
	s.cache = cache
	s.metrics.size = f.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "hubble_sentinel", Subsystem: "profiles", Name: "entries",
		Help: "Profiles currently held.",
	}, func() float64 { return float64(cache.Len()) })
	return s, nil
}

// Len is the number of profiles held.
func (s *Store) Len() int { return s.cache.Len() }

// Observe records a flow in both sides' profiles and returns what each
// profile knew before it, for the policy input. Profiles learn edges from
// the client's side (facts.Flow.Direction): a reply teaches the same edge
// as its request, client to server on the service port, so a server's
// answer never makes the client a new peer of the server's outgoing
// profile.
func (s *Store) Observe(at time.Time, fa *facts.Flow) Views {
	client, server := fa.Client(), fa.Server()
	clientKey, serverKey := client.Key(), server.Key()
	port := fa.ServicePort()
	c := s.get(clientKey).observe(at, serverKey, port, true, s)
	sv := s.get(serverKey).observe(at, clientKey, port, false, s)
	if fa.Direction.Initiated {
		return Views{Source: c, Destination: sv}
	}
	return Views{Source: sv, Destination: c}
}

func (s *Store) get(key string) *Profile {
	if p, ok := s.cache.Get(key); ok {
		return p
	}
	p := &Profile{}
	if prev, ok, _ := s.cache.PeekOrAdd(key, p); ok {
		return prev
	}
	return p
}

func (p *Profile) observe(at time.Time, peer string, port uint32, outgoing bool, s *Store) View {
	p.mu.Lock()
	defer p.mu.Unlock()
	peers, ports := &p.peersIn, &p.portsIn
	if outgoing {
		peers, ports = &p.peersOut, &p.portsOut
	}
	known := View{Flows: p.flows, FirstSeen: p.firstSeen, Peers: len(*peers)}
	known.NewPeer = learn(peers, peer, s.limits.Peers, s)
	known.NewPort = port != 0 && learn(ports, port, s.limits.Ports, s)
	p.flows++
	if p.firstSeen.IsZero() || at.Before(p.firstSeen) {
		p.firstSeen = at
	}
	if at.After(p.lastSeen) {
		p.lastSeen = at
	}
	return known
}

// learn adds k to the set and reports whether it was new. A full set learns
// nothing more, and a key it cannot hold is not called new: a saturated
// profile must not turn every later peer into an anomaly.
func learn[K comparable](set *map[K]struct{}, k K, limit int, s *Store) bool {
	if *set == nil {
		*set = make(map[K]struct{})
	}
	if _, ok := (*set)[k]; ok {
		return false
	}
	if len(*set) >= limit {
		s.metrics.saturated.Inc()
		return false
	}
	(*set)[k] = struct{}{}
	return true
}
