package input

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/hubble-sentinel/hubble-sentinel/engine/facts"
	"github.com/hubble-sentinel/hubble-sentinel/engine/profile"
	"github.com/hubble-sentinel/hubble-sentinel/test/captures"
)

// TestFlowValueMatchesJSONPB checks the contract on every real flow: the
// input is what `hubble observe -o jsonpb` prints, except that 64-bit
// integers are numbers.
func TestFlowValueMatchesJSONPB(t *testing.T) {
	flows := captures.Flows(t)
	for _, f := range flows {
		want, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(f.Flow)
		require.NoError(t, err)
		var wantDoc any
		require.NoError(t, json.Unmarshal(want, &wantDoc))

		got, err := ast.JSON(messageValue(f.ProtoReflect()))
		require.NoError(t, err)
		equalJSONPB(t, wantDoc, got, f.Where())
	}
	require.Greater(t, len(flows), 1000)
}

// equalJSONPB compares a protojson document with ours, allowing only the
// documented difference (64-bit integers as numbers) and equivalent
// timestamp spellings.
func equalJSONPB(t *testing.T, want, got any, path string) {
	t.Helper()
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		require.True(t, ok, "%s: want object, got %T", path, got)
		require.Len(t, g, len(w), "%s: keys differ: want %v got %v", path, keysOf(w), keysOf(g))
		for k, wv := range w {
			gv, ok := g[k]
			require.True(t, ok, "%s.%s missing", path, k)
			equalJSONPB(t, wv, gv, path+"."+k)
		}
	case []any:
		g, ok := got.([]any)
		require.True(t, ok, "%s: want array, got %T", path, got)
		require.Len(t, g, len(w), path)
		for i := range w {
			equalJSONPB(t, w[i], g[i], path+"["+strconv.Itoa(i)+"]")
		}
	case string:
		switch g := got.(type) {
		case json.Number:
			require.Equal(t, w, g.String(), "%s: 64-bit integer", path)
		case string:
			if wt, err := time.Parse(time.RFC3339Nano, w); err == nil {
				gt, err := time.Parse(time.RFC3339Nano, g)
				require.NoError(t, err, path)
				require.True(t, wt.Equal(gt), "%s: %s != %s", path, w, g)
				return
			}
			require.Equal(t, w, g, path)
		default:
			t.Fatalf("%s: want string %q, got %T", path, w, got)
		}
	case float64:
		g, ok := got.(json.Number)
		require.True(t, ok, "%s: want number, got %T", path, got)
		gf, err := g.Float64()
		require.NoError(t, err)
		require.Equal(t, w, gf, path)
	default:
		require.Equal(t, want, got, path)
	}
}

func keysOf(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestDocumentSentinelFacts(t *testing.T) {
	f := &flowpb.Flow{
		Time:    timestamppb.New(time.Date(2026, 11, 30, 1, 2, 3, 0, time.UTC)),
		Verdict: flowpb.Verdict_FORWARDED,
		IP:      &flowpb.IP{Source: "10.0.1.5", Destination: "169.254.169.254", IpVersion: flowpb.IPVersion_IPv4},
		L4:      &flowpb.Layer4{Protocol: &flowpb.Layer4_TCP{TCP: &flowpb.TCP{SourcePort: 40000, DestinationPort: 80}}},
		Source: &flowpb.Endpoint{Identity: 12345, Namespace: "shop", PodName: "catalog-7d9f8b6c5d-x2k9q",
			Labels: []string{"k8s:app=catalog"}},
		Destination:  &flowpb.Endpoint{Identity: 2, Labels: []string{"reserved:world"}},
		IsReply:      wrapperspb.Bool(false),
		SocketCookie: 1 << 40,
		L7: &flowpb.Layer7{Type: flowpb.L7FlowType_REQUEST, Record: &flowpb.Layer7_Http{Http: &flowpb.HTTP{Method: "GET", Url: "http://169.254.169.254/latest/meta-data/?x=1",
			Headers: []*flowpb.HTTPHeader{{Key: "User-Agent", Value: "curl/8.5.0"}}}}},
		TrafficDirection: flowpb.TrafficDirection_EGRESS,
	}
	fa := facts.Measure(f)
	p := profile.Views{Source: profile.View{Flows: 3, NewPeer: true}}
	got, err := ast.JSON(Document(f, &fa, &p))
	require.NoError(t, err)
	doc := got.(map[string]any)

	require.Equal(t, "FORWARDED", doc["verdict"])
	require.Equal(t, false, doc["is_reply"])
	require.Equal(t, json.Number("1099511627776"), doc["socket_cookie"])
	require.Equal(t, "2026-11-30T01:02:03Z", doc["time"])
	s := doc["sentinel"].(map[string]any)
	require.Equal(t, "TCP", s["protocol"])
	require.Equal(t, json.Number("80"), s["destination_port"])
	src := s["source"].(map[string]any)
	require.Equal(t, map[string]any{"kind": "pod", "namespace": "shop", "workload": "catalog",
		"pod": "catalog-7d9f8b6c5d-x2k9q", "ip": "10.0.1.5", "identity": json.Number("12345")}, src)
	dst := s["destination"].(map[string]any)
	require.Equal(t, "world", dst["kind"])
	require.Equal(t, "", dst["fqdn"])
	require.Equal(t, []any{"169.254.169.254"}, dst["names"])
	require.Equal(t, []any{"169.254.169.254", "254.169.254", "169.254", "254"}, dst["domains"], "an IP host splits like a name; harmless, policies match names")
	require.Equal(t, map[string]any{"method": "GET", "path": "/latest/meta-data/", "raw_path": "/latest/meta-data/",
		"query": "x=1", "host": "169.254.169.254", "user_agent": "curl/8.5.0", "plain": false, "headers_plain": true, "truncated": false,
		"text": "/latest/meta-data/\nx=1", "specials": "", "normalized_path": "/latest/meta-data/"}, s["http"])
	prof := s["profile"].(map[string]any)["source"].(map[string]any)
	require.Equal(t, json.Number("3"), prof["flows"])
	require.Equal(t, true, prof["new_peer"])
}

// TestBuilderMatchesDocument: the cached builder gives exactly the
// uncached document for every real flow, seen once or many times.
func TestBuilderMatchesDocument(t *testing.T) {
	b := NewBuilder(8) // small, so entries are evicted and refilled
	flows := captures.Flows(t)
	for range 2 {
		for _, f := range flows {
			fa := facts.Measure(f.Flow)
			want := Document(f.Flow, &fa, nil)
			got := b.Document(f.Flow, &fa, nil)
			require.Equal(t, 0, want.Compare(got), f.Where())
		}
	}
}

func TestBuilderNeverServesAnotherEndpoint(t *testing.T) {
	b := NewBuilder(16)
	base := &flowpb.Endpoint{Identity: 7, Namespace: "shop", PodName: "cart-1", Labels: []string{"k8s:app=cart", "k8s:team=a", "k8s:z=1"}}
	variants := []*flowpb.Endpoint{
		base,
		{Identity: 7, Namespace: "shop", PodName: "cart-1", Labels: []string{"k8s:app=cart", "k8s:team=b", "k8s:z=1"}},
		{Identity: 7, Namespace: "shop", PodName: "cart-1", Labels: base.Labels, Workloads: []*flowpb.Workload{{Name: "cart", Kind: "Deployment"}}},
		{Identity: 7, Namespace: "shop", PodName: "cart-1", Labels: base.Labels, Workloads: []*flowpb.Workload{{Name: "cart", Kind: "StatefulSet"}}},
		{Identity: 7, Namespace: "shop", PodName: "cart-1", Labels: base.Labels, ClusterName: "east"},
	}
	for range 2 {
		for _, ep := range variants {
			f := &flowpb.Flow{Source: ep}
			fa := facts.Measure(f)
			require.Equal(t, 0, Document(f, &fa, nil).Compare(b.Document(f, &fa, nil)), "%v", ep)
		}
	}
}

// A measured endpoint's cached value is never another's, even when they
// differ only in a name or a domain.
func TestBuilderNeverServesAnotherMeasuredEndpoint(t *testing.T) {
	b := NewBuilder(16)
	f := &flowpb.Flow{Destination: &flowpb.Endpoint{Identity: 2, Labels: []string{"reserved:world"}}}
	base := facts.Measure(f)
	variants := [][2][]string{
		{{"a.example.com"}, {"a.example.com", "example.com", "com"}},
		{{"b.example.com"}, {"b.example.com", "example.com", "com"}},
		{{"b.example.com"}, {"b.example.com", "example.org", "com"}},
		{nil, nil},
		{{}, {}},
	}
	for range 2 {
		for _, v := range variants {
			fa := base
			fa.Destination.Names, fa.Destination.Domains = v[0], v[1]
			requireSameValue(t, refDocument(f, &fa, nil), b.Document(f, &fa, nil), fmt.Sprint(v))
		}
	}
}

// Neither a node's labels nor a header is ever served for another's, even
// when they share a node name or a header name.
func TestBuilderNeverServesAnotherNodeOrHeader(t *testing.T) {
	b := NewBuilder(16)
	flows := []*flowpb.Flow{
		{NodeName: "n1", NodeLabels: []string{"a=1", "b=2"}},
		{NodeName: "n1", NodeLabels: []string{"a=1", "b=3"}},
		{NodeName: "n1"},
		{NodeName: "n2", NodeLabels: []string{"a=1", "b=2"}},
		{NodeLabels: []string{"a=1"}},
	}
	for _, hs := range [][]*flowpb.HTTPHeader{
		{{Key: "Accept", Value: "text/html"}, {Key: "Te", Value: "trailers"}},
		{{Key: "Accept", Value: "text/plain"}, {Key: "Te", Value: "trailers"}},
		{{Key: "Accept", Value: "text/html"}, {Key: "Te", Value: "Trailers"}},
		{{Key: "Accept"}, {Value: "text/html"}},
	} {
		flows = append(flows, &flowpb.Flow{L7: &flowpb.Layer7{Record: &flowpb.Layer7_Http{Http: &flowpb.HTTP{Method: "GET", Url: "http://a/", Headers: hs}}}})
	}
	for range 2 {
		for i, f := range flows {
			fa := facts.Measure(f)
			requireSameValue(t, refDocument(f, &fa, nil), b.Document(f, &fa, nil), strconv.Itoa(i))
		}
	}
}

// TestBuilderSharesRepeatedSmallObjects: a small object of short scalars
// that comes again (a flow's TCP flags, its event type) is one value
// shared by the documents, objects holding only shared ones are shared
// too, and an object with a long value is never shared; every document is
// still the one built without sharing.
func TestBuilderSharesRepeatedSmallObjects(t *testing.T) {
	b := NewBuilder(0)
	flow := func(port uint32, summary string) *flowpb.Flow {
		return &flowpb.Flow{
			EventType: &flowpb.CiliumEventType{Type: 4},
			L4: &flowpb.Layer4{Protocol: &flowpb.Layer4_TCP{TCP: &flowpb.TCP{
				DestinationPort: port, Flags: &flowpb.TCPFlags{SYN: true},
			}}},
			Summary: summary,
		}
	}
	at := func(doc ast.Value, path string) ast.Value {
		t.Helper()
		v, err := doc.Find(ast.MustParseRef("x." + path)[1:])
		require.NoError(t, err, path)
		return v
	}
	var docs []ast.Value
	for i := range 5 {
		f := flow(80, strings.Repeat("s", 100)+strconv.Itoa(i))
		fa := facts.Measure(f)
		doc := b.Document(f, &fa, nil)
		require.Equal(t, 0, Document(f, &fa, nil).Compare(doc))
		docs = append(docs, doc)
	}
	// Shared from the second sighting on; an object holding shared ones
	// from the second sighting of those (one flow later per level).
	require.NotSame(t, at(docs[0], "l4.TCP.flags"), at(docs[1], "l4.TCP.flags"))
	require.Same(t, at(docs[1], "l4.TCP.flags"), at(docs[2], "l4.TCP.flags"))
	require.Same(t, at(docs[1], "event_type"), at(docs[4], "event_type"))
	require.Same(t, at(docs[2], "l4.TCP"), at(docs[4], "l4.TCP"), "an object of shared objects and scalars")
	require.Same(t, at(docs[3], "l4"), at(docs[4], "l4"))
	require.NotSame(t, at(docs[3], "sentinel"), at(docs[4], "sentinel"))

	// Another port: another TCP object, the same flags.
	f := flow(443, "")
	fa := facts.Measure(f)
	other := b.Document(f, &fa, nil)
	require.Same(t, at(docs[4], "l4.TCP.flags"), at(other, "l4.TCP.flags"))
	require.NotEqual(t, 0, at(docs[4], "l4.TCP").Compare(at(other, "l4.TCP")))

	// A long value is never shared.
	long := &flowpb.Flow{EventType: &flowpb.CiliumEventType{Type: 4}, L7: &flowpb.Layer7{Record: &flowpb.Layer7_Dns{Dns: &flowpb.DNS{Query: strings.Repeat("a", 100) + "."}}}}
	var dns []ast.Value
	for range 3 {
		fa := facts.Measure(long)
		dns = append(dns, at(b.Document(long, &fa, nil), "l7.dns"))
	}
	require.NotSame(t, dns[1], dns[2])
}

// TestBuilderSharesRepeatedNumbers: a measured quantity that comes again
// is one shared term, from its second sighting on; every document is still
// the one built without sharing, whatever the number rounds to.
func TestBuilderSharesRepeatedNumbers(t *testing.T) {
	b := NewBuilder(0)
	f := &flowpb.Flow{}
	fa := facts.Measure(f)
	ratio := func(doc ast.Value) *ast.Term {
		t.Helper()
		obj := doc.(ast.Object)
		for _, k := range []string{SentinelKey, "baseline", "latency", "ratio"} {
			term := obj.Get(ast.StringTerm(k))
			require.NotNil(t, term, k)
			if k == "ratio" {
				return term
			}
			obj = term.Value.(ast.Object)
		}
		return nil
	}
	var terms []*ast.Term
	for _, v := range []float64{1.5, 1.5, 1.5, 1.504, 1.505, 1.005, -0.001, 0.001, 1e15, 1e16, 123456.789} {
		views := &profile.Views{Baseline: profile.Baseline{LatencyRatio: v, LatencySamples: 3}}
		doc := b.Document(f, &fa, views)
		require.Equal(t, 0, Document(f, &fa, views).Compare(doc), "%v", v)
		terms = append(terms, ratio(doc))
	}
	require.NotSame(t, terms[0], terms[1], "shared from the second sighting")
	require.Same(t, terms[1], terms[2])
	require.Same(t, terms[1], terms[3], "1.504 rounds to 1.50 as well")
	require.Equal(t, ast.Number("1.50"), terms[3].Value)
}

// TestIntTableSharesTerms: an integer beyond OPA's interned ones is one
// shared term while it keeps its slot, equal to the term OPA makes, and
// two integers never share one, even when they collide on a slot.
func TestIntTableSharesTerms(t *testing.T) {
	var tab intTable
	values := []int64{-2, -1, 0, 512, 513, 8080, 8080 + intSlots, 1 << 40, -(1 << 40), math.MaxInt64, math.MinInt64}
	for _, v := range values {
		got := tab.term(v)
		require.Equal(t, 0, ast.InternedTerm(v).Value.Compare(got.Value), "%d", v)
		require.Same(t, got, tab.term(v), "%d: the same term again", v)
	}
	for _, v := range values {
		require.Equal(t, ast.Number(strconv.FormatInt(v, 10)), tab.term(v).Value, "%d after the others", v)
	}
}

// TestMeasurementFloatIsTheDocuments: for every field of every
// measurement group, MeasurementFloat is within 0.005 of the number a
// document holds there (an integer exactly); a value the document does
// not hold as it is (not finite, absurd) and a name that is none are
// refused.
func TestMeasurementFloatIsTheDocuments(t *testing.T) {
	f := &flowpb.Flow{}
	fa := facts.Measure(f)
	for _, v := range []float64{0.001, 0.005, 0.0051, 1.005, 2.675, 12.5, 99.995, 600, 123456.789} {
		bl := profile.Baseline{LatencyMs: v, BaselineLatencyMs: v, LatencyRatio: v, LatencyDeviations: v, LatencySamples: uint32(v),
			ErrorRatio: v, BaselineErrorRatio: v, ClientErrorRatio: v, BaselineClientErrorRatio: v, Responses: v,
			RatePerMin: v, BaselineRatePerMin: v, FanoutIPs: v, FanoutPorts: v, BaselineFanoutIPs: v, BaselineFanoutPorts: v,
			RefusedRatio: v, DroppedRatio: v, AuthFailuresPerMin: v, BaselineAuthFailuresPerMin: v, AuthFailureSources: v,
			DropsPerMin: v, BaselineDropsPerMin: v, NXDomainRatio: v, BaselineNXDomainRatio: v}
		doc := Document(f, &fa, &profile.Views{Baseline: bl}).(ast.Object)
		n := 0
		for _, g := range Measurements() {
			group, err := doc.Find(ast.MustParseRef("x." + SentinelKey + ".baseline." + g)[1:])
			require.NoError(t, err)
			group.(ast.Object).Foreach(func(k, term *ast.Term) {
				field := string(k.Value.(ast.String))
				got, ok := MeasurementFloat(&bl, g, field)
				require.True(t, ok, "%s.%s", g, field)
				want, ok := term.Value.(ast.Number).Float64()
				require.True(t, ok)
				if field == "samples" {
					require.Equal(t, want, got)
				} else {
					require.InDelta(t, want, got, 0.005+1e-9, "%v: %s.%s", v, g, field)
				}
				n++
			})
		}
		require.Equal(t, 25, n)
	}
	for _, bad := range []float64{math.NaN(), math.Inf(1), 2e15} {
		_, ok := MeasurementFloat(&profile.Baseline{RatePerMin: bad}, "rate", "per_min")
		require.False(t, ok, "%v", bad)
	}
	_, ok := MeasurementFloat(&profile.Baseline{}, "rate", "no_such_field")
	require.False(t, ok)
	_, ok = MeasurementFloat(&profile.Baseline{}, "no_such_group", "per_min")
	require.False(t, ok)
}
