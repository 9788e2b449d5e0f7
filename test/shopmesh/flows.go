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
	eventDrop          = 1
	eventTrace         = 4
	eventPolicyVerdict = 5
	eventAccessLog     = 129
)

// reservedID is the identity Cilium gives an address that is not a pod of
// the cluster, with the labels Hubble shows for it.
type reservedID struct {
	identity uint32
	labels   []string
}

var (
	// worldID is everything outside the cluster, in a single-stack cluster.
	worldID = reservedID{2, []string{"reserved:world"}}
	// hostID and remoteNodeID are a node's own addresses, as seen on that
	// node and on the others.
	hostID       = reservedID{1, []string{"reserved:host"}}
	remoteNodeID = reservedID{6, []string{"reserved:remote-node"}}
	// apiServerID is the EKS control plane: its addresses are outside the
	// nodes, so Cilium adds reserved:world to reserved:kube-apiserver and
	// allocates a local identity for the pair (reserved identity 7 is for
	// API servers on cluster nodes).
	apiServerID = reservedID{16777217, []string{"reserved:kube-apiserver", "reserved:world"}}
)

// peer is one side of a flow: a pod (or another Cilium endpoint such as
// cilium-health), a node's own address, or an address outside the pod
// network with the names Cilium's FQDN cache knows for it.
type peer struct {
	pod   *pod
	node  *node
	id    *reservedID
	ip    string
	names []string
}

func podPeer(p *pod) peer { return peer{pod: p, ip: p.ip} }

func nodePeer(n *node) peer { return peer{node: n, ip: n.ip} }

func worldPeer(ip string, names ...string) peer { return peer{id: &worldID, ip: ip, names: names} }

func apiServerPeer(ip string) peer { return peer{id: &apiServerID, ip: ip} }

// endpoint is the peer as the agent on observer describes it: endpoint IDs
// are only known for endpoints local to that node, and a node is the host
// on itself and a remote node elsewhere.
func endpoint(p peer, observer *node) *flowpb.Endpoint {
	switch {
	case p.pod != nil:
		ep := &flowpb.Endpoint{Identity: p.pod.w.identity, Labels: slices.Clone(p.pod.label)}
		if w := p.pod.w; w.namespace != "" {
			ep.ClusterName = ClusterName
			ep.Namespace = w.namespace
			ep.PodName = p.pod.name
			ep.Workloads = []*flowpb.Workload{{Name: w.name, Kind: w.kind}}
		}
		if p.pod.node == observer {
			ep.ID = p.pod.epID
		}
		return ep
	case p.node == observer:
		return reservedEndpoint(hostID)
	case p.node != nil:
		return reservedEndpoint(remoteNodeID)
	case p.id != nil:
		return reservedEndpoint(*p.id)
	}
	return reservedEndpoint(worldID)
}

func reservedEndpoint(id reservedID) *flowpb.Endpoint {
	return &flowpb.Endpoint{Identity: id.identity, Labels: slices.Clone(id.labels)}
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

func ipv4(src, dst string) *flowpb.IP {
	return &flowpb.IP{Source: src, Destination: dst, IpVersion: flowpb.IPVersion_IPv4}
}

// Transport protocols of a conn.
const (
	tcp = iota
	udp
	icmp
)

// conn is an L4 conversation from client to server.
type conn struct {
	client, server peer
	sport, dport   uint32
	proto          int
}

// directed returns the ends and ports of a packet of c: the client's, or
// the server's reply.
func (c conn) directed(reply bool) (src, dst peer, sport, dport uint32) {
	if reply {
		return c.server, c.client, c.dport, c.sport
	}
	return c.client, c.server, c.sport, c.dport
}

// conversation starts the flow of one packet of c, or of one proxy record
// of it: the client's or the server's reply, with both ends as the agent on
// observer describes them.
func (g *Generator) conversation(c conn, reply bool, flags *flowpb.TCPFlags, observer *node, d time.Duration) *flowpb.Flow {
	src, dst, sport, dport := c.directed(reply)
	f := g.newFlow(observer, d)
	f.IP = ipv4(src.ip, dst.ip)
	switch c.proto {
	case udp:
		f.L4 = &flowpb.Layer4{Protocol: &flowpb.Layer4_UDP{UDP: &flowpb.UDP{SourcePort: sport, DestinationPort: dport}}}
	case icmp:
		echo := &flowpb.ICMPv4{Type: 8} // echo request; the reply is type 0
		if reply {
			echo.Type = 0
		}
		f.L4 = &flowpb.Layer4{Protocol: &flowpb.Layer4_ICMPv4{ICMPv4: echo}}
	default:
		f.L4 = &flowpb.Layer4{Protocol: &flowpb.Layer4_TCP{TCP: &flowpb.TCP{SourcePort: sport, DestinationPort: dport, Flags: flags}}}
	}
	f.Source = endpoint(src, observer)
	f.Destination = endpoint(dst, observer)
	f.SourceNames = slices.Clone(src.names)
	f.DestinationNames = slices.Clone(dst.names)
	f.IsReply = wrapperspb.Bool(reply)
	f.Reply = reply //nolint:staticcheck // Cilium mirrors is_reply into the deprecated field.
	return f
}

// summaryL4 is the summary Cilium writes for a trace event.
func summaryL4(l4 *flowpb.Layer4) string {
	switch {
	case l4.GetUDP() != nil:
		return "UDP"
	case l4.GetICMPv4() != nil && l4.GetICMPv4().GetType() == 8:
		return "ICMPv4 EchoRequest"
	case l4.GetICMPv4() != nil:
		return "ICMPv4 EchoReply"
	}
	return "TCP Flags: " + tcpFlags(l4.GetTCP().GetFlags())
}

// packet emits one trace event of c. Cilium observes a packet bound for a
// pod where it is delivered (TO_ENDPOINT, on the pod's node, through its lxc
// device) and a packet leaving the pod network where it leaves its pod's
// node (TO_STACK).
func (g *Generator) packet(c conn, reply bool, flags *flowpb.TCPFlags, reason flowpb.TraceReason, d time.Duration) {
	src, dst, _, _ := c.directed(reply)
	var (
		observer *node
		point    flowpb.TraceObservationPoint
		eth      *flowpb.Ethernet
		dir      flowpb.TrafficDirection
		iface    *flowpb.NetworkInterface
	)
	if dst.pod != nil {
		observer, point = dst.pod.node, flowpb.TraceObservationPoint_TO_ENDPOINT
		eth = &flowpb.Ethernet{Source: observer.mac, Destination: dst.pod.mac}
		iface = &flowpb.NetworkInterface{Index: dst.pod.ifindex, Name: dst.pod.lxc}
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
	f := g.conversation(c, reply, flags, observer, d)
	f.Ethernet = eth
	f.Type = flowpb.FlowType_L3_L4
	f.Summary = summaryL4(f.GetL4()) //nolint:staticcheck // Cilium still fills the deprecated summary.
	f.TrafficDirection = dir
	f.EventType = &flowpb.CiliumEventType{Type: eventTrace, SubType: int32(traceSubType(point))}
	f.TraceObservationPoint = point
	f.TraceReason = reason
	f.Interface = iface
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
	flagsRST    = func() *flowpb.TCPFlags { return &flowpb.TCPFlags{RST: true} }
	flagsRSTACK = func() *flowpb.TCPFlags { return &flowpb.TCPFlags{RST: true, ACK: true} }
)

// tcpSession emits a short TCP connection as Hubble's default monitor
// aggregation shows it: the handshake, exchanges data packets, and the close.
func (g *Generator) tcpSession(c conn, exchanges int) {
	rtt := g.rtt(c)
	g.handshake(c, rtt)
	g.transfer(c, exchanges, rtt)
	g.packet(c, false, flagsFINACK(), flowpb.TraceReason_ESTABLISHED, g.between(50*time.Microsecond, 5*time.Millisecond))
	g.packet(c, true, flagsFINACK(), flowpb.TraceReason_REPLY, rtt)
}

// rtt draws the round trip time to c's server: inside the VPC or across
// the Internet.
func (g *Generator) rtt(c conn) time.Duration {
	switch {
	case c.server.pod != nil || c.server.node != nil:
		return g.between(80*time.Microsecond, 900*time.Microsecond)
	case c.server.id == &apiServerID:
		return g.between(400*time.Microsecond, 3*time.Millisecond)
	}
	return g.between(2*time.Millisecond, 30*time.Millisecond)
}

// handshake opens c, which policy admits at L4.
func (g *Generator) handshake(c conn, rtt time.Duration) {
	g.admit(c, noProxy)
	g.packet(c, false, flagsSYN(), flowpb.TraceReason_NEW, g.between(20*time.Microsecond, 200*time.Microsecond))
	g.packet(c, true, flagsSYNACK(), flowpb.TraceReason_REPLY, rtt)
	g.packet(c, false, flagsACK(), flowpb.TraceReason_ESTABLISHED, g.between(10*time.Microsecond, 60*time.Microsecond))
}

// transfer exchanges n requests and replies on the open connection c.
func (g *Generator) transfer(c conn, n int, rtt time.Duration) {
	for range n {
		g.packet(c, false, flagsPSHACK(), flowpb.TraceReason_ESTABLISHED, g.between(20*time.Microsecond, 400*time.Microsecond))
		g.packet(c, true, flagsPSHACK(), flowpb.TraceReason_REPLY, rtt+g.between(0, 2*time.Millisecond))
	}
}

// poolKey names a client pod's long-lived connection to a server port.
type poolKey struct {
	client *pod
	server string
	port   uint32
}

// pooled returns the source port of client's long-lived connection to
// server and whether it was opened just now. The capture starts with the
// shop running, so the first use finds it open; later uses replace it with
// probability renew (a restart, an idle timeout, a rebalance).
func (g *Generator) pooled(client *pod, server peer, dport uint32, renew float64) (uint32, bool) {
	key := poolKey{client, server.ip, dport}
	port, ok := g.pools[key]
	if ok && !g.chance(renew) {
		return port, false
	}
	port = g.ephemeralPort()
	g.pools[key] = port
	return port, ok
}

// talk exchanges n requests and replies on client's long-lived TCP
// connection to server's dport. When the connection is new, dial runs
// first (a DNS lookup) and opened after the handshake.
func (g *Generator) talk(client *pod, server peer, dport uint32, renew float64, n int, dial, opened func()) {
	port, fresh := g.pooled(client, server, dport, renew)
	c := conn{client: podPeer(client), server: server, sport: port, dport: dport}
	rtt := g.rtt(c)
	if fresh {
		if dial != nil {
			dial()
		}
		g.handshake(c, rtt)
		if opened != nil {
			opened()
		}
	}
	g.transfer(c, n, rtt)
}

// Cilium's policy match types (pkg/monitor/api), which Hubble shows as
// policy-verdict:L3-L4 and policy-verdict:L3-Only.
const (
	matchL3Only = 1
	matchL3L4   = 2
)

// enforced says whether network policy selects p's endpoint: every
// namespace of the shop and its add-ons has policies; kube-system and
// Cilium's own endpoints have none.
func enforced(p peer) bool {
	return p.pod != nil && p.pod.w.namespace != "" && p.pod.w.namespace != "kube-system"
}

// mutualAuth says whether w's ingress rules require mutual authentication
// (SPIFFE identities from SPIRE): the payment service's do.
func mutualAuth(w *workload) bool { return w.name == "payment" }

// noProxy says no L7 rule applies to a connection.
const noProxy = flowpb.TrafficDirection_TRAFFIC_DIRECTION_UNKNOWN

// admit emits the policy verdicts of the first packet of the new
// connection c: at the client's egress and at the server's ingress, where
// policy selects them. proxy is the direction whose L7 rule redirects c to
// the proxy, if any.
func (g *Generator) admit(c conn, proxy flowpb.TrafficDirection) {
	for _, dir := range []flowpb.TrafficDirection{flowpb.TrafficDirection_EGRESS, flowpb.TrafficDirection_INGRESS} {
		local := c.server
		if dir == flowpb.TrafficDirection_EGRESS {
			local = c.client
		}
		if enforced(local) {
			g.policyVerdict(c, dir, dir == proxy)
		}
	}
}

// policyVerdict emits the verdict of dir's policy on c's first packet, on
// the node of the endpoint it selects. Only ingress verdicts of rules that
// require mutual authentication carry an auth type.
func (g *Generator) policyVerdict(c conn, dir flowpb.TrafficDirection, proxied bool) {
	var flags *flowpb.TCPFlags
	if c.proto == tcp {
		flags = flagsSYN()
	}
	local, peer := c.server, c.client
	if dir == flowpb.TrafficDirection_EGRESS {
		local, peer = c.client, c.server
	}
	observer := local.pod.node
	f := g.conversation(c, false, flags, observer, g.between(2*time.Microsecond, 40*time.Microsecond))
	f.Ethernet = &flowpb.Ethernet{Source: observer.mac, Destination: local.pod.mac}
	if dir == flowpb.TrafficDirection_EGRESS {
		f.Ethernet = &flowpb.Ethernet{Source: local.pod.mac, Destination: observer.mac}
	}
	f.Type = flowpb.FlowType_L3_L4
	if proxied {
		f.Verdict = flowpb.Verdict_REDIRECTED
	}
	f.Summary = summaryL4(f.GetL4()) //nolint:staticcheck // Cilium still fills the deprecated summary.
	f.TrafficDirection = dir
	f.EventType = &flowpb.CiliumEventType{Type: eventPolicyVerdict}
	f.PolicyMatchType = matchL3L4
	if peer.node != nil { // allowed from the host (or all nodes) by entity
		f.PolicyMatchType = matchL3Only
	}
	if dir == flowpb.TrafficDirection_INGRESS && peer.pod != nil && mutualAuth(local.pod.w) {
		f.AuthType = flowpb.AuthType_SPIRE
	}
	g.emit(f)
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
	f.IP = ipv4(c.client.ip, c.server.ip)
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

// accessLog starts the flow of one L7 record of c, the request from the
// client or the reply, as logged by the proxy on observer. Hubble's L7
// parser leaves out what the datapath knows (flags, ethernet, interface).
func (g *Generator) accessLog(c conn, reply bool, observer *node, dir flowpb.TrafficDirection, d time.Duration) *flowpb.Flow {
	f := g.conversation(c, reply, nil, observer, d)
	f.Type = flowpb.FlowType_L7
	f.EventType = &flowpb.CiliumEventType{Type: eventAccessLog}
	f.TrafficDirection = dir
	return f
}

// exchange is one L7 request and its response between client and server.
type exchange struct {
	conn
	method, url, protocol string
	headers               []*flowpb.HTTPHeader
	code                  uint32
	// egress says the client's egress L7 policy logs the exchange rather
	// than the server's ingress policy.
	egress bool
	sent   time.Time
}

// l7Observer is where the proxy that logs an exchange runs: at the server
// pod for ingress L7 policy, else at the client pod for egress L7 policy.
func (e *exchange) l7Observer() (*node, flowpb.TrafficDirection) {
	if e.server.pod != nil && !e.egress {
		return e.server.pod.node, flowpb.TrafficDirection_INGRESS
	}
	return e.client.pod.node, flowpb.TrafficDirection_EGRESS
}

// open emits the policy verdicts of the new connection e is the first
// exchange on.
func (g *Generator) open(e *exchange) {
	_, proxy := e.l7Observer()
	g.admit(e.conn, proxy)
}

// request emits the exchange's request d after the previous flow.
func (g *Generator) request(e *exchange, d time.Duration) {
	observer, dir := e.l7Observer()
	f := g.accessLog(e.conn, false, observer, dir, d)
	e.sent = f.GetTime().AsTime()
	f.L7 = &flowpb.Layer7{
		Type: flowpb.L7FlowType_REQUEST,
		Record: &flowpb.Layer7_Http{Http: &flowpb.HTTP{
			Method: e.method, Url: e.url, Protocol: e.protocol, Headers: cloneHeaders(e.headers),
		}},
	}
	f.TraceContext = traceContext(e.headers)
	f.Summary = e.protocol + " " + e.method + " " + e.url //nolint:staticcheck // Cilium still fills the deprecated summary.
	g.emit(f)
}

// response emits the exchange's response d after the previous flow; its
// latency is measured from the request as Cilium does with X-Request-Id,
// and it carries the request's headers and trace, as Cilium logs them.
func (g *Generator) response(e *exchange, d time.Duration) {
	observer, dir := e.l7Observer()
	f := g.accessLog(e.conn, true, observer, dir, d)
	latency := f.GetTime().AsTime().Sub(e.sent)
	f.L7 = &flowpb.Layer7{
		Type:      flowpb.L7FlowType_RESPONSE,
		LatencyNs: uint64(latency.Nanoseconds()),
		Record: &flowpb.Layer7_Http{Http: &flowpb.HTTP{
			Code: e.code, Method: e.method, Url: e.url, Protocol: e.protocol, Headers: cloneHeaders(e.headers),
		}},
	}
	f.TraceContext = traceContext(e.headers)
	f.Summary = fmt.Sprintf("%s %d %dms (%s %s)", e.protocol, e.code, latency.Milliseconds(), e.method, e.url) //nolint:staticcheck // as above
	g.emit(f)
}

// traceContext is the W3C trace a request's traceparent header names, as
// Hubble extracts it.
func traceContext(h []*flowpb.HTTPHeader) *flowpb.TraceContext {
	for _, x := range h {
		// version-traceid-parentid-flags
		if x.GetKey() == "Traceparent" && len(x.GetValue()) == 55 {
			return &flowpb.TraceContext{Parent: &flowpb.TraceParent{TraceId: x.GetValue()[3:35]}}
		}
	}
	return nil
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
