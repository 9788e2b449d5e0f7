package hubble

import (
	"encoding/binary"
	"fmt"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	observerpb "github.com/cilium/cilium/api/v1/observer"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// oversizedTypeURL marks, in a Flow's extensions, the skeleton the codec
// decodes in place of a flow above the size bound.
const oversizedTypeURL = "type.hubble-sentinel.io/oversized-flow"

// hardMessageLimit is gRPC's receive limit: far enough above the flow
// bound that an oversized flow reaches the codec, which skips it, rather
// than failing the stream at the same flow again on every resume.
func hardMessageLimit(maxFlow int) int {
	return max(4*maxFlow, 64<<20)
}

// flowCodec is gRPC's proto codec, except that a GetFlowsResponse larger
// than maxFlow is decoded to a skeleton (its flow's time, UUID and node)
// marked oversized, so the Client can count, log and skip it and still
// deduplicate and resume past it.
type flowCodec struct {
	encoding.CodecV2
	maxFlow int
}

func newFlowCodec(maxFlow int) flowCodec {
	return flowCodec{CodecV2: encoding.GetCodecV2("proto"), maxFlow: maxFlow}
}

// Unmarshal decodes data into v.
func (c flowCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if r, ok := v.(*observerpb.GetFlowsResponse); ok && data.Len() > c.maxFlow {
		buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
		defer buf.Free()
		return skeleton(buf.ReadOnlyData(), r)
	}
	return c.CodecV2.Unmarshal(data, v)
}

// Field numbers of the few fields a skeleton keeps (observer.proto and
// flow.proto, stable across Hubble versions).
const (
	respFlowField     = 1
	respNodeNameField = 1000
	flowTimeField     = 1
	flowUUIDField     = 34
	flowNodeNameField = 11
)

// skeleton decodes from a GetFlowsResponse only what identifies its flow.
func skeleton(b []byte, r *observerpb.GetFlowsResponse) error {
	size := len(b)
	f := &flowpb.Flow{}
	var node string
	isFlow := false
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("decoding oversized response: %w", protowire.ParseError(n))
		}
		b = b[n:]
		if typ == protowire.BytesType && (num == respFlowField || num == respNodeNameField) {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return fmt.Errorf("decoding oversized response: %w", protowire.ParseError(m))
			}
			if num == respNodeNameField {
				node = string(v)
			} else {
				isFlow = true
				if err := flowSkeleton(v, f); err != nil {
					return err
				}
			}
			b = b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return fmt.Errorf("decoding oversized response: %w", protowire.ParseError(m))
		}
		b = b[m:]
	}
	proto.Reset(r)
	r.NodeName = node
	if !isFlow {
		// An oversized lost-events or node-status record: nothing to keep.
		return nil
	}
	var sz [binary.MaxVarintLen64]byte
	f.Extensions = &anypb.Any{TypeUrl: oversizedTypeURL, Value: sz[:binary.PutUvarint(sz[:], uint64(size))]}
	r.ResponseTypes = &observerpb.GetFlowsResponse_Flow{Flow: f}
	return nil
}

func flowSkeleton(b []byte, f *flowpb.Flow) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("decoding oversized flow: %w", protowire.ParseError(n))
		}
		b = b[n:]
		if typ == protowire.BytesType && (num == flowTimeField || num == flowUUIDField || num == flowNodeNameField) {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return fmt.Errorf("decoding oversized flow: %w", protowire.ParseError(m))
			}
			switch num {
			case flowTimeField:
				ts := &timestamppb.Timestamp{}
				if err := proto.Unmarshal(v, ts); err == nil {
					f.Time = ts
				}
			case flowUUIDField:
				f.Uuid = string(v)
			case flowNodeNameField:
				f.NodeName = string(v)
			}
			b = b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return fmt.Errorf("decoding oversized flow: %w", protowire.ParseError(m))
		}
		b = b[m:]
	}
	return nil
}

// oversized reports whether f is a skeleton of a skipped flow, and the
// size of the response it came in.
func oversized(f *flowpb.Flow) (int, bool) {
	ext := f.GetExtensions()
	if ext == nil || ext.GetTypeUrl() != oversizedTypeURL {
		return 0, false
	}
	n, _ := binary.Uvarint(ext.GetValue())
	return int(n), true
}
