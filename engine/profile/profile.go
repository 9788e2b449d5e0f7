// Package profile keeps bounded per-workload profiles of what each workload talks to and learns its normal behaviour from them: peers, ports, endpoints, names, latencies, error and request rates, fan-out.
package profile

import (
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
	"unique"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/hubble-sentinel/hubble-sentinel/engine/facts"
)

// Limits bound the memory profiles may use. A profile that reaches a limit
// stops learning new things of that kind and reports itself saturated
// rather than growing without bound under a scan; what it cannot hold is
// never called new.
type Limits struct {
	Profiles  int // workloads kept, least recently seen evicted first
	Peers     int // distinct edges (peer, port, protocol) per workload
	Ports     int // distinct ports per workload and direction
	Endpoints int // distinct L7 endpoints per edge
	Domains   int // distinct registered domains per workload
	Fanout    int // distinct addresses and ports tracked per minute for fan-out
}

// DefaultLimits suit a cluster of tens of thousands of workloads in a few
// hundred MiB.
var DefaultLimits = Limits{Profiles: 50000, Peers: 1024, Ports: 256, Endpoints: 256, Domains: 512, Fanout: 1024}

// Config tunes the store.
type Config struct {
	Limits
	// LearningPeriod is how long, in event time, a namespace's workloads
	// learn before their baselines judge (default 24h). A workload first
	// seen after its namespace's period gets a period of its own.
	LearningPeriod time.Duration
	// WorldPrefixV4 and WorldPrefixV6 bucket Internet peers without a name
	// by prefix (default 32 and 64: one address, one IPv6 host).
	WorldPrefixV4, WorldPrefixV6 int
}

// StaleAfter is the silence after which a workload's baseline is stale
// and it learns again (or after its learning period, if longer).
const StaleAfter = 7 * 24 * time.Hour

// DefaultLearningPeriod is a day of event time: a day's cycle of jobs and
// traffic.
const DefaultLearningPeriod = 24 * time.Hour

func (c *Config) defaults() {
	d := DefaultLimits
	for _, f := range []struct {
		v   *int
		def int
	}{{&c.Profiles, d.Profiles}, {&c.Peers, d.Peers}, {&c.Ports, d.Ports}, {&c.Endpoints, d.Endpoints}, {&c.Domains, d.Domains}, {&c.Fanout, d.Fanout}} {
		if *f.v <= 0 {
			*f.v = f.def
		}
	}
	if c.LearningPeriod <= 0 {
		c.LearningPeriod = DefaultLearningPeriod
	}
	if c.WorldPrefixV4 <= 0 || c.WorldPrefixV4 > 32 {
		c.WorldPrefixV4 = 32
	}
	if c.WorldPrefixV6 <= 0 || c.WorldPrefixV6 > 128 {
		c.WorldPrefixV6 = 64
	}
}

// View is what a workload's profile knew before the flow being judged: the
// input's sentinel.profile.
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
	// Baseline is what the client's learned baseline says of this flow.
	Baseline Baseline
}

// Baseline is what the learned baselines say of one flow, from the
// client's side (the side that initiated): the input's sentinel.baseline.
// Go measures; the policies in policies/baseline decide what is an alert.
type Baseline struct {
	// Learning holds while the client's workload is in its learning
	// period: baselines record, they do not judge.
	Learning bool
	// KnownEdge: the client had this edge (peer, port, protocol) before.
	KnownEdge bool
	// LearnedEdge: the edge was learned during the learning period, or has
	// been seen for a whole period since.
	LearnedEdge bool
	// NewPeer, NewPort, NewEndpoint, NewDomain are set only after
	// learning: a peer never contacted, a new port on a known peer, an L7
	// endpoint never called on this edge, a registered domain never looked
	// up.
	NewPeer, NewPort, NewEndpoint, NewDomain bool
	// Peer is the edge's peer key: namespace/workload, fqdn:name,
	// ip:prefix or reserved:kind.
	Peer string
	// Endpoint is the L7 endpoint on the edge, after learned placeholders.
	Endpoint string

	LatencyMs, BaselineLatencyMs, LatencyRatio, LatencyDeviations float64
	LatencySamples                                                uint32

	ErrorRatio, BaselineErrorRatio             float64
	ClientErrorRatio, BaselineClientErrorRatio float64
	Responses                                  float64

	RatePerMin, BaselineRatePerMin float64

	FanoutIPs, FanoutPorts, BaselineFanoutIPs, BaselineFanoutPorts float64
	RefusedRatio, DroppedRatio                                     float64

	AuthFailuresPerMin, BaselineAuthFailuresPerMin, AuthFailureSources float64

	DropsPerMin, BaselineDropsPerMin float64

	NXDomainRatio, BaselineNXDomainRatio float64
}

// Store holds the profiles of all workloads in an LRU cache.
type Store struct {
	cfg        Config
	cache      *lru.Cache[string, *Profile]
	namespaces *lru.Cache[string, time.Time]
	blind      blindSpans
	metrics    *metrics
}

type metrics struct {
	evictions  prometheus.Counter
	size       prometheus.GaugeFunc
	saturated  *prometheus.CounterVec
	relearning prometheus.Counter
	blind      prometheus.Counter
}

// NewStore returns a store bounded by limits; zero fields take defaults.
func NewStore(cfg Config, reg prometheus.Registerer) (*Store, error) {
	cfg.defaults()
	s := &Store{cfg: cfg}
	f := promauto.With(reg)
	s.metrics = &metrics{
		evictions: f.NewCounter(prometheus.CounterOpts{
			Namespace: "hubble_sentinel", Subsystem: "profiles", Name: "evictions_total",
			Help: "Profiles evicted from the LRU cache because it was full.",
		}),
		saturated: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hubble_sentinel", Subsystem: "profiles", Name: "saturated_total",
			Help: "Things not learned because a profile reached its limit, by kind.",
		}, []string{"kind"}),
		relearning: f.NewCounter(prometheus.CounterOpts{
			Namespace: "hubble_sentinel", Subsystem: "profiles", Name: "relearning_total",
			Help: "Workloads that came back after a silence longer than the learning period and learn again.",
		}),
		blind: f.NewCounter(prometheus.CounterOpts{
			Namespace: "hubble_sentinel", Subsystem: "profiles", Name: "blind_spans_total",
			Help: "Spans of event time with flows missing reported to the baselines (their minutes teach no rate).",
		}),
	}
	for _, k := range []string{"peer", "port", "endpoint", "domain", "fanout"} {
		s.metrics.saturated.WithLabelValues(k)
	}
	cache, err := lru.NewWithEvict(cfg.Profiles, func(string, *Profile) { s.metrics.evictions.Inc() })
	if err != nil {
		return nil, err
	}
	s.cache = cache
	if s.namespaces, err = lru.New[string, time.Time](cfg.Profiles); err != nil {
		return nil, err
	}
	s.metrics.size = f.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "hubble_sentinel", Subsystem: "profiles", Name: "entries",
		Help: "Profiles currently held.",
	}, func() float64 { return float64(cache.Len()) })
	return s, nil
}

// Len is the number of profiles held.
func (s *Store) Len() int { return s.cache.Len() }

// Config is the store's configuration, defaults filled in.
func (s *Store) Config() Config { return s.cfg }

func (s *Store) saturated(kind string) { s.metrics.saturated.WithLabelValues(kind).Inc() }

// lesson is how the minutes a flow completes may teach its baselines.
func (s *Store) lesson(learning bool) lesson { return lesson{learning: learning, blind: &s.blind} }

// Observe records a flow in both sides' profiles and returns what each
// knew before it and what the client's baseline says of it. Profiles learn
// edges from the client's side (facts.Flow.Direction): a reply teaches the
// same edge as its request, client to server on the service port, so a
// server's answer never makes the client a peer the server calls.
func (s *Store) Observe(at time.Time, fa *facts.Flow) Views {
	client, server := fa.Client(), fa.Server()
	clientKey, serverKey := client.Key(), server.Key()
	port := fa.ServicePort()

	cp := s.get(clientKey, client, at)
	var b Baseline
	c := cp.observeClient(at, s, fa, server, port, &b)
	sp := s.get(serverKey, server, at)
	sv := sp.observeServer(at, s, fa, clientKey, port, &b)
	if fa.Direction.Initiated {
		return Views{Source: c, Destination: sv, Baseline: b}
	}
	return Views{Source: sv, Destination: c, Baseline: b}
}

// peerKey names the server as a peer of its client: its workload key, and
// for the Internet the name Hubble knows it by, else its address bucketed
// by prefix, so that "a new external address" can be learned without one
// profile per address.
func (s *Store) peerKey(e *facts.Endpoint) string { return string(s.appendPeerKey(nil, e)) }

// appendPeerKey appends e's peer key to b: the flow path spells keys in a
// buffer, so that a known peer costs no allocation.
func (s *Store) appendPeerKey(b []byte, e *facts.Endpoint) []byte {
	if e.Kind == facts.KindPod && e.Namespace != "" {
		if app := appLabel(e.Labels); app != "" {
			return append(append(append(b, e.Namespace...), '/'), app...)
		}
	}
	if e.Kind != facts.KindWorld {
		return append(b, e.Key()...)
	}
	if e.FQDN != "" {
		return append(append(b, "fqdn:"...), e.FQDN...)
	}
	addr, err := netip.ParseAddr(e.IP)
	if err != nil {
		return append(b, e.Key()...)
	}
	bits := s.cfg.WorldPrefixV6
	if addr.Is4() || addr.Is4In6() {
		addr, bits = addr.Unmap(), s.cfg.WorldPrefixV4
	}
	p, err := addr.Prefix(bits)
	if err != nil {
		return append(b, e.Key()...)
	}
	return p.AppendTo(append(b, "ip:"...))
}

func (s *Store) get(key string, e *facts.Endpoint, at time.Time) *Profile {
	if p, ok := s.cache.Get(key); ok {
		p.mu.Lock()
		// A workload silent for a week (or a learning period, if longer)
		// comes back with a stale baseline: it learns again, keeping what
		// it knew.
		if st := &p.state; st.Flows > 0 && at.Sub(st.LastSeen) > max(s.cfg.LearningPeriod, StaleAfter) {
			st.LearnUntil = at.Add(s.cfg.LearningPeriod)
			s.metrics.relearning.Inc()
		}
		p.mu.Unlock()
		return p
	}
	p := &Profile{state: state{core: core{FirstSeen: at, Namespace: e.Namespace, Workload: e.Workload, Kind: e.Kind, Labels: podLabels(e)}}}
	p.state.LearnUntil = s.learnUntil(e.Namespace, at)
	if prev, ok, _ := s.cache.PeekOrAdd(key, p); ok {
		return prev
	}
	return p
}

// learnUntil is when a workload of namespace first seen at at stops
// learning: with its namespace, or a period of its own when it came after.
func (s *Store) learnUntil(namespace string, at time.Time) time.Time {
	first, ok, _ := s.namespaces.PeekOrAdd(namespace, at)
	if !ok {
		first = at
	}
	if end := first.Add(s.cfg.LearningPeriod); at.Before(end) {
		return end
	}
	return at.Add(s.cfg.LearningPeriod)
}

// appLabel is the service a pod belongs to across its versions and
// rollouts: app.kubernetes.io/name, else app. reviews-v1, -v2 and -v3 of
// one "reviews" are one peer to their callers; a canary is not a new peer.
func appLabel(labels []string) string {
	app := ""
	for _, l := range labels {
		if v, ok := strings.CutPrefix(l, "k8s:app.kubernetes.io/name="); ok {
			return v
		}
		if v, ok := strings.CutPrefix(l, "k8s:app="); ok {
			app = v
		}
	}
	return app
}

// podLabels keeps the labels that select a workload's pods (for exported
// policies), without the ones that change per rollout.
func podLabels(e *facts.Endpoint) []string {
	var out []string
	for _, l := range e.Labels {
		if strings.HasPrefix(l, "k8s:") && !strings.Contains(l, "pod-template-hash") &&
			!strings.Contains(l, "io.cilium.k8s") && !strings.Contains(l, "controller-revision-hash") {
			out = append(out, l)
		}
	}
	return out
}

// Profile is what hubble-sentinel learned about one workload.
type Profile struct {
	mu    sync.Mutex
	state state
}

// state is a profile's serialisable content (see snapshot.go). The
// client and server roles are allocated at their first flow: many
// workloads only ever answer (databases, the Internet) and a few only
// call.
type state struct {
	core
	out *clientSide // what this workload calls; nil until it calls
	in  *serverSide // who calls this workload; nil until called
}

// core is what every profile holds.
type core struct {
	Namespace  string    `json:"ns,omitempty"`
	Workload   string    `json:"wl,omitempty"`
	Kind       string    `json:"kind,omitempty"`
	Labels     []string  `json:"labels,omitempty"`
	FirstSeen  time.Time `json:"first"`
	LastSeen   time.Time `json:"last"`
	LearnUntil time.Time `json:"learn_until"`
	Flows      uint64    `json:"flows"`
}

// clientSide is the client role: what this workload calls.
type clientSide struct {
	Edges    table[string, *edge] `json:"edges,omitzero"`     // peer|proto/port
	PortsOut set[uint32]          `json:"ports_out,omitzero"` // service ports called
	Domains  set[string]          `json:"domains,omitzero"`   // registered domains looked up
	Fanout   fanout               `json:"fanout"`
	Drops    Rate                 `json:"drops"`
	NXDomain lazyRatio            `json:"nxdomain"`
}

// serverSide is the server role: who calls this workload.
type serverSide struct {
	Clients set[string]                 `json:"clients,omitzero"`
	PortsIn set[uint32]                 `json:"ports_in,omitzero"`
	Auth    table[string, *authFailure] `json:"auth,omitzero"` // by endpoint
}

// client is st's client role, allocated at its first use.
func (st *state) client() *clientSide {
	if st.out == nil {
		st.out = &clientSide{}
	}
	return st.out
}

// server is st's server role, allocated at its first use.
func (st *state) server() *serverSide {
	if st.in == nil {
		st.in = &serverSide{}
	}
	return st.in
}

// edge is one (peer, port, protocol) the workload calls.
type edge struct {
	FirstSeen time.Time                `json:"first"`
	Learned   bool                     `json:"learned,omitempty"`
	Endpoints table[string, *endpoint] `json:"endpoints,omitzero"`
	Shapes    table[string, pathShape] `json:"shapes,omitzero"` // by method/path before/position
}

// endpoint is one L7 endpoint on an edge.
type endpoint struct {
	FirstSeen time.Time `json:"first"`
	Requests  Rate      `json:"requests"`
	Errors    Ratio     `json:"errors"`  // 5xx
	Client    Ratio     `json:"client"`  // 4xx
	Latency   Latency   `json:"latency"` // response latency
}

// authFailure counts 401/403 answers of one endpoint, all clients
// together, with the distinct clients of the current minute.
type authFailure struct {
	Rate    Rate        `json:"rate"`
	Sources set[string] `json:"sources,omitzero"`
	Minute  int64       `json:"minute"`
}

// fanout is what the workload reached in the current minute.
type fanout struct {
	Minute   int64                       `json:"m"`
	IPs      table[string, *set[uint32]] `json:"ips,omitzero"` // ports by address
	MaxPorts int                         `json:"max_ports"`
	IPRate   Rate                        `json:"ip_rate"`   // distinct addresses per minute
	PortRate Rate                        `json:"port_rate"` // most ports on one address per minute
	Refused  Ratio                       `json:"refused"`   // attempts answered with RST
	Dropped  Ratio                       `json:"dropped"`   // attempts dropped
}

// learningAt reports whether the profile is learning at t. Callers hold mu.
func (st *state) learningAt(t time.Time) bool { return t.Before(st.LearnUntil) }

func (st *state) touch(at time.Time) View {
	v := View{Flows: st.Flows}
	if st.Flows > 0 {
		v.FirstSeen = st.FirstSeen
	}
	st.Flows++
	if at.Before(st.FirstSeen) {
		st.FirstSeen = at
	}
	if at.After(st.LastSeen) {
		st.LastSeen = at
	}
	return v
}

// observeClient updates the client's side and fills b.
func (p *Profile) observeClient(at time.Time, s *Store, fa *facts.Flow, server *facts.Endpoint, port uint32, b *Baseline) View {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := &p.state
	v := st.touch(at)
	learning := st.learningAt(at)
	ls := s.lesson(learning)
	b.Learning = learning
	c := st.client()

	// The edge's key, peer|proto/port, spelled in a buffer: a known edge
	// costs no allocation, and its peer is the stored key's prefix.
	var buf [128]byte
	key := s.appendPeerKey(buf[:0], server)
	peerLen := len(key)
	key = append(key, '|')
	key = appendLower(key, fa.Protocol)
	key = append(key, '/')
	key = strconv.AppendUint(key, uint64(port), 10)
	var e *edge
	var edgeKey string
	i := findText(&c.Edges, key)
	known := i >= 0
	if known {
		edgeKey, e = c.Edges.at(i)
	}
	peerKnown := known || c.knowsPeer(key[:peerLen+1])
	v.Peers = c.Edges.Len()
	if !known {
		edgeKey = string(key)
		if c.Edges.Len() < s.cfg.Peers {
			e = &edge{FirstSeen: at, Learned: learning}
			c.Edges.add(edgeKey, e)
			v.NewPeer = !peerKnown
			v.NewPort = port != 0 && learnSet(&c.PortsOut, port, s.cfg.Ports, s, "port")
			if !learning {
				b.NewPeer = !peerKnown
				b.NewPort = peerKnown
			}
		} else {
			s.saturated("peer")
		}
	}
	b.Peer = edgeKey[:peerLen]
	if e != nil {
		b.KnownEdge = known
		if !e.Learned && !at.Before(e.FirstSeen.Add(s.cfg.LearningPeriod)) {
			e.Learned = true // seen for a whole period: normal now
		}
		b.LearnedEdge = known && e.Learned
	}

	// L7 on the edge.
	if h := fa.HTTP; h != nil && e != nil {
		name := e.endpointName(buf[:0], h)
		var ep *endpoint
		if j := findText(&e.Endpoints, name); j >= 0 {
			b.Endpoint, ep = e.Endpoints.at(j)
		} else {
			b.Endpoint = intern(string(name))
			if e.Endpoints.Len() < s.cfg.Endpoints {
				ep = &endpoint{FirstSeen: at}
				e.Endpoints.add(b.Endpoint, ep)
				b.NewEndpoint = !learning && known
			} else {
				s.saturated("endpoint")
			}
		}
		if ep != nil {
			ep.observe(at, fa, ls, b)
		}
	}

	// DNS names the client looks up, and what its resolver answers.
	if d := fa.DNS; d != nil && d.Registered != "" {
		if fa.Direction.Initiated {
			if learnSet(&c.Domains, d.Registered, s.cfg.Domains, s, "domain") {
				b.NewDomain = !learning
			}
		} else {
			c.NXDomain.get().Add(at, d.Rcode == 3, ls)
		}
	}
	if nx := c.NXDomain.r; nx != nil {
		b.NXDomainRatio, _ = nx.Value(at)
		b.BaselineNXDomainRatio = nx.Baseline
	}

	c.Fanout.observe(at, fa, s, ls, b)
	if fa.Dropped() && fa.Direction.Initiated {
		c.Drops.Add(at, 1, ls)
	} else {
		c.Drops.roll(at, ls)
	}
	b.DropsPerMin, b.BaselineDropsPerMin = c.Drops.PerMinute(at), c.Drops.Baseline
	return v
}

// appendLower appends strings.ToLower(s) to b, without allocating for
// ASCII.
func appendLower(b []byte, s string) []byte {
	for i := range len(s) {
		if s[i] >= utf8.RuneSelf {
			return append(b, strings.ToLower(s)...)
		}
	}
	for i := range len(s) {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

// knowsPeer reports whether any edge of st goes to peer.
func (st *state) knowsPeer(peer string) bool {
	return st.out != nil && st.out.knowsPeer([]byte(peer+"|"))
}

// knowsPeer reports whether any edge's key starts with prefix, a peer
// and "|".
func (c *clientSide) knowsPeer(prefix []byte) bool {
	for k := range c.Edges.Keys() {
		if len(k) >= len(prefix) && k[:len(prefix)] == string(prefix) {
			return true
		}
	}
	return false
}

// observe updates an endpoint's windows with a request or a response.
func (ep *endpoint) observe(at time.Time, fa *facts.Flow, ls lesson, b *Baseline) {
	h := fa.HTTP
	switch {
	case fa.L7Type == "RESPONSE" || h.Code != 0:
		ep.Errors.Add(at, h.Code >= 500, ls)
		ep.Client.Add(at, h.Code >= 400 && h.Code < 500, ls)
		if fa.Latency > 0 {
			ep.Latency.Add(fa.Latency, ls.learning)
		}
		ep.Requests.roll(at, ls)
	default:
		ep.Requests.Add(at, 1, ls)
		ep.Errors.roll(at, ls)
		ep.Client.roll(at, ls)
	}
	b.RatePerMin, b.BaselineRatePerMin = ep.Requests.PerMinute(at), ep.Requests.Baseline
	b.ErrorRatio, b.Responses = ep.Errors.Value(at)
	b.BaselineErrorRatio = ep.Errors.Baseline
	b.ClientErrorRatio, _ = ep.Client.Value(at)
	b.BaselineClientErrorRatio = ep.Client.Baseline
	b.LatencyMs, b.BaselineLatencyMs = ep.Latency.Millis()
	if b.BaselineLatencyMs > 0 {
		b.LatencyRatio = b.LatencyMs / b.BaselineLatencyMs
	}
	b.LatencySamples = ep.Latency.Samples
	b.LatencyDeviations = ep.Latency.Deviations()
}

// observe counts the client's reach in the current minute: distinct
// addresses, ports per address, and how its attempts were answered.
func (f *fanout) observe(at time.Time, fa *facts.Flow, s *Store, ls lesson, b *Baseline) {
	m := minuteOf(at)
	if m > f.Minute {
		if f.Minute != 0 {
			f.IPRate.Add(time.Unix(f.Minute*60, 0), float64(f.IPs.Len()), ls)
			f.PortRate.Add(time.Unix(f.Minute*60, 0), float64(f.MaxPorts), ls)
		}
		f.IPRate.roll(at, ls)
		f.PortRate.roll(at, ls)
		f.Minute, f.MaxPorts = m, 0
		f.IPs.Reset()
	}
	server := fa.Server()
	attempt := fa.Direction.Initiated && (fa.TCPFlags == nil || fa.TCPFlags.GetSYN() || fa.Dropped())
	if attempt && server.IP != "" {
		ports, ok := f.IPs.Get(server.IP)
		if !ok {
			if f.IPs.Len() < s.cfg.Fanout {
				ports = &set[uint32]{}
				f.IPs.add(server.IP, ports)
			} else {
				s.saturated("fanout")
			}
		}
		if ports != nil && ports.Len() < s.cfg.Fanout {
			if port := fa.ServicePort(); !ports.Has(port) {
				ports.Add(port)
			}
			f.MaxPorts = max(f.MaxPorts, ports.Len())
		}
		f.Dropped.Add(at, fa.Dropped(), ls)
	}
	// A connection attempt is a SYN; a refused one is answered with RST.
	switch flags := fa.TCPFlags; {
	case flags == nil:
	case fa.Direction.Initiated && flags.GetSYN() && !flags.GetACK():
		f.Refused.Add(at, false, ls)
	case !fa.Direction.Initiated && flags.GetRST():
		f.Refused.Add(at, true, ls)
	}
	b.FanoutIPs, b.FanoutPorts = float64(f.IPs.Len()), float64(f.MaxPorts)
	b.BaselineFanoutIPs, b.BaselineFanoutPorts = f.IPRate.Baseline, f.PortRate.Baseline
	b.RefusedRatio, _ = f.Refused.Value(at)
	b.DroppedRatio, _ = f.Dropped.Value(at)
}

// observeServer updates the server's side: its clients, its ports and the
// authentication failures it answers, all clients together.
func (p *Profile) observeServer(at time.Time, s *Store, fa *facts.Flow, client string, port uint32, b *Baseline) View {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := &p.state
	v := st.touch(at)
	sv := st.server()
	v.Peers = sv.Clients.Len()
	v.NewPeer = learnSet(&sv.Clients, client, s.cfg.Peers, s, "peer")
	v.NewPort = port != 0 && learnSet(&sv.PortsIn, port, s.cfg.Ports, s, "port")

	if h := fa.HTTP; h != nil && b.Endpoint != "" && (h.Code == 401 || h.Code == 403 || fa.L7Type == "RESPONSE") {
		learning := st.learningAt(at)
		a, ok := sv.Auth.Get(b.Endpoint)
		if !ok && sv.Auth.Len() < s.cfg.Endpoints {
			a = &authFailure{}
			sv.Auth.add(b.Endpoint, a)
		}
		if a != nil {
			a.observe(at, h.Code == 401 || h.Code == 403, fa.Client(), s, s.lesson(learning), b)
		}
	}
	return v
}

func (a *authFailure) observe(at time.Time, failed bool, client *facts.Endpoint, s *Store, ls lesson, b *Baseline) {
	if m := minuteOf(at); m != a.Minute {
		a.Minute = m
		a.Sources.Reset()
	}
	if failed {
		a.Rate.Add(at, 1, ls)
		id := client.Key()
		if client.Kind != facts.KindPod {
			id = client.IP
		}
		learnSet(&a.Sources, id, s.cfg.Fanout, s, "fanout")
	} else {
		a.Rate.roll(at, ls)
	}
	b.AuthFailuresPerMin, b.BaselineAuthFailuresPerMin = a.Rate.PerMinute(at), a.Rate.Baseline
	b.AuthFailureSources = float64(a.Sources.Len())
}

// endpointName appends to b the request's endpoint with the positions
// this edge learned to be high-cardinality replaced by {var}. It spells
// names and position keys in buffers: a known endpoint costs no
// allocation.
func (e *edge) endpointName(b []byte, h *facts.HTTP) []byte {
	method, template, _ := strings.Cut(h.Endpoint, " ")
	name := append(append(b, method...), " /"...)
	var kb [128]byte
	rest := strings.TrimPrefix(template, "/")
	for i := 0; ; i++ {
		seg, after, more := strings.Cut(rest, "/")
		if seg != "" && !strings.HasPrefix(seg, "{") && seg != "…" {
			// The position's key: the method, the path before it (as
			// named) and its index, "GET/users/1".
			key := append(append(kb[:0], method...), name[len(method)+1:]...)
			key = strconv.AppendInt(key, int64(i), 10)
			if e.variable(key, seg) {
				seg = "{var}"
			}
		}
		name = append(name, seg...)
		if !more {
			return name
		}
		name = append(name, '/')
		rest = after
	}
}

// variable records seg at the position key and reports whether the
// position is variable.
func (e *edge) variable(key []byte, seg string) bool {
	if i := findText(&e.Shapes, key); i >= 0 {
		return e.Shapes.ref(i).observe(seg)
	}
	if e.Shapes.Len() >= maxShapes {
		return false
	}
	return e.Shapes.add(intern(string(key)), pathShape{}).observe(seg)
}

// intern is s's canonical copy: the names of endpoints and of their path
// positions and segments repeat across the profiles calling a service,
// which then share one copy, freed when none holds it any more. Peer keys,
// addresses and workload keys are not interned: most are held by one or
// two profiles, and interning costs more than it saves them.
func intern(s string) string { return unique.Make(s).Value() }

// A position of a path whose segment took more than varThreshold distinct
// values on one edge is variable (user names, slugs); maxShapes bounds the
// positions tracked per edge.
const (
	varThreshold = 16
	maxShapes    = 64
)

// pathShape is what one path position of an edge took.
type pathShape struct {
	Variable bool        `json:"var,omitempty"`
	Values   set[string] `json:"values,omitzero"`
}

// observe records seg and reports whether the position is variable.
func (ps *pathShape) observe(seg string) bool {
	if ps.Variable {
		return true
	}
	if ps.Values.Has(seg) {
		return false
	}
	ps.Values.Add(intern(seg)) // a copy, not the whole request's endpoint
	if ps.Values.Len() > varThreshold {
		ps.Variable = true
		ps.Values.Reset()
		return true
	}
	return false
}

// learnSet adds k to the set and reports whether it was new. A full set
// learns nothing more, and a key it cannot hold is not called new: a
// saturated profile must not turn every later peer into an anomaly.
func learnSet[K key](set *set[K], k K, limit int, s *Store, kind string) bool {
	if set.Has(k) {
		return false
	}
	if set.Len() >= limit {
		s.saturated(kind)
		return false
	}
	set.Add(k)
	return true
}
