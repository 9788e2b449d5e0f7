package input

// The reference conversion: the input document as this package built it
// before it was made fast (one ast.Object.Insert per field, a key term
// looked up per field, no slab, no cache), kept so that
// TestDocumentMatchesReference and FuzzDocument prove the fast one builds
// exactly the same document. It shares the scalar conversions and the
// direction terms, which did not change.

import (
	"strconv"
	"sync"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/open-policy-agent/opa/v1/ast"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hubble-sentinel/hubble-sentinel/engine/facts"
	"github.com/hubble-sentinel/hubble-sentinel/engine/profile"
)

type refConv struct {
	http *flowpb.HTTP
}

func refDocument(f *flowpb.Flow, fa *facts.Flow, p *profile.Views) ast.Value {
	c := &refConv{}
	if fa.HTTP != nil {
		c.http = fa.HTTP.Record()
	}
	doc := refMessageValueCached(f.ProtoReflect(), c).(ast.Object)
	doc.Insert(ast.InternedTerm(SentinelKey), ast.NewTerm(refSentinelValue(fa, p)))
	return doc
}

func refSentinelValue(fa *facts.Flow, p *profile.Views) ast.Object {
	obj := ast.NewObjectWithCapacity(10)
	obj.Insert(ast.InternedTerm("source"), ast.NewTerm(refEndpointValue(&fa.Source, false)))
	obj.Insert(ast.InternedTerm("destination"), ast.NewTerm(refEndpointValue(&fa.Destination, true)))
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
			ast.Item(ast.InternedTerm("headers_plain"), ast.InternedTerm(h.HeadersPlain)),
			ast.Item(ast.InternedTerm("truncated"), ast.InternedTerm(h.Truncated)),
			ast.Item(ast.InternedTerm("text"), ast.StringTerm(h.Text)),
			ast.Item(ast.InternedTerm("specials"), ast.StringTerm(h.Specials)),
			ast.Item(ast.InternedTerm("normalized_path"), ast.StringTerm(h.NormalizedPath)),
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
			ast.Item(ast.InternedTerm("domains"), refStringArray(d.Domains)),
			ast.Item(ast.InternedTerm("labels"), ast.ArrayTerm(labels...)),
			ast.Item(ast.InternedTerm("max_label_length"), ast.InternedTerm(d.MaxLabelLength)),
			ast.Item(ast.InternedTerm("max_label_entropy"), ast.NewTerm(ast.Number(strconv.FormatFloat(d.MaxLabelEntropy, 'f', 3, 64)))),
			ast.Item(ast.InternedTerm("qtypes"), ast.ArrayTerm(qtypes...)),
			ast.Item(ast.InternedTerm("truncated"), ast.InternedTerm(d.Truncated)),
		))
	}
	if p != nil {
		obj.Insert(ast.InternedTerm("profile"), ast.ObjectTerm(
			ast.Item(ast.InternedTerm("source"), ast.NewTerm(refProfileValue(&p.Source))),
			ast.Item(ast.InternedTerm("destination"), ast.NewTerm(refProfileValue(&p.Destination))),
		))
		obj.Insert(ast.InternedTerm("baseline"), ast.NewTerm(refBaselineValue(&p.Baseline)))
	}
	return obj
}

func refEndpointValue(e *facts.Endpoint, withFQDN bool) ast.Object {
	obj := ast.NewObjectWithCapacity(7)
	obj.Insert(ast.InternedTerm("kind"), ast.InternedTerm(e.Kind))
	obj.Insert(ast.InternedTerm("namespace"), ast.InternedTerm(e.Namespace))
	obj.Insert(ast.InternedTerm("workload"), ast.StringTerm(e.Workload))
	obj.Insert(ast.InternedTerm("pod"), ast.StringTerm(e.Pod))
	obj.Insert(ast.InternedTerm("ip"), ast.StringTerm(e.IP))
	obj.Insert(ast.InternedTerm("identity"), ast.InternedTerm(e.Identity))
	if withFQDN {
		obj.Insert(ast.InternedTerm("fqdn"), ast.StringTerm(e.FQDN))
		obj.Insert(ast.InternedTerm("names"), refStringArray(e.Names))
		obj.Insert(ast.InternedTerm("domains"), refStringArray(e.Domains))
	}
	return obj
}

func refStringArray(ss []string) *ast.Term {
	terms := make([]*ast.Term, len(ss))
	for i, s := range ss {
		terms[i] = ast.StringTerm(s)
	}
	return ast.ArrayTerm(terms...)
}

// refNum is a measured quantity, to two decimals: finer differences mean
// nothing to a threshold and only make inputs differ.
func refNum(f float64) *ast.Term {
	if f != f || f > 1e15 || f < -1e15 { // NaN or absurd: say nothing
		f = 0
	}
	return ast.NewTerm(ast.Number(strconv.FormatFloat(f, 'f', 2, 64)))
}

func refItem(k string, v *ast.Term) [2]*ast.Term { return ast.Item(ast.InternedTerm(k), v) }

func refBaselineValue(b *profile.Baseline) ast.Object {
	return ast.NewObject(
		refItem("learning", ast.InternedTerm(b.Learning)),
		refItem("known_edge", ast.InternedTerm(b.KnownEdge)),
		refItem("learned_edge", ast.InternedTerm(b.LearnedEdge)),
		refItem("new_peer", ast.InternedTerm(b.NewPeer)),
		refItem("new_port", ast.InternedTerm(b.NewPort)),
		refItem("new_endpoint", ast.InternedTerm(b.NewEndpoint)),
		refItem("new_domain", ast.InternedTerm(b.NewDomain)),
		refItem("peer", ast.StringTerm(b.Peer)),
		refItem("endpoint", ast.StringTerm(b.Endpoint)),
		refItem("latency", ast.ObjectTerm(
			refItem("ms", refNum(b.LatencyMs)), refItem("baseline_ms", refNum(b.BaselineLatencyMs)),
			refItem("ratio", refNum(b.LatencyRatio)), refItem("deviations", refNum(b.LatencyDeviations)), refItem("samples", ast.InternedTerm(int(b.LatencySamples))))),
		refItem("errors", ast.ObjectTerm(
			refItem("ratio", refNum(b.ErrorRatio)), refItem("baseline_ratio", refNum(b.BaselineErrorRatio)),
			refItem("client_ratio", refNum(b.ClientErrorRatio)), refItem("baseline_client_ratio", refNum(b.BaselineClientErrorRatio)),
			refItem("responses", refNum(b.Responses)))),
		refItem("rate", ast.ObjectTerm(refItem("per_min", refNum(b.RatePerMin)), refItem("baseline_per_min", refNum(b.BaselineRatePerMin)))),
		refItem("fanout", ast.ObjectTerm(
			refItem("ips", refNum(b.FanoutIPs)), refItem("ports", refNum(b.FanoutPorts)),
			refItem("baseline_ips", refNum(b.BaselineFanoutIPs)), refItem("baseline_ports", refNum(b.BaselineFanoutPorts)),
			refItem("refused_ratio", refNum(b.RefusedRatio)), refItem("dropped_ratio", refNum(b.DroppedRatio)))),
		refItem("auth_failures", ast.ObjectTerm(
			refItem("per_min", refNum(b.AuthFailuresPerMin)), refItem("baseline_per_min", refNum(b.BaselineAuthFailuresPerMin)),
			refItem("sources", refNum(b.AuthFailureSources)))),
		refItem("drops", ast.ObjectTerm(refItem("per_min", refNum(b.DropsPerMin)), refItem("baseline_per_min", refNum(b.BaselineDropsPerMin)))),
		refItem("dns", ast.ObjectTerm(refItem("nxdomain_ratio", refNum(b.NXDomainRatio)), refItem("baseline_nxdomain_ratio", refNum(b.BaselineNXDomainRatio)))),
	)
}

func refProfileValue(p *profile.View) ast.Object {
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

// refKeyTerms caches one interned key term per field descriptor, so building an
// object never allocates its keys. Descriptors are immutable and shared by all
// messages of a type, which makes them safe map keys.
var refKeyTerms sync.Map // protoreflect.FieldDescriptor -> *ast.Term

func refKeyTerm(fd protoreflect.FieldDescriptor) *ast.Term {
	if t, ok := refKeyTerms.Load(fd); ok {
		return t.(*ast.Term)
	}
	t := ast.StringTerm(string(fd.Name()))
	refKeyTerms.Store(fd, t)
	return t
}

// refMessageValue converts a protobuf message to the value protojson would print
// with UseProtoNames (the shape of `hubble observe -o jsonpb`), except that
// 64-bit integers stay numbers so policies can compare them.
func refMessageValue(m protoreflect.Message) ast.Value {
	return refMessageValueCached(m, nil)
}

func refMessageValueCached(m protoreflect.Message, c *refConv) ast.Value {
	switch m.Descriptor().FullName() {
	case httpName:
		if c != nil && c.http != nil && m.Interface() != c.http {
			m = c.http.ProtoReflect()
		}
	case "google.protobuf.Timestamp":
		return ast.String(formatTimestamp(m))
	case "google.protobuf.Duration":
		return ast.String(formatDuration(m))
	case "google.protobuf.BoolValue", "google.protobuf.StringValue",
		"google.protobuf.Int32Value", "google.protobuf.UInt32Value",
		"google.protobuf.Int64Value", "google.protobuf.UInt64Value",
		"google.protobuf.FloatValue", "google.protobuf.DoubleValue",
		"google.protobuf.BytesValue":
		fd := m.Descriptor().Fields().ByNumber(1)
		return scalarValue(fd, m.Get(fd))
	case "google.protobuf.Any":
		// Extensions are opaque to policies; name their type only.
		fd := m.Descriptor().Fields().ByName("type_url")
		return ast.NewObject(ast.Item(ast.InternedTerm("@type"), ast.StringTerm(m.Get(fd).String())))
	}
	obj := ast.NewObjectWithCapacity(m.Descriptor().Fields().Len())
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		obj.Insert(refKeyTerm(fd), ast.NewTerm(refFieldValue(fd, v, c)))
		return true
	})
	return obj
}

func refFieldValue(fd protoreflect.FieldDescriptor, v protoreflect.Value, c *refConv) ast.Value {
	switch {
	case fd.IsList():
		l := v.List()
		terms := make([]*ast.Term, min(l.Len(), maxListItems))
		for i := range terms {
			terms[i] = ast.NewTerm(refSingularValue(fd, l.Get(i), c))
		}
		return ast.NewArray(terms...)
	case fd.IsMap():
		obj := ast.NewObject()
		v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
			obj.Insert(ast.StringTerm(k.String()), ast.NewTerm(refSingularValue(fd.MapValue(), mv, c)))
			return true
		})
		return obj
	}
	return refSingularValue(fd, v, c)
}

func refSingularValue(fd protoreflect.FieldDescriptor, v protoreflect.Value, c *refConv) ast.Value {
	if fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind {
		return refMessageValueCached(v.Message(), c)
	}
	return scalarValue(fd, v)
}
