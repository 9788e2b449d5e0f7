package hubble

import (
	"errors"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	observerpb "github.com/cilium/cilium/api/v1/observer"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Protobuf's decoder walks a message's fields by reflection and allocates
// every sub-message, string and list on its own: about fifty allocations
// for one flow, three quarters of the engine's, and the largest single
// cost of the goroutine every flow passes through. The decoder below reads
// the fields the engine reads straight into Cilium's types:
//   - one allocation holds a flow's messages (the flow, its endpoints,
//     IP and L4), one more its L7 record;
//   - an endpoint decoded before shares that one's label and workload
//     lists (a bounded table, by the endpoint's bytes);
//   - strings that recur from flow to flow (labels, namespaces, pods,
//     names, IPs, methods, header names) are interned in a bounded table,
//     so a steady mesh allocates none of them;
//   - anything else (another response type, a field it does not know
//     inside a message, a message field repeated where protobuf would
//     merge, text that is not UTF-8, malformed bytes) is left to
//     protobuf: the response is decoded again as before, so the result and
//     any error are always protobuf's. Top-level flow fields it does not
//     know are merged in by protobuf after the rest.
// TestDecoderIsProtobufs and FuzzDecoder hold it to protobuf's result.

// Field numbers (observer.proto, flow.proto; stable across Hubble versions).
const respTimeField = 1001

const (
	flowVerdict       = 2
	flowIP            = 5
	flowL4            = 6
	flowSource        = 8
	flowDestination   = 9
	flowType          = 10
	flowDestNames     = 14
	flowL7            = 15
	flowReply         = 16
	flowEventType     = 19
	flowDirection     = 22
	flowObsPoint      = 24
	flowDropReason    = 25
	flowIsReply       = 26
	flowAuthType      = 35
	l7DNS             = 100
	l7HTTP            = 101
	httpHeaderField   = 5
	endpointLabels    = 4
	endpointWorkloads = 6
	internMaxEntries  = 1 << 15
	internMaxLen      = 128
	endpointsKept     = 4096
	endpointMaxLen    = 2048
)

// flowSlab is one allocation for a flow's usual messages.
type flowSlab struct {
	resp      observerpb.GetFlowsResponse_Flow
	flow      flowpb.Flow
	time      timestamppb.Timestamp
	respTime  timestamppb.Timestamp
	ip        flowpb.IP
	l4        flowpb.Layer4
	tcpCase   flowpb.Layer4_TCP
	tcp       flowpb.TCP
	flags     flowpb.TCPFlags
	udpCase   flowpb.Layer4_UDP
	udp       flowpb.UDP
	endpoints [2]flowpb.Endpoint
	event     flowpb.CiliumEventType
	isReply   wrapperspb.BoolValue
}

// l7Slab is one allocation for a flow's L7 record.
type l7Slab struct {
	l7       flowpb.Layer7
	httpCase flowpb.Layer7_Http
	http     flowpb.HTTP
	dnsCase  flowpb.Layer7_Dns
	dns      flowpb.DNS
}

// decoder decodes flow responses; safe for concurrent use (one at a time).
type decoder struct {
	keep *fieldSet // nil: every field

	mu        sync.Mutex
	names     interner
	endpoints map[string]*endpointValue // by their bytes, at most endpointsKept
	rest      []byte

	direct, fallback atomic.Uint64 // responses decoded here, and left to protobuf
	metric           decodedMetric
}

const decodedHelp = "Stream responses decoded, by decoder: direct (hubble-sentinel's own: every flow of a usual mesh) or protobuf (what it leaves to protobuf: lost events, node status, a flow with a field it does not read, malformed bytes; about twice the CPU per flow)."

// decodedMetric counts responses by decoder: direct (here) or protobuf.
type decodedMetric struct {
	direct, protobuf prometheus.Counter // nil: not counted
}

// counted is c with its decoder's responses counted on reg (nothing when
// reg is nil). Dialing again with the same registry counts on the same
// metric.
func (c flowCodec) counted(reg prometheus.Registerer) flowCodec {
	if reg == nil || c.direct == nil {
		return c
	}
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "responses_decoded_total",
		Help: decodedHelp,
	}, []string{"decoder"})
	if err := reg.Register(vec); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return c
		}
		existing, ok := are.ExistingCollector.(*prometheus.CounterVec)
		if !ok {
			return c
		}
		vec = existing
	}
	c.direct.metric = decodedMetric{direct: vec.WithLabelValues("direct"), protobuf: vec.WithLabelValues("protobuf")}
	return c
}

func newDecoder(keep *fieldSet) *decoder {
	return &decoder{keep: keep, names: interner{m: make(map[string]string)}, endpoints: make(map[string]*endpointValue)}
}

// decode decodes the response b into r and reports whether it did; false
// leaves r as it was, for protobuf.
func (d *decoder) decode(b []byte, r *observerpb.GetFlowsResponse) bool {
	d.mu.Lock()
	ok := d.response(b, r)
	d.mu.Unlock()
	if ok {
		d.direct.Add(1)
		if d.metric.direct != nil {
			d.metric.direct.Inc()
		}
	} else {
		d.fallback.Add(1)
		if d.metric.protobuf != nil {
			d.metric.protobuf.Inc()
		}
	}
	return ok
}

func (d *decoder) response(b []byte, r *observerpb.GetFlowsResponse) bool {
	var (
		s     *flowSlab
		node  string
		rtime bool
	)
	ok := fields(b, func(f wireVal) (ok bool) {
		switch {
		case f.is(respFlowField, bytesType):
			return d.flow(f.v, s0(&s))
		case f.is(respNodeNameField, bytesType):
			node, ok = d.names.str(f.v)
		case f.is(respTimeField, bytesType) && !rtime:
			rtime = true
			return timestamp(f.v, &s0(&s).respTime)
		}
		return ok
	})
	if !ok || s == nil || s.resp.Flow == nil {
		return false
	}
	r.Reset()
	r.NodeName = node
	if rtime {
		r.Time = &s.respTime
	}
	r.ResponseTypes = &s.resp
	return true
}

// s0 is *s, allocated when nil (a response's time before its flow).
func s0(s **flowSlab) *flowSlab {
	if *s == nil {
		*s = new(flowSlab)
	}
	return *s
}

// flow decodes the flow b into s.flow.
func (d *decoder) flow(b []byte, s *flowSlab) bool {
	if s.resp.Flow != nil {
		return false
	}
	f := &s.flow
	s.resp.Flow = f
	rest := d.rest[:0]
	defer func() {
		if cap(rest) <= 64<<10 {
			d.rest = rest[:0]
		}
	}()
	for len(b) > 0 {
		num, typ, tag, size := wireField(b)
		if size < 0 {
			return false
		}
		whole, body := b[:size], b[tag:size]
		b = b[size:]
		if d.keep != nil && !d.keep.has(num) {
			continue
		}
		known, ok := d.flowField(num, typ, body, s)
		if !known {
			rest = append(rest, whole...)
			continue
		}
		if !ok {
			return false
		}
	}
	if len(rest) > 0 {
		return proto.UnmarshalOptions{Merge: true}.Unmarshal(rest, f) == nil
	}
	return true
}

// flowField decodes one top-level field of a flow: known is false for a
// field the decoder leaves to protobuf, ok false when it cannot decode a
// field it knows.
func (d *decoder) flowField(num protowire.Number, typ protowire.Type, body []byte, s *flowSlab) (known, ok bool) {
	f := &s.flow
	switch num {
	case flowVerdict, flowType, flowReply, flowDirection, flowObsPoint, flowDropReason, flowAuthType:
		if typ != protowire.VarintType {
			return true, false
		}
		x, n := protowire.ConsumeVarint(body)
		if n < 0 {
			return true, false
		}
		switch num {
		case flowVerdict:
			f.Verdict = flowpb.Verdict(int32(x))
		case flowType:
			f.Type = flowpb.FlowType(int32(x))
		case flowReply:
			f.Reply = x != 0
		case flowDirection:
			f.TrafficDirection = flowpb.TrafficDirection(int32(x))
		case flowObsPoint:
			f.TraceObservationPoint = flowpb.TraceObservationPoint(int32(x))
		case flowDropReason:
			f.DropReasonDesc = flowpb.DropReason(int32(x))
		case flowAuthType:
			f.AuthType = flowpb.AuthType(int32(x))
		}
		return true, true
	case flowTimeField, flowUUIDField, flowNodeNameField, flowIP, flowL4, flowSource, flowDestination,
		flowDestNames, flowL7, flowEventType, flowIsReply:
	default:
		return false, false
	}
	if typ != protowire.BytesType {
		return true, false
	}
	v, n := protowire.ConsumeBytes(body)
	if n < 0 {
		return true, false
	}
	switch num {
	case flowTimeField:
		return true, set(&f.Time, &s.time) && timestamp(v, f.Time)
	case flowUUIDField:
		f.Uuid, ok = plainString(v)
		return true, ok
	case flowNodeNameField:
		f.NodeName, ok = d.names.str(v)
		return true, ok
	case flowIP:
		return true, set(&f.IP, &s.ip) && d.ip(v, f.IP)
	case flowL4:
		return true, set(&f.L4, &s.l4) && d.l4(v, s)
	case flowSource:
		return true, set(&f.Source, &s.endpoints[0]) && d.knownEndpoint(v, f.Source)
	case flowDestination:
		return true, set(&f.Destination, &s.endpoints[1]) && d.knownEndpoint(v, f.Destination)
	case flowDestNames:
		name, ok := d.names.str(v)
		f.DestinationNames = append(f.DestinationNames, name)
		return true, ok
	case flowL7:
		ls := new(l7Slab)
		return true, set(&f.L7, &ls.l7) && d.l7(v, ls)
	case flowEventType:
		return true, set(&f.EventType, &s.event) && d.eventType(v, f.EventType)
	case flowIsReply:
		return true, set(&f.IsReply, &s.isReply) && d.boolValue(v, f.IsReply)
	}
	return true, false
}

// set points *field at m, false when it was set already (a message field
// given twice, which protobuf merges).
func set[M any](field **M, m *M) bool {
	if *field != nil {
		return false
	}
	*field = m
	return true
}

func timestamp(b []byte, t *timestamppb.Timestamp) bool {
	sec, nanos, ok := twoVarints(b)
	t.Seconds, t.Nanos = int64(sec), int32(nanos)
	return ok
}

func (d *decoder) eventType(b []byte, e *flowpb.CiliumEventType) bool {
	typ, sub, ok := twoVarints(b)
	e.Type, e.SubType = int32(typ), int32(sub)
	return ok
}

func (d *decoder) boolValue(b []byte, v *wrapperspb.BoolValue) bool {
	return varints(b, func(num protowire.Number, x uint64) bool {
		if num != 1 {
			return false
		}
		v.Value = x != 0
		return true
	})
}

// twoVarints decodes a message of two varint fields, numbered 1 and 2 (a
// Timestamp, a CiliumEventType, ports, ICMP's type and code).
func twoVarints(b []byte) (first, second uint64, ok bool) {
	ok = varints(b, func(num protowire.Number, x uint64) bool {
		switch num {
		case 1:
			first = x
		case 2:
			second = x
		default:
			return false
		}
		return true
	})
	return first, second, ok
}

// varints decodes a message of varint fields only, each by set.
func varints(b []byte, set func(protowire.Number, uint64) bool) bool {
	return fields(b, func(f wireVal) bool {
		return f.typ == varintType && set(f.num, f.x)
	})
}

func (d *decoder) ip(b []byte, ip *flowpb.IP) bool {
	return fields(b, func(f wireVal) (ok bool) {
		switch {
		case f.is(1, bytesType):
			ip.Source, ok = d.names.str(f.v)
		case f.is(2, bytesType):
			ip.Destination, ok = d.names.str(f.v)
		case f.is(5, bytesType):
			ip.SourceXlated, ok = d.names.str(f.v)
		case f.is(3, varintType):
			ip.IpVersion, ok = flowpb.IPVersion(int32(f.x)), true
		case f.is(4, varintType):
			ip.Encrypted, ok = f.x != 0, true
		}
		return ok
	})
}

// l4 decodes the flow's L4 record into s.l4, TCP and UDP into the slab's.
func (d *decoder) l4(b []byte, s *flowSlab) bool {
	l4 := &s.l4
	return fields(b, func(f wireVal) bool {
		if f.typ != bytesType || l4.Protocol != nil { // one of a oneof: the last would win
			return false
		}
		switch f.num {
		case 1:
			s.tcpCase.TCP = &s.tcp
			l4.Protocol = &s.tcpCase
			return d.tcp(f.v, s)
		case 2:
			s.udpCase.UDP = &s.udp
			l4.Protocol = &s.udpCase
			return uint32Pair(f.v, &s.udp.SourcePort, &s.udp.DestinationPort)
		case 3:
			m := &flowpb.ICMPv4{}
			l4.Protocol = &flowpb.Layer4_ICMPv4{ICMPv4: m}
			return uint32Pair(f.v, &m.Type, &m.Code)
		case 4:
			m := &flowpb.ICMPv6{}
			l4.Protocol = &flowpb.Layer4_ICMPv6{ICMPv6: m}
			return uint32Pair(f.v, &m.Type, &m.Code)
		}
		return false
	})
}

// uint32Pair decodes a message of two uint32 fields, numbered 1 and 2.
func uint32Pair(b []byte, a, c *uint32) bool {
	x, y, ok := twoVarints(b)
	*a, *c = uint32(x), uint32(y)
	return ok
}

func (d *decoder) tcp(b []byte, s *flowSlab) bool {
	t := &s.tcp
	return fields(b, func(f wireVal) bool {
		switch {
		case f.is(1, varintType):
			t.SourcePort = uint32(f.x)
		case f.is(2, varintType):
			t.DestinationPort = uint32(f.x)
		case f.is(3, bytesType):
			return set(&t.Flags, &s.flags) && tcpFlags(f.v, t.Flags)
		default:
			return false
		}
		return true
	})
}

func tcpFlags(b []byte, f *flowpb.TCPFlags) bool {
	flags := [...]*bool{&f.FIN, &f.SYN, &f.RST, &f.PSH, &f.ACK, &f.URG, &f.ECE, &f.CWR, &f.NS} // fields 1 to 9
	return varints(b, func(num protowire.Number, x uint64) bool {
		if num < 1 || int(num) > len(flags) {
			return false
		}
		*flags[num-1] = x != 0
		return true
	})
}

// endpointValue is an endpoint decoded before: its lists are shared by
// every flow that names it, as its strings are (a flow is never modified
// once decoded), and capped, so that an append copies.
type endpointValue struct {
	id, identity            uint32
	namespace, pod, cluster string
	labels                  []string
	workloads               []*flowpb.Workload
}

// knownEndpoint is endpoint, from the endpoints decoded before when b is
// one of them: a mesh's flows name the same pods over and over, and an
// endpoint's labels are most of a flow's strings. At most endpointsKept
// endpoints of at most endpointMaxLen bytes are kept (then it starts
// again).
func (d *decoder) knownEndpoint(b []byte, ep *flowpb.Endpoint) bool {
	if v, ok := d.endpoints[string(b)]; ok {
		ep.ID, ep.Identity = v.id, v.identity
		ep.Namespace, ep.PodName, ep.ClusterName = v.namespace, v.pod, v.cluster
		ep.Labels, ep.Workloads = v.labels, v.workloads
		return true
	}
	if !d.endpoint(b, ep) {
		return false
	}
	if len(b) <= endpointMaxLen {
		if len(d.endpoints) >= endpointsKept {
			clear(d.endpoints)
		}
		d.endpoints[string(b)] = &endpointValue{
			id: ep.ID, identity: ep.Identity, namespace: ep.Namespace, pod: ep.PodName, cluster: ep.ClusterName,
			labels: ep.Labels, workloads: ep.Workloads,
		}
	}
	return true
}

// endpoint decodes the endpoint b into ep, its lists allocated to their
// length (so that an append copies and a known endpoint can share them).
func (d *decoder) endpoint(b []byte, ep *flowpb.Endpoint) bool {
	labels, workloads := repeated(b, endpointLabels), repeated(b, endpointWorkloads)
	if labels < 0 {
		return false
	}
	if labels > 0 {
		ep.Labels = make([]string, 0, labels)
	}
	var ws []flowpb.Workload
	if workloads > 0 {
		ws = make([]flowpb.Workload, workloads)
		ep.Workloads = make([]*flowpb.Workload, 0, workloads)
	}
	return fields(b, func(f wireVal) (ok bool) {
		switch {
		case f.is(1, varintType):
			ep.ID, ok = uint32(f.x), true
		case f.is(2, varintType):
			ep.Identity, ok = uint32(f.x), true
		case f.is(3, bytesType):
			ep.Namespace, ok = d.names.str(f.v)
		case f.is(endpointLabels, bytesType):
			var l string
			l, ok = d.names.str(f.v)
			ep.Labels = append(ep.Labels, l)
		case f.is(5, bytesType):
			ep.PodName, ok = d.names.str(f.v)
		case f.is(endpointWorkloads, bytesType):
			w := &ws[len(ep.Workloads)]
			ep.Workloads = append(ep.Workloads, w)
			ok = d.workload(f.v, w)
		case f.is(7, bytesType):
			ep.ClusterName, ok = d.names.str(f.v)
		}
		return ok
	})
}

func (d *decoder) workload(b []byte, w *flowpb.Workload) bool {
	name, kind, ok := twoStrings(b)
	var okName, okKind bool
	w.Name, okName = d.names.str(name)
	w.Kind, okKind = d.names.str(kind)
	return ok && okName && okKind
}

func (d *decoder) l7(b []byte, s *l7Slab) bool {
	l7 := &s.l7
	return fields(b, func(f wireVal) bool {
		switch {
		case f.is(1, varintType):
			l7.Type = flowpb.L7FlowType(int32(f.x))
		case f.is(2, varintType):
			l7.LatencyNs = f.x
		case f.is(l7HTTP, bytesType) && l7.Record == nil:
			s.httpCase.Http = &s.http
			l7.Record = &s.httpCase
			return d.http(f.v, &s.http)
		case f.is(l7DNS, bytesType) && l7.Record == nil:
			s.dnsCase.Dns = &s.dns
			l7.Record = &s.dnsCase
			return d.dns(f.v, &s.dns)
		default:
			return false
		}
		return true
	})
}

// repeated counts the message fields numbered num in the message b, so
// that a list is allocated to its length (-1: b is malformed).
func repeated(b []byte, num protowire.Number) int {
	n := 0
	for len(b) > 0 {
		fn, typ, _, size := wireField(b)
		if size < 0 {
			return -1
		}
		if fn == num && typ == protowire.BytesType {
			n++
		}
		b = b[size:]
	}
	return n
}

func (d *decoder) http(b []byte, h *flowpb.HTTP) bool {
	headers := repeated(b, httpHeaderField)
	if headers < 0 {
		return false
	}
	var hs []flowpb.HTTPHeader
	if headers > 0 {
		hs = make([]flowpb.HTTPHeader, headers)
		h.Headers = make([]*flowpb.HTTPHeader, 0, headers)
	}
	return fields(b, func(f wireVal) (ok bool) {
		switch {
		case f.is(1, varintType):
			h.Code, ok = uint32(f.x), true
		case f.is(2, bytesType):
			h.Method, ok = d.names.str(f.v)
		case f.is(3, bytesType):
			h.Url, ok = plainString(f.v)
		case f.is(4, bytesType):
			h.Protocol, ok = d.names.str(f.v)
		case f.is(httpHeaderField, bytesType):
			hd := &hs[len(h.Headers)]
			h.Headers = append(h.Headers, hd)
			ok = d.header(f.v, hd)
		}
		return ok
	})
}

// header decodes an HTTP header: its name interned, its value (which may
// be a credential) not.
func (d *decoder) header(b []byte, hd *flowpb.HTTPHeader) bool {
	key, value, ok := twoStrings(b)
	var okKey, okValue bool
	hd.Key, okKey = d.names.str(key)
	hd.Value, okValue = plainString(value)
	return ok && okKey && okValue
}

// twoStrings decodes a message of two string fields, numbered 1 and 2 (a
// Workload, an HTTPHeader): their bytes, the last of each.
func twoStrings(b []byte) (first, second []byte, ok bool) {
	ok = fields(b, func(f wireVal) bool {
		switch {
		case f.is(1, bytesType):
			first = f.v
		case f.is(2, bytesType):
			second = f.v
		default:
			return false
		}
		return true
	})
	return first, second, ok
}

func (d *decoder) dns(b []byte, m *flowpb.DNS) bool {
	return fields(b, func(f wireVal) (ok bool) {
		var list *[]string
		switch {
		case f.is(3, varintType):
			m.Ttl, ok = uint32(f.x), true
		case f.is(6, varintType):
			m.Rcode, ok = uint32(f.x), true
		case f.typ != bytesType:
		case f.num == 1:
			m.Query, ok = d.names.str(f.v)
		case f.num == 5:
			m.ObservationSource, ok = d.names.str(f.v)
		case f.num == 2:
			list = &m.Ips
		case f.num == 4:
			list = &m.Cnames
		case f.num == 7:
			list = &m.Qtypes
		case f.num == 8:
			list = &m.Rrtypes
		}
		if list != nil {
			var s string
			s, ok = d.names.str(f.v)
			*list = append(*list, s)
		}
		return ok
	})
}

// Wire types, short.
const (
	varintType = protowire.VarintType
	bytesType  = protowire.BytesType
)

// wireVal is one varint or length-delimited field of a message.
type wireVal struct {
	num protowire.Number
	typ protowire.Type
	x   uint64 // a varint's value
	v   []byte // a length-delimited field's bytes
}

func (f wireVal) is(num protowire.Number, typ protowire.Type) bool {
	return f.num == num && f.typ == typ
}

// fields calls field with each field of the message b in turn, and
// reports whether b is well-formed, of varint and length-delimited fields
// only, and field took every one.
func fields(b []byte, field func(wireVal) bool) bool {
	for len(b) > 0 {
		num, typ, x, v, n := wireValue(b)
		if n < 0 || !field(wireVal{num: num, typ: typ, x: x, v: v}) {
			return false
		}
		b = b[n:]
	}
	return true
}

// wireValue reads the varint or length-delimited field b starts with: its
// number, wire type, value and whole length (negative when b does not start
// with a well-formed field of either type).
func wireValue(b []byte) (num protowire.Number, typ protowire.Type, x uint64, v []byte, n int) {
	num, typ, n = protowire.ConsumeTag(b)
	if n < 0 {
		return 0, 0, 0, nil, n
	}
	var m int
	switch typ {
	case protowire.VarintType:
		x, m = protowire.ConsumeVarint(b[n:])
	case protowire.BytesType:
		v, m = protowire.ConsumeBytes(b[n:])
	default:
		return 0, 0, 0, nil, -1
	}
	if m < 0 {
		return 0, 0, 0, nil, m
	}
	return num, typ, x, v, n + m
}

// plainString is b as a string, false when it is not UTF-8 (which
// protobuf refuses in a string field).
func plainString(b []byte) (string, bool) {
	if !utf8.Valid(b) {
		return "", false
	}
	return string(b), true
}

// interner holds strings that recur, so that a flow naming them allocates
// none: at most internMaxEntries of at most internMaxLen bytes (then it
// starts again), so a stream of ever-new names costs a bounded table and
// one map insertion each.
type interner struct {
	m map[string]string
}

// str is b as a string, false when it is not UTF-8.
func (t *interner) str(b []byte) (string, bool) {
	if s, ok := t.m[string(b)]; ok {
		return s, true
	}
	s, ok := plainString(b)
	if !ok || len(b) > internMaxLen || len(b) == 0 {
		return s, ok
	}
	if len(t.m) >= internMaxEntries {
		clear(t.m)
	}
	t.m[s] = s
	return s, true
}
