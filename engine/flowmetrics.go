package engine

import (
	"strings"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// flowTypes are the values of the type label of flows_total: Hubble's flow
// type, L7 split by protocol.
var flowTypes = [...]string{"other", "l3_l4", "l7_http", "l7_dns", "l7_kafka", "l7_other", "sock"}

// flowType is f's index in flowTypes.
func flowType(f *flowpb.Flow) int {
	switch f.GetType() {
	case flowpb.FlowType_L3_L4:
		return 1
	case flowpb.FlowType_L7:
		l7 := f.GetL7()
		switch {
		case l7.GetHttp() != nil:
			return 2
		case l7.GetDns() != nil:
			return 3
		case l7.GetKafka() != nil:
			return 4
		}
		return 5
	case flowpb.FlowType_SOCK:
		return 6
	}
	return 0
}

// flowCounters counts judged flows by Hubble verdict and flow type. Every
// series exists from the start (8 verdicts × 7 types, bounded by the
// enums), and a flow's counter is an array index, not a label lookup.
type flowCounters struct {
	byVerdict [][len(flowTypes)]prometheus.Counter
}

func newFlowCounters(f promauto.Factory) *flowCounters {
	vec := f.NewCounterVec(prometheus.CounterOpts{
		Namespace: "hubble_sentinel", Subsystem: "engine", Name: "flows_total",
		Help: "Flows judged, by Hubble verdict (forwarded, dropped, error, audit, redirected, traced, translated, verdict_unknown) and type (l3_l4, l7_http, l7_dns, l7_kafka, l7_other, sock, other).",
	}, []string{"verdict", "type"})
	c := &flowCounters{byVerdict: make([][len(flowTypes)]prometheus.Counter, len(flowpb.Verdict_name))}
	for v := range c.byVerdict {
		name := strings.ToLower(flowpb.Verdict(v).String())
		for t, typ := range flowTypes {
			c.byVerdict[v][t] = vec.WithLabelValues(name, typ)
		}
	}
	return c
}

// inc counts f; a verdict unknown to this build counts as verdict_unknown.
func (c *flowCounters) inc(f *flowpb.Flow) {
	v := int(f.GetVerdict())
	if v < 0 || v >= len(c.byVerdict) {
		v = 0
	}
	c.byVerdict[v][flowType(f)].Inc()
}
