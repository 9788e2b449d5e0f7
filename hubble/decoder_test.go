package hubble

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"unsafe"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	observerpb "github.com/cilium/cilium/api/v1/observer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/hubble-sentinel/hubble-sentinel/test/shopmesh"
	"github.com/hubble-sentinel/hubble-sentinel/test/testrelay"
)

// protobufCodec is c with every response decoded by protobuf.
func protobufCodec(c flowCodec) flowCodec {
	c.direct = nil
	return c
}

// decodeBoth decodes b with c and with protobuf alone, requires the same
// outcome (an error or the same message, unknown fields included), and
// reports whether c's decoder took the response.
func decodeBoth(t testing.TB, c flowCodec, b []byte) bool {
	t.Helper()
	before := c.direct.direct.Load()
	var got, want observerpb.GetFlowsResponse
	err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, &got)
	wantErr := protobufCodec(c).Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, &want)
	took := c.direct.direct.Load() > before
	if wantErr != nil {
		require.Error(t, err, "%x: protobuf failed (%v), the decoder did not", b, wantErr)
		require.False(t, took, "%x: the decoder took a response protobuf refuses", b)
		return false
	}
	require.NoError(t, err, "%x", b)
	require.True(t, proto.Equal(&want, &got), "%x\ngot  %v\nwant %v", b, &got, &want)
	return took
}

// TestDecoderIsProtobufs: the decoder gives protobuf's result, with and
// without a field mask, for the shop's flows, the GKE captures, flows a
// relay masked and responses it leaves to protobuf; and it takes every
// flow of the shop and the captures itself, so that the engine's decoding
// is the fast one on real traffic.
func TestDecoderIsProtobufs(t *testing.T) {
	fm, err := FieldMask()
	require.NoError(t, err)
	flows := maskCases(t)
	for _, mask := range []*fieldmaskpb.FieldMask{fm, nil} {
		c := newFlowCodec(DefaultMaxFlowSize, mask)
		for i, f := range flows {
			b := wireResponse(t, f).Materialize()
			if mask != nil {
				require.True(t, decodeBoth(t, c, b), "flow %d left to protobuf: %v", i, f)
			} else {
				decodeBoth(t, c, b) // every field: the rest is merged, or protobuf's
			}
		}
		t.Logf("mask %v: %d decoded here, %d by protobuf", mask.GetPaths(), c.direct.direct.Load(), c.direct.fallback.Load())
	}

	c := newFlowCodec(DefaultMaxFlowSize, fm)
	ep := &flowpb.Endpoint{ID: 1, Identity: 2, Namespace: "ns", PodName: "p", ClusterName: "c",
		Labels: []string{"k8s:a=b", "k8s:c=d"}, Workloads: []*flowpb.Workload{{Name: "w", Kind: "Deployment"}, {Name: "w2", Kind: "StatefulSet"}}}
	manyLabels := proto.Clone(ep).(*flowpb.Endpoint)
	for i := range 72 {
		manyLabels.Labels = append(manyLabels.Labels, "k8s:l="+strings.Repeat("x", i))
	}
	full := &flowpb.Flow{
		Time: timestamppb.New(at(5)), Uuid: "u", Verdict: flowpb.Verdict_DROPPED, DropReasonDesc: flowpb.DropReason_POLICY_DENIED,
		AuthType: flowpb.AuthType_SPIRE, Type: flowpb.FlowType_L7, NodeName: "node", DestinationNames: []string{"a.example", "b.example"},
		IP:     &flowpb.IP{Source: "10.0.0.1", Destination: "10.0.0.2", SourceXlated: "1.1.1.1", IpVersion: flowpb.IPVersion_IPv4, Encrypted: true},
		L4:     &flowpb.Layer4{Protocol: &flowpb.Layer4_TCP{TCP: &flowpb.TCP{SourcePort: 1, DestinationPort: 2, Flags: &flowpb.TCPFlags{SYN: true, ACK: true, FIN: true, RST: true, PSH: true, URG: true, ECE: true, CWR: true, NS: true}}}},
		Source: ep, Destination: manyLabels, Reply: true, IsReply: wrapperspb.Bool(false),
		EventType: &flowpb.CiliumEventType{Type: -1, SubType: 3}, TrafficDirection: flowpb.TrafficDirection_EGRESS,
		TraceObservationPoint: flowpb.TraceObservationPoint_TO_ENDPOINT,
		L7: &flowpb.Layer7{Type: flowpb.L7FlowType_REQUEST, LatencyNs: 7, Record: &flowpb.Layer7_Http{Http: &flowpb.HTTP{
			Code: 200, Method: "GET", Url: "http://x/?q=1", Protocol: "HTTP/1.1",
			Headers: []*flowpb.HTTPHeader{{Key: "A", Value: "1"}, {Key: "Authorization", Value: "Bearer s"}},
		}}},
	}
	dns := &flowpb.Flow{Uuid: "d", L7: &flowpb.Layer7{Record: &flowpb.Layer7_Dns{Dns: &flowpb.DNS{
		Query: "a.example.", Ips: []string{"1.2.3.4", "::1"}, Ttl: 30, Cnames: []string{"c."}, ObservationSource: "proxy",
		Rcode: 3, Qtypes: []string{"A"}, Rrtypes: []string{"A", "AAAA"},
	}}}}
	icmp := &flowpb.Flow{L4: &flowpb.Layer4{Protocol: &flowpb.Layer4_ICMPv6{ICMPv6: &flowpb.ICMPv6{Type: 128, Code: 1}}}}
	udp := &flowpb.Flow{L4: &flowpb.Layer4{Protocol: &flowpb.Layer4_UDP{UDP: &flowpb.UDP{SourcePort: 53, DestinationPort: 5353}}},
		Source: &flowpb.Endpoint{}, Destination: &flowpb.Endpoint{}, L7: &flowpb.Layer7{}}
	marshal := func(m proto.Message) []byte { return mustMarshal(t, m) }
	response := func(f *flowpb.Flow) []byte { return wireResponse(t, f).Materialize() }
	// flowField is a response whose flow is b's fields.
	flowField := func(b ...[]byte) []byte {
		var fl []byte
		for _, x := range b {
			fl = append(fl, x...)
		}
		return append([]byte{0x0a, byte(len(fl))}, fl...)
	}
	tests := []struct {
		name   string
		b      []byte
		direct bool
	}{
		{"every field it decodes", response(full), true},
		{"DNS", response(dns), true},
		{"ICMPv6", response(icmp), true},
		{"UDP, empty messages", response(udp), true},
		{"the response's time before its flow", append(marshal(&observerpb.GetFlowsResponse{Time: timestamppb.New(at(1))}), marshal(&observerpb.GetFlowsResponse{ResponseTypes: &observerpb.GetFlowsResponse_Flow{Flow: full}})...), true},
		{"the response's time twice (merged)", append(marshal(&observerpb.GetFlowsResponse{Time: timestamppb.New(at(1))}), response(full)...), false},
		{"an empty flow", []byte{0x0a, 0x00}, true},
		{"lost events", marshal(&observerpb.GetFlowsResponse{ResponseTypes: &observerpb.GetFlowsResponse_LostEvents{LostEvents: &flowpb.LostEvent{NumEventsLost: 3}}}), false},
		{"no flow", marshal(&observerpb.GetFlowsResponse{NodeName: "n"}), false},
		{"two flows (merged)", append(response(full), response(dns)...), false},
		{"a message field twice (merged)", flowField(marshal(&flowpb.Flow{IP: &flowpb.IP{Source: "a"}}), marshal(&flowpb.Flow{IP: &flowpb.IP{Destination: "b"}})), false},
		{"two L4 protocols (the last wins)", flowField([]byte{0x32, 0x04, 0x12, 0x00, 0x0a, 0x00}), false},
		{"kafka", response(&flowpb.Flow{L7: &flowpb.Layer7{Record: &flowpb.Layer7_Kafka{Kafka: &flowpb.Kafka{Topic: "t"}}}}), false},
		{"SCTP", response(&flowpb.Flow{L4: &flowpb.Layer4{Protocol: &flowpb.Layer4_SCTP{SCTP: &flowpb.SCTP{SourcePort: 1}}}}), false},
		{"a string not UTF-8", flowField([]byte{0x92, 0x02, 0x02, 0xff, 0xfe}), false},                             // uuid
		{"a label not UTF-8", flowField([]byte{0x42, 0x04, 0x22, 0x02, 0xc3, 0x28}), false},                        // source.labels
		{"a field of the wrong wire type", flowField([]byte{0x45, 0x01, 0x02, 0x03, 0x04}), false},                 // source as fixed32
		{"an unknown field in an endpoint", flowField([]byte{0x42, 0x02, 0x78, 0x01}), false},                      // source field 15
		{"a field cut short", flowField([]byte{0x42, 0x05, 0x22, 0x09, 0x61}), false},                              // source.labels longer than its message
		{"a scalar given twice: the last wins", flowField([]byte{0x10, 0x01, 0x10, 0x02, 0x80, 0x01, 0x01}), true}, // verdict, reply
		{"a negative enum", flowField(marshal(&flowpb.Flow{Verdict: -5})), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.direct, decodeBoth(t, c, tt.b))
		})
	}
}

// TestDecoderInternsBounded: recurring names are one string, and ever-new
// names cost a table that stays within its bound.
func TestDecoderInternsBounded(t *testing.T) {
	var it interner
	it.m = map[string]string{}
	a, ok := it.str([]byte("k8s:app=shop"))
	require.True(t, ok)
	b, _ := it.str([]byte("k8s:app=shop"))
	require.Equal(t, a, b)
	require.Equal(t, unsafe.StringData(a), unsafe.StringData(b), "a recurring name is one string")
	long := strings.Repeat("x", internMaxLen+1)
	c, _ := it.str([]byte(long))
	require.Equal(t, long, c)
	require.NotContains(t, it.m, long, "a long string is not interned")
	for i := range 3 * internMaxEntries {
		_, _ = it.str([]byte(strings.Repeat("y", i%97) + string(rune('a'+i%26)) + string(rune(i))))
		require.LessOrEqual(t, len(it.m), internMaxEntries)
	}
	_, ok = it.str([]byte{0xff})
	require.False(t, ok)
}

// FuzzDecoder: whatever the bytes, the decoder does not panic and gives
// protobuf's result or leaves the response to protobuf.
func FuzzDecoder(f *testing.F) {
	gen := shopmesh.New(shopmesh.Config{Seed: 11, Attacks: true})
	for range 8 {
		f.Add(wireResponse(f, gen.Next()).Materialize())
	}
	f.Add([]byte{0x0a, 0x05, 0x42, 0x03, 0x22, 0x01, 0x61})
	fm, err := FieldMask()
	require.NoError(f, err)
	masked, whole := newFlowCodec(DefaultMaxFlowSize, fm), newFlowCodec(DefaultMaxFlowSize, nil)
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeBoth(t, masked, b)
		decodeBoth(t, whole, b)
	})
}

// leftToProtobuf are the flow's messages the decoder leaves to protobuf:
// rare in a mesh's traffic.
var leftToProtobuf = map[protoreflect.Name]bool{"kafka": true, "SCTP": true, "VRRP": true, "IGMP": true}

// TestDecoderKnowsEveryField: every field of the messages within the
// mask's fields, set alone, is decoded by the decoder itself (but those
// of leftToProtobuf), with protobuf's result. A field Cilium adds to one of
// these messages fails here until the decoder reads it, rather than
// sending every flow that has it to protobuf unnoticed.
func TestDecoderKnowsEveryField(t *testing.T) {
	fm, err := FieldMask()
	require.NoError(t, err)
	c := newFlowCodec(DefaultMaxFlowSize, fm)
	flowFields := (&flowpb.Flow{}).ProtoReflect().Descriptor().Fields()
	checked := 0
	var walk func(path []protoreflect.FieldDescriptor, left bool)
	walk = func(path []protoreflect.FieldDescriptor, left bool) {
		last := path[len(path)-1]
		f := &flowpb.Flow{}
		m := f.ProtoReflect()
		for _, fd := range path[:len(path)-1] {
			if fd.IsList() {
				m = m.Mutable(fd).List().AppendMutable().Message()
			} else {
				m = m.Mutable(fd).Message()
			}
		}
		m.Set(last, someValue(m, last))
		b := wireResponse(t, f).Materialize()
		require.Equal(t, !left, decodeBoth(t, c, b), "%v: %v", names(path), f)
		checked++
		if md := last.Message(); md != nil && len(path) < 6 {
			fs := md.Fields()
			for i := range fs.Len() {
				walk(append(slices.Clone(path), fs.Get(i)), left || leftToProtobuf[fs.Get(i).Name()])
			}
		}
	}
	for _, p := range fm.GetPaths() {
		fd := flowFields.ByName(protoreflect.Name(p))
		require.NotNil(t, fd, p)
		walk([]protoreflect.FieldDescriptor{fd}, false)
	}
	t.Logf("%d fields checked", checked)
}

// someValue is a value of fd other than its default, for m.
func someValue(m protoreflect.Message, fd protoreflect.FieldDescriptor) protoreflect.Value {
	one := func() protoreflect.Value {
		switch fd.Kind() {
		case protoreflect.BoolKind:
			return protoreflect.ValueOfBool(true)
		case protoreflect.EnumKind:
			return protoreflect.ValueOfEnum(1)
		case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
			return protoreflect.ValueOfInt32(-1)
		case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
			return protoreflect.ValueOfInt64(-1)
		case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
			return protoreflect.ValueOfUint32(1 << 31)
		case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
			return protoreflect.ValueOfUint64(1 << 63)
		case protoreflect.StringKind:
			return protoreflect.ValueOfString("é")
		case protoreflect.BytesKind:
			return protoreflect.ValueOfBytes([]byte{1})
		case protoreflect.FloatKind:
			return protoreflect.ValueOfFloat32(1)
		case protoreflect.DoubleKind:
			return protoreflect.ValueOfFloat64(1)
		}
		return protoreflect.Value{}
	}
	switch {
	case fd.IsList():
		l := m.NewField(fd).List()
		if fd.Message() != nil {
			l.AppendMutable()
		} else {
			l.Append(one())
		}
		return protoreflect.ValueOfList(l)
	case fd.Message() != nil:
		return m.NewField(fd)
	}
	return one()
}

func names(path []protoreflect.FieldDescriptor) string {
	var s []string
	for _, fd := range path {
		s = append(s, string(fd.Name()))
	}
	return strings.Join(s, ".")
}

// TestDecodedResponsesCounted: a stream's responses are counted by
// decoder on the registry given to Dial, also when a second connection
// dials with the same registry.
func TestDecodedResponsesCounted(t *testing.T) {
	fm, err := FieldMask()
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	flows := []*flowpb.Flow{newFlow(at(1), "a", 80), newFlow(at(2), "b", 443)}
	for round := 1; round <= 2; round++ {
		r := startRelay(t, listen(t), testrelay.Flows(flows...))
		conn, err := Dial(r.Addr, TLSConfig{}, DialOptions{FieldMask: fm, Registerer: reg})
		require.NoError(t, err)
		c := NewClient(observerpb.NewObserverClient(conn), ClientConfig{}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
		n := 0
		require.NoError(t, c.Run(t.Context(), func(context.Context, *flowpb.Flow) error { n++; return nil }))
		require.NoError(t, conn.Close())
		require.Equal(t, len(flows), n)
		want := fmt.Sprintf(`
# HELP hubble_sentinel_hubble_responses_decoded_total %s
# TYPE hubble_sentinel_hubble_responses_decoded_total counter
hubble_sentinel_hubble_responses_decoded_total{decoder="direct"} %d
`, decodedHelp, round*len(flows))
		require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want+`hubble_sentinel_hubble_responses_decoded_total{decoder="protobuf"} 0
`), "hubble_sentinel_hubble_responses_decoded_total"))
	}
}

// TestDecoderKnownEndpoints: an endpoint decoded before gives the same
// endpoint, its lists shared and capped (an append copies), and the
// endpoints kept stay within their bound.
func TestDecoderKnownEndpoints(t *testing.T) {
	c := newFlowCodec(DefaultMaxFlowSize, nil)
	ep := func(i int) *flowpb.Endpoint {
		return &flowpb.Endpoint{ID: uint32(i), Identity: 7, Namespace: "shop", PodName: fmt.Sprintf("cart-%d", i), ClusterName: "c",
			Labels: []string{"k8s:app=cart", fmt.Sprintf("k8s:i=%d", i)}, Workloads: []*flowpb.Workload{{Name: "cart", Kind: "Deployment"}}}
	}
	decode := func(f *flowpb.Flow) *flowpb.Flow {
		var r observerpb.GetFlowsResponse
		require.True(t, decodeBoth(t, c, wireResponse(t, f).Materialize()))
		require.NoError(t, c.Unmarshal(wireResponse(t, f), &r))
		return r.GetFlow()
	}
	first := decode(&flowpb.Flow{Uuid: "1", Source: ep(1), Destination: ep(2)})
	second := decode(&flowpb.Flow{Uuid: "2", Source: ep(1), Destination: ep(3)})
	require.True(t, proto.Equal(first.GetSource(), second.GetSource()))
	require.NotSame(t, first.GetSource(), second.GetSource(), "each flow has its own endpoint message")
	require.Same(t, unsafe.SliceData(first.GetSource().GetLabels()), unsafe.SliceData(second.GetSource().GetLabels()), "a known endpoint's labels are shared")
	require.Equal(t, len(second.Source.Labels), cap(second.Source.Labels))
	require.Equal(t, len(second.Source.Workloads), cap(second.Source.Workloads))
	appended := append(second.Source.Labels, "k8s:extra=1")
	require.Equal(t, []string{"k8s:app=cart", "k8s:i=1"}, first.Source.Labels, "an append to one flow's labels leaves the others")
	require.Len(t, appended, 3)
	for i := range 2*endpointsKept + 10 {
		decode(&flowpb.Flow{Source: ep(i)})
		require.LessOrEqual(t, len(c.direct.endpoints), endpointsKept)
	}
}
