package engine

import (
	"testing"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func TestFlowCountersByVerdictAndType(t *testing.T) {
	for _, tc := range []struct {
		name         string
		flow         *flowpb.Flow
		verdict, typ string
	}{
		{"tcp forwarded", &flowpb.Flow{Verdict: flowpb.Verdict_FORWARDED, Type: flowpb.FlowType_L3_L4}, "forwarded", "l3_l4"},
		{"http dropped", &flowpb.Flow{Verdict: flowpb.Verdict_DROPPED, Type: flowpb.FlowType_L7, L7: &flowpb.Layer7{Record: &flowpb.Layer7_Http{Http: &flowpb.HTTP{}}}}, "dropped", "l7_http"},
		{"dns", &flowpb.Flow{Verdict: flowpb.Verdict_FORWARDED, Type: flowpb.FlowType_L7, L7: &flowpb.Layer7{Record: &flowpb.Layer7_Dns{Dns: &flowpb.DNS{}}}}, "forwarded", "l7_dns"},
		{"kafka", &flowpb.Flow{Verdict: flowpb.Verdict_AUDIT, Type: flowpb.FlowType_L7, L7: &flowpb.Layer7{Record: &flowpb.Layer7_Kafka{Kafka: &flowpb.Kafka{}}}}, "audit", "l7_kafka"},
		{"l7 without record", &flowpb.Flow{Verdict: flowpb.Verdict_REDIRECTED, Type: flowpb.FlowType_L7}, "redirected", "l7_other"},
		{"sock", &flowpb.Flow{Verdict: flowpb.Verdict_TRANSLATED, Type: flowpb.FlowType_SOCK}, "translated", "sock"},
		{"unknown type", &flowpb.Flow{Verdict: flowpb.Verdict_ERROR}, "error", "other"},
		{"verdict from a newer Hubble", &flowpb.Flow{Verdict: flowpb.Verdict(99), Type: flowpb.FlowType_L3_L4}, "verdict_unknown", "l3_l4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewPedanticRegistry()
			c := newFlowCounters(promauto.With(reg))
			c.inc(tc.flow)
			c.inc(tc.flow)
			require.Equal(t, 8*len(flowTypes), testutil.CollectAndCount(reg), "every series exists from the start")
			mfs, err := reg.Gather()
			require.NoError(t, err)
			var total float64
			for _, m := range mfs[0].GetMetric() {
				labels := map[string]string{}
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				if labels["verdict"] == tc.verdict && labels["type"] == tc.typ {
					require.Equal(t, 2.0, m.GetCounter().GetValue())
				}
				total += m.GetCounter().GetValue()
			}
			require.Equal(t, 2.0, total, "counted once per flow, in one series")
		})
	}
}
