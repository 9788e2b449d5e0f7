package alert

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Notifier receives alerts to deliver. It must not block: the engine calls
// it on the flow path.
type Notifier interface {
	Send(alerts ...Alert)
}

// Notifiers fans alerts out to several notifiers.
type Notifiers []Notifier

// Send implements Notifier.
func (ns Notifiers) Send(alerts ...Alert) {
	for _, n := range ns {
		n.Send(alerts...)
	}
}

// AggregatorConfig says how violations become alert notifications.
type AggregatorConfig struct {
	// ResolveAfter is how long an alert stays firing after its last
	// violating flow.
	ResolveAfter time.Duration
	// ResendInterval re-sends firing alerts so Alertmanager keeps them
	// active; 0 sends each alert once when it starts.
	ResendInterval time.Duration
	// SendResolved sends an alert with its end time when it goes quiet.
	SendResolved bool
	// StampEndsAt sets endsAt on firing alerts, as Prometheus does, so
	// Alertmanager resolves them by itself if hubble-sentinel dies. Replay
	// of old captures leaves it off: their endsAt would lie in the past.
	StampEndsAt bool
	// MaxActive bounds the alerts tracked at once. Alerts beyond it are
	// still sent, with endsAt stamped, but not deduplicated.
	MaxActive int
}

// DefaultAggregatorConfig is what the daemon uses.
var DefaultAggregatorConfig = AggregatorConfig{
	ResolveAfter:   5 * time.Minute,
	ResendInterval: time.Minute,
	SendResolved:   true,
	StampEndsAt:    true,
	MaxActive:      10000,
}

// Aggregator deduplicates alerts by their label set: the first violation
// fires the alert with startsAt at that flow, later ones only extend it, and
// once no violation has been seen for ResolveAfter it resolves. Its clock is
// whatever time the caller passes, so replay runs on the flows' own time.
type Aggregator struct {
	cfg      AggregatorConfig
	notifier Notifier
	logger   *slog.Logger
	metrics  *aggregatorMetrics

	mu       sync.Mutex
	active   map[uint64]*entry
	lastTick time.Time
}

type entry struct {
	alert    Alert
	last     time.Time
	count    uint64
	lastSent time.Time
	// held alerts describe a condition rather than violations: they fire
	// until Release, however long it takes, instead of resolving when quiet.
	held bool
}

type aggregatorMetrics struct {
	fired     *prometheus.CounterVec
	resolved  prometheus.Counter
	active    prometheus.GaugeFunc
	untracked prometheus.Counter
}

// NewAggregator returns an aggregator sending through n.
func NewAggregator(cfg AggregatorConfig, n Notifier, logger *slog.Logger, reg prometheus.Registerer) *Aggregator {
	if cfg.ResolveAfter <= 0 {
		cfg.ResolveAfter = DefaultAggregatorConfig.ResolveAfter
	}
	if cfg.MaxActive <= 0 {
		cfg.MaxActive = DefaultAggregatorConfig.MaxActive
	}
	a := &Aggregator{cfg: cfg, notifier: n, logger: logger, active: map[uint64]*entry{}}
	f := promauto.With(reg)
	a.metrics = &aggregatorMetrics{
		fired: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hubble_sentinel", Subsystem: "alerts", Name: "fired_total",
			Help: "Alerts that started firing, by alertname and severity.",
		}, []string{"alertname", "severity"}),
		resolved: f.NewCounter(prometheus.CounterOpts{
			Namespace: "hubble_sentinel", Subsystem: "alerts", Name: "resolved_total",
			Help: "Alerts resolved after a quiet period.",
		}),
		untracked: f.NewCounter(prometheus.CounterOpts{
			Namespace: "hubble_sentinel", Subsystem: "alerts", Name: "untracked_total",
			Help: "Alerts sent without deduplication because the active set was full.",
		}),
	}
	a.metrics.active = f.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "hubble_sentinel", Subsystem: "alerts", Name: "active",
		Help: "Alerts currently firing.",
	}, func() float64 {
		a.mu.Lock()
		defer a.mu.Unlock()
		return float64(len(a.active))
	})
	return a
}

// Fingerprint identifies an alert by its label set, as Alertmanager does.
func Fingerprint(labels map[string]string) uint64 {
	keys := slices.Sorted(maps.Keys(labels))
	d := xxhash.New()
	for _, k := range keys {
		_, _ = d.WriteString(k)
		_, _ = d.Write([]byte{0xff})
		_, _ = d.WriteString(labels[k])
		_, _ = d.Write([]byte{0xff})
	}
	return d.Sum64()
}

// Observe records a violation seen at time now (the flow's time).
func (a *Aggregator) Observe(now time.Time, al Alert) {
	fp := Fingerprint(al.Labels)
	a.mu.Lock()
	if e, ok := a.active[fp]; ok {
		e.count++
		if now.After(e.last) {
			e.last = now
		}
		a.mu.Unlock()
		return
	}
	if len(a.active) >= a.cfg.MaxActive {
		a.mu.Unlock()
		a.metrics.untracked.Inc()
		a.logger.Warn("too many active alerts, sending without deduplication", "max_active", a.cfg.MaxActive, "alertname", al.Labels[LabelAlertname])
		al.EndsAt = now.Add(a.cfg.ResolveAfter)
		a.notifier.Send(al)
		return
	}
	e := &entry{alert: al, last: now, count: 1, lastSent: now}
	a.active[fp] = e
	out := a.firing(e, now)
	a.mu.Unlock()
	a.metrics.fired.WithLabelValues(al.Labels[LabelAlertname], al.Labels[LabelSeverity]).Inc()
	a.notifier.Send(out)
}

func (a *Aggregator) firing(e *entry, now time.Time) Alert {
	out := e.alert
	out.EndsAt = time.Time{}
	if a.cfg.StampEndsAt {
		out.EndsAt = now.Add(a.cfg.ResolveAfter)
	}
	return out
}

// Hold fires al, or updates its annotations if it already fires, and keeps
// it firing (re-sent every ResendInterval) until Release. It is for the
// engine's own conditions, such as a policy set that failed to load, which
// last until something fixes them rather than until flows go quiet.
func (a *Aggregator) Hold(now time.Time, al Alert) {
	fp := Fingerprint(al.Labels)
	a.mu.Lock()
	e, ok := a.active[fp]
	if !ok {
		e = &entry{alert: al, count: 1}
		a.active[fp] = e
	}
	e.held = true
	e.alert.Annotations = al.Annotations
	e.last, e.lastSent = now, now
	out := a.firing(e, now)
	a.mu.Unlock()
	if !ok {
		a.metrics.fired.WithLabelValues(al.Labels[LabelAlertname], al.Labels[LabelSeverity]).Inc()
	}
	a.notifier.Send(out)
}

// Release resolves the alert with these labels if it fires, and reports
// whether it did.
func (a *Aggregator) Release(now time.Time, labels map[string]string) bool {
	fp := Fingerprint(labels)
	a.mu.Lock()
	e, ok := a.active[fp]
	if ok {
		delete(a.active, fp)
	}
	a.mu.Unlock()
	if !ok {
		return false
	}
	a.metrics.resolved.Inc()
	r := e.alert
	r.EndsAt = now
	a.notifier.Send(r)
	return true
}

// Tick resolves alerts quiet for ResolveAfter and re-sends firing ones that
// are due, as of now. Calling it often is cheap: it scans at most once per
// second of the caller's clock.
func (a *Aggregator) Tick(now time.Time) {
	a.mu.Lock()
	if !a.lastTick.IsZero() && now.Sub(a.lastTick) < time.Second && now.After(a.lastTick) {
		a.mu.Unlock()
		return
	}
	a.lastTick = now
	var out []Alert
	resolved := 0
	for fp, e := range a.active {
		switch {
		case !e.held && now.Sub(e.last) >= a.cfg.ResolveAfter:
			delete(a.active, fp)
			resolved++
			if a.cfg.SendResolved {
				r := e.alert
				r.EndsAt = e.last.Add(a.cfg.ResolveAfter)
				out = append(out, r)
			}
		case a.cfg.ResendInterval > 0 && now.Sub(e.lastSent) >= a.cfg.ResendInterval:
			e.lastSent = now
			out = append(out, a.firing(e, now))
		}
	}
	a.mu.Unlock()
	a.metrics.resolved.Add(float64(resolved))
	if len(out) > 0 {
		a.notifier.Send(out...)
	}
}

// Active returns the firing alerts, for tests and the demo.
func (a *Aggregator) Active() []Alert {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]Alert, 0, len(a.active))
	for _, e := range a.active {
		out = append(out, e.alert)
	}
	slices.SortFunc(out, func(x, y Alert) int {
		return strings.Compare(x.Labels[LabelAlertname], y.Labels[LabelAlertname])
	})
	return out
}

// tickInterval is how often Run looks for alerts to resolve or re-send.
const tickInterval = time.Second

// Run ticks on the wall clock until ctx ends. Live sources use it; replay
// calls Tick with flow time instead.
func (a *Aggregator) Run(ctx context.Context) error {
	t := time.NewTicker(tickInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			a.Tick(now)
		}
	}
}
