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
// bounded: the only label is the lost-events source, an enum.
type clientMetrics struct {
	flowsReceived     prometheus.Counter
	lostEvents        *prometheus.CounterVec
	reconnects        prometheus.Counter
	duplicatesDropped prometheus.Counter
	streamUp          prometheus.Gauge
	lastFlowTimestamp prometheus.Gauge
}

// newClientMetrics builds the Client's metrics on reg. A nil reg is allowed:
// the metrics then work but are not exported, which suits tests and tools.
func newClientMetrics(reg prometheus.Registerer) *clientMetrics {
	f := promauto.With(reg)
	return &clientMetrics{
		flowsReceived: f.NewCounter(prometheus.CounterOpts{
			Namespace: metricsNamespace,
			Subsystem: metricsSubsystem,
			Name:      "flows_received_total",
			Help:      "Flows received from the Hubble stream, including duplicates dropped after a reconnect.",
		}),
		lostEvents: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace,
			Subsystem: metricsSubsystem,
			Name:      "lost_events_total",
			Help:      "Events Hubble reported as lost before they reached hubble-sentinel, by where they were lost.",
		}, []string{"source"}),
		reconnects: f.NewCounter(prometheus.CounterOpts{
			Namespace: metricsNamespace,
			Subsystem: metricsSubsystem,
			Name:      "reconnects_total",
			Help:      "Times the Hubble stream failed and was reopened.",
		}),
		duplicatesDropped: f.NewCounter(prometheus.CounterOpts{
			Namespace: metricsNamespace,
			Subsystem: metricsSubsystem,
			Name:      "duplicate_flows_dropped_total",
			Help:      "Flows dropped because they had already been delivered before a reconnect.",
		}),
		streamUp: f.NewGauge(prometheus.GaugeOpts{
			Namespace: metricsNamespace,
			Subsystem: metricsSubsystem,
			Name:      "stream_up",
			Help:      "1 while a Hubble flow stream is established, 0 otherwise.",
		}),
		lastFlowTimestamp: f.NewGauge(prometheus.GaugeOpts{
			Namespace: metricsNamespace,
			Subsystem: metricsSubsystem,
			Name:      "last_flow_timestamp_seconds",
			Help:      "Unix time of the newest flow delivered, to alert on a stalled stream.",
		}),
	}
}
