package alertmanager

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

const (
	namespace = "hubble_sentinel"
	subsystem = "alertmanager"
	// labelAlertmanager holds the configured, redacted URL: bounded by the
	// configuration, and what an operator needs to find the failing one.
	labelAlertmanager = "alertmanager"
	labelReason       = "reason"
)

// metrics are the sender's metrics, shared by all Alertmanagers.
type metrics struct {
	sent        *prometheus.CounterVec
	dropped     *prometheus.CounterVec
	errors      *prometheus.CounterVec
	queueLength *prometheus.GaugeVec
	latency     *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		sent: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: subsystem,
			Name: "alerts_sent_total",
			Help: "Alerts accepted by an Alertmanager.",
		}, []string{labelAlertmanager}),
		dropped: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: subsystem,
			Name: "alerts_dropped_total",
			Help: "Alerts that will never reach an Alertmanager, by reason (queue_full, invalid, rejected, retries_exhausted, shutdown).",
		}, []string{labelAlertmanager, labelReason}),
		errors: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: subsystem,
			Name: "errors_total",
			Help: "Failed requests to an Alertmanager, including those retried.",
		}, []string{labelAlertmanager}),
		queueLength: f.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: subsystem,
			Name: "queue_length",
			Help: "Alerts waiting to be sent to an Alertmanager.",
		}, []string{labelAlertmanager}),
		latency: f.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: subsystem,
			Name:    "latency_seconds",
			Help:    "Duration of requests to an Alertmanager, failed ones included.",
			Buckets: prometheus.DefBuckets,
		}, []string{labelAlertmanager}),
	}
}

// targetMetrics are the metrics of one Alertmanager, curried once so the
// hot path does no label lookups.
type targetMetrics struct {
	sent        prometheus.Counter
	dropped     map[string]prometheus.Counter // by reason
	errors      prometheus.Counter
	queueLength prometheus.Gauge
	latency     prometheus.Observer
}

// forTarget creates every series of one Alertmanager up front, so that
// rate() and absent() work from the first scrape rather than from the first
// failure.
func (m *metrics) forTarget(am string) targetMetrics {
	tm := targetMetrics{
		sent:        m.sent.WithLabelValues(am),
		dropped:     make(map[string]prometheus.Counter, len(reasons)),
		errors:      m.errors.WithLabelValues(am),
		queueLength: m.queueLength.WithLabelValues(am),
		latency:     m.latency.WithLabelValues(am),
	}
	for _, r := range reasons {
		tm.dropped[r] = m.dropped.WithLabelValues(am, r)
	}
	return tm
}
