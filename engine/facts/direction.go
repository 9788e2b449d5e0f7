package facts

import (
	flowpb "github.com/cilium/cilium/api/v1/flow"
)

// Rules that decide a flow's direction, in the order Measure tries them.
// Direction.Rule names the one that decided, so a policy author or an
// operator can see how much to trust the answer.
const (
	// RuleIsReply: Cilium set is_reply. Authoritative.
	RuleIsReply = "is_reply"
	// RuleReply: only the deprecated reply field (older agents) was set,
	// and it said reply (it is left out when false).
	RuleReply = "reply"
	// RuleL7Type: an L7 record of type REQUEST or RESPONSE.
	RuleL7Type = "l7_type"
	// RuleTCPFlags: a TCP SYN without ACK opens a connection, a SYN-ACK
	// answers one.
	RuleTCPFlags = "tcp_flags"
	// RuleICMP: an ICMP echo request or echo reply.
	RuleICMP = "icmp"
	// RulePorts: the ports tell client from server. A port in the
	// ephemeral range (32768 and up, Linux's and IANA's) facing one below
	// it is the client's; otherwise the lower port is the server's.
	RulePorts = "ports"
	// RuleDefault: nothing said; the source is taken for the initiator,
	// as Hubble prints the flow. Drops without direction land here.
	RuleDefault = "default"
)

// Direction is which way a flow travels between client and server.
type Direction struct {
	// Initiated holds when the flow goes from the side that opened the
	// connection (or sent the request) to the other: source is client.
	Initiated bool
	// Rule names what decided, one of the Rule constants.
	Rule string
}

// Initiator names the side that initiated: "source" or "destination".
func (d Direction) Initiator() string {
	if d.Initiated {
		return "source"
	}
	return "destination"
}

// ephemeralPorts is where client ports are drawn from: Linux's default
// ip_local_port_range starts at 32768, IANA's dynamic range at 49152.
const ephemeralPorts = 32768

// direction decides which way f goes. Cilium's is_reply is authoritative
// where it is set; some trace points (older agents' overlay and stack
// points, and the GKE captures in shared/) leave it out, and there the
// packet decides.
func direction(f *flowpb.Flow, srcPort, dstPort uint32) Direction {
	if r := f.GetIsReply(); r != nil {
		return Direction{Initiated: !r.GetValue(), Rule: RuleIsReply}
	}
	if f.GetReply() {
		return Direction{Initiated: false, Rule: RuleReply}
	}
	switch f.GetL7().GetType() {
	case flowpb.L7FlowType_REQUEST:
		return Direction{Initiated: true, Rule: RuleL7Type}
	case flowpb.L7FlowType_RESPONSE:
		return Direction{Initiated: false, Rule: RuleL7Type}
	}
	if flags := f.GetL4().GetTCP().GetFlags(); flags.GetSYN() {
		return Direction{Initiated: !flags.GetACK(), Rule: RuleTCPFlags}
	}
	if d, ok := icmpDirection(f.GetL4()); ok {
		return d
	}
	if srcPort != 0 && dstPort != 0 && srcPort != dstPort {
		srcEphemeral, dstEphemeral := srcPort >= ephemeralPorts, dstPort >= ephemeralPorts
		if srcEphemeral != dstEphemeral {
			return Direction{Initiated: srcEphemeral, Rule: RulePorts}
		}
		return Direction{Initiated: srcPort > dstPort, Rule: RulePorts}
	}
	return Direction{Initiated: true, Rule: RuleDefault}
}

// ICMP echo types (RFC 792, RFC 4443).
const (
	icmpv4EchoReply   = 0
	icmpv4EchoRequest = 8
	icmpv6EchoRequest = 128
	icmpv6EchoReply   = 129
)

func icmpDirection(l4 *flowpb.Layer4) (Direction, bool) {
	if v4 := l4.GetICMPv4(); v4 != nil {
		switch v4.GetType() {
		case icmpv4EchoRequest:
			return Direction{Initiated: true, Rule: RuleICMP}, true
		case icmpv4EchoReply:
			return Direction{Initiated: false, Rule: RuleICMP}, true
		}
	}
	if v6 := l4.GetICMPv6(); v6 != nil {
		switch v6.GetType() {
		case icmpv6EchoRequest:
			return Direction{Initiated: true, Rule: RuleICMP}, true
		case icmpv6EchoReply:
			return Direction{Initiated: false, Rule: RuleICMP}, true
		}
	}
	return Direction{}, false
}
