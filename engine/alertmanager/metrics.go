package alertmanager

import (
	"time"

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
	labelResult       = "result"
)

// Results of a request, the values of the result label of requests_total.
const (
	ResultSuccess  = "success"
	ResultRetry    = "retry"
	ResultRejected = "rejected"
)

var results = []string{ResultSuccess, ResultRetry, ResultRejected}

// metrics are the sender's metrics, shared by all Alertmanagers.
type metrics struct {
	reg       prometheus.Registerer
	sent      *prometheus.CounterVec
	dropped   *prometheus.CounterVec
	errors    *prometheus.CounterVec
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	delay     *prometheus.HistogramVec
	reachable *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		reg: reg,
		sent: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: subsystem,
			Name: "alerts_sent_total",
			Help: "Alerts accepted by an Alertmanager.",
		}, []string{labelAlertmanager}),
		dropped: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: subsystem,
			Name: "alerts_dropped_total",
			Help: "Alerts that will never reach an Alertmanager, by reason (invalid, rejected, spool_full, spool_error, corrupt, shutdown). Alert on any increase.",
		}, []string{labelAlertmanager, labelReason}),
		errors: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: subsystem,
			Name: "errors_total",
			Help: "Failed requests to an Alertmanager, including those retried.",
		}, []string{labelAlertmanager}),
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: subsystem,
			Name: "requests_total",
			Help: "Notifications (POSTs of a batch of alerts) to an Alertmanager, by result: success, retry (a retryable failure) or rejected.",
		}, []string{labelAlertmanager, labelResult}),
		latency: f.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: subsystem,
			Name:    "latency_seconds",
			Help:    "Duration of requests to an Alertmanager, failed ones included.",
			Buckets: prometheus.DefBuckets,
		}, []string{labelAlertmanager}),
		delay: f.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: subsystem,
			Name:    "notification_delay_seconds",
			Help:    "Time from an alert's spooling to its acceptance by an Alertmanager: the notification latency, outages included.",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 12), // 5ms to ~6h
		}, []string{labelAlertmanager}),
		reachable: f.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: subsystem,
			Name: "reachable",
			Help: "Whether an Alertmanager accepted the last request (1) or is being retried (0).",
		}, []string{labelAlertmanager}),
	}
}

// spoolMetrics registers the spool's gauges: its size, and per
// Alertmanager what waits and for how long.
func (m *metrics) spoolMetrics(s *spool, targets []*target) {
	f := promauto.With(m.reg)
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: subsystem, Name: "spool_bytes",
		Help: "Size of the spool of alerts not yet delivered to every Alertmanager.",
	}, func() float64 { return float64(s.bytes()) })
	for _, t := range targets {
		labels := prometheus.Labels{labelAlertmanager: t.url}
		f.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: subsystem, Name: "queue_length",
			Help:        "Alerts spooled and not yet delivered to an Alertmanager.",
			ConstLabels: labels,
		}, func() float64 { n, _ := s.pending(t.id); return float64(n) })
		f.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: subsystem, Name: "spool_oldest_age_seconds",
			Help:        "Age of the oldest alert spooled and not yet delivered to an Alertmanager (0 when none).",
			ConstLabels: labels,
		}, func() float64 {
			_, oldest := s.pending(t.id)
			if oldest.IsZero() {
				return 0
			}
			return max(time.Since(oldest).Seconds(), 0)
		})
	}
}

// targetMetrics are the metrics of one Alertmanager, curried once so the
// hot path does no label lookups.
type targetMetrics struct {
	sent      prometheus.Counter
	dropped   map[string]prometheus.Counter // by reason
	errors    prometheus.Counter
	requests  map[string]prometheus.Counter // by result
	latency   prometheus.Observer
	delay     prometheus.Observer
	reachable prometheus.Gauge
}

// forTarget creates every series of one Alertmanager up front, so that
// rate() and absent() work from the first scrape rather than from the first
// failure.
func (m *metrics) forTarget(am string) targetMetrics {
	tm := targetMetrics{
		sent:      m.sent.WithLabelValues(am),
		dropped:   make(map[string]prometheus.Counter, len(reasons)),
		errors:    m.errors.WithLabelValues(am),
		requests:  make(map[string]prometheus.Counter, len(results)),
		latency:   m.latency.WithLabelValues(am),
		delay:     m.delay.WithLabelValues(am),
		reachable: m.reachable.WithLabelValues(am),
	}
	tm.reachable.Set(1)
	for _, r := range reasons {
		tm.dropped[r] = m.dropped.WithLabelValues(am, r)
	}
	for _, r := range results {
		tm.requests[r] = m.requests.WithLabelValues(am, r)
	}
	return tm
}
