package shopmesh_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/hubble-sentinel/hubble-sentinel/test/shopmesh"
)

var start = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

func generate(cfg shopmesh.Config, n int) []*flowpb.Flow {
	g := shopmesh.New(cfg)
	flows := make([]*flowpb.Flow, n)
	for i := range flows {
		flows[i] = g.Next()
	}
	return flows
}

func TestDeterministic(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  shopmesh.Config
	}{
		{"benign", shopmesh.Config{Seed: 1, Start: start}},
		{"attacks", shopmesh.Config{Seed: 42, Start: start, Attacks: true}},
		{"negative seed, zero start", shopmesh.Config{Seed: -7, Attacks: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := generate(tc.cfg, 3000), generate(tc.cfg, 3000)
			for i := range a {
				require.True(t, proto.Equal(a[i], b[i]), "flow %d differs between runs", i)
			}
			other := tc.cfg
			other.Seed++
			c := generate(other, 3000)
			require.False(t, slices.EqualFunc(a, c, func(x, y *flowpb.Flow) bool { return proto.Equal(x, y) }),
				"seeds %d and %d gave the same flows", tc.cfg.Seed, other.Seed)
		})
	}
}

func TestTimestampsStrictlyIncrease(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  shopmesh.Config
	}{
		{"benign", shopmesh.Config{Seed: 3, Start: start}},
		{"attacks", shopmesh.Config{Seed: 3, Start: start, Attacks: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			flows := generate(tc.cfg, 5000)
			require.True(t, flows[0].GetTime().AsTime().Equal(start), "first flow at %v, want Start", flows[0].GetTime().AsTime())
			for i := 1; i < len(flows); i++ {
				prev, cur := flows[i-1].GetTime().AsTime(), flows[i].GetTime().AsTime()
				require.True(t, cur.After(prev), "flow %d at %v is not after flow %d at %v", i, cur, i-1, prev)
			}
			// About a hundred flows per simulated second, not a burst.
			span := flows[len(flows)-1].GetTime().AsTime().Sub(start)
			require.Greater(t, span, 5*time.Second)
			require.Less(t, span, 5*time.Minute)
		})
	}
}

func TestRoundTripsThroughProtojson(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts protojson.MarshalOptions
	}{
		{"jsonpb proto names", protojson.MarshalOptions{UseProtoNames: true}},
		{"json names", protojson.MarshalOptions{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i, f := range generate(shopmesh.Config{Seed: 5, Start: start, Attacks: true}, 3000) {
				b, err := tc.opts.Marshal(f)
				require.NoError(t, err, "flow %d", i)
				var back flowpb.Flow
				require.NoError(t, protojson.Unmarshal(b, &back), "flow %d: %s", i, b)
				require.True(t, proto.Equal(f, &back), "flow %d changed in a round trip: %s", i, b)
			}
		})
	}
}

// kinds sorts flows into the traffic classes the simulation must cover.
func kinds(f *flowpb.Flow) []string {
	var k []string
	if f.GetL7().GetHttp() != nil {
		k = append(k, "http")
		if f.GetL7().GetHttp().GetProtocol() == "HTTP/2" {
			k = append(k, "grpc")
		}
	}
	if f.GetL7().GetDns() != nil {
		k = append(k, "dns")
	}
	if f.GetType() == flowpb.FlowType_L3_L4 && f.GetL4().GetTCP() != nil {
		k = append(k, "tcp")
	}
	if slices.Contains(f.GetDestination().GetLabels(), "reserved:world") && !f.GetIsReply().GetValue() {
		k = append(k, "world-egress")
		if len(f.GetDestinationNames()) > 0 {
			k = append(k, "world-egress-fqdn")
		}
	}
	if slices.Contains(f.GetSource().GetLabels(), "reserved:world") && !f.GetIsReply().GetValue() {
		k = append(k, "world-ingress")
	}
	return k
}

func TestBenignTraffic(t *testing.T) {
	seen := map[string]int{}
	for i, f := range generate(shopmesh.Config{Seed: 11, Start: start}, 5000) {
		require.Equal(t, shopmesh.AttackNone, shopmesh.Classify(f), "benign flow %d classified as an attack: %v", i, f)
		if f.GetEventType().GetType() == 5 { // a policy verdict; REDIRECTED sends it to the proxy
			require.Contains(t, []flowpb.Verdict{flowpb.Verdict_FORWARDED, flowpb.Verdict_REDIRECTED}, f.GetVerdict(), "flow %d", i)
		} else {
			require.Equal(t, flowpb.Verdict_FORWARDED, f.GetVerdict(), "flow %d", i)
		}
		for _, k := range kinds(f) {
			seen[k]++
		}
	}
	for _, k := range []string{"http", "grpc", "dns", "tcp", "world-egress", "world-egress-fqdn", "world-ingress"} {
		require.Positive(t, seen[k], "no %s flows in 5000 benign flows (saw %v)", k, seen)
	}
}

func TestAttacks(t *testing.T) {
	flows := generate(shopmesh.Config{Seed: 23, Start: start, Attacks: true}, 5000)
	first := map[shopmesh.Attack]int{}
	var order []shopmesh.Attack
	for i, f := range flows {
		a := shopmesh.Classify(f)
		if a == shopmesh.AttackNone {
			continue
		}
		if _, ok := first[a]; !ok {
			first[a] = i
			order = append(order, a)
		}
	}
	require.Equal(t, shopmesh.AllAttacks(), order, "attacks start in rotation order")
	// An attack waits for the scene in progress to end (a checkout, a
	// certificate renewal: up to about 150 flows).
	require.Less(t, first[shopmesh.AttackCloudMetadata], 160+150, "the first attack comes within 310 flows")
	for i := 1; i < len(order); i++ {
		gap := first[order[i]] - first[order[i-1]]
		require.GreaterOrEqual(t, gap, 300, "%s follows %s after %d flows", order[i], order[i-1], gap)
		require.Less(t, gap, 500+150, "%s follows %s after %d flows", order[i], order[i-1], gap)
	}
	for _, a := range shopmesh.AllAttacks() {
		require.NotEmpty(t, a.Policies(), "%s names no policy", a)
	}
	require.Empty(t, shopmesh.AttackNone.Policies())
}

// reservedIdentities are the identities Hubble shows for what is not a pod,
// by their labels: Cilium's reserved identities, and the local identity the
// EKS API server's addresses get (reserved:kube-apiserver with world).
var reservedIdentities = map[string]uint32{
	"reserved:host":                          1,
	"reserved:world":                         2,
	"reserved:health":                        4,
	"reserved:remote-node":                   6,
	"reserved:kube-apiserver,reserved:world": 16777217,
}

// TestFlowsLookLikeCilium checks the fields Hubble always sets and the
// shape of each event type, as in Cilium's parser.
func TestFlowsLookLikeCilium(t *testing.T) {
	for i, f := range generate(shopmesh.Config{Seed: 8, Start: start, Attacks: true}, 4000) {
		require.NotEmpty(t, f.GetUuid(), "flow %d", i)
		require.Equal(t, "Hubble", f.GetEmitter().GetName(), "flow %d", i)
		require.NotEmpty(t, f.GetNodeName(), "flow %d", i)
		require.NotEmpty(t, f.GetSummary(), "flow %d", i) //nolint:staticcheck // Cilium still fills it.
		require.NotEqual(t, flowpb.TrafficDirection_TRAFFIC_DIRECTION_UNKNOWN, f.GetTrafficDirection(), "flow %d", i)
		require.Equal(t, "IPv4", f.GetIP().GetIpVersion().String(), "flow %d", i)
		for _, ep := range []*flowpb.Endpoint{f.GetSource(), f.GetDestination()} {
			require.NotZero(t, ep.GetIdentity(), "flow %d", i)
			if ep.GetPodName() != "" {
				require.Len(t, ep.GetWorkloads(), 1, "flow %d", i)
				require.Contains(t, ep.GetLabels(), "k8s:io.kubernetes.pod.namespace="+ep.GetNamespace(), "flow %d", i)
			} else {
				want, ok := reservedIdentities[strings.Join(ep.GetLabels(), ",")]
				require.True(t, ok, "flow %d: unexpected labels %v", i, ep.GetLabels())
				require.Equal(t, want, ep.GetIdentity(), "flow %d: identity of %v", i, ep.GetLabels())
				require.Empty(t, ep.GetNamespace(), "flow %d", i)
				require.Empty(t, ep.GetWorkloads(), "flow %d", i)
			}
		}
		switch {
		case f.GetType() == flowpb.FlowType_L7:
			require.EqualValues(t, 129, f.GetEventType().GetType(), "flow %d", i)
			require.Equal(t, flowpb.TraceObservationPoint_UNKNOWN_POINT, f.GetTraceObservationPoint(), "flow %d", i)
			require.NotNil(t, f.GetIsReply(), "flow %d", i)
			require.Equal(t, f.GetL7().GetType() == flowpb.L7FlowType_RESPONSE, f.GetIsReply().GetValue(), "flow %d", i)
			if h := f.GetL7().GetHttp(); h != nil && f.GetIsReply().GetValue() {
				require.NotZero(t, f.GetL7().GetLatencyNs(), "flow %d", i)
				require.NotZero(t, h.GetCode(), "flow %d", i)
			}
		case f.GetEventType().GetType() == 5:
			// A policy verdict on the first packet of a connection.
			require.Equal(t, flowpb.FlowType_L3_L4, f.GetType(), "flow %d", i)
			require.NotNil(t, f.GetIsReply(), "flow %d", i)
			require.False(t, f.GetIsReply().GetValue(), "flow %d: verdicts are on the first packet", i)
			require.Equal(t, flowpb.TraceObservationPoint_UNKNOWN_POINT, f.GetTraceObservationPoint(), "flow %d", i)
			require.Contains(t, []uint32{1, 2}, f.GetPolicyMatchType(), "flow %d: L3-Only or L3-L4", i)
			local := f.GetSource()
			if f.GetTrafficDirection() == flowpb.TrafficDirection_INGRESS {
				local = f.GetDestination()
			}
			require.NotZero(t, local.GetID(), "flow %d: the endpoint policy selects is local", i)
			if f.GetAuthType() != flowpb.AuthType_DISABLED {
				require.Equal(t, flowpb.AuthType_SPIRE, f.GetAuthType(), "flow %d", i)
				require.Equal(t, flowpb.TrafficDirection_INGRESS, f.GetTrafficDirection(), "flow %d", i)
				require.Equal(t, "payment", f.GetDestination().GetWorkloads()[0].GetName(), "flow %d", i)
				require.NotEmpty(t, f.GetSource().GetPodName(), "flow %d: a pod proved its identity", i)
			}
		case f.GetVerdict() == flowpb.Verdict_DROPPED:
			require.EqualValues(t, 1, f.GetEventType().GetType(), "flow %d", i)
			require.EqualValues(t, f.GetDropReasonDesc(), f.GetEventType().GetSubType(), "flow %d", i)
			require.Nil(t, f.GetIsReply(), "drops leave is_reply unknown (flow %d)", i)
		default:
			require.EqualValues(t, 4, f.GetEventType().GetType(), "flow %d", i)
			require.NotEqual(t, flowpb.TraceObservationPoint_UNKNOWN_POINT, f.GetTraceObservationPoint(), "flow %d", i)
			require.NotNil(t, f.GetIsReply(), "flow %d", i)
			require.Equal(t, f.GetIsReply().GetValue(), f.GetTraceReason() == flowpb.TraceReason_REPLY, "flow %d", i)
			// Delivery to an endpoint goes through its lxc device; a packet
			// leaving for the stack has no interface yet.
			if f.GetTraceObservationPoint() == flowpb.TraceObservationPoint_TO_ENDPOINT {
				require.True(t, strings.HasPrefix(f.GetInterface().GetName(), "lxc"), "flow %d: interface %v", i, f.GetInterface())
				require.NotZero(t, f.GetDestination().GetID(), "flow %d: a local endpoint has an ID", i)
			} else {
				require.Nil(t, f.GetInterface(), "flow %d", i)
			}
		}
		// Without WireGuard or IPsec nothing is encrypted, and only policy
		// verdicts carry an auth type.
		require.False(t, f.GetIP().GetEncrypted(), "flow %d", i)
		if f.GetEventType().GetType() != 5 {
			require.Equal(t, flowpb.AuthType_DISABLED, f.GetAuthType(), "flow %d", i)
		}
	}
}
