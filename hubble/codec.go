package hubble

import (
	"encoding/binary"
	"fmt"
	"strings"
	"sync"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	observerpb "github.com/cilium/cilium/api/v1/observer"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
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
// deduplicate and resume past it; that a flow response is decoded by
// hubble-sentinel's own decoder (decoder.go), with protobuf's result; and
// that, with a field mask, a flow's other top-level fields are skipped
// undecoded.
type flowCodec struct {
	encoding.CodecV2
	maxFlow int
	keep    *fieldSet // nil: every field
	direct  *decoder  // nil: protobuf decodes every response
}

func newFlowCodec(maxFlow int, mask *fieldmaskpb.FieldMask) flowCodec {
	keep := maskFields(mask)
	return flowCodec{CodecV2: encoding.GetCodecV2("proto"), maxFlow: maxFlow, keep: keep, direct: newDecoder(keep)}
}

// Unmarshal decodes data into v.
func (c flowCodec) Unmarshal(data mem.BufferSlice, v any) error {
	r, ok := v.(*observerpb.GetFlowsResponse)
	if !ok || data.Len() <= c.maxFlow && c.keep == nil && c.direct == nil {
		return c.CodecV2.Unmarshal(data, v)
	}
	var b []byte
	switch len(data) {
	case 0:
	case 1:
		b = data[0].ReadOnlyData()
	default:
		buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
		defer buf.Free()
		b = buf.ReadOnlyData()
	}
	if len(b) > c.maxFlow {
		return skeleton(b, r)
	}
	if c.direct != nil && c.direct.decode(b, r) {
		return nil
	}
	if c.keep == nil {
		return proto.Unmarshal(b, r)
	}
	return c.keep.unmarshal(b, r)
}

// fieldSet is the top-level Flow fields a field mask names, by number.
type fieldSet struct {
	low  [4]uint64 // numbers below 256, a bit each
	high map[protowire.Number]bool
}

// maskFields is the set of the top-level fields mask names (a nested path
// keeps its whole top-level field); nil without a mask.
func maskFields(mask *fieldmaskpb.FieldMask) *fieldSet {
	if mask == nil {
		return nil
	}
	fields := (&flowpb.Flow{}).ProtoReflect().Descriptor().Fields()
	s := &fieldSet{high: map[protowire.Number]bool{}}
	for _, p := range mask.GetPaths() {
		name, _, _ := strings.Cut(p, ".")
		if fd := fields.ByName(protoreflect.Name(name)); fd != nil {
			if n := fd.Number(); n < 256 {
				s.low[n/64] |= 1 << (n % 64)
			} else {
				s.high[n] = true
			}
		}
	}
	return s
}

func (s *fieldSet) has(n protowire.Number) bool {
	if n < 256 {
		return s.low[n/64]&(1<<(n%64)) != 0
	}
	return s.high[n]
}

// scratch holds masked responses while they are decoded.
var scratch = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// unmarshal decodes the response b into r, its flow without the fields
// outside s: what a relay applying the mask would have sent. Bytes that
// are not a well-formed response are decoded as they are, so that the
// error is proto's.
func (s *fieldSet) unmarshal(b []byte, r *observerpb.GetFlowsResponse) error {
	bp := scratch.Get().(*[]byte)
	defer scratch.Put(bp)
	out, masked := s.mask(b, (*bp)[:0])
	if cap(out) <= 64<<10 {
		*bp = out
	}
	if !masked {
		return proto.Unmarshal(b, r)
	}
	return proto.Unmarshal(out, r)
}

// mask appends to out the response b with its flow's fields outside s
// left out, and reports whether it left any out (false also for bytes it
// cannot parse). A response whose flow has no such field is not copied.
func (s *fieldSet) mask(b, out []byte) ([]byte, bool) {
	copied := 0 // b[:copied] is in out, masked
	for off := 0; off < len(b); {
		num, typ, tag, size := wireField(b[off:])
		if size < 0 {
			return out, false
		}
		start := off
		off += size
		if num != respFlowField || typ != protowire.BytesType {
			continue
		}
		flow, _ := protowire.ConsumeBytes(b[start+tag : off])
		kept, dropped, ok := s.keepFields(flow)
		if !ok {
			return out, false
		}
		if dropped == 0 {
			continue
		}
		out = append(out, b[copied:start]...)
		out = protowire.AppendTag(out, respFlowField, protowire.BytesType)
		out = protowire.AppendVarint(out, uint64(kept))
		for f := flow; len(f) > 0; {
			fnum, _, _, fsize := wireField(f)
			if s.has(fnum) {
				out = append(out, f[:fsize]...)
			}
			f = f[fsize:]
		}
		copied = off
	}
	if copied == 0 {
		return out, false
	}
	return append(out, b[copied:]...), true
}

// keepFields reports how many bytes of the flow b are fields in s and how
// many are not, and false when b is not a well-formed message.
func (s *fieldSet) keepFields(b []byte) (kept, dropped int, ok bool) {
	for len(b) > 0 {
		num, _, _, size := wireField(b)
		if size < 0 {
			return 0, 0, false
		}
		if s.has(num) {
			kept += size
		} else {
			dropped += size
		}
		b = b[size:]
	}
	return kept, dropped, true
}

// wireField is the field b starts with: its number and wire type, the
// length of its tag and its whole length (negative when b does not start
// with a well-formed field).
func wireField(b []byte) (num protowire.Number, typ protowire.Type, tag, size int) {
	num, typ, tag = protowire.ConsumeTag(b)
	if tag < 0 {
		return 0, 0, 0, tag
	}
	m := protowire.ConsumeFieldValue(num, typ, b[tag:])
	if m < 0 {
		return 0, 0, 0, m
	}
	return num, typ, tag, tag + m
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
