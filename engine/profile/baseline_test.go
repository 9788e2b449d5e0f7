package profile

import (
	"fmt"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/engine/facts"
)

var t0 = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

func pod(ns, workload, ip string) facts.Endpoint {
	return facts.Endpoint{Kind: facts.KindPod, Namespace: ns, Workload: workload, IP: ip, Labels: []string{"k8s:app=" + workload}}
}

// request is an HTTP request of client to server's endpoint.
func request(client, server facts.Endpoint, method, path string) *facts.Flow {
	fa := facts.Measure(&flowpb.Flow{L7: &flowpb.Layer7{Type: flowpb.L7FlowType_REQUEST,
		Record: &flowpb.Layer7_Http{Http: &flowpb.HTTP{Method: method, Url: "http://svc" + path}}}})
	fa.Source, fa.Destination, fa.Protocol, fa.SourcePort, fa.DestinationPort = client, server, "TCP", 40000, 8080
	return &fa
}

// response is server's answer to client.
func response(client, server facts.Endpoint, method, path string, code uint32, latency time.Duration) *facts.Flow {
	fa := facts.Measure(&flowpb.Flow{L7: &flowpb.Layer7{Type: flowpb.L7FlowType_RESPONSE, LatencyNs: uint64(latency),
		Record: &flowpb.Layer7_Http{Http: &flowpb.HTTP{Method: method, Url: "http://svc" + path, Code: code}}}})
	fa.Source, fa.Destination, fa.Protocol, fa.SourcePort, fa.DestinationPort = server, client, "TCP", 8080, 40000
	return &fa
}

func syn(client, server facts.Endpoint, port uint32) *facts.Flow {
	fa := facts.Measure(&flowpb.Flow{L4: &flowpb.Layer4{Protocol: &flowpb.Layer4_TCP{TCP: &flowpb.TCP{
		SourcePort: 40000, DestinationPort: port, Flags: &flowpb.TCPFlags{SYN: true}}}}})
	fa.Source, fa.Destination = client, server
	return &fa
}

func target(ip string) facts.Endpoint { return pod("shop", "target", ip) }

var (
	frontend = pod("shop", "frontend", "10.0.1.10")
	catalog  = pod("shop", "catalog", "10.0.1.23")
)

// steady sends one request and response a second on GET /product/{id} for
// d from start, and returns the time after.
func steady(s *Store, start time.Time, d time.Duration, code uint32, latency time.Duration) time.Time {
	at := start
	for ; at.Before(start.Add(d)); at = at.Add(time.Second) {
		s.Observe(at, request(frontend, catalog, "GET", fmt.Sprintf("/product/%d", at.Unix()%97)))
		s.Observe(at.Add(latency), response(frontend, catalog, "GET", "/product/1", code, latency))
	}
	return at
}

func TestBaselineLearnsThenJudges(t *testing.T) {
	s := newStore(t, Config{LearningPeriod: 30 * time.Minute})
	v := s.Observe(t0, request(frontend, catalog, "GET", "/product/1"))
	require.True(t, v.Baseline.Learning)
	require.False(t, v.Baseline.NewPeer, "nothing is new while learning")
	at := steady(s, t0, 40*time.Minute, 200, 20*time.Millisecond)

	v = s.Observe(at, request(frontend, catalog, "GET", "/product/5"))
	require.False(t, v.Baseline.Learning)
	require.True(t, v.Baseline.KnownEdge)
	require.True(t, v.Baseline.LearnedEdge)
	require.False(t, v.Baseline.NewEndpoint)
	require.Equal(t, "GET /product/{num}", v.Baseline.Endpoint)
	require.InDelta(t, 60, v.Baseline.BaselineRatePerMin, 3, "a request a second")

	v = s.Observe(at, request(frontend, catalog, "GET", "/actuator/heapdump"))
	require.True(t, v.Baseline.NewEndpoint)
	v = s.Observe(at, request(frontend, catalog, "GET", "/actuator/heapdump"))
	require.False(t, v.Baseline.NewEndpoint, "new once")

	v = s.Observe(at, request(frontend, pod("shop-data", "postgres", "10.0.4.12"), "GET", "/"))
	require.True(t, v.Baseline.NewPeer)
	require.Equal(t, "shop-data/postgres", v.Baseline.Peer)
	v = s.Observe(at, syn(frontend, catalog, 9999))
	require.True(t, v.Baseline.NewPort, "a known peer, a new port")
	require.False(t, v.Baseline.NewPeer)
}

func TestBaselineLatencyErrorsAndRate(t *testing.T) {
	s := newStore(t, Config{LearningPeriod: 30 * time.Minute})
	at := steady(s, t0, 45*time.Minute, 200, 20*time.Millisecond)

	// Latency ×8 on this path: the recent average follows within a few
	// responses, the baseline does not learn it.
	var v Views
	for i := range 20 {
		v = s.Observe(at.Add(time.Duration(i)*time.Second), response(frontend, catalog, "GET", "/product/1", 200, 160*time.Millisecond))
	}
	require.Greater(t, v.Baseline.LatencyRatio, 6.0)
	require.InDelta(t, 20, v.Baseline.BaselineLatencyMs, 3)

	// Half the responses fail for two minutes.
	at = at.Add(time.Minute)
	for i := range 120 {
		code := uint32(200)
		if i%2 == 0 {
			code = 503
		}
		v = s.Observe(at.Add(time.Duration(i)*time.Second), response(frontend, catalog, "GET", "/product/1", code, 20*time.Millisecond))
	}
	require.InDelta(t, 0.5, v.Baseline.ErrorRatio, 0.05)
	require.Less(t, v.Baseline.BaselineErrorRatio, 0.05, "an ongoing anomaly does not teach itself in")

	// Ten times the request rate for three minutes.
	at = at.Add(3 * time.Minute)
	for i := range 1800 {
		v = s.Observe(at.Add(time.Duration(i)*100*time.Millisecond), request(frontend, catalog, "GET", "/product/1"))
	}
	require.Greater(t, v.Baseline.RatePerMin, 500.0)
	require.Less(t, v.Baseline.BaselineRatePerMin, 120.0)
}

func TestBaselineFanoutAndAuthFailures(t *testing.T) {
	s := newStore(t, Config{LearningPeriod: time.Minute})
	scanner := pod("shop", "cart", "10.0.1.31")
	s.Observe(t0, syn(scanner, target("10.0.4.12"), 5432))
	at := t0.Add(5 * time.Minute)
	var v Views
	for port := range uint32(200) {
		v = s.Observe(at, syn(scanner, target("10.0.4.12"), 1000+port))
	}
	require.Equal(t, 200.0, v.Baseline.FanoutPorts)
	require.Equal(t, 1.0, v.Baseline.FanoutIPs)
	for i := range 100 {
		v = s.Observe(at.Add(time.Second), syn(scanner, target(fmt.Sprintf("10.0.9.%d", i)), 22))
	}
	require.Equal(t, 101.0, v.Baseline.FanoutIPs)

	login := facts.Endpoint{Kind: facts.KindWorld}
	for i := range 50 {
		login.IP = fmt.Sprintf("198.51.100.%d", i)
		v = s.Observe(at.Add(time.Duration(i)*time.Second), response(login, frontend, "POST", "/login", 401, 5*time.Millisecond))
	}
	require.Equal(t, 50.0, v.Baseline.AuthFailuresPerMin)
	require.Equal(t, 50.0, v.Baseline.AuthFailureSources, "rotating addresses, one incident")
}

func TestBaselineVariablePathPositionsAndDomains(t *testing.T) {
	s := newStore(t, Config{LearningPeriod: time.Minute})
	for i := range 30 {
		s.Observe(t0, request(frontend, catalog, "GET", fmt.Sprintf("/users/user-%c%c/orders", 'a'+i%26, 'a'+i/26)))
	}
	v := s.Observe(t0.Add(2*time.Minute), request(frontend, catalog, "GET", "/users/someone-new/orders"))
	require.Equal(t, "GET /users/{var}/orders", v.Baseline.Endpoint)
	require.False(t, v.Baseline.NewEndpoint, "a learned variable position is one endpoint")

	dns := func(q string) *facts.Flow {
		fa := facts.Measure(&flowpb.Flow{L7: &flowpb.Layer7{Type: flowpb.L7FlowType_REQUEST,
			Record: &flowpb.Layer7_Dns{Dns: &flowpb.DNS{Query: q}}}})
		fa.Source, fa.Destination = frontend, pod("kube-system", "coredns", "10.0.2.10")
		return &fa
	}
	s.Observe(t0, dns("api.stripe.com."))
	require.False(t, s.Observe(t0.Add(2*time.Minute), dns("js.stripe.com.")).Baseline.NewDomain, "same registered domain")
	require.True(t, s.Observe(t0.Add(2*time.Minute), dns("x7.oast.pro.")).Baseline.NewDomain)
}

func TestSilentWorkloadRelearns(t *testing.T) {
	s := newStore(t, Config{LearningPeriod: time.Hour})
	s.Observe(t0, request(frontend, catalog, "GET", "/"))
	v := s.Observe(t0.Add(3*time.Hour), request(frontend, pod("shop", "cart", "10.0.1.31"), "GET", "/"))
	require.False(t, v.Baseline.Learning, "three silent hours: the baseline holds")
	v = s.Observe(t0.Add(8*24*time.Hour), request(frontend, pod("shop", "cart", "10.0.1.31"), "GET", "/"))
	require.True(t, v.Baseline.Learning, "a baseline a silent week old is stale")
}
