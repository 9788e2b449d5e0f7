package hubble

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

const (
	metricsNamespace = "hubble_sentinel"
	metricsSubsystem = "hubble"
)

// clientMetrics are the Client's Prometheus metrics. Their labels are
// bounded: lost-events source, gap kind and node state are enums.
type clientMetrics struct {
	flowsReceived         prometheus.Counter
	lostEvents            *prometheus.CounterVec
	reconnects            prometheus.Counter
	duplicatesDropped     prometheus.Counter
	streamUp              prometheus.Gauge
	lastFlowTimestamp     prometheus.Gauge
	lag                   prometheus.Gauge
	gaps                  *prometheus.CounterVec
	missed                *prometheus.CounterVec
	gapSeconds            prometheus.Counter
	nodeStatus            *prometheus.CounterVec
	nodesUnavailable      prometheus.Gauge
	relayNodesUnavailable prometheus.Gauge
	relayNodesConnected   prometheus.Gauge
	relayFlowsRate        prometheus.Gauge
	unresponsive          prometheus.Counter
	oversized             prometheus.Counter
	malformed             prometheus.Counter
	lastOutage            prometheus.Gauge
	shed                  prometheus.Counter
}

// newClientMetrics builds the Client's metrics on reg. A nil reg is allowed:
// the metrics then work but are not exported, which suits tests and tools.
func newClientMetrics(reg prometheus.Registerer) *clientMetrics {
	f := promauto.With(reg)
	counter := func(name, help string) prometheus.Counter {
		return f.NewCounter(prometheus.CounterOpts{Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: name, Help: help})
	}
	gauge := func(name, help string) prometheus.Gauge {
		return f.NewGauge(prometheus.GaugeOpts{Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: name, Help: help})
	}
	m := &clientMetrics{
		flowsReceived: counter("flows_received_total", "Flows received from the Hubble stream, including duplicates dropped after a reconnect."),
		lostEvents: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "lost_events_total",
			Help: "Events Hubble reported as lost before they reached hubble-sentinel, by where they were lost.",
		}, []string{"source"}),
		reconnects:        counter("reconnects_total", "Times the Hubble stream failed and was reopened."),
		duplicatesDropped: counter("duplicate_flows_dropped_total", "Flows dropped because they had already been delivered before a reconnect or restart."),
		streamUp:          gauge("stream_up", "1 while the Hubble flow stream is open and the relay answers ServerStatus, 0 otherwise."),
		lastFlowTimestamp: gauge("last_flow_timestamp_seconds", "Unix time of the newest flow delivered, to alert on a stalled stream."),
		lag:               gauge("event_lag_seconds", "Wall-clock time minus the time of the flow last handed to the engine: grows when evaluation falls behind."),
		gaps: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "visibility_gaps_total",
			Help: "Blind spots found, by kind: resume (the ring no longer held the flows missed during an outage), lost_events, node_status, oversized, shed.",
		}, []string{"kind"}),
		missed: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "flows_missed_total",
			Help: "Flows not seen, by gap kind: counted by Hubble (lost_events), skipped (oversized) or estimated from the rate before the gap (resume).",
		}, []string{"kind"}),
		gapSeconds: counter("resume_gap_seconds_total", "Event time not covered when a stream resumed after the relay's ring had moved on."),
		nodeStatus: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "node_status_events_total",
			Help: "Node status changes reported by the relay, by state.",
		}, []string{"state"}),
		nodesUnavailable:      gauge("nodes_unavailable", "Nodes whose flows are not being seen: reported unavailable, gone or in error and not back since."),
		relayNodesUnavailable: gauge("relay_nodes_unavailable", "Unavailable nodes in the relay's last ServerStatus."),
		relayNodesConnected:   gauge("relay_nodes_connected", "Connected nodes in the relay's last ServerStatus."),
		relayFlowsRate:        gauge("relay_flows_per_second", "Flow rate in the relay's last ServerStatus."),
		unresponsive:          counter("relay_unresponsive_total", "Times the relay did not answer ServerStatus in time and the stream was reopened."),
		oversized:             counter("oversized_flows_skipped_total", "Flows skipped for exceeding the configured size bound."),
		malformed:             counter("malformed_flows_skipped_total", "Flows skipped because they had nothing to judge: no addresses, endpoints or L7 record."),
		lastOutage:            gauge("last_outage_seconds", "How long the last stream outage lasted, from the failure to the relay answering again."),
		shed:                  counter("flows_shed_total", "Plain L3/L4 flows sampled out in the reduced-coverage mode while evaluation lagged."),
	}
	for _, k := range []GapKind{GapResume, GapLostEvents, GapNodeStatus, GapOversized, GapShed} {
		m.gaps.WithLabelValues(string(k))
		m.missed.WithLabelValues(string(k))
	}
	return m
}
