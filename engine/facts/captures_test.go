package facts

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/test/captures"
)

// unmarked is the direction of every flow in the real GKE captures that
// carries no is_reply (older agents leave it out on overlay and stack trace
// points), and the rule that decided it. Each was checked by hand against
// the ports and the flags: the comment shows source and destination as
// Hubble reports them.
var unmarked = []struct {
	file      string
	line      int
	initiated bool
	rule      string
}{
	{"basic-sample-10-flows.json", 1, false, RuleReply},           // bookinfo/reviews-v1:15020 -> reserved:host:42044
	{"basic-sample-10-flows.json", 2, true, RulePorts},            // reserved:host:42044 -> bookinfo/reviews-v1:15020
	{"basic-sample-10-flows.json", 3, true, RulePorts},            // istio-system/prometheus:58698 -> bookinfo/reviews-v1:15090
	{"basic-sample-10-flows.json", 4, false, RuleReply},           // bookinfo/reviews-v1:15090 -> istio-system/prometheus:58698
	{"basic-sample-10-flows.json", 5, false, RuleReply},           // istio-system/istio-galley:9901 -> istio-system/istio-telemetry:55574
	{"basic-sample-10-flows.json", 6, true, RulePorts},            // istio-system/istio-telemetry:55574 -> istio-system/istio-galley:9901
	{"basic-sample-10-flows.json", 7, false, RuleReply},           // reserved:world:443 -> kube-system/event-exporter-gke:36804
	{"basic-sample-10-flows.json", 8, true, RulePorts},            // kube-system/event-exporter-gke:36804 -> reserved:world:443
	{"basic-sample-10-flows.json", 9, true, RuleTCPFlags},         // reserved:host:50908 -> kube-system/kube-dns:10054
	{"basic-sample-10-flows.json", 10, false, RuleReply},          // kube-system/kube-dns:10054 -> reserved:host:50908
	{"basic-sample-400-icmpv4-flows.json", 3, true, RuleICMP},     // reserved:remote-node:0 -> reserved:health:0
	{"basic-sample-400-icmpv4-flows.json", 5, false, RuleICMP},    // reserved:health:0 -> reserved:remote-node:0
	{"basic-sample-400-icmpv4-flows.json", 8, true, RuleICMP},     // reserved:remote-node:0 -> reserved:health:0
	{"basic-sample-400-icmpv4-flows.json", 10, false, RuleICMP},   // reserved:health:0 -> reserved:remote-node:0
	{"basic-sample-400-icmpv4-flows.json", 11, true, RuleICMP},    // reserved:remote-node:0 -> reserved:health:0
	{"basic-sample-400-icmpv4-flows.json", 15, false, RuleICMP},   // reserved:health:0 -> reserved:remote-node:0
	{"basic-sample-400-icmpv4-flows.json", 18, true, RuleICMP},    // reserved:remote-node:0 -> reserved:health:0
	{"basic-sample-400-tcp-flows.json", 22, true, RulePorts},      // reserved:remote-node:40484 -> reserved:health:4240
	{"basic-sample-400-tcp-flows.json", 38, true, RulePorts},      // /10.244.0.148:56896 -> bookinfo/details-v1:9080
	{"basic-sample-400-tcp-flows.json", 40, true, RulePorts},      // /10.244.0.148:56896 -> bookinfo/details-v1:9080
	{"basic-sample-400-tcp-flows.json", 41, true, RulePorts},      // /10.244.0.148:56896 -> bookinfo/details-v1:9080
	{"basic-sample-400-tcp-flows.json", 84, true, RulePorts},      // /10.244.0.148:56874 -> bookinfo/details-v1:9080
	{"basic-sample-400-tcp-flows.json", 89, true, RulePorts},      // /10.244.0.148:56874 -> bookinfo/details-v1:9080
	{"basic-sample-400-tcp-flows.json", 90, true, RulePorts},      // /10.244.0.148:56874 -> bookinfo/details-v1:9080
	{"basic-sample-400-tcp-flows.json", 99, true, RuleTCPFlags},   // /10.244.0.148:53856 -> bookinfo/reviews-v3:9080
	{"basic-sample-400-tcp-flows.json", 100, true, RulePorts},     // /10.244.0.148:53856 -> bookinfo/reviews-v3:9080
	{"basic-sample-400-tcp-flows.json", 101, true, RulePorts},     // /10.244.0.148:53856 -> bookinfo/reviews-v3:9080
	{"basic-sample-400-tcp-flows.json", 103, true, RulePorts},     // /10.244.0.148:53856 -> bookinfo/reviews-v3:9080
	{"basic-sample-400-tcp-flows.json", 133, true, RulePorts},     // /10.244.0.148:56896 -> bookinfo/details-v1:9080
	{"basic-sample-400-tcp-flows.json", 135, true, RulePorts},     // /10.244.0.148:56896 -> bookinfo/details-v1:9080
	{"basic-sample-400-tcp-flows.json", 136, true, RulePorts},     // /10.244.0.148:56896 -> bookinfo/details-v1:9080
	{"basic-sample-400-tcp-flows.json", 147, true, RuleTCPFlags},  // /10.244.0.148:59376 -> bookinfo/reviews-v1:9080
	{"basic-sample-400-tcp-flows.json", 148, true, RulePorts},     // /10.244.0.148:59376 -> bookinfo/reviews-v1:9080
	{"basic-sample-400-tcp-flows.json", 149, true, RulePorts},     // /10.244.0.148:59376 -> bookinfo/reviews-v1:9080
	{"basic-sample-400-tcp-flows.json", 150, true, RulePorts},     // /10.244.0.148:59376 -> bookinfo/reviews-v1:9080
	{"basic-sample-400-tcp-flows.json", 173, true, RulePorts},     // /10.244.0.148:56896 -> bookinfo/details-v1:9080
	{"basic-sample-400-tcp-flows.json", 174, true, RulePorts},     // /10.244.0.148:56896 -> bookinfo/details-v1:9080
	{"basic-sample-400-tcp-flows.json", 175, true, RulePorts},     // /10.244.0.148:56896 -> bookinfo/details-v1:9080
	{"basic-sample-400-tcp-flows.json", 221, true, RulePorts},     // /10.244.0.148:56896 -> bookinfo/details-v1:9080
	{"basic-sample-400-tcp-flows.json", 223, true, RulePorts},     // /10.244.0.148:56896 -> bookinfo/details-v1:9080
	{"basic-sample-400-tcp-flows.json", 224, true, RulePorts},     // /10.244.0.148:56896 -> bookinfo/details-v1:9080
	{"basic-sample-400-tcp-flows.json", 235, true, RuleTCPFlags},  // /10.244.0.148:59422 -> bookinfo/reviews-v1:9080
	{"basic-sample-400-tcp-flows.json", 236, true, RulePorts},     // /10.244.0.148:59422 -> bookinfo/reviews-v1:9080
	{"basic-sample-400-tcp-flows.json", 237, true, RulePorts},     // /10.244.0.148:59422 -> bookinfo/reviews-v1:9080
	{"basic-sample-400-tcp-flows.json", 241, true, RulePorts},     // /10.244.0.148:59422 -> bookinfo/reviews-v1:9080
	{"basic-sample-400-tcp-flows.json", 255, false, RulePorts},    // bookinfo/ratings-v1:9080 -> reserved:remote-node:58634
	{"basic-sample-400-tcp-flows.json", 261, false, RulePorts},    // jaeger/jaeger-default:14250 -> kube-system/otelcol-hubble-collector:39472
	{"basic-sample-400-tcp-flows.json", 269, true, RulePorts},     // /10.244.0.148:56896 -> bookinfo/details-v1:9080
	{"basic-sample-400-tcp-flows.json", 271, true, RulePorts},     // /10.244.0.148:56896 -> bookinfo/details-v1:9080
	{"basic-sample-400-tcp-flows.json", 272, true, RulePorts},     // /10.244.0.148:56896 -> bookinfo/details-v1:9080
	{"basic-sample-400-tcp-flows.json", 280, true, RulePorts},     // /10.244.0.148:53686 -> bookinfo/reviews-v3:9080
	{"basic-sample-400-tcp-flows.json", 282, false, RuleTCPFlags}, // bookinfo/ratings-v1:9080 -> reserved:remote-node:58950
	{"basic-sample-400-tcp-flows.json", 285, false, RulePorts},    // bookinfo/ratings-v1:9080 -> reserved:remote-node:58950
	{"basic-sample-400-tcp-flows.json", 286, true, RulePorts},     // /10.244.0.148:53686 -> bookinfo/reviews-v3:9080
	{"basic-sample-400-tcp-flows.json", 312, true, RulePorts},     // /10.244.0.148:57094 -> bookinfo/details-v1:9080
	{"basic-sample-400-tcp-flows.json", 314, true, RulePorts},     // /10.244.0.148:57094 -> bookinfo/details-v1:9080
	{"basic-sample-400-tcp-flows.json", 315, true, RulePorts},     // /10.244.0.148:57094 -> bookinfo/details-v1:9080
	{"basic-sample-400-tcp-flows.json", 351, true, RulePorts},     // /10.244.0.148:56874 -> bookinfo/details-v1:9080
	{"basic-sample-400-tcp-flows.json", 352, true, RulePorts},     // /10.244.0.148:56874 -> bookinfo/details-v1:9080
	{"basic-sample-400-tcp-flows.json", 353, true, RulePorts},     // /10.244.0.148:56874 -> bookinfo/details-v1:9080
	{"basic-sample-400-tcp-flows.json", 362, true, RuleTCPFlags},  // /10.244.0.148:54002 -> bookinfo/reviews-v3:9080
	{"basic-sample-400-tcp-flows.json", 363, true, RulePorts},     // /10.244.0.148:54002 -> bookinfo/reviews-v3:9080
	{"basic-sample-400-tcp-flows.json", 365, true, RulePorts},     // /10.244.0.148:54002 -> bookinfo/reviews-v3:9080
	{"basic-sample-400-tcp-flows.json", 366, true, RulePorts},     // /10.244.0.148:54002 -> bookinfo/reviews-v3:9080
	{"basic-sample-400-tcp-flows.json", 387, true, RulePorts},     // /10.244.0.148:57094 -> bookinfo/details-v1:9080
	{"basic-sample-400-tcp-flows.json", 389, true, RulePorts},     // /10.244.0.148:57094 -> bookinfo/details-v1:9080
	{"basic-sample-400-tcp-flows.json", 390, true, RulePorts},     // /10.244.0.148:57094 -> bookinfo/details-v1:9080
}

// TestDirectionOfRealCaptures shows the direction of every flow of the
// real captures and the rule that decided it: flows marked by Cilium follow
// is_reply, the rest are the table above.
func TestDirectionOfRealCaptures(t *testing.T) {
	type where struct {
		file string
		line int
	}
	want := map[where]int{}
	for i, u := range unmarked {
		want[where{u.file, u.line}] = i
	}
	seen := 0
	for _, f := range captures.Flows(t) {
		fa := Measure(f.Flow)
		if r := f.GetIsReply(); r != nil {
			require.Equal(t, Direction{Initiated: !r.GetValue(), Rule: RuleIsReply}, fa.Direction, f.Where())
			continue
		}
		i, ok := want[where{f.File, f.Line}]
		require.True(t, ok, "%s has no is_reply and is missing from the table: %+v", f.Where(), fa.Direction)
		require.Equal(t, Direction{Initiated: unmarked[i].initiated, Rule: unmarked[i].rule}, fa.Direction, f.Where())
		seen++
	}
	require.Equal(t, len(unmarked), seen, "every row of the table is a flow of the captures")
}
