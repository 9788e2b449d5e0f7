package shopmesh

import (
	"fmt"
	"slices"
	"strings"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// This file builds flows field by field the way Cilium's Hubble parser
// (pkg/hubble/parser/threefour and seven, v1.20) fills them, so the engine
// sees the shapes it will see in production.

// Cilium monitor message types (pkg/monitor/api) used as event_type.type.
const (
	eventDrop      = 1
	eventTrace     = 4
	eventAccessLog = 129
)

// worldIdentity is Cilium's reserved identity for addresses outside the
// cluster; worldLabel is its only label in a single-stack cluster.
const (
	worldIdentity = 2
	worldLabel    = "reserved:world"
)

// peer is one side of a flow: a pod, or an address outside the cluster with
// the names Cilium's FQDN cache knows for it.
type peer struct {
	pod   *pod
	ip    string
	names []string
}

func podPeer(p *pod) peer { return peer{pod: p, ip: p.ip} }

func worldPeer(ip string, names ...string) peer { return peer{ip: ip, names: names} }

// endpoint is the peer as the agent on observer describes it: endpoint IDs
// are only known for endpoints local to that node.
func endpoint(p peer, observer *node) *flowpb.Endpoint {
	if p.pod == nil {
		return &flowpb.Endpoint{Identity: worldIdentity, Labels: []string{worldLabel}}
	}
	ep := &flowpb.Endpoint{
		Identity:    p.pod.w.identity,
		ClusterName: ClusterName,
		Namespace:   p.pod.w.namespace,
		Labels:      slices.Clone(p.pod.label),
		PodName:     p.pod.name,
		Workloads:   []*flowpb.Workload{{Name: p.pod.w.name, Kind: p.pod.w.kind}},
	}
	if p.pod.node == observer {
		ep.ID = p.pod.epID
	}
	return ep
}

// newFlow starts a flow observed on n, stamped d after the previous flow.
func (g *Generator) newFlow(n *node, d time.Duration) *flowpb.Flow {
	return &flowpb.Flow{
		Time:       timestamppb.New(g.tick(d)),
		Uuid:       g.uuid(),
		Emitter:    &flowpb.Emitter{Name: "Hubble", Version: emitterVersion},
		Verdict:    flowpb.Verdict_FORWARDED,
		NodeName:   n.name,
		NodeLabels: slices.Clone(n.labels),
	}
}

// conn is an L4 conversation from client to server.
type conn struct {
	client, server peer
	sport, dport   uint32
	udp            bool
}

// packet emits one trace event of c. Cilium observes a packet bound for a
// pod where it is delivered (TO_ENDPOINT, on the pod's node) and a packet
// leaving the cluster where it leaves its pod's node (TO_STACK).
func (g *Generator) packet(c conn, reply bool, flags *flowpb.TCPFlags, reason flowpb.TraceReason, d time.Duration) {
	src, dst := c.client, c.server
	sport, dport := c.sport, c.dport
	if reply {
		src, dst = dst, src
		sport, dport = dport, sport
	}
	var (
		observer *node
		point    flowpb.TraceObservationPoint
		eth      *flowpb.Ethernet
		dir      flowpb.TrafficDirection
	)
	if dst.pod != nil {
		observer, point = dst.pod.node, flowpb.TraceObservationPoint_TO_ENDPOINT
		eth = &flowpb.Ethernet{Source: observer.mac, Destination: dst.pod.mac}
		// The local endpoint is the packet's destination: a request is
		// ingress to it, a reply belongs to a connection it opened.
		dir = flowpb.TrafficDirection_INGRESS
		if reply {
			dir = flowpb.TrafficDirection_EGRESS
		}
	} else {
		observer, point = src.pod.node, flowpb.TraceObservationPoint_TO_STACK
		eth = &flowpb.Ethernet{Source: src.pod.mac, Destination: observer.mac}
		dir = flowpb.TrafficDirection_EGRESS
		if reply {
			dir = flowpb.TrafficDirection_INGRESS
		}
	}
	f := g.newFlow(observer, d)
	f.Ethernet = eth
	f.IP = &flowpb.IP{Source: src.ip, Destination: dst.ip, IpVersion: flowpb.IPVersion_IPv4}
	if c.udp {
		f.L4 = &flowpb.Layer4{Protocol: &flowpb.Layer4_UDP{UDP: &flowpb.UDP{SourcePort: sport, DestinationPort: dport}}}
		f.Summary = "UDP" //nolint:staticcheck // Cilium still fills the deprecated summary.
	} else {
		f.L4 = &flowpb.Layer4{Protocol: &flowpb.Layer4_TCP{TCP: &flowpb.TCP{SourcePort: sport, DestinationPort: dport, Flags: flags}}}
		f.Summary = "TCP Flags: " + tcpFlags(flags) //nolint:staticcheck // as above
	}
	f.Source = endpoint(src, observer)
	f.Destination = endpoint(dst, observer)
	f.Type = flowpb.FlowType_L3_L4
	f.SourceNames = slices.Clone(src.names)
	f.DestinationNames = slices.Clone(dst.names)
	f.IsReply = wrapperspb.Bool(reply)
	f.Reply = reply //nolint:staticcheck // Cilium mirrors is_reply into the deprecated field.
	f.TrafficDirection = dir
	f.EventType = &flowpb.CiliumEventType{Type: eventTrace, SubType: int32(traceSubType(point))}
	f.TraceObservationPoint = point
	f.TraceReason = reason
	g.emit(f)
}

// traceSubType is the datapath observation point number Cilium puts in
// event_type.sub_type; TO_ENDPOINT is the datapath's 0 (TO_LXC).
func traceSubType(p flowpb.TraceObservationPoint) flowpb.TraceObservationPoint {
	if p == flowpb.TraceObservationPoint_TO_ENDPOINT {
		return 0
	}
	return p
}

// tcpFlags renders flags in the order Cilium's getTCPFlags does.
func tcpFlags(f *flowpb.TCPFlags) string {
	var s []string
	for _, fl := range []struct {
		on   bool
		name string
	}{
		{f.GetSYN(), "SYN"}, {f.GetACK(), "ACK"}, {f.GetRST(), "RST"}, {f.GetFIN(), "FIN"},
		{f.GetPSH(), "PSH"}, {f.GetURG(), "URG"}, {f.GetECE(), "ECE"}, {f.GetCWR(), "CWR"}, {f.GetNS(), "NS"},
	} {
		if fl.on {
			s = append(s, fl.name)
		}
	}
	return strings.Join(s, ", ")
}

var (
	flagsSYN    = func() *flowpb.TCPFlags { return &flowpb.TCPFlags{SYN: true} }
	flagsSYNACK = func() *flowpb.TCPFlags { return &flowpb.TCPFlags{SYN: true, ACK: true} }
	flagsACK    = func() *flowpb.TCPFlags { return &flowpb.TCPFlags{ACK: true} }
	flagsPSHACK = func() *flowpb.TCPFlags { return &flowpb.TCPFlags{PSH: true, ACK: true} }
	flagsFINACK = func() *flowpb.TCPFlags { return &flowpb.TCPFlags{FIN: true, ACK: true} }
)

// tcpSession emits a short TCP connection as Hubble's default monitor
// aggregation shows it: the handshake, exchanges data packets, and the close.
func (g *Generator) tcpSession(c conn, exchanges int) {
	rtt := g.between(80*time.Microsecond, 900*time.Microsecond)
	if c.server.pod == nil {
		rtt = g.between(2*time.Millisecond, 30*time.Millisecond)
	}
	g.packet(c, false, flagsSYN(), flowpb.TraceReason_NEW, g.between(20*time.Microsecond, 200*time.Microsecond))
	g.packet(c, true, flagsSYNACK(), flowpb.TraceReason_REPLY, rtt)
	g.packet(c, false, flagsACK(), flowpb.TraceReason_ESTABLISHED, g.between(10*time.Microsecond, 60*time.Microsecond))
	for range exchanges {
		g.packet(c, false, flagsPSHACK(), flowpb.TraceReason_ESTABLISHED, g.between(20*time.Microsecond, 300*time.Microsecond))
		g.packet(c, true, flagsPSHACK(), flowpb.TraceReason_REPLY, rtt+g.between(0, 2*time.Millisecond))
	}
	g.packet(c, false, flagsFINACK(), flowpb.TraceReason_ESTABLISHED, g.between(50*time.Microsecond, 5*time.Millisecond))
	g.packet(c, true, flagsFINACK(), flowpb.TraceReason_REPLY, rtt)
}

// policyDrop emits the drop of c's SYN by the server's ingress policy.
func (g *Generator) policyDrop(c conn, d time.Duration) {
	observer := c.server.pod.node
	f := g.newFlow(observer, d)
	f.Verdict = flowpb.Verdict_DROPPED
	f.DropReason = uint32(flowpb.DropReason_POLICY_DENIED) //nolint:staticcheck // Cilium still fills the deprecated code.
	f.DropReasonDesc = flowpb.DropReason_POLICY_DENIED
	f.File = &flowpb.FileInfo{Name: "bpf_lxc.c", Line: 2139}
	f.Ethernet = &flowpb.Ethernet{Source: observer.mac, Destination: c.server.pod.mac}
	f.IP = &flowpb.IP{Source: c.client.ip, Destination: c.server.ip, IpVersion: flowpb.IPVersion_IPv4}
	f.L4 = &flowpb.Layer4{Protocol: &flowpb.Layer4_TCP{TCP: &flowpb.TCP{SourcePort: c.sport, DestinationPort: c.dport, Flags: flagsSYN()}}}
	f.Source = endpoint(c.client, observer)
	f.Destination = endpoint(c.server, observer)
	f.Type = flowpb.FlowType_L3_L4
	// Drops leave is_reply unset: the datapath does not know.
	f.TrafficDirection = flowpb.TrafficDirection_INGRESS
	f.EventType = &flowpb.CiliumEventType{Type: eventDrop, SubType: int32(flowpb.DropReason_POLICY_DENIED)}
	f.Summary = "TCP Flags: SYN" //nolint:staticcheck // Cilium still fills the deprecated summary.
	g.emit(f)
}

// exchange is one L7 request and its response between client and server.
type exchange struct {
	conn
	method, url, protocol string
	headers               []*flowpb.HTTPHeader
	code                  uint32
	sent                  time.Time
}

// l7Observer is where the proxy that logs an exchange runs: at the server
// pod for ingress L7 policy, else at the client pod for egress L7 policy.
func (e *exchange) l7Observer() (*node, flowpb.TrafficDirection) {
	if e.server.pod != nil {
		return e.server.pod.node, flowpb.TrafficDirection_INGRESS
	}
	return e.client.pod.node, flowpb.TrafficDirection_EGRESS
}

// request emits the exchange's request d after the previous flow.
func (g *Generator) request(e *exchange, d time.Duration) {
	observer, dir := e.l7Observer()
	f := g.newFlow(observer, d)
	e.sent = f.GetTime().AsTime()
	f.IP = &flowpb.IP{Source: e.client.ip, Destination: e.server.ip, IpVersion: flowpb.IPVersion_IPv4}
	f.L4 = &flowpb.Layer4{Protocol: &flowpb.Layer4_TCP{TCP: &flowpb.TCP{SourcePort: e.sport, DestinationPort: e.dport}}}
	f.Source = endpoint(e.client, observer)
	f.Destination = endpoint(e.server, observer)
	f.Type = flowpb.FlowType_L7
	f.DestinationNames = slices.Clone(e.server.names)
	f.L7 = &flowpb.Layer7{
		Type: flowpb.L7FlowType_REQUEST,
		Record: &flowpb.Layer7_Http{Http: &flowpb.HTTP{
			Method: e.method, Url: e.url, Protocol: e.protocol, Headers: cloneHeaders(e.headers),
		}},
	}
	f.IsReply = wrapperspb.Bool(false)
	f.EventType = &flowpb.CiliumEventType{Type: eventAccessLog}
	f.TrafficDirection = dir
	f.Summary = fmt.Sprintf("%s %s %s", e.protocol, e.method, e.url) //nolint:staticcheck // Cilium still fills the deprecated summary.
	g.emit(f)
}

// response emits the exchange's response d after the previous flow; its
// latency is measured from the request as Cilium does with X-Request-Id.
func (g *Generator) response(e *exchange, d time.Duration) {
	observer, dir := e.l7Observer()
	f := g.newFlow(observer, d)
	latency := f.GetTime().AsTime().Sub(e.sent)
	f.IP = &flowpb.IP{Source: e.server.ip, Destination: e.client.ip, IpVersion: flowpb.IPVersion_IPv4}
	f.L4 = &flowpb.Layer4{Protocol: &flowpb.Layer4_TCP{TCP: &flowpb.TCP{SourcePort: e.dport, DestinationPort: e.sport}}}
	f.Source = endpoint(e.server, observer)
	f.Destination = endpoint(e.client, observer)
	f.Type = flowpb.FlowType_L7
	f.SourceNames = slices.Clone(e.server.names)
	f.L7 = &flowpb.Layer7{
		Type:      flowpb.L7FlowType_RESPONSE,
		LatencyNs: uint64(latency.Nanoseconds()),
		Record: &flowpb.Layer7_Http{Http: &flowpb.HTTP{
			Code: e.code, Method: e.method, Url: e.url, Protocol: e.protocol, Headers: cloneHeaders(e.headers),
		}},
	}
	f.IsReply = wrapperspb.Bool(true)
	f.Reply = true //nolint:staticcheck // Cilium mirrors is_reply into the deprecated field.
	f.EventType = &flowpb.CiliumEventType{Type: eventAccessLog}
	f.TrafficDirection = dir
	f.Summary = fmt.Sprintf("%s %d %dms (%s %s)", e.protocol, e.code, latency.Milliseconds(), e.method, e.url) //nolint:staticcheck // as above
	g.emit(f)
}

// headers builds an HTTP header list sorted by key, as Cilium emits it.
func headers(kv ...string) []*flowpb.HTTPHeader {
	h := make([]*flowpb.HTTPHeader, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		h = append(h, &flowpb.HTTPHeader{Key: kv[i], Value: kv[i+1]})
	}
	slices.SortStableFunc(h, func(a, b *flowpb.HTTPHeader) int { return strings.Compare(a.Key, b.Key) })
	return h
}

func cloneHeaders(h []*flowpb.HTTPHeader) []*flowpb.HTTPHeader {
	out := make([]*flowpb.HTTPHeader, len(h))
	for i, x := range h {
		out[i] = &flowpb.HTTPHeader{Key: x.GetKey(), Value: x.GetValue()}
	}
	return out
}

// DNS response codes (RFC 1035) as Cilium reports them in rcode.
const (
	rcodeNoError  = 0
	rcodeNXDomain = 3
)

// nxdomainTTL is the TTL Cilium's DNS proxy reports for negative answers.
const nxdomainTTL = 4294967295

// answer is what the cluster DNS replies to a query.
type answer struct {
	rcode uint32
	ips   []string
	ttl   uint32
}

// lookup emits a DNS query from client to a CoreDNS pod and its answer, as
// Cilium's DNS proxy logs them on the client's node (egress L7 policy).
// upstream, when set, is the exchange CoreDNS has with its forwarder
// between the two.
func (g *Generator) lookup(client *pod, query, qtype string, a answer, upstream func(dns *pod)) {
	dns := g.pick(g.mesh.workloads["coredns"].pods)
	c := conn{client: podPeer(client), server: podPeer(dns), sport: g.ephemeralPort(), dport: 53, udp: true}
	observer := client.node
	req := g.newFlow(observer, g.between(20*time.Microsecond, 2*time.Millisecond))
	req.IP = &flowpb.IP{Source: client.ip, Destination: dns.ip, IpVersion: flowpb.IPVersion_IPv4}
	req.L4 = &flowpb.Layer4{Protocol: &flowpb.Layer4_UDP{UDP: &flowpb.UDP{SourcePort: c.sport, DestinationPort: 53}}}
	req.Source = endpoint(c.client, observer)
	req.Destination = endpoint(c.server, observer)
	req.Type = flowpb.FlowType_L7
	req.L7 = &flowpb.Layer7{Type: flowpb.L7FlowType_REQUEST, Record: &flowpb.Layer7_Dns{Dns: &flowpb.DNS{
		Query: query, ObservationSource: "proxy", Qtypes: []string{qtype},
	}}}
	req.IsReply = wrapperspb.Bool(false)
	req.EventType = &flowpb.CiliumEventType{Type: eventAccessLog}
	req.TrafficDirection = flowpb.TrafficDirection_EGRESS
	req.Summary = fmt.Sprintf("DNS Query %s %s", query, qtype) //nolint:staticcheck // Cilium still fills the deprecated summary.
	g.emit(req)

	if upstream != nil {
		upstream(dns)
	}

	resp := g.newFlow(observer, g.between(150*time.Microsecond, 1500*time.Microsecond))
	resp.IP = &flowpb.IP{Source: dns.ip, Destination: client.ip, IpVersion: flowpb.IPVersion_IPv4}
	resp.L4 = &flowpb.Layer4{Protocol: &flowpb.Layer4_UDP{UDP: &flowpb.UDP{SourcePort: 53, DestinationPort: c.sport}}}
	resp.Source = endpoint(c.server, observer)
	resp.Destination = endpoint(c.client, observer)
	resp.Type = flowpb.FlowType_L7
	var rrtypes []string
	if len(a.ips) > 0 {
		rrtypes = []string{qtype}
	}
	resp.L7 = &flowpb.Layer7{Type: flowpb.L7FlowType_RESPONSE, Record: &flowpb.Layer7_Dns{Dns: &flowpb.DNS{
		Query: query, Ips: slices.Clone(a.ips), Ttl: a.ttl, ObservationSource: "proxy",
		Rcode: a.rcode, Qtypes: []string{qtype}, Rrtypes: rrtypes,
	}}}
	resp.IsReply = wrapperspb.Bool(true)
	resp.Reply = true //nolint:staticcheck // Cilium mirrors is_reply into the deprecated field.
	resp.EventType = &flowpb.CiliumEventType{Type: eventAccessLog}
	resp.TrafficDirection = flowpb.TrafficDirection_EGRESS
	resp.Summary = dnsAnswerSummary(query, qtype, a) //nolint:staticcheck // as above
	g.emit(resp)
}

// dnsAnswerSummary renders an answer as Cilium's dnsSummary does.
func dnsAnswerSummary(query, qtype string, a answer) string {
	var ans string
	switch {
	case a.rcode == rcodeNXDomain:
		ans = "RCode: Non-Existent Domain"
	case len(a.ips) > 0:
		ans = fmt.Sprintf("%q", strings.Join(a.ips, ","))
	}
	return fmt.Sprintf("DNS Answer %s TTL: %d (Proxy %s %s)", ans, a.ttl, query, qtype)
}
