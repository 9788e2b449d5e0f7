// Package input builds the Rego input document for a Hubble flow: the flow in Hubble's JSON shape plus the facts the engine measured.
package input

import (
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

// Builder builds input documents, reusing the converted values of
// endpoints it has seen recently. It is safe for concurrent use.
type Builder struct {
	endpoints *endpointCache
}

// DefaultEndpointCacheSize holds the endpoints of a large cluster's busy
// pods; a miss only costs a conversion.
const DefaultEndpointCacheSize = 16384

// NewBuilder returns a Builder caching up to size endpoint values.
func NewBuilder(size int) *Builder {
	if size <= 0 {
		size = DefaultEndpointCacheSize
	}
	return &Builder{endpoints: newEndpointCache(size)}
}

// Document is the package-level Document with the Builder's cache.
func (b *Builder) Document(f *flowpb.Flow, fa *facts.Flow, p *profile.Views) ast.Value {
	c := &conv{cache: b.endpoints}
	if fa.HTTP != nil {
		c.http = fa.HTTP.Record()
	}
	doc := messageValueCached(f.ProtoReflect(), c).(ast.Object)
	doc.Insert(ast.InternedTerm(SentinelKey), ast.NewTerm(sentinelValue(fa, p)))
	return doc
}

// Document builds the policy input for f: the flow as `hubble observe -o
// jsonpb` prints it, with the engine's facts and profiles under SentinelKey.
// It converts straight from the protobuf to an ast.Value, so evaluation skips
// OPA's Go-to-AST conversion of the whole document.
func Document(f *flowpb.Flow, fa *facts.Flow, p *profile.Views) ast.Value {
	return (&Builder{}).Document(f, fa, p) // no cache: every endpoint converted
}

func sentinelValue(fa *facts.Flow, p *profile.Views) ast.Object {
	obj := ast.NewObjectWithCapacity(10)
	obj.Insert(ast.InternedTerm("source"), ast.NewTerm(endpointValue(&fa.Source, false)))
	obj.Insert(ast.InternedTerm("destination"), ast.NewTerm(endpointValue(&fa.Destination, true)))
	obj.Insert(ast.InternedTerm("protocol"), ast.InternedTerm(fa.Protocol))
	obj.Insert(ast.InternedTerm("destination_port"), ast.InternedTerm(fa.DestinationPort))
	obj.Insert(ast.InternedTerm("initiated"), ast.InternedTerm(fa.Direction.Initiated))
	obj.Insert(ast.InternedTerm("direction"), directionTerm(fa.Direction))
	obj.Insert(ast.InternedTerm("service_port"), ast.InternedTerm(fa.ServicePort()))
	if h := fa.HTTP; h != nil {
		obj.Insert(ast.InternedTerm("http"), ast.ObjectTerm(
			ast.Item(ast.InternedTerm("method"), ast.InternedTerm(h.Method)),
			ast.Item(ast.InternedTerm("path"), ast.StringTerm(h.Path)),
			ast.Item(ast.InternedTerm("raw_path"), ast.StringTerm(h.RawPath)),
			ast.Item(ast.InternedTerm("query"), ast.StringTerm(h.Query)),
			ast.Item(ast.InternedTerm("host"), ast.StringTerm(h.Host)),
			ast.Item(ast.InternedTerm("user_agent"), ast.StringTerm(h.UserAgent)),
			ast.Item(ast.InternedTerm("plain"), ast.InternedTerm(h.Plain)),
			ast.Item(ast.InternedTerm("truncated"), ast.InternedTerm(h.Truncated)),
		))
	}
	if d := fa.DNS; d != nil {
		labels := make([]*ast.Term, len(d.Labels))
		for i, l := range d.Labels {
			labels[i] = ast.StringTerm(l)
		}
		qtypes := make([]*ast.Term, len(d.Qtypes))
		for i, q := range d.Qtypes {
			qtypes[i] = ast.InternedTerm(q)
		}
		obj.Insert(ast.InternedTerm("dns"), ast.ObjectTerm(
			ast.Item(ast.InternedTerm("query"), ast.StringTerm(d.Query)),
			ast.Item(ast.InternedTerm("domains"), stringArray(d.Domains)),
			ast.Item(ast.InternedTerm("labels"), ast.ArrayTerm(labels...)),
			ast.Item(ast.InternedTerm("max_label_length"), ast.InternedTerm(d.MaxLabelLength)),
			ast.Item(ast.InternedTerm("max_label_entropy"), ast.NewTerm(ast.Number(strconv.FormatFloat(d.MaxLabelEntropy, 'f', 3, 64)))),
			ast.Item(ast.InternedTerm("qtypes"), ast.ArrayTerm(qtypes...)),
			ast.Item(ast.InternedTerm("truncated"), ast.InternedTerm(d.Truncated)),
		))
	}
	if p != nil {
		obj.Insert(ast.InternedTerm("profile"), ast.ObjectTerm(
			ast.Item(ast.InternedTerm("source"), ast.NewTerm(profileValue(&p.Source))),
			ast.Item(ast.InternedTerm("destination"), ast.NewTerm(profileValue(&p.Destination))),
		))
		obj.Insert(ast.InternedTerm("baseline"), ast.NewTerm(baselineValue(&p.Baseline)))
	}
	return obj
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
	return ast.ObjectTerm(
		ast.Item(ast.InternedTerm("initiator"), ast.InternedTerm(d.Initiator())),
		ast.Item(ast.InternedTerm("rule"), ast.InternedTerm(d.Rule)),
	)
}

func endpointValue(e *facts.Endpoint, withFQDN bool) ast.Object {
	obj := ast.NewObjectWithCapacity(7)
	obj.Insert(ast.InternedTerm("kind"), ast.InternedTerm(e.Kind))
	obj.Insert(ast.InternedTerm("namespace"), ast.InternedTerm(e.Namespace))
	obj.Insert(ast.InternedTerm("workload"), ast.StringTerm(e.Workload))
	obj.Insert(ast.InternedTerm("pod"), ast.StringTerm(e.Pod))
	obj.Insert(ast.InternedTerm("ip"), ast.StringTerm(e.IP))
	obj.Insert(ast.InternedTerm("identity"), ast.InternedTerm(e.Identity))
	if withFQDN {
		obj.Insert(ast.InternedTerm("fqdn"), ast.StringTerm(e.FQDN))
		obj.Insert(ast.InternedTerm("names"), stringArray(e.Names))
		obj.Insert(ast.InternedTerm("domains"), stringArray(e.Domains))
	}
	return obj
}

func stringArray(ss []string) *ast.Term {
	terms := make([]*ast.Term, len(ss))
	for i, s := range ss {
		terms[i] = ast.StringTerm(s)
	}
	return ast.ArrayTerm(terms...)
}

// num is a measured quantity, to two decimals: finer differences mean
// nothing to a threshold and only make inputs differ.
func num(f float64) *ast.Term {
	if f != f || f > 1e15 || f < -1e15 { // NaN or absurd: say nothing
		f = 0
	}
	return ast.NewTerm(ast.Number(strconv.FormatFloat(f, 'f', 2, 64)))
}

func item(k string, v *ast.Term) [2]*ast.Term { return ast.Item(ast.InternedTerm(k), v) }

func baselineValue(b *profile.Baseline) ast.Object {
	return ast.NewObject(
		item("learning", ast.InternedTerm(b.Learning)),
		item("known_edge", ast.InternedTerm(b.KnownEdge)),
		item("learned_edge", ast.InternedTerm(b.LearnedEdge)),
		item("new_peer", ast.InternedTerm(b.NewPeer)),
		item("new_port", ast.InternedTerm(b.NewPort)),
		item("new_endpoint", ast.InternedTerm(b.NewEndpoint)),
		item("new_domain", ast.InternedTerm(b.NewDomain)),
		item("peer", ast.StringTerm(b.Peer)),
		item("endpoint", ast.StringTerm(b.Endpoint)),
		item("latency", ast.ObjectTerm(
			item("ms", num(b.LatencyMs)), item("baseline_ms", num(b.BaselineLatencyMs)),
			item("ratio", num(b.LatencyRatio)), item("deviations", num(b.LatencyDeviations)), item("samples", ast.InternedTerm(int(b.LatencySamples))))),
		item("errors", ast.ObjectTerm(
			item("ratio", num(b.ErrorRatio)), item("baseline_ratio", num(b.BaselineErrorRatio)),
			item("client_ratio", num(b.ClientErrorRatio)), item("baseline_client_ratio", num(b.BaselineClientErrorRatio)),
			item("responses", num(b.Responses)))),
		item("rate", ast.ObjectTerm(item("per_min", num(b.RatePerMin)), item("baseline_per_min", num(b.BaselineRatePerMin)))),
		item("fanout", ast.ObjectTerm(
			item("ips", num(b.FanoutIPs)), item("ports", num(b.FanoutPorts)),
			item("baseline_ips", num(b.BaselineFanoutIPs)), item("baseline_ports", num(b.BaselineFanoutPorts)),
			item("refused_ratio", num(b.RefusedRatio)), item("dropped_ratio", num(b.DroppedRatio)))),
		item("auth_failures", ast.ObjectTerm(
			item("per_min", num(b.AuthFailuresPerMin)), item("baseline_per_min", num(b.BaselineAuthFailuresPerMin)),
			item("sources", num(b.AuthFailureSources)))),
		item("drops", ast.ObjectTerm(item("per_min", num(b.DropsPerMin)), item("baseline_per_min", num(b.BaselineDropsPerMin)))),
		item("dns", ast.ObjectTerm(item("nxdomain_ratio", num(b.NXDomainRatio)), item("baseline_nxdomain_ratio", num(b.BaselineNXDomainRatio)))),
	)
}

func profileValue(p *profile.View) ast.Object {
	first := ""
	if !p.FirstSeen.IsZero() {
		first = p.FirstSeen.UTC().Format(time.RFC3339Nano)
	}
	return ast.NewObject(
		ast.Item(ast.InternedTerm("flows"), ast.InternedTerm(int64(min(p.Flows, 1<<62)))),
		ast.Item(ast.InternedTerm("first_seen"), ast.StringTerm(first)),
		ast.Item(ast.InternedTerm("peers"), ast.InternedTerm(p.Peers)),
		ast.Item(ast.InternedTerm("new_peer"), ast.InternedTerm(p.NewPeer)),
		ast.Item(ast.InternedTerm("new_port"), ast.InternedTerm(p.NewPort)),
	)
}
