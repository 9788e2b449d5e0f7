package hubble

import (
	"context"
	"strings"
	"testing"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	observerpb "github.com/cilium/cilium/api/v1/observer"
	ciliummask "github.com/cilium/cilium/pkg/hubble/parser/fieldmask"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/hubble-sentinel/hubble-sentinel/test/captures"
	"github.com/hubble-sentinel/hubble-sentinel/test/logtest"
	"github.com/hubble-sentinel/hubble-sentinel/test/shopmesh"
	"github.com/hubble-sentinel/hubble-sentinel/test/testrelay"
)

// bigFlow is an HTTP flow with a header of size bytes.
func bigFlow(sec int, uuid string, size int) *flowpb.Flow {
	f := newFlow(at(sec), uuid, 80)
	f.L7 = &flowpb.Layer7{Record: &flowpb.Layer7_Http{Http: &flowpb.HTTP{
		Method: "POST", Url: "http://x/upload",
		Headers: []*flowpb.HTTPHeader{{Key: "X-Blob", Value: strings.Repeat("a", size)}},
	}}}
	return f
}

// TestLargeFlowsDoNotWedgeTheStream: a 5 MiB flow, above gRPC's default
// 4 MiB limit, is delivered; a flow above the configured bound is skipped,
// counted and logged, and the flows after it still arrive.
func TestLargeFlowsDoNotWedgeTheStream(t *testing.T) {
	tests := []struct {
		name      string
		maxFlow   int
		flows     []*flowpb.Flow
		want      []string
		oversized float64
	}{
		{name: "5 MiB under the default bound", flows: []*flowpb.Flow{
			newFlow(at(1), "a", 80), bigFlow(2, "big", 5<<20), newFlow(at(3), "c", 80),
		}, want: []string{"a", "big", "c"}},
		{name: "above a 1 MiB bound", maxFlow: 1 << 20, flows: []*flowpb.Flow{
			newFlow(at(1), "a", 80), bigFlow(2, "big", 5<<20), bigFlow(3, "fits", 512<<10), newFlow(at(4), "d", 80),
		}, want: []string{"a", "fits", "d"}, oversized: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := startRelay(t, listen(t), testrelay.Flows(tt.flows...))
			conn, err := Dial(r.Addr, TLSConfig{}, DialOptions{MaxFlowSize: tt.maxFlow})
			require.NoError(t, err)
			t.Cleanup(func() { _ = conn.Close() })
			var logs logtest.Buffer
			c := NewClient(observerpb.NewObserverClient(conn), ClientConfig{}, logs.Logger(), prometheus.NewRegistry())
			var got []string
			require.NoError(t, c.Run(t.Context(), func(_ context.Context, f *flowpb.Flow) error {
				got = append(got, f.GetUuid())
				return nil
			}))
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.oversized, testutil.ToFloat64(c.metrics.oversized))
			if tt.oversized > 0 {
				require.Contains(t, logs.String(), "kind=oversized")
				require.Equal(t, tt.oversized, testutil.ToFloat64(c.metrics.missed.WithLabelValues("oversized")))
			}
		})
	}
}

// maskCases are the shop's flows (attacks included) and the GKE captures'.
func maskCases(t testing.TB) []*flowpb.Flow {
	gen := shopmesh.New(shopmesh.Config{Seed: 3, Attacks: true})
	var flows []*flowpb.Flow
	for range 3000 {
		flows = append(flows, gen.Next())
	}
	for _, f := range captures.Flows(t) {
		flows = append(flows, f.Flow)
	}
	return flows
}

func wireResponse(t testing.TB, f *flowpb.Flow) mem.BufferSlice {
	b, err := proto.Marshal(&observerpb.GetFlowsResponse{NodeName: f.GetNodeName(), Time: f.GetTime(),
		ResponseTypes: &observerpb.GetFlowsResponse_Flow{Flow: f}})
	require.NoError(t, err)
	return mem.BufferSlice{mem.SliceBuffer(b)}
}

// TestMaskedDecodingIsTheRelaysMask: with a field mask, the codec decodes
// from a relay that sends every field what Cilium's own mask would have
// sent (the fields of FlowFields, whole), and a flow the relay already
// masked as it is.
func TestMaskedDecodingIsTheRelaysMask(t *testing.T) {
	fm, err := FieldMask()
	require.NoError(t, err)
	mask, err := ciliummask.New(fm)
	require.NoError(t, err)
	codec := newFlowCodec(DefaultMaxFlowSize, fm)
	plain := newFlowCodec(DefaultMaxFlowSize, nil)
	dropped := 0
	for i, f := range maskCases(t) {
		relayMasked := new(flowpb.Flow)
		mask.Alloc(relayMasked.ProtoReflect())
		mask.Copy(relayMasked.ProtoReflect(), f.ProtoReflect())
		var want, got, again, whole observerpb.GetFlowsResponse
		require.NoError(t, plain.Unmarshal(wireResponse(t, relayMasked), &want))
		require.NoError(t, codec.Unmarshal(wireResponse(t, f), &got))
		require.True(t, proto.Equal(&want, &got), "flow %d: %v\nwant %v", i, &got, &want)
		require.NoError(t, codec.Unmarshal(wireResponse(t, relayMasked), &again))
		require.True(t, proto.Equal(&want, &again), "flow %d, masked by the relay", i)
		require.NoError(t, plain.Unmarshal(wireResponse(t, f), &whole))
		if !proto.Equal(&whole, &got) {
			dropped++
		}
	}
	require.NotZero(t, dropped, "no flow had a field outside the mask: the test proves little")
	t.Logf("%d flows had fields outside the mask", dropped)

	// Other responses, and bytes that are no response, decode as without
	// a mask: the same result, the same error.
	for _, b := range [][]byte{
		mustMarshal(t, &observerpb.GetFlowsResponse{NodeName: "n", ResponseTypes: &observerpb.GetFlowsResponse_LostEvents{LostEvents: &flowpb.LostEvent{NumEventsLost: 3}}}),
		{0x0a, 0x05, 0x01},       // a flow longer than the bytes
		{0x0a, 0x02, 0x08, 0x80}, // a flow whose field is cut
		{},
	} {
		var a, b2 observerpb.GetFlowsResponse
		errA := plain.Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, &a)
		errB := codec.Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, &b2)
		require.Equal(t, errA == nil, errB == nil, "%x", b)
		require.True(t, proto.Equal(&a, &b2), "%x", b)
	}
}

func mustMarshal(t testing.TB, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	require.NoError(t, err)
	return b
}

// FuzzMaskedDecoding: whatever the bytes, masked decoding does not panic;
// it fails only where decoding every field fails too, and where both
// succeed it is the whole decoding without the fields outside the mask.
func FuzzMaskedDecoding(f *testing.F) {
	gen := shopmesh.New(shopmesh.Config{Seed: 9, Attacks: true})
	for range 8 {
		f.Add(wireResponse(f, gen.Next()).Materialize())
	}
	f.Add([]byte{0x0a, 0x05, 0x01})
	fm, err := FieldMask()
	require.NoError(f, err)
	codec, plain := newFlowCodec(DefaultMaxFlowSize, fm), newFlowCodec(DefaultMaxFlowSize, nil)
	keep := map[string]bool{}
	for _, p := range fm.GetPaths() {
		keep[p] = true
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got, whole observerpb.GetFlowsResponse
		err := codec.Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, &got)
		wholeErr := plain.Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, &whole)
		if err != nil {
			require.Error(t, wholeErr, "masked decoding failed where whole decoding did not: %v", err)
			return
		}
		if wholeErr != nil {
			return // the error was in a field left out
		}
		// Unknown fields (a number a flow has no field for, or a field of
		// the wrong wire type) are compared neither way: the engine reads
		// none, and a masked one of a known number is kept.
		if fl := whole.GetFlow(); fl != nil {
			m := fl.ProtoReflect()
			m.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
				if !keep[string(fd.Name())] {
					m.Clear(fd)
				}
				return true
			})
			m.SetUnknown(nil)
		}
		if fl := got.GetFlow(); fl != nil {
			fl.ProtoReflect().SetUnknown(nil)
		}
		require.True(t, proto.Equal(&whole, &got), "got %v\nwant %v", &got, &whole)
	})
}

// BenchmarkFlowCodec: decoding the shop's flows with every field, and with
// the mask from a relay that does not apply it.
func BenchmarkFlowCodec(b *testing.B) {
	fm, err := FieldMask()
	require.NoError(b, err)
	gen := shopmesh.New(shopmesh.Config{Seed: 42, Attacks: true})
	wire := make([]mem.BufferSlice, 4096)
	for i := range wire {
		wire[i] = wireResponse(b, gen.Next())
	}
	for _, bc := range []struct {
		name string
		mask *fieldmaskpb.FieldMask
	}{{"whole", nil}, {"masked", fm}} {
		b.Run(bc.name, func(b *testing.B) {
			codec := newFlowCodec(DefaultMaxFlowSize, bc.mask)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				var r observerpb.GetFlowsResponse
				if err := codec.Unmarshal(wire[i%len(wire)], &r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
