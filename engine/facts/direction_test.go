package facts

import (
	"testing"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func tcp(src, dst uint32, flags *flowpb.TCPFlags) *flowpb.Layer4 {
	return &flowpb.Layer4{Protocol: &flowpb.Layer4_TCP{TCP: &flowpb.TCP{SourcePort: src, DestinationPort: dst, Flags: flags}}}
}

func udp(src, dst uint32) *flowpb.Layer4 {
	return &flowpb.Layer4{Protocol: &flowpb.Layer4_UDP{UDP: &flowpb.UDP{SourcePort: src, DestinationPort: dst}}}
}

func TestDirection(t *testing.T) {
	for _, tc := range []struct {
		name      string
		f         *flowpb.Flow
		initiated bool
		rule      string
	}{
		{"is_reply false wins over a SYN-ACK", &flowpb.Flow{IsReply: wrapperspb.Bool(false), L4: tcp(9080, 40000, &flowpb.TCPFlags{SYN: true, ACK: true})}, true, RuleIsReply},
		{"is_reply true wins over ports", &flowpb.Flow{IsReply: wrapperspb.Bool(true), L4: tcp(40000, 443, nil)}, false, RuleIsReply},
		{"deprecated reply", &flowpb.Flow{Reply: true, L4: tcp(40000, 443, nil)}, false, RuleReply},
		{"L7 request", &flowpb.Flow{L7: &flowpb.Layer7{Type: flowpb.L7FlowType_REQUEST}, L4: tcp(80, 40000, nil)}, true, RuleL7Type},
		{"L7 response", &flowpb.Flow{L7: &flowpb.Layer7{Type: flowpb.L7FlowType_RESPONSE}, L4: udp(40000, 53)}, false, RuleL7Type},
		{"SYN opens", &flowpb.Flow{L4: tcp(9080, 40000, &flowpb.TCPFlags{SYN: true})}, true, RuleTCPFlags},
		{"SYN-ACK answers", &flowpb.Flow{L4: tcp(9080, 58950, &flowpb.TCPFlags{SYN: true, ACK: true})}, false, RuleTCPFlags},
		{"ICMP echo request", &flowpb.Flow{L4: &flowpb.Layer4{Protocol: &flowpb.Layer4_ICMPv4{ICMPv4: &flowpb.ICMPv4{Type: 8}}}}, true, RuleICMP},
		{"ICMP echo reply", &flowpb.Flow{L4: &flowpb.Layer4{Protocol: &flowpb.Layer4_ICMPv4{ICMPv4: &flowpb.ICMPv4{Type: 0}}}}, false, RuleICMP},
		{"ICMPv6 echo request", &flowpb.Flow{L4: &flowpb.Layer4{Protocol: &flowpb.Layer4_ICMPv6{ICMPv6: &flowpb.ICMPv6{Type: 128}}}}, true, RuleICMP},
		{"ICMPv6 echo reply", &flowpb.Flow{L4: &flowpb.Layer4{Protocol: &flowpb.Layer4_ICMPv6{ICMPv6: &flowpb.ICMPv6{Type: 129}}}}, false, RuleICMP},
		{"ICMP unreachable says nothing", &flowpb.Flow{L4: &flowpb.Layer4{Protocol: &flowpb.Layer4_ICMPv4{ICMPv4: &flowpb.ICMPv4{Type: 3}}}}, true, RuleDefault},
		{"ephemeral client to a service", &flowpb.Flow{L4: tcp(56896, 9080, &flowpb.TCPFlags{ACK: true})}, true, RulePorts},
		{"service to an ephemeral client", &flowpb.Flow{L4: tcp(9080, 58950, &flowpb.TCPFlags{PSH: true, ACK: true})}, false, RulePorts},
		{"ephemeral client to a service on a high port below the range", &flowpb.Flow{L4: udp(40000, 30080)}, true, RulePorts},
		{"both below the range: the lower port serves", &flowpb.Flow{L4: tcp(443, 20000, nil)}, false, RulePorts},
		{"both ephemeral: the lower port serves", &flowpb.Flow{L4: udp(50000, 40000)}, true, RulePorts},
		{"same ports say nothing", &flowpb.Flow{L4: udp(5353, 5353)}, true, RuleDefault},
		{"no layer 4", &flowpb.Flow{}, true, RuleDefault},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fa := Measure(tc.f)
			require.Equal(t, Direction{Initiated: tc.initiated, Rule: tc.rule}, fa.Direction)
			if tc.initiated {
				require.Equal(t, "source", fa.Direction.Initiator())
				require.Same(t, &fa.Source, fa.Client())
				require.Same(t, &fa.Destination, fa.Server())
				require.Equal(t, fa.DestinationPort, fa.ServicePort())
			} else {
				require.Equal(t, "destination", fa.Direction.Initiator())
				require.Same(t, &fa.Destination, fa.Client())
				require.Same(t, &fa.Source, fa.Server())
				require.Equal(t, fa.SourcePort, fa.ServicePort())
			}
		})
	}
}

func FuzzMeasure(f *testing.F) {
	f.Add("http://user:pw@[fd00::1]:80/a/../b?x=%zz", "Example.COM.", "a.b.c.", uint32(40000), uint32(443), true)
	f.Add("", "", "", uint32(0), uint32(0), false)
	f.Fuzz(func(t *testing.T, url, name, query string, src, dst uint32, syn bool) {
		fl := &flowpb.Flow{
			DestinationNames: []string{name},
			L4:               tcp(src, dst, &flowpb.TCPFlags{SYN: syn}),
			L7:               &flowpb.Layer7{Record: &flowpb.Layer7_Http{Http: &flowpb.HTTP{Url: url}}},
		}
		fa := Measure(fl)
		require.Contains(t, []string{RuleTCPFlags, RulePorts, RuleDefault}, fa.Direction.Rule)
		require.NotNil(t, fa.HTTP)
		for _, d := range fa.Destination.Domains {
			require.NotEmpty(t, d)
		}
		dns := Measure(&flowpb.Flow{L7: &flowpb.Layer7{Record: &flowpb.Layer7_Dns{Dns: &flowpb.DNS{Query: query}}}})
		require.NotNil(t, dns.DNS)
		require.LessOrEqual(t, len(dns.DNS.Domains), len(dns.DNS.Labels))
	})
}
