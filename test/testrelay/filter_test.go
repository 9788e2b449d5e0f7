package testrelay

import (
	"testing"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	observerpb "github.com/cilium/cilium/api/v1/observer"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// testFlow is a DNS request from shop/frontend to kube-system/coredns.
func testFlow() *flowpb.Flow {
	return &flowpb.Flow{
		Time:    timestamppb.New(at(10)),
		Verdict: flowpb.Verdict_FORWARDED,
		IP:      &flowpb.IP{Source: "10.0.1.5", Destination: "10.0.2.9"},
		L4: &flowpb.Layer4{Protocol: &flowpb.Layer4_UDP{UDP: &flowpb.UDP{
			SourcePort: 51000, DestinationPort: 53,
		}}},
		L7:               &flowpb.Layer7{Record: &flowpb.Layer7_Dns{Dns: &flowpb.DNS{Query: "example.com."}}},
		EventType:        &flowpb.CiliumEventType{Type: 129},
		DestinationNames: []string{"api.example.com"},
		Source: &flowpb.Endpoint{
			Namespace: "shop", PodName: "frontend-7d9f-abcde",
			Labels: []string{"k8s:app=frontend", "k8s:io.kubernetes.pod.namespace=shop", "k8s:tier=web"},
		},
		Destination: &flowpb.Endpoint{
			Namespace: "kube-system", PodName: "coredns-5d78-xyz",
			Labels: []string{"k8s:k8s-app=kube-dns", "reserved:kube-apiserver"},
		},
	}
}

func TestMatchFilter(t *testing.T) {
	tests := []struct {
		name string
		ff   *flowpb.FlowFilter
		want bool
	}{
		{"empty filter matches", &flowpb.FlowFilter{}, true},

		{"source pod namespace/prefix", &flowpb.FlowFilter{SourcePod: []string{"shop/frontend-"}}, true},
		{"source pod whole namespace", &flowpb.FlowFilter{SourcePod: []string{"shop/"}}, true},
		{"source pod any namespace", &flowpb.FlowFilter{SourcePod: []string{"/frontend"}}, true},
		{"source pod without namespace means default", &flowpb.FlowFilter{SourcePod: []string{"frontend"}}, false},
		{"source pod other namespace", &flowpb.FlowFilter{SourcePod: []string{"other/frontend"}}, false},
		{"source pod is a prefix, not a substring", &flowpb.FlowFilter{SourcePod: []string{"shop/end"}}, false},
		{"source pod values are ORed", &flowpb.FlowFilter{SourcePod: []string{"x/", "shop/front"}}, true},
		{"destination pod", &flowpb.FlowFilter{DestinationPod: []string{"kube-system/coredns"}}, true},
		{"destination pod mismatch", &flowpb.FlowFilter{DestinationPod: []string{"shop/"}}, false},

		{"source ip exact", &flowpb.FlowFilter{SourceIp: []string{"10.0.1.5"}}, true},
		{"source ip other", &flowpb.FlowFilter{SourceIp: []string{"10.0.1.6"}}, false},
		{"source ip CIDR", &flowpb.FlowFilter{SourceIp: []string{"10.0.0.0/16"}}, true},
		{"destination ip exact", &flowpb.FlowFilter{DestinationIp: []string{"10.0.2.9"}}, true},
		{"destination ip is not the source", &flowpb.FlowFilter{DestinationIp: []string{"10.0.1.5"}}, false},

		{"verdict", &flowpb.FlowFilter{Verdict: []flowpb.Verdict{flowpb.Verdict_DROPPED, flowpb.Verdict_FORWARDED}}, true},
		{"verdict mismatch", &flowpb.FlowFilter{Verdict: []flowpb.Verdict{flowpb.Verdict_DROPPED}}, false},

		{"destination port", &flowpb.FlowFilter{DestinationPort: []string{"53"}}, true},
		{"destination port mismatch", &flowpb.FlowFilter{DestinationPort: []string{"51000"}}, false},

		{"source label with source prefix", &flowpb.FlowFilter{SourceLabel: []string{"k8s:app=frontend"}}, true},
		{"source label without prefix matches any source", &flowpb.FlowFilter{SourceLabel: []string{"app=frontend"}}, true},
		{"source label any: prefix", &flowpb.FlowFilter{SourceLabel: []string{"any:app=frontend"}}, true},
		{"source label wrong source prefix", &flowpb.FlowFilter{SourceLabel: []string{"reserved:app=frontend"}}, false},
		{"source label value mismatch", &flowpb.FlowFilter{SourceLabel: []string{"app=backend"}}, false},
		{"source label terms are ANDed", &flowpb.FlowFilter{SourceLabel: []string{"app=frontend,tier=web"}}, true},
		{"source label terms all required", &flowpb.FlowFilter{SourceLabel: []string{"app=frontend,tier=db"}}, false},
		{"source label selectors are ORed", &flowpb.FlowFilter{SourceLabel: []string{"app=backend", "tier=web"}}, true},
		{"destination label presence", &flowpb.FlowFilter{DestinationLabel: []string{"reserved:kube-apiserver"}}, true},
		{"destination label key present", &flowpb.FlowFilter{DestinationLabel: []string{"k8s-app"}}, true},
		{"destination label is not the source's", &flowpb.FlowFilter{DestinationLabel: []string{"app=frontend"}}, false},

		{"protocol udp", &flowpb.FlowFilter{Protocol: []string{"udp"}}, true},
		{"protocol is case-insensitive", &flowpb.FlowFilter{Protocol: []string{"UDP"}}, true},
		{"protocol tcp", &flowpb.FlowFilter{Protocol: []string{"tcp"}}, false},
		{"protocol L7 dns", &flowpb.FlowFilter{Protocol: []string{"dns"}}, true},
		{"protocol L7 http", &flowpb.FlowFilter{Protocol: []string{"http"}}, false},
		{"protocol values are ORed", &flowpb.FlowFilter{Protocol: []string{"tcp", "icmp", "Dns"}}, true},

		{"event type", &flowpb.FlowFilter{EventType: []*flowpb.EventTypeFilter{{Type: 129}}}, true},
		{"another event type", &flowpb.FlowFilter{EventType: []*flowpb.EventTypeFilter{{Type: 1}}}, false},
		{"event subtype", &flowpb.FlowFilter{EventType: []*flowpb.EventTypeFilter{{Type: 129, MatchSubType: true, SubType: 2}}}, false},
		{"fqdn pattern", &flowpb.FlowFilter{DestinationFqdn: []string{"*.Example.com."}}, true},
		{"fqdn pattern of the other side", &flowpb.FlowFilter{SourceFqdn: []string{"*.example.com"}}, false},
		{"dns query", &flowpb.FlowFilter{DnsQuery: []string{`^example\.com\.$`}}, true},
		{"http method of a dns flow", &flowpb.FlowFilter{HttpMethod: []string{"GET"}}, false},
		{"http status of a dns flow", &flowpb.FlowFilter{HttpStatusCode: []string{"5+"}}, false},
		{"source port", &flowpb.FlowFilter{SourcePort: []string{"51000"}}, true},
		{"reply unknown", &flowpb.FlowFilter{Reply: []bool{false}}, false},

		{"fields are ANDed", &flowpb.FlowFilter{SourcePod: []string{"shop/"}, DestinationPort: []string{"53"}, Protocol: []string{"udp"}}, true},
		{"one failing field fails the filter", &flowpb.FlowFilter{SourcePod: []string{"shop/"}, DestinationPort: []string{"80"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := compileFilter(tt.ff)
			require.NoError(t, err)
			require.Equal(t, tt.want, m(testFlow()))
		})
	}
}

func TestMatchFilterProtocols(t *testing.T) {
	icmp6 := &flowpb.Flow{L4: &flowpb.Layer4{Protocol: &flowpb.Layer4_ICMPv6{ICMPv6: &flowpb.ICMPv6{}}}}
	tcpHTTP := &flowpb.Flow{
		L4: &flowpb.Layer4{Protocol: &flowpb.Layer4_TCP{TCP: &flowpb.TCP{DestinationPort: 8080}}},
		L7: &flowpb.Layer7{Record: &flowpb.Layer7_Http{Http: &flowpb.HTTP{}}},
	}
	tests := []struct {
		flow     *flowpb.Flow
		protocol string
		want     bool
	}{
		{icmp6, "icmp", true},
		{icmp6, "icmpv6", true},
		{icmp6, "icmpv4", false},
		{icmp6, "tcp", false},
		{tcpHTTP, "tcp", true},
		{tcpHTTP, "http", true},
		{tcpHTTP, "sctp", false},
	}
	for _, tt := range tests {
		t.Run(tt.protocol, func(t *testing.T) {
			m, err := compileFilter(&flowpb.FlowFilter{Protocol: []string{tt.protocol}})
			require.NoError(t, err)
			require.Equal(t, tt.want, m(tt.flow))
		})
	}
	m, err := compileFilter(&flowpb.FlowFilter{DestinationPort: []string{"8080"}})
	require.NoError(t, err)
	require.True(t, m(tcpHTTP))
	require.False(t, m(icmp6), "a flow without ports has no destination port")
}

func TestCompileFilterRejects(t *testing.T) {
	tests := []struct {
		name    string
		ff      *flowpb.FlowFilter
		wantErr string
	}{
		{"unsupported field", &flowpb.FlowFilter{HttpMethod: []string{"GET"}, TraceId: []string{"x"}, TcpFlags: []*flowpb.TCPFlags{{SYN: true}}}, "not supported by the test relay: tcp_flags, trace_id"},
		{"bad port", &flowpb.FlowFilter{DestinationPort: []string{"http"}}, `destination_port: invalid port "http"`},
		{"port out of range", &flowpb.FlowFilter{DestinationPort: []string{"70000"}}, "destination_port"},
		{"unknown protocol", &flowpb.FlowFilter{Protocol: []string{"quic"}}, `protocol: unknown protocol "quic"`},
		{"bad IP", &flowpb.FlowFilter{SourceIp: []string{"10.0.0"}}, "source_ip"},
		{"bad CIDR", &flowpb.FlowFilter{DestinationIp: []string{"10.0.0.0/33"}}, "destination_ip"},
		{"empty pod", &flowpb.FlowFilter{SourcePod: []string{""}}, "source_pod"},
		{"set-based selector", &flowpb.FlowFilter{SourceLabel: []string{"app in (a, b)"}}, "unsupported label selector"},
		{"negated selector", &flowpb.FlowFilter{DestinationLabel: []string{"app!=a"}}, "unsupported label selector"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := compileFilter(tt.ff)
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestRequestFilter(t *testing.T) {
	shop := &flowpb.FlowFilter{SourcePod: []string{"shop/"}}
	dns := &flowpb.FlowFilter{DestinationPort: []string{"53"}}
	other := &flowpb.FlowFilter{SourcePod: []string{"other/"}}
	tests := []struct {
		name string
		req  *observerpb.GetFlowsRequest
		want bool
	}{
		{"no filters", &observerpb.GetFlowsRequest{}, true},
		{"whitelist is ORed", &observerpb.GetFlowsRequest{Whitelist: []*flowpb.FlowFilter{other, shop}}, true},
		{"whitelist without a match", &observerpb.GetFlowsRequest{Whitelist: []*flowpb.FlowFilter{other}}, false},
		{"blacklist match excludes", &observerpb.GetFlowsRequest{Blacklist: []*flowpb.FlowFilter{other, dns}}, false},
		{"whitelist minus blacklist", &observerpb.GetFlowsRequest{Whitelist: []*flowpb.FlowFilter{shop}, Blacklist: []*flowpb.FlowFilter{dns}}, false},
		{"blacklist without a match", &observerpb.GetFlowsRequest{Whitelist: []*flowpb.FlowFilter{shop}, Blacklist: []*flowpb.FlowFilter{other}}, true},
		{"since is inclusive", &observerpb.GetFlowsRequest{Since: timestamppb.New(at(10))}, true},
		{"before since", &observerpb.GetFlowsRequest{Since: timestamppb.New(at(11))}, false},
		{"until is inclusive", &observerpb.GetFlowsRequest{Until: timestamppb.New(at(10))}, true},
		{"after until", &observerpb.GetFlowsRequest{Until: timestamppb.New(at(9))}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rf, err := newRequestFilter(tt.req)
			require.NoError(t, err)
			require.Equal(t, tt.want, rf.admit(testFlow()))
		})
	}

	_, err := newRequestFilter(&observerpb.GetFlowsRequest{Blacklist: []*flowpb.FlowFilter{{TraceId: []string{"x"}}}})
	require.ErrorContains(t, err, "blacklist: filter 0: fields not supported by the test relay: trace_id")
}
