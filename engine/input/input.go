// Package input builds the Rego input document for a Hubble flow: the flow in Hubble's JSON shape plus the facts the engine measured.
package input

import (
	"math"
	"strconv"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/hubble-sentinel/hubble-sentinel/engine/facts"
	"github.com/hubble-sentinel/hubble-sentinel/engine/profile"
)

// SentinelKey is the top-level input key under which the engine puts what it
// measured. No Flow field has this name, so it never shadows Hubble's data.
const SentinelKey = "sentinel"

// Builder builds input documents, reusing the converted values of what
// repeats from flow to flow: endpoints, measured endpoints, HTTP headers
// and node labels it has seen recently. It is safe for concurrent use.
type Builder struct {
	endpoints *endpointCache
	facts     *factsCache
	headers   *headerCache
	nodes     *nodeCache
	objects   *objectTable
	numbers   *numberTable
	ints      *intTable
}

// DefaultEndpointCacheSize holds the endpoints of a large cluster's busy
// pods; a miss only costs a conversion.
const DefaultEndpointCacheSize = 16384

// NewBuilder returns a Builder caching up to size endpoint values, and as
// many measured endpoints' values.
func NewBuilder(size int) *Builder {
	if size <= 0 {
		size = DefaultEndpointCacheSize
	}
	return &Builder{endpoints: newEndpointCache(size), facts: newFactsCache(size), headers: newHeaderCache(), nodes: newNodeCache(),
		objects: newObjectTable(), numbers: newNumberTable(), ints: &intTable{}}
}

// Document is the package-level Document with the Builder's cache.
func (b *Builder) Document(f *flowpb.Flow, fa *facts.Flow, p *profile.Views) ast.Value {
	return b.DocumentOf(f, fa, p, nil)
}

// DocumentOf builds only the parts of the document need names (nil: all):
// a part of no path in need is left out, and what the paths lead to is as
// Document builds it. Policies that read only those paths judge both
// documents alike; the engine judges with the parts its policies read.
func (b *Builder) DocumentOf(f *flowpb.Flow, fa *facts.Flow, p *profile.Views, need *Fields) ast.Value {
	var http *flowpb.HTTP
	if fa.HTTP != nil {
		http = fa.HTTP.Record()
	}
	c := getConv(b.endpoints, http, true)
	c.facts, c.headers, c.nodes, c.objects, c.numbers, c.ints = b.facts, b.headers, b.nodes, b.objects, b.numbers, b.ints
	defer c.release()
	start := len(c.items)
	c.current, c.flow, c.need = planOf(f.ProtoReflect().Descriptor()), f, need
	c.rangeWanted(f.ProtoReflect())
	c.current, c.flow = nil, nil
	// No Flow field is named SentinelKey (a test pins it), so the pair
	// is added, never replaced.
	if sn, ok := need.child(SentinelKey); ok {
		c.need = sn
		c.push(keySentinel, c.term(c.sentinelValue(fa, p)))
	}
	c.need = nil
	return c.object(start)
}

// Document builds the policy input for f: the flow as `hubble observe -o
// jsonpb` prints it, with the engine's facts and profiles under SentinelKey.
// It converts straight from the protobuf to an ast.Value, so evaluation skips
// OPA's Go-to-AST conversion of the whole document.
func Document(f *flowpb.Flow, fa *facts.Flow, p *profile.Views) ast.Value {
	return (&Builder{}).Document(f, fa, p) // no cache: every endpoint converted
}

// The keys of the sentinel document, made once: a term is never mutated
// by evaluation, so every document shares them.
var (
	keySentinel = ast.StringTerm(SentinelKey)

	keySource, keyDestination  = ast.StringTerm("source"), ast.StringTerm("destination")
	keyProtocol                = ast.StringTerm("protocol")
	keyDestinationPort         = ast.StringTerm("destination_port")
	keyInitiated, keyDirection = ast.StringTerm("initiated"), ast.StringTerm("direction")
	keyServicePort             = ast.StringTerm("service_port")
	keyInitiator, keyRule      = ast.StringTerm("initiator"), ast.StringTerm("rule")

	keyHTTP, keyMethod, keyPath  = ast.StringTerm("http"), ast.StringTerm("method"), ast.StringTerm("path")
	keyRawPath, keyQuery         = ast.StringTerm("raw_path"), ast.StringTerm("query")
	keyHost, keyUserAgent        = ast.StringTerm("host"), ast.StringTerm("user_agent")
	keyPlain, keyTruncated       = ast.StringTerm("plain"), ast.StringTerm("truncated")
	keyHeadersPlain              = ast.StringTerm("headers_plain")
	keyText, keySpecials         = ast.StringTerm("text"), ast.StringTerm("specials")
	keyNormalizedPath            = ast.StringTerm("normalized_path")
	keyDNS, keyDomains           = ast.StringTerm("dns"), ast.StringTerm("domains")
	keyLabels, keyQtypes         = ast.StringTerm("labels"), ast.StringTerm("qtypes")
	keyMaxLabelLength            = ast.StringTerm("max_label_length")
	keyMaxLabelEntropy           = ast.StringTerm("max_label_entropy")
	keyProfile, keyBaseline      = ast.StringTerm("profile"), ast.StringTerm("baseline")
	keyKind, keyNamespace        = ast.StringTerm("kind"), ast.StringTerm("namespace")
	keyWorkload, keyPod, keyIP   = ast.StringTerm("workload"), ast.StringTerm("pod"), ast.StringTerm("ip")
	keyIdentity, keyFQDN         = ast.StringTerm("identity"), ast.StringTerm("fqdn")
	keyNames                     = ast.StringTerm("names")
	keyFlows, keyFirstSeen       = ast.StringTerm("flows"), ast.StringTerm("first_seen")
	keyPeers                     = ast.StringTerm("peers")
	keyNewPeer, keyNewPort       = ast.StringTerm("new_peer"), ast.StringTerm("new_port")
	keyNewEndpoint, keyNewDomain = ast.StringTerm("new_endpoint"), ast.StringTerm("new_domain")
	keyLearning                  = ast.StringTerm("learning")
	keyKnownEdge, keyLearnedEdge = ast.StringTerm("known_edge"), ast.StringTerm("learned_edge")
	keyPeer, keyEndpoint         = ast.StringTerm("peer"), ast.StringTerm("endpoint")

	keyLatency, keyMs, keyBaselineMs = ast.StringTerm("latency"), ast.StringTerm("ms"), ast.StringTerm("baseline_ms")
	keyRatio, keyDeviations          = ast.StringTerm("ratio"), ast.StringTerm("deviations")
	keySamples                       = ast.StringTerm("samples")
	keyErrors, keyBaselineRatio      = ast.StringTerm("errors"), ast.StringTerm("baseline_ratio")
	keyClientRatio                   = ast.StringTerm("client_ratio")
	keyBaselineClientRatio           = ast.StringTerm("baseline_client_ratio")
	keyResponses                     = ast.StringTerm("responses")
	keyRate, keyPerMin               = ast.StringTerm("rate"), ast.StringTerm("per_min")
	keyBaselinePerMin                = ast.StringTerm("baseline_per_min")
	keyFanout, keyIPs, keyPorts      = ast.StringTerm("fanout"), ast.StringTerm("ips"), ast.StringTerm("ports")
	keyBaselineIPs, keyBaselinePorts = ast.StringTerm("baseline_ips"), ast.StringTerm("baseline_ports")
	keyRefusedRatio, keyDroppedRatio = ast.StringTerm("refused_ratio"), ast.StringTerm("dropped_ratio")
	keyAuthFailures, keySources      = ast.StringTerm("auth_failures"), ast.StringTerm("sources")
	keyDrops                         = ast.StringTerm("drops")
	keyNXDomainRatio                 = ast.StringTerm("nxdomain_ratio")
	keyBaselineNXDomainRatio         = ast.StringTerm("baseline_nxdomain_ratio")
	emptyArray                       = ast.ArrayTerm()
	zeroNum                          = ast.NumberTerm("0.00")
)

func (c *conv) sentinelValue(fa *facts.Flow, p *profile.Views) ast.Value {
	start := len(c.items)
	if c.wants(keySource) {
		c.push(keySource, c.term(c.measuredEndpoint(&fa.Source, false)))
	}
	if c.wants(keyDestination) {
		c.push(keyDestination, c.term(c.measuredEndpoint(&fa.Destination, true)))
	}
	c.pushWanted(keyProtocol, c.word(fa.Protocol))
	c.pushWanted(keyDestinationPort, c.int(int64(fa.DestinationPort)))
	c.pushWanted(keyInitiated, ast.InternedTerm(fa.Direction.Initiated))
	c.pushWanted(keyDirection, directionTerm(fa.Direction))
	c.pushWanted(keyServicePort, c.int(int64(fa.ServicePort())))
	if h := fa.HTTP; h != nil && c.wants(keyHTTP) {
		c.push(keyHTTP, c.term(partsObject(c, httpParts, h)))
	}
	if d := fa.DNS; d != nil && c.wants(keyDNS) {
		c.push(keyDNS, c.term(partsObject(c, dnsParts, d)))
	}
	if p != nil {
		if c.wants(keyProfile) {
			at := len(c.items)
			c.push(keySource, c.profileValue(&p.Source))
			c.push(keyDestination, c.profileValue(&p.Destination))
			obj := c.object(at)
			c.push(keyProfile, c.term(obj))
		}
		if bn, ok := c.need.child("baseline"); ok {
			c.need = bn
			c.push(keyBaseline, c.baselineValue(&p.Baseline))
		}
	}
	return c.object(start)
}

// words are the string terms of the few values a fact mostly takes (a
// protocol, an HTTP method, a DNS query type, an endpoint's kind), made
// once.
var words = func() map[string]*ast.Term {
	m := map[string]*ast.Term{}
	for _, w := range []string{
		"", "TCP", "UDP", "SCTP", "ICMPv4", "ICMPv6", "VRRP", "IGMP",
		"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
		"A", "AAAA", "CNAME", "TXT", "MX", "NS", "PTR", "SRV", "SOA", "HTTPS", "SVCB", "ANY",
		facts.KindPod, facts.KindWorld, facts.KindHost, facts.KindRemoteNode, facts.KindKubeAPIServer,
		facts.KindHealth, facts.KindInit, facts.KindIngress, facts.KindUnmanaged, facts.KindUnknown,
	} {
		m[w] = ast.StringTerm(w)
	}
	return m
}()

// word is the string term of s, shared when s is one of the words.
func (c *conv) word(s string) *ast.Term {
	if t, ok := words[s]; ok {
		return t
	}
	return c.str(s)
}

// str is a string term.
func (c *conv) str(s string) *ast.Term { return c.term(ast.String(s)) }

// strings is an array term of strings.
func (c *conv) strings(ss []string) *ast.Term {
	if len(ss) == 0 {
		return emptyArray
	}
	terms := make([]*ast.Term, len(ss))
	for i, s := range ss {
		terms[i] = c.str(s)
	}
	return c.term(ast.NewArray(terms...))
}

// directions are the input values of every direction Measure reports,
// built once: AST values are never mutated by evaluation.
var directions = func() map[facts.Direction]*ast.Term {
	m := map[facts.Direction]*ast.Term{}
	for _, rule := range []string{facts.RuleIsReply, facts.RuleReply, facts.RuleL7Type, facts.RuleTCPFlags, facts.RuleICMP, facts.RulePorts, facts.RuleDefault} {
		for _, initiated := range []bool{true, false} {
			d := facts.Direction{Initiated: initiated, Rule: rule}
			m[d] = newDirectionTerm(d)
		}
	}
	return m
}()

func directionTerm(d facts.Direction) *ast.Term {
	if t, ok := directions[d]; ok {
		return t
	}
	return newDirectionTerm(d)
}

func newDirectionTerm(d facts.Direction) *ast.Term {
	t := ast.ObjectTerm(
		ast.Item(keyInitiator, ast.InternedTerm(d.Initiator())),
		ast.Item(keyRule, ast.InternedTerm(d.Rule)),
	)
	seal(t.Value)
	return t
}

// measuredEndpoint is the sentinel value of e, cached when the Builder
// caches.
func (c *conv) measuredEndpoint(e *facts.Endpoint, withFQDN bool) ast.Value {
	if c.facts != nil {
		return c.facts.value(e, withFQDN)
	}
	return c.endpointValue(e, withFQDN)
}

func (c *conv) endpointValue(e *facts.Endpoint, withFQDN bool) ast.Value {
	if withFQDN {
		return partsObject(c, destinationParts, e)
	}
	return partsObject(c, sourceParts, e)
}

// num is a measured quantity, to two decimals: finer differences mean
// nothing to a threshold and only make inputs differ.
func (c *conv) num(f float64) *ast.Term {
	if f != f || f > 1e15 || f < -1e15 { // NaN or absurd: say nothing
		f = 0
	}
	if f == 0 && !math.Signbit(f) { // -0 is "-0.00"
		return zeroNum // most of a baseline, while it learns
	}
	var buf [32]byte
	b := strconv.AppendFloat(buf[:0], f, 'f', 2, 64)
	if c.numbers != nil {
		if t := c.numbers.get(b); t != nil {
			return t
		}
	}
	return c.term(ast.Number(b))
}

func (c *conv) baselineValue(b *profile.Baseline) *ast.Term {
	if *b == (profile.Baseline{}) {
		return zeroBaseline
	}
	return c.newBaselineValue(b)
}

func (c *conv) newBaselineValue(b *profile.Baseline) *ast.Term {
	start := len(c.items)
	for _, p := range baselineParts {
		if c.wants(p.key) {
			c.push(p.key, p.of(c, b))
		}
	}
	for i := range measurements {
		if m := &measurements[i]; c.wants(m.key) {
			var buf [2 * maxMeasures]*ast.Term
			c.baselineGroup(m.key, m.pairs(c, b, buf[:0])...)
		}
	}
	return c.term(c.object(start))
}

// A measurement group of the baseline (sentinel.baseline.latency, …):
// numbers that move on nearly every flow, read by the volatile policies
// only, so that the engine builds them only for a flow one of those judges
// (see Measurements and MeasurementFloat).
type measurementGroup struct {
	key    *ast.Term
	fields []measure
}

type measure struct {
	key   *ast.Term
	of    func(*profile.Baseline) float64
	count bool // an integer, not a number of two decimals
}

func (f *measure) term(c *conv, b *profile.Baseline) *ast.Term {
	if f.count {
		return c.int(int64(f.of(b)))
	}
	return c.num(f.of(b))
}

// pairs appends to kv the group's keys and values, alternating.
func (m *measurementGroup) pairs(c *conv, b *profile.Baseline, kv []*ast.Term) []*ast.Term {
	for i := range m.fields {
		kv = append(kv, m.fields[i].key, m.fields[i].term(c, b))
	}
	return kv
}

// measurementNamed is the measurement group group, and its field field
// ("": none asked, nil when there is no such field).
func measurementNamed(group, field string) (*measurementGroup, *measure, bool) {
	for i := range measurements {
		m := &measurements[i]
		if string(m.key.Value.(ast.String)) != group {
			continue
		}
		for j := range m.fields {
			if f := &m.fields[j]; string(f.key.Value.(ast.String)) == field {
				return m, f, true
			}
		}
		return m, nil, true
	}
	return nil, nil, false
}

const maxMeasures = 6

var measurements = []measurementGroup{
	{keyLatency, []measure{
		{keyMs, func(b *profile.Baseline) float64 { return b.LatencyMs }, false},
		{keyBaselineMs, func(b *profile.Baseline) float64 { return b.BaselineLatencyMs }, false},
		{keyRatio, func(b *profile.Baseline) float64 { return b.LatencyRatio }, false},
		{keyDeviations, func(b *profile.Baseline) float64 { return b.LatencyDeviations }, false},
		{keySamples, func(b *profile.Baseline) float64 { return float64(b.LatencySamples) }, true},
	}},
	{keyErrors, []measure{
		{keyRatio, func(b *profile.Baseline) float64 { return b.ErrorRatio }, false},
		{keyBaselineRatio, func(b *profile.Baseline) float64 { return b.BaselineErrorRatio }, false},
		{keyClientRatio, func(b *profile.Baseline) float64 { return b.ClientErrorRatio }, false},
		{keyBaselineClientRatio, func(b *profile.Baseline) float64 { return b.BaselineClientErrorRatio }, false},
		{keyResponses, func(b *profile.Baseline) float64 { return b.Responses }, false},
	}},
	{keyRate, []measure{
		{keyPerMin, func(b *profile.Baseline) float64 { return b.RatePerMin }, false},
		{keyBaselinePerMin, func(b *profile.Baseline) float64 { return b.BaselineRatePerMin }, false},
	}},
	{keyFanout, []measure{
		{keyIPs, func(b *profile.Baseline) float64 { return b.FanoutIPs }, false},
		{keyPorts, func(b *profile.Baseline) float64 { return b.FanoutPorts }, false},
		{keyBaselineIPs, func(b *profile.Baseline) float64 { return b.BaselineFanoutIPs }, false},
		{keyBaselinePorts, func(b *profile.Baseline) float64 { return b.BaselineFanoutPorts }, false},
		{keyRefusedRatio, func(b *profile.Baseline) float64 { return b.RefusedRatio }, false},
		{keyDroppedRatio, func(b *profile.Baseline) float64 { return b.DroppedRatio }, false},
	}},
	{keyAuthFailures, []measure{
		{keyPerMin, func(b *profile.Baseline) float64 { return b.AuthFailuresPerMin }, false},
		{keyBaselinePerMin, func(b *profile.Baseline) float64 { return b.BaselineAuthFailuresPerMin }, false},
		{keySources, func(b *profile.Baseline) float64 { return b.AuthFailureSources }, false},
	}},
	{keyDrops, []measure{
		{keyPerMin, func(b *profile.Baseline) float64 { return b.DropsPerMin }, false},
		{keyBaselinePerMin, func(b *profile.Baseline) float64 { return b.BaselineDropsPerMin }, false},
	}},
	{keyDNS, []measure{
		{keyNXDomainRatio, func(b *profile.Baseline) float64 { return b.NXDomainRatio }, false},
		{keyBaselineNXDomainRatio, func(b *profile.Baseline) float64 { return b.BaselineNXDomainRatio }, false},
	}},
}

// Measurements are the names of the baseline's measurement groups, below
// sentinel.baseline.
func Measurements() []string {
	out := make([]string, len(measurements))
	for i, m := range measurements {
		out[i] = string(m.key.Value.(ast.String))
	}
	return out
}

// MeasurementFloat is the number a document built from a baseline b holds
// at sentinel.baseline.<group>.<field>, before it is written with two
// decimals (an integer as it is): within 0.005 of the document's. False
// for a name that is none, and for a value the document does not hold as
// it is (not finite, or beyond ±1e12).
func MeasurementFloat(b *profile.Baseline, group, field string) (float64, bool) {
	_, f, _ := measurementNamed(group, field)
	if f == nil {
		return 0, false
	}
	v := f.of(b)
	if v != v || math.Abs(v) > 1e12 {
		return 0, false
	}
	return v, true
}

// baselineGroup pushes the baseline group key of kv (keys and values,
// alternating). A group that knows nothing (every value num's zeroNum or
// the interned 0) is zeroBaseline's own group, shared by every document
// that has one: most flows have some.
func (c *conv) baselineGroup(key *ast.Term, kv ...*ast.Term) {
	if zeroBaseline != nil && allZero(kv) { // nil while zeroBaseline itself is built
		c.push(key, zeroBaseline.Value.(ast.Object).Get(key))
		return
	}
	c.push(key, c.group(kv...))
}

var zeroCount = ast.InternedTerm(0)

// allZero reports whether every value of kv (keys and values, alternating)
// is zero as num and a count show it.
func allZero(kv []*ast.Term) bool {
	for i := 1; i < len(kv); i += 2 {
		if kv[i] != zeroNum && kv[i] != zeroCount {
			return false
		}
	}
	return true
}

// pushWanted adds the pair when the part of the document being built
// has key.
func (c *conv) pushWanted(key, v *ast.Term) {
	if c.wants(key) {
		c.push(key, v)
	}
}

// wants reports whether the part of the document being built has key (a
// string term).
func (c *conv) wants(key *ast.Term) bool {
	_, ok := c.need.child(string(key.Value.(ast.String)))
	return ok
}

// group is the object term of keys and values, alternating.
func (c *conv) group(kv ...*ast.Term) *ast.Term {
	start := len(c.items)
	for i := 0; i+1 < len(kv); i += 2 {
		c.push(kv[i], kv[i+1])
	}
	return c.term(c.object(start))
}

// zeroBaseline and zeroProfile are the values of a baseline and of a
// profile that know nothing yet, shared by every document that has them.
var zeroBaseline *ast.Term

// init builds zeroBaseline (not as a variable's initializer: building it
// reads zeroBaseline, nil until then, to know its groups cannot be shared
// yet).
func init() {
	c := getConv(nil, nil, false)
	defer c.release()
	zeroBaseline = c.newBaselineValue(&profile.Baseline{})
	seal(zeroBaseline.Value)
}

var (
	zeroProfile = func() *ast.Term {
		c := getConv(nil, nil, false)
		defer c.release()
		t := c.newProfileValue(&profile.View{})
		seal(t.Value)
		return t
	}()
)

func (c *conv) profileValue(p *profile.View) *ast.Term {
	if *p == (profile.View{}) {
		return zeroProfile
	}
	return c.newProfileValue(p)
}

func (c *conv) newProfileValue(p *profile.View) *ast.Term {
	first := ""
	if !p.FirstSeen.IsZero() {
		first = p.FirstSeen.UTC().Format(time.RFC3339Nano)
	}
	start := len(c.items)
	c.push(keyFlows, c.int(int64(min(p.Flows, 1<<62))))
	c.push(keyFirstSeen, c.str(first))
	c.push(keyPeers, c.int(int64(p.Peers)))
	c.push(keyNewPeer, ast.InternedTerm(p.NewPeer))
	c.push(keyNewPort, ast.InternedTerm(p.NewPort))
	return c.term(c.object(start))
}
