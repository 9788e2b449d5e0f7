package profile

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Summary is what one workload's profile learned, for people: `baseline
// show` prints it and `baseline export` turns its edges into a policy.
type Summary struct {
	Key        string
	Namespace  string
	Workload   string
	Kind       string
	Labels     []string
	FirstSeen  time.Time
	LastSeen   time.Time
	LearnUntil time.Time
	Flows      uint64
	Edges      []EdgeSummary
	Domains    []string
}

// EdgeSummary is one peer, protocol and port a workload calls.
type EdgeSummary struct {
	Peer      string // namespace/app, fqdn:<name>, ip:<prefix>, reserved:<kind>
	Protocol  string // lower case
	Port      uint32
	FirstSeen time.Time
	Learned   bool
	Endpoints []EndpointSummary
}

// EndpointSummary is one L7 endpoint of an edge with its learned rates.
type EndpointSummary struct {
	Name                  string
	RequestsPerMin        float64
	ErrorRatio, LatencyMs float64
}

// Summaries returns every profile, sorted by key.
func (s *Store) Summaries() []Summary {
	var out []Summary
	for _, key := range s.cache.Keys() {
		p, ok := s.cache.Peek(key)
		if !ok {
			continue
		}
		p.mu.Lock()
		out = append(out, p.state.summary(key))
		p.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b Summary) int { return cmp.Compare(a.Key, b.Key) })
	return out
}

func (st *state) summary(key string) Summary {
	sum := Summary{
		Key: key, Namespace: st.Namespace, Workload: st.Workload, Kind: st.Kind, Labels: slices.Clone(st.Labels),
		FirstSeen: st.FirstSeen, LastSeen: st.LastSeen, LearnUntil: st.LearnUntil, Flows: st.Flows,
	}
	if st.out == nil {
		return sum
	}
	for k, e := range st.out.Edges.All() {
		peer, pp, _ := strings.Cut(k, "|")
		proto, port, _ := strings.Cut(pp, "/")
		n, _ := strconv.ParseUint(port, 10, 32)
		es := EdgeSummary{Peer: peer, Protocol: proto, Port: uint32(n), FirstSeen: e.FirstSeen, Learned: e.Learned}
		for name, ep := range e.Endpoints.All() {
			_, latency := ep.Latency.Millis()
			es.Endpoints = append(es.Endpoints, EndpointSummary{
				Name: name, RequestsPerMin: ep.Requests.Baseline, ErrorRatio: ep.Errors.Baseline, LatencyMs: latency,
			})
		}
		slices.SortFunc(es.Endpoints, func(a, b EndpointSummary) int { return cmp.Compare(a.Name, b.Name) })
		sum.Edges = append(sum.Edges, es)
	}
	slices.SortFunc(sum.Edges, func(a, b EdgeSummary) int {
		return cmp.Or(cmp.Compare(a.Peer, b.Peer), cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.Port, b.Port))
	})
	sum.Domains = slices.Collect(st.out.Domains.All())
	slices.Sort(sum.Domains)
	return sum
}
