package shopmesh_test

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"math"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/test/shopmesh"
)

var baselineCfg = shopmesh.Config{Seed: 1, Start: start, Baseline: true}

// digest adds what identifies a flow to h: its time, its UUID (drawn from
// the generator's source, so it follows its state), both ends and what
// Hubble summarises of it.
func digest(h hash.Hash, f *flowpb.Flow) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(f.GetTime().AsTime().UnixNano()))
	h.Write(b[:])
	fmt.Fprintln(h, f.GetUuid(), f.GetNodeName(), f.GetIP().GetSource(), f.GetIP().GetDestination(),
		f.GetSource().GetPodName(), f.GetDestination().GetPodName(), f.GetSummary()) //nolint:staticcheck // Cilium fills it.
}

// scenarioDigest digests the first n flows of cfg's scenario, or all of
// them (n <= 0), and returns how many there were.
func scenarioDigest(cfg shopmesh.Config, n int) ([]byte, int) {
	g := shopmesh.New(cfg)
	end := shopmesh.ScenarioEnd(cfg)
	h := sha256.New()
	i := 0
	for ; n <= 0 || i < n; i++ {
		f := g.Next()
		if n <= 0 && !f.GetTime().AsTime().Before(end) {
			break
		}
		digest(h, f)
	}
	return h.Sum(nil), i
}

// window is the first and last time something was seen.
type window struct {
	first, last time.Time
	n           int
}

func (w *window) add(t time.Time) {
	if w.n == 0 {
		w.first = t
	}
	w.last = t
	w.n++
}

// exchangeKey names an HTTP exchange's client and server workloads and
// its method.
func exchangeKey(f *flowpb.Flow) string {
	src, dst := workload(f.GetSource()), workload(f.GetDestination())
	if f.GetIsReply().GetValue() {
		src, dst = dst, src
	}
	h := f.GetL7().GetHttp()
	path := ""
	if u, err := url.Parse(h.GetUrl()); err == nil {
		path = u.Path
	}
	return src + " " + dst + " " + h.GetMethod() + " " + path
}

func workload(ep *flowpb.Endpoint) string {
	if ep.GetNamespace() == "" || len(ep.GetWorkloads()) == 0 {
		return "world"
	}
	return ep.GetNamespace() + "/" + ep.GetWorkloads()[0].GetName()
}

// scenarioStats is what the tests check of the whole baseline scenario,
// gathered in one pass: it is too long to keep in memory.
type scenarioStats struct {
	flows       int
	digest      []byte
	first, last time.Time
	unordered   int                // flows not later than the one before
	verdicts    map[string]int     // by verdict
	classified  map[string]*window // by incident
	// requests by exchange key and minute since the start; responses'
	// latencies and codes by key and minute
	requests  map[string]map[int]int
	latencies map[string]map[int][]time.Duration
	codes     map[string]map[int][]uint32
	// unanswered HTTP requests by X-Request-Id; answers that fit no
	// request or do not look like answers
	open      map[string]*flowpb.Flow
	badAnswer []string
	// pod names by workload, with when each was first and last seen
	pods  map[string]map[string]*window
	kinds map[string]string // workload kind by workload
	// connection attempts: SYNs from pods to pods, not replies
	syns int
	// the port scan and the address sweep
	scanPorts, sweepIPs map[uint32]bool
	sweepTargets        map[string]bool
	resets              map[string]int // RST replies by incident
	// credential stuffing and exfiltration
	stuffers   map[string]bool
	exfilNames int
	exfilData  int
	resolved   map[string]bool // every address a DNS answer gave
	tunnel     []string        // the tunnel's queries
	smtp       window          // mail relay submissions, by name
	paths      map[string]bool // URL paths of requests
}

func minuteOf(t time.Time) int { return int(t.Sub(start) / time.Minute) }

var baselineStats = sync.OnceValue(func() *scenarioStats {
	s := &scenarioStats{
		verdicts: map[string]int{}, classified: map[string]*window{},
		requests: map[string]map[int]int{}, latencies: map[string]map[int][]time.Duration{}, codes: map[string]map[int][]uint32{},
		open: map[string]*flowpb.Flow{}, pods: map[string]map[string]*window{}, kinds: map[string]string{},
		scanPorts: map[uint32]bool{}, sweepIPs: map[uint32]bool{}, sweepTargets: map[string]bool{}, resets: map[string]int{},
		stuffers: map[string]bool{}, resolved: map[string]bool{}, paths: map[string]bool{},
	}
	g := shopmesh.New(baselineCfg)
	end := shopmesh.ScenarioEnd(baselineCfg)
	h := sha256.New()
	var prev time.Time
	for {
		f := g.Next()
		at := f.GetTime().AsTime()
		if !at.Before(end) {
			break
		}
		digest(h, f)
		if s.flows == 0 {
			s.first = at
		} else if !at.After(prev) {
			s.unordered++
		}
		prev, s.last = at, at
		s.flows++
		m := minuteOf(at)
		s.verdicts[f.GetVerdict().String()]++
		reply := f.GetIsReply().GetValue()

		for _, ep := range []*flowpb.Endpoint{f.GetSource(), f.GetDestination()} {
			if ep.GetPodName() == "" {
				continue
			}
			w := workload(ep)
			s.kinds[w] = ep.GetWorkloads()[0].GetKind()
			if s.pods[w] == nil {
				s.pods[w] = map[string]*window{}
			}
			if s.pods[w][ep.GetPodName()] == nil {
				s.pods[w][ep.GetPodName()] = &window{}
			}
			s.pods[w][ep.GetPodName()].add(at)
		}

		name := shopmesh.ClassifyIncident(f)
		if name != "" {
			if s.classified[name] == nil {
				s.classified[name] = &window{}
			}
			s.classified[name].add(at)
		}
		tcp := f.GetL4().GetTCP()
		switch name {
		case shopmesh.IncidentPortScan:
			if tcp.GetFlags().GetSYN() && !tcp.GetFlags().GetACK() && !reply {
				s.scanPorts[tcp.GetDestinationPort()] = true
			}
		case shopmesh.IncidentAddressSweep:
			if tcp.GetFlags().GetSYN() && !tcp.GetFlags().GetACK() && !reply {
				s.sweepTargets[f.GetIP().GetDestination()] = true
			}
		case shopmesh.IncidentCredentialStuffing:
			if !reply && f.GetL7().GetHttp() != nil {
				s.stuffers[f.GetIP().GetSource()] = true
			}
		case shopmesh.IncidentExfiltration:
			s.exfilNames += len(f.GetDestinationNames()) + len(f.GetSourceNames())
			if tcp.GetFlags().GetPSH() {
				s.exfilData++
			}
		case shopmesh.IncidentDNSTunnel:
			if !reply {
				s.tunnel = append(s.tunnel, f.GetL7().GetDns().GetQuery())
			}
		}
		if name != "" && reply && tcp.GetFlags().GetRST() {
			s.resets[name]++
		}
		if tcp.GetFlags().GetSYN() && !tcp.GetFlags().GetACK() && !reply && f.GetSource().GetPodName() != "" && f.GetDestination().GetPodName() != "" {
			s.syns++
		}
		if tcp.GetDestinationPort() == 587 && !reply && tcp.GetFlags().GetSYN() {
			if slices.Equal(f.GetDestinationNames(), []string{"smtp.sendgrid.net"}) {
				s.smtp.add(at)
			}
		}
		for _, ip := range f.GetL7().GetDns().GetIps() {
			s.resolved[ip] = true
		}

		hr := f.GetL7().GetHttp()
		if hr == nil {
			continue
		}
		key := exchangeKey(f)
		id := header(hr, "X-Request-Id")
		if f.GetL7().GetType() == flowpb.L7FlowType_REQUEST {
			if s.requests[key] == nil {
				s.requests[key] = map[int]int{}
			}
			s.requests[key][m]++
			s.open[id] = f
			if u, err := url.Parse(hr.GetUrl()); err == nil {
				s.paths[u.Path] = true
			}
			continue
		}
		req := s.open[id]
		delete(s.open, id)
		switch {
		case req == nil:
			s.badAnswer = append(s.badAnswer, "no request for "+id)
		case !reply || hr.GetCode() == 0 || f.GetL7().GetLatencyNs() == 0:
			s.badAnswer = append(s.badAnswer, "not an answer: "+id)
		case req.GetIP().GetSource() != f.GetIP().GetDestination() || req.GetIP().GetDestination() != f.GetIP().GetSource():
			s.badAnswer = append(s.badAnswer, "not reversed: "+id)
		case time.Duration(f.GetL7().GetLatencyNs()) != at.Sub(req.GetTime().AsTime()):
			s.badAnswer = append(s.badAnswer, "latency is not the time since the request: "+id)
		}
		if s.latencies[key] == nil {
			s.latencies[key] = map[int][]time.Duration{}
			s.codes[key] = map[int][]uint32{}
		}
		s.latencies[key][m] = append(s.latencies[key][m], time.Duration(f.GetL7().GetLatencyNs()))
		s.codes[key][m] = append(s.codes[key][m], hr.GetCode())
	}
	s.digest = h.Sum(nil)
	return s
})

func incident(t *testing.T, name string) shopmesh.Incident {
	t.Helper()
	for _, in := range shopmesh.Incidents(baselineCfg) {
		if in.Name == name {
			return in
		}
	}
	t.Fatalf("no incident %s", name)
	return shopmesh.Incident{}
}

// minutes are the minutes since the start that lie wholly in [from, to).
func minutes(from, to time.Duration) []int {
	var out []int
	for m := int((from + time.Minute - 1) / time.Minute); m < int(to/time.Minute); m++ {
		out = append(out, m)
	}
	return out
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	d = slices.Clone(d)
	slices.Sort(d)
	return d[len(d)/2]
}

func TestBaselineIncidentSchedule(t *testing.T) {
	require.Nil(t, shopmesh.Incidents(shopmesh.Config{Seed: 1, Start: start}), "the steady shop has no incidents")
	require.Nil(t, shopmesh.New(shopmesh.Config{Seed: 1, Start: start, Attacks: true}).Incidents())

	incidents := shopmesh.Incidents(baselineCfg)
	require.Len(t, incidents, 10)
	require.Equal(t, incidents, shopmesh.New(baselineCfg).Incidents())
	other := baselineCfg
	other.Seed = 99
	require.Equal(t, incidents, shopmesh.Incidents(other), "the schedule is the same for every seed")

	allowed := []string{"source_namespace", "source_workload", "destination_namespace", "destination_workload", "destination_ip", "destination_fqdn", "source_ip"}
	names := map[string]bool{}
	for i, in := range incidents {
		require.False(t, names[in.Name], "%s twice", in.Name)
		names[in.Name] = true
		require.NotEmpty(t, in.Description, in.Name)
		require.NotEmpty(t, in.Expect, in.Name)
		require.False(t, in.Start.Before(start.Add(shopmesh.LearningPeriod)), "%s starts at %s, while learning", in.Name, in.Start.Sub(start))
		length := in.End.Sub(in.Start)
		require.GreaterOrEqual(t, length, 2*time.Minute, in.Name)
		require.LessOrEqual(t, length, 5*time.Minute, in.Name)
		require.False(t, in.End.Add(2*time.Minute).After(shopmesh.ScenarioEnd(baselineCfg)), "%s: the capture ends before its grace period", in.Name)
		if i > 0 {
			require.False(t, in.Start.Before(incidents[i-1].End), "%s overlaps %s", in.Name, incidents[i-1].Name)
		}
		require.NotEmpty(t, in.Actor, in.Name)
		for k, v := range in.Actor {
			require.Contains(t, allowed, k, in.Name)
			require.NotEmpty(t, v, in.Name)
		}
		// Pods may leave the labels; workloads identify an actor.
		require.True(t, in.Actor["source_workload"] != "" || in.Actor["destination_workload"] != "", "%s has no workload", in.Name)
	}
	// Incidents returns copies.
	incidents[0].Actor["source_workload"] = "changed"
	require.Equal(t, "recommendation", shopmesh.Incidents(baselineCfg)[0].Actor["source_workload"])
}

func TestBaselineDeterministic(t *testing.T) {
	s := baselineStats()
	again, n := scenarioDigest(baselineCfg, 0)
	require.Equal(t, s.flows, n)
	require.Equal(t, s.digest, again, "the same seed gave other flows")

	a, _ := scenarioDigest(baselineCfg, 20000)
	other := baselineCfg
	other.Seed = 2
	b, _ := scenarioDigest(other, 20000)
	require.NotEqual(t, a, b, "seeds 1 and 2 gave the same flows")
}

func TestBaselineTimeline(t *testing.T) {
	s := baselineStats()
	require.True(t, s.first.Equal(start), "first flow at %s", s.first)
	require.Zero(t, s.unordered, "timestamps must strictly increase")
	require.Greater(t, s.last, start.Add(shopmesh.ScenarioDuration-time.Second))
	require.Less(t, s.last, shopmesh.ScenarioEnd(baselineCfg))
	// Tens of flows a second: long enough to learn, short enough to replay.
	perSecond := float64(s.flows) / shopmesh.ScenarioDuration.Seconds()
	require.Greater(t, perSecond, 40.0)
	require.Less(t, perSecond, 120.0)
	// Forwarded, or redirected to a proxy: nothing in the scenario is
	// dropped, the scans included.
	for v := range s.verdicts {
		require.Contains(t, []string{"FORWARDED", "REDIRECTED"}, v)
	}
}

// TestBaselineIncidentFlows checks that every attack's traffic is in the
// capture, in its window and only there.
func TestBaselineIncidentFlows(t *testing.T) {
	s := baselineStats()
	for _, in := range shopmesh.Incidents(baselineCfg) {
		w := s.classified[in.Name]
		switch in.Name {
		case shopmesh.IncidentLatencySpike, shopmesh.IncidentErrorSpike, shopmesh.IncidentRateSpike:
			require.Nil(t, w, "%s changes the shop's own traffic; the classifier cannot name it", in.Name)
			continue
		}
		require.NotNil(t, w, "no flows of %s", in.Name)
		require.Greater(t, w.n, 15, in.Name)
		require.False(t, w.first.Before(in.Start), "%s: a flow at %s, before its start", in.Name, w.first.Sub(start))
		require.True(t, w.last.Before(in.End), "%s: a flow at %s, after its end", in.Name, w.last.Sub(start))
		require.Less(t, w.first.Sub(in.Start), 10*time.Second, "%s starts late", in.Name)
		require.Greater(t, in.End.Sub(w.last), time.Duration(0), in.Name)
		require.Greater(t, w.last.Sub(w.first), in.End.Sub(in.Start)/2, "%s: traffic over the window, not a burst", in.Name)
	}

	t.Run("port scan: 200 ports of one pod, RST where closed", func(t *testing.T) {
		require.GreaterOrEqual(t, len(s.scanPorts), 200)
		require.Greater(t, s.resets[shopmesh.IncidentPortScan], 150)
	})
	t.Run("address sweep: 100 addresses on one port, RST from the pods found", func(t *testing.T) {
		require.Len(t, s.sweepTargets, 100)
		require.Positive(t, s.resets[shopmesh.IncidentAddressSweep])
	})
	t.Run("credential stuffing: 50 addresses, answered 401", func(t *testing.T) {
		require.Len(t, s.stuffers, 50)
		in := incident(t, shopmesh.IncidentCredentialStuffing)
		var failed int
		for _, m := range minutes(in.Start.Sub(start), in.End.Sub(start)) {
			for _, c := range s.codes["world shop/frontend POST /login"][m] {
				if c == 401 {
					failed++
				}
			}
		}
		require.Greater(t, failed, 200)
	})
	t.Run("exfiltration: large flows to an address without a name", func(t *testing.T) {
		require.Zero(t, s.exfilNames, "Cilium knows no name for the address")
		require.Greater(t, s.exfilData, 300)
		require.False(t, s.resolved["203.0.113.200"], "nothing resolved the address")
	})
	t.Run("DNS tunnel: long random labels under one domain", func(t *testing.T) {
		require.Greater(t, len(s.tunnel), 40)
		for _, q := range s.tunnel {
			require.True(t, strings.HasSuffix(q, ".t.exfil-relay.example."), q)
			require.GreaterOrEqual(t, len(strings.Split(q, ".")[0]), 40, q)
		}
	})
	t.Run("admin endpoint on a known edge", func(t *testing.T) {
		admin := incident(t, shopmesh.IncidentAdminEndpoint)
		edge := 0
		for key, byMinute := range s.requests {
			if strings.HasPrefix(key, "shop/frontend shop/accounts ") && !strings.Contains(key, "/admin/") {
				for m, n := range byMinute {
					if m < minuteOf(admin.Start) {
						edge += n
					}
				}
			}
		}
		require.Greater(t, edge, 100, "frontend calls accounts before the attack")
		require.True(t, s.paths["/admin/users"])
	})
	t.Run("latency spike on one path only", func(t *testing.T) {
		in := incident(t, shopmesh.IncidentLatencySpike)
		during := minutes(in.Start.Sub(start), in.End.Sub(start))
		before := minutes(shopmesh.LearningPeriod, in.Start.Sub(start))
		lat := func(key string, ms []int) time.Duration {
			var all []time.Duration
			for _, m := range ms {
				all = append(all, s.latencies[key][m]...)
			}
			require.NotEmpty(t, all, key)
			return median(all)
		}
		spiked := "shop/checkout shop/shipping POST /hipstershop.ShippingService/GetQuote"
		ratio := float64(lat(spiked, during)) / float64(lat(spiked, before))
		require.Greater(t, ratio, 5.0, "checkout's GetQuote")
		require.Greater(t, lat(spiked, during), 50*time.Millisecond)
		other := "shop/frontend shop/shipping POST /hipstershop.ShippingService/GetQuote"
		ratio = float64(lat(other, during)) / float64(lat(other, before))
		require.Less(t, ratio, 1.6, "frontend's GetQuote stays normal")
	})
	t.Run("error spike on one endpoint", func(t *testing.T) {
		in := incident(t, shopmesh.IncidentErrorSpike)
		share := func(key string, ms []int) float64 {
			n, bad := 0, 0
			for _, m := range ms {
				for _, c := range s.codes[key][m] {
					n++
					if c >= 500 {
						bad++
					}
				}
			}
			require.Positive(t, n, key)
			return float64(bad) / float64(n)
		}
		key := "shop/frontend shop/cart POST /hipstershop.CartService/GetCart"
		during := minutes(in.Start.Sub(start), in.End.Sub(start))
		require.Less(t, share(key, minutes(0, in.Start.Sub(start))), 0.05, "the steady shop's overloaded cart pages")
		require.InDelta(t, 0.5, share(key, during), 0.15)
		require.Less(t, share("shop/checkout shop/cart POST /hipstershop.CartService/GetCart", during), 0.1, "checkout's calls are fine")
	})
	t.Run("request rate spike", func(t *testing.T) {
		in := incident(t, shopmesh.IncidentRateSpike)
		key := "shop/recommendation shop/catalog POST /hipstershop.ProductCatalogService/ListProducts"
		perMin := func(ms []int) float64 {
			n := 0
			for _, m := range ms {
				n += s.requests[key][m]
			}
			return float64(n) / float64(len(ms))
		}
		m0 := minuteOf(in.Start)
		before := perMin(minutes(time.Duration(m0-10)*time.Minute, time.Duration(m0)*time.Minute))
		during := perMin(minutes(in.Start.Sub(start), in.End.Sub(start)))
		require.Greater(t, before, 10.0)
		require.InDelta(t, 10, during/before, 3)
	})
}

// TestBaselineRealism checks what the benign traffic of the scenario
// brings that a baseline must learn or shrug off.
func TestBaselineRealism(t *testing.T) {
	s := baselineStats()
	require.Empty(t, s.badAnswer, "HTTP answers")
	require.Less(t, len(s.open), 5, "requests without an answer (only the capture's last ones)")
	require.Greater(t, s.syns, 1000, "connections start with a SYN from client to server")

	t.Run("daily ramp", func(t *testing.T) {
		pages := func(from, to int) int {
			n := 0
			for key, byMinute := range s.requests {
				if strings.HasPrefix(key, "world shop/frontend ") {
					for m := from; m < to; m++ {
						n += byMinute[m]
					}
				}
			}
			return n
		}
		night, day := pages(0, 8), pages(33, 41)
		require.Greater(t, float64(day)/float64(night), 1.7, "the shop's traffic ramps up (%d, %d)", night, day)
		require.Less(t, float64(day)/float64(night), 3.0)
	})
	t.Run("pods churn, a rollout, same workloads", func(t *testing.T) {
		require.Greater(t, len(s.pods["shop/frontend"])+len(s.pods["shop/cart"])+len(s.pods["shop/currency"])+len(s.pods["shop/recommendation"])+len(s.pods["shop/accounts"]),
			11, "pods of the churned Deployments were replaced")
		var oldHash, newHash []string
		for name, w := range s.pods["shop/catalog"] {
			switch {
			case strings.HasPrefix(name, "catalog-6b8f9c7d4-"):
				oldHash = append(oldHash, name)
				require.Less(t, w.last, start.Add(47*time.Minute), "%s after the rollout", name)
			case strings.HasPrefix(name, "catalog-7f4c9b8d65-"):
				newHash = append(newHash, name)
				require.Greater(t, w.first, start.Add(45*time.Minute), "%s before the rollout", name)
			default:
				t.Fatalf("catalog pod %s", name)
			}
		}
		require.Len(t, newHash, 2, "the rollout replaces both pods")
		require.NotEmpty(t, oldHash)
	})
	t.Run("a CronJob every ten minutes, a new pod each run", func(t *testing.T) {
		runs := s.pods["shop/stock-sync"]
		require.Equal(t, "CronJob", s.kinds["shop/stock-sync"])
		require.Len(t, runs, 8)
		var starts []time.Duration
		for name, w := range runs {
			require.Regexp(t, `^stock-sync-\d{8}-[a-z0-9]{5}$`, name)
			require.Less(t, w.last.Sub(w.first), time.Minute, "%s runs briefly", name)
			starts = append(starts, w.first.Sub(start))
		}
		slices.Sort(starts)
		learning := 0
		for i, st := range starts {
			if st < shopmesh.LearningPeriod {
				learning++
			}
			if i > 0 {
				require.InDelta(t, float64(10*time.Minute), float64(st-starts[i-1]), float64(30*time.Second))
			}
		}
		require.Equal(t, 4, learning, "the runs recur while learning")
	})
	t.Run("the mail relay submits to port 587 by name, while learning and after", func(t *testing.T) {
		require.GreaterOrEqual(t, s.smtp.n, 14)
		require.Less(t, s.smtp.first, start.Add(6*time.Minute))
		require.Greater(t, s.smtp.last, start.Add(65*time.Minute))
	})
	t.Run("identifiers in URLs", func(t *testing.T) {
		want := map[string]*regexp.Regexp{
			"sku":            regexp.MustCompile(`^/product/[0-9A-Z]{10}$`),
			"user orders":    regexp.MustCompile(`^/v1/users/\d+/orders$`),
			"app orders":     regexp.MustCompile(`^/api/v1/users/\d+/orders$`),
			"order uuid":     regexp.MustCompile(`^/account/orders/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`),
			"accounts order": regexp.MustCompile(`^/v1/orders/[0-9a-f-]{36}$`),
		}
		distinct := map[string]int{}
		for p := range s.paths {
			for name, re := range want {
				if re.MatchString(p) {
					distinct[name]++
				}
			}
		}
		for name := range want {
			require.Greater(t, distinct[name], 5, "%s: %d distinct paths", name, distinct[name])
		}
	})
	t.Run("latencies depend on the endpoint", func(t *testing.T) {
		med := func(key string) time.Duration {
			var all []time.Duration
			for m := range 40 {
				all = append(all, s.latencies[key][m]...)
			}
			require.Greater(t, len(all), 50, key)
			return median(all)
		}
		fast := med("shop/frontend shop/currency POST /hipstershop.CurrencyService/GetSupportedCurrencies")
		slow := med("shop/frontend shop/accounts POST /v1/sessions")
		require.Greater(t, float64(slow)/float64(fast), 10.0, "%s vs %s", slow, fast)
		// Spread as a log-normal is: the 90th percentile within a few
		// medians, not a uniform draw.
		var all []time.Duration
		for m := range 40 {
			all = append(all, s.latencies["shop/checkout shop/shipping POST /hipstershop.ShippingService/GetQuote"][m]...)
		}
		sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
		p90 := all[len(all)*9/10]
		require.Less(t, float64(p90)/float64(median(all)), 3.0)
		require.Greater(t, math.Log(float64(p90)/float64(median(all))), 0.2)
	})
	t.Run("logins, mostly successful", func(t *testing.T) {
		n, failed := 0, 0
		for m := range 40 {
			for _, c := range s.codes["world shop/frontend POST /login"][m] {
				n++
				if c == 401 {
					failed++
				}
			}
		}
		require.Greater(t, n, 100)
		require.Positive(t, failed)
		require.Less(t, float64(failed)/float64(n), 0.15)
	})
}
