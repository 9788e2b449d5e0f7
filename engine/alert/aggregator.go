package alert

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
	// ResolveAfter is how long an incident stays firing after its last
	// violating flow was seen.
	ResolveAfter time.Duration
	// ResendInterval re-sends firing incidents so Alertmanager keeps them
	// active, with their counts brought up to date; 0 sends each once.
	ResendInterval time.Duration
	// SendResolved sends an incident with its end time when it goes quiet.
	SendResolved bool
	// StampEndsAt sets endsAt on firing alerts to when the incident will
	// resolve unless seen again (last seen + ResolveAfter), as Prometheus
	// does, so Alertmanager resolves them by itself if hubble-sentinel
	// dies.
	StampEndsAt bool
	// WallClock measures the firing window on the wall clock from when a
	// violation was seen, whatever its flow's time, so that a backlog of
	// old flows (a resumed stream, a slow node) fires like fresh ones;
	// startsAt and first_seen/last_seen stay event times. Live commands
	// set it; replay runs on event time throughout.
	WallClock bool
	// ReportWhenDone sends each incident once, when it is over (quiet for
	// ResolveAfter, or at Flush), with everything it added up to, instead
	// of when it starts. Replay sets it.
	ReportWhenDone bool
	// MaxActive bounds the incidents tracked at once. A policy's new
	// incidents beyond it fold into SentinelAlertsThrottled.
	MaxActive int
	// MaxIncidentsPerPolicy caps the distinct incidents one policy opens
	// per ThrottleInterval; beyond it new incidents fold into one
	// SentinelAlertsThrottled alert naming the policy, with their count.
	// Zero means DefaultMaxIncidentsPerPolicy, a negative value no cap.
	MaxIncidentsPerPolicy int
	ThrottleInterval      time.Duration
	// HubbleUIURL, when set, is the base URL of Hubble UI: every policy
	// alert's generatorURL opens it on the incident's namespace with
	// filters for its flows.
	HubbleUIURL string
	// MaxValues is how many values of a varying label an annotation lists
	// (DefaultMaxValues when zero).
	MaxValues int
	// Now is the wall clock of WallClock; nil means time.Now.
	Now func() time.Time
}

// Defaults of AggregatorConfig.
const (
	DefaultMaxIncidentsPerPolicy = 100
	DefaultThrottleInterval      = time.Minute
)

// DefaultAggregatorConfig is what the daemon uses.
var DefaultAggregatorConfig = AggregatorConfig{
	ResolveAfter:          5 * time.Minute,
	ResendInterval:        time.Minute,
	SendResolved:          true,
	StampEndsAt:           true,
	WallClock:             true,
	MaxActive:             10000,
	MaxIncidentsPerPolicy: DefaultMaxIncidentsPerPolicy,
	ThrottleInterval:      DefaultThrottleInterval,
}

// Aggregator turns violations into incidents: the first violation of an
// incident (its labels, by the policy's grouping) fires it with startsAt at
// that flow, later ones only add to it (count, last seen, the pods, ports
// and addresses that vary), it is re-sent every ResendInterval with its
// annotations brought up to date, and once no violation has been seen for
// ResolveAfter it resolves.
type Aggregator struct {
	cfg       AggregatorConfig
	notifier  Notifier
	logger    *slog.Logger
	metrics   *aggregatorMetrics
	groupings atomic.Pointer[Groupings]

	mu        sync.Mutex
	active    map[uint64]*incident
	throttles map[string]*throttle
	lastTick  time.Time
}

// throttle is one policy's window of new incidents (in one cluster, when
// there are several).
type throttle struct {
	start  time.Time
	opened int
}

type aggregatorMetrics struct {
	fired     *prometheus.CounterVec
	resolved  prometheus.Counter
	firing    *prometheus.GaugeVec
	throttled *prometheus.CounterVec
}

// NewAggregator returns an aggregator sending through n.
func NewAggregator(cfg AggregatorConfig, n Notifier, logger *slog.Logger, reg prometheus.Registerer) *Aggregator {
	if cfg.ResolveAfter <= 0 {
		cfg.ResolveAfter = DefaultAggregatorConfig.ResolveAfter
	}
	if cfg.MaxActive <= 0 {
		cfg.MaxActive = DefaultAggregatorConfig.MaxActive
	}
	if cfg.MaxIncidentsPerPolicy == 0 {
		cfg.MaxIncidentsPerPolicy = DefaultMaxIncidentsPerPolicy
	}
	if cfg.ThrottleInterval <= 0 {
		cfg.ThrottleInterval = DefaultThrottleInterval
	}
	if cfg.MaxValues <= 0 {
		cfg.MaxValues = DefaultMaxValues
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	a := &Aggregator{cfg: cfg, notifier: n, logger: logger, active: map[uint64]*incident{}, throttles: map[string]*throttle{}}
	f := promauto.With(reg)
	a.metrics = &aggregatorMetrics{
		fired: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hubble_sentinel", Subsystem: "alerts", Name: "fired_total",
			Help: "Incidents that started firing, by alertname and severity.",
		}, []string{"alertname", "severity"}),
		resolved: f.NewCounter(prometheus.CounterOpts{
			Namespace: "hubble_sentinel", Subsystem: "alerts", Name: "resolved_total",
			Help: "Incidents resolved after a quiet period or released.",
		}),
		firing: f.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "hubble_sentinel", Subsystem: "alerts", Name: "firing",
			Help: "Incidents firing now, by severity.",
		}, []string{"severity"}),
		throttled: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hubble_sentinel", Subsystem: "alerts", Name: "throttled_total",
			Help: "Violations of new incidents folded into SentinelAlertsThrottled, by policy id.",
		}, []string{"policy"}),
	}
	for _, sev := range []string{"critical", "warning", "info"} {
		a.metrics.firing.WithLabelValues(sev)
	}
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "hubble_sentinel", Subsystem: "alerts", Name: "active",
		Help: "Incidents tracked now, firing ones and those held for a condition.",
	}, func() float64 {
		a.mu.Lock()
		defer a.mu.Unlock()
		return float64(len(a.active))
	})
	return a
}

// Tuning is what of an AggregatorConfig a configuration reload may change
// while the aggregator runs.
type Tuning struct {
	ResolveAfter, ResendInterval time.Duration
	MaxIncidentsPerPolicy        int
	HubbleUIURL                  string
}

// Retune applies t from the next violation or tick on, with the zero
// values meaning what they mean to NewAggregator; a ResendInterval is
// applied only when the aggregator re-sends at all. Incidents already
// firing keep their generatorURL.
func (a *Aggregator) Retune(t Tuning) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cfg.ResolveAfter = cmp.Or(max(t.ResolveAfter, 0), DefaultAggregatorConfig.ResolveAfter)
	if t.ResendInterval > 0 && a.cfg.ResendInterval > 0 {
		a.cfg.ResendInterval = t.ResendInterval
	}
	a.cfg.MaxIncidentsPerPolicy = cmp.Or(t.MaxIncidentsPerPolicy, DefaultMaxIncidentsPerPolicy)
	a.cfg.HubbleUIURL = t.HubbleUIURL
}

// SetGroupings replaces the policies' groupings; a policy without one uses
// DefaultGrouping. Incidents already firing keep their labels.
func (a *Aggregator) SetGroupings(g Groupings) {
	g = maps.Clone(g)
	a.groupings.Store(&g)
}

func (a *Aggregator) grouping(id string) (Grouping, bool) {
	gs := a.groupings.Load()
	if gs == nil {
		return Grouping{}, false
	}
	g, ok := (*gs)[id]
	return g, ok
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

// Observe records a violation at time now (the flow's time; the wall clock
// is read instead for the firing window with WallClock).
func (a *Aggregator) Observe(now time.Time, al Alert) {
	seen := now
	if a.cfg.WallClock {
		seen = a.cfg.Now()
	}
	evt := now
	switch {
	case al.Occurrence != nil && !al.Occurrence.Time.IsZero():
		evt = al.Occurrence.Time
	case !al.StartsAt.IsZero():
		evt = al.StartsAt
	}
	labels := al.Labels
	if occ := al.Occurrence; occ != nil {
		if g, ok := a.grouping(al.Labels[LabelAlertname]); ok {
			labels = g.Identity(occ.Labels)
		}
	}
	fp := Fingerprint(labels)

	a.mu.Lock()
	if in, ok := a.active[fp]; ok {
		in.observe(al.Occurrence, evt, seen)
		a.mu.Unlock()
		return
	}
	if reason := a.admitLocked(labels, seen); reason != "" {
		out, send := a.foldLocked(labels, al.Occurrence, evt, seen, reason)
		a.mu.Unlock()
		if send {
			a.notifier.Send(out)
		}
		return
	}
	in := &incident{fp: fp, labels: labels, base: maps.Clone(al.Annotations), startsAt: cmp.Or(al.StartsAt, evt)}
	if in.base == nil {
		in.base = map[string]string{}
	}
	if occ := al.Occurrence; occ != nil {
		in.base[AnnotationHubbleObserve] = HubbleObserve(occ.Flow, labels, evt)
		if occ.Sample != "" {
			in.base[AnnotationSampleFlow] = occ.Sample
		}
		for label, ann := range map[string]string{LabelSourcePod: AnnotationSourcePod, LabelDestinationPod: AnnotationDestinationPod} {
			if v := occ.Labels[label]; v != "" && labels[label] == "" {
				in.base[ann] = v
			}
		}
		if a.cfg.HubbleUIURL != "" {
			in.generatorURL = HubbleUILink(a.cfg.HubbleUIURL, labels)
		}
	}
	in.observe(al.Occurrence, evt, seen)
	in.sent = seen
	a.openLocked(in)
	out := a.renderLocked(in, seen)
	a.mu.Unlock()
	if !a.cfg.ReportWhenDone {
		a.notifier.Send(out)
	}
}

// admitLocked applies the caps to a new incident of a policy and returns
// why it is refused, or "" when it may open.
func (a *Aggregator) admitLocked(labels map[string]string, seen time.Time) string {
	id := labels[LabelAlertname]
	if labels[LabelPolicy] == "" {
		return "" // hubble-sentinel's own alerts: a handful, never capped
	}
	if len(a.active) >= a.cfg.MaxActive {
		return fmt.Sprintf("hubble-sentinel tracks at most %d incidents at once (%d are open)", a.cfg.MaxActive, len(a.active))
	}
	if a.cfg.MaxIncidentsPerPolicy < 0 {
		return ""
	}
	// A cluster's flood throttles that cluster's incidents, not another's.
	key := id
	if c := labels[LabelCluster]; c != "" {
		key += "\xff" + c
	}
	th, ok := a.throttles[key]
	if !ok {
		th = &throttle{start: seen}
		a.throttles[key] = th
	}
	if seen.Sub(th.start) >= a.cfg.ThrottleInterval || seen.Before(th.start) {
		th.start, th.opened = seen, 0
	}
	if th.opened >= a.cfg.MaxIncidentsPerPolicy {
		return fmt.Sprintf("%s opened more than %d incidents within %s", id, a.cfg.MaxIncidentsPerPolicy, a.cfg.ThrottleInterval)
	}
	th.opened++
	return ""
}

// foldLocked adds a refused incident's violation to the policy's
// SentinelAlertsThrottled incident, opening it if need be, and returns the
// alert to send when it opened.
func (a *Aggregator) foldLocked(labels map[string]string, occ *Occurrence, evt, seen time.Time, reason string) (Alert, bool) {
	id := labels[LabelAlertname]
	a.metrics.throttled.WithLabelValues(id).Inc()
	tl := map[string]string{
		LabelAlertname: AlertAlertsThrottled,
		LabelSeverity:  "warning",
		LabelPolicy:    labels[LabelPolicy],
	}
	if c := labels[LabelCluster]; c != "" {
		tl[LabelCluster] = c
	}
	fp := Fingerprint(tl)
	in, ok := a.active[fp]
	if !ok {
		in = &incident{fp: fp, labels: tl, startsAt: evt, folded: &valueSet{}, sent: seen, base: map[string]string{
			AnnotationSummary: fmt.Sprintf("Policy %s (%s) is throttled: its new incidents are folded into this alert", id, labels[LabelPolicy]),
			AnnotationDescription: "The policy produced more distinct incidents than hubble-sentinel opens alerts for " +
				"(--alerts.max-incidents-per-policy per --alerts.throttle-interval, and at most " +
				fmt.Sprint(a.cfg.MaxActive) + " incidents at once). Nothing is dropped: count is the violations folded, " +
				"folded_incidents the incidents they belong to. Incidents already open keep firing. A policy this noisy " +
				"usually needs an exception or a coarser grouping (METADATA custom.group_by).",
		}}
		a.logger.Warn("policy throttled: its new incidents fold into one alert", "alertname", AlertAlertsThrottled, "policy", id, "reason", reason)
	}
	in.base[AnnotationReason] = reason
	in.observe(nil, evt, seen)
	in.folded.add(DescribeIncident(labels))
	if ok {
		return Alert{}, false
	}
	a.openLocked(in)
	return a.renderLocked(in, seen), !a.cfg.ReportWhenDone
}

func (a *Aggregator) openLocked(in *incident) {
	a.active[in.fp] = in
	a.metrics.fired.WithLabelValues(in.labels[LabelAlertname], in.labels[LabelSeverity]).Inc()
	a.metrics.firing.WithLabelValues(in.labels[LabelSeverity]).Inc()
}

func (a *Aggregator) closeLocked(in *incident) {
	delete(a.active, in.fp)
	a.metrics.resolved.Inc()
	a.metrics.firing.WithLabelValues(in.labels[LabelSeverity]).Dec()
}

// renderLocked is the incident as a firing alert sent at now.
func (a *Aggregator) renderLocked(in *incident, now time.Time) Alert {
	out := Alert{
		Labels:       in.labels,
		Annotations:  in.annotations(a.cfg.MaxValues),
		StartsAt:     in.startsAt,
		GeneratorURL: in.generatorURL,
	}
	if a.cfg.StampEndsAt {
		end := in.observed
		if in.held {
			end = now
		}
		out.EndsAt = notBefore(end.Add(a.cfg.ResolveAfter), out.StartsAt)
	}
	return out
}

// notBefore keeps endsAt after startsAt, which Alertmanager requires, when
// a flow's clock runs ahead of the wall clock.
func notBefore(end, start time.Time) time.Time {
	if end.Before(start) {
		return start
	}
	return end
}

// Hold fires al, or updates its annotations if it already fires, and keeps
// it firing (re-sent every ResendInterval) until Release. It is for the
// engine's own conditions, such as a policy set that failed to load, which
// last until something fixes them rather than until flows go quiet.
func (a *Aggregator) Hold(now time.Time, al Alert) {
	fp := Fingerprint(al.Labels)
	a.mu.Lock()
	in, ok := a.active[fp]
	if !ok {
		in = &incident{fp: fp, labels: maps.Clone(al.Labels), startsAt: cmp.Or(al.StartsAt, now), count: 1}
		a.openLocked(in)
	}
	in.held = true
	in.base = maps.Clone(al.Annotations)
	in.observed, in.sent = now, now
	out := a.renderLocked(in, now)
	a.mu.Unlock()
	a.notifier.Send(out)
}

// Release resolves the alert with these labels if it fires, and reports
// whether it did.
func (a *Aggregator) Release(now time.Time, labels map[string]string) bool {
	fp := Fingerprint(labels)
	a.mu.Lock()
	in, ok := a.active[fp]
	var r Alert
	if ok {
		a.closeLocked(in)
		r = a.renderLocked(in, now)
		r.EndsAt = notBefore(now, r.StartsAt)
	}
	a.mu.Unlock()
	if ok {
		a.notifier.Send(r)
	}
	return ok
}

// Tick resolves incidents quiet for ResolveAfter and re-sends firing ones
// that are due, as of now (the wall clock with WallClock, else the flows'
// time). Calling it often is cheap: it scans at most once per second of
// the caller's clock.
func (a *Aggregator) Tick(now time.Time) {
	a.mu.Lock()
	if !a.lastTick.IsZero() && now.Sub(a.lastTick) < time.Second && now.After(a.lastTick) {
		a.mu.Unlock()
		return
	}
	a.lastTick = now
	var out []Alert
	for _, in := range a.active {
		switch {
		case !in.held && now.Sub(in.observed) >= a.cfg.ResolveAfter:
			a.closeLocked(in)
			r := a.renderLocked(in, now)
			switch {
			case a.cfg.ReportWhenDone:
				out = append(out, r)
			case a.cfg.SendResolved:
				r.EndsAt = notBefore(in.observed.Add(a.cfg.ResolveAfter), r.StartsAt)
				out = append(out, r)
			}
		case a.cfg.ResendInterval > 0 && now.Sub(in.sent) >= a.cfg.ResendInterval && !a.cfg.ReportWhenDone:
			in.sent = now
			out = append(out, a.renderLocked(in, now))
		}
	}
	for id, th := range a.throttles {
		if now.Sub(th.start) >= a.cfg.ThrottleInterval {
			delete(a.throttles, id)
		}
	}
	a.mu.Unlock()
	if len(out) > 0 {
		sortAlerts(out)
		a.notifier.Send(out...)
	}
}

// Flush reports every incident still open as it stands at now and forgets
// them, for the end of a replay with ReportWhenDone. Without it, it does
// nothing: a live incident resolves by itself.
func (a *Aggregator) Flush(now time.Time) {
	if !a.cfg.ReportWhenDone {
		return
	}
	a.mu.Lock()
	out := make([]Alert, 0, len(a.active))
	for _, in := range a.active {
		a.closeLocked(in)
		out = append(out, a.renderLocked(in, now))
	}
	a.mu.Unlock()
	if len(out) > 0 {
		sortAlerts(out)
		a.notifier.Send(out...)
	}
}

// sortAlerts orders alerts by start, then labels, so that what is printed
// or spooled does not depend on map order.
func sortAlerts(as []Alert) {
	slices.SortFunc(as, func(x, y Alert) int {
		if c := x.StartsAt.Compare(y.StartsAt); c != 0 {
			return c
		}
		return strings.Compare(labelString(x.Labels), labelString(y.Labels))
	})
}

func labelString(l map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(l)) {
		b.WriteString(k + "=" + l[k] + ",")
	}
	return b.String()
}

// Active returns the open incidents as alerts, for tests and the demo.
func (a *Aggregator) Active() []Alert {
	a.mu.Lock()
	now := a.cfg.Now()
	out := make([]Alert, 0, len(a.active))
	for _, in := range a.active {
		out = append(out, a.renderLocked(in, now))
	}
	a.mu.Unlock()
	slices.SortFunc(out, func(x, y Alert) int {
		if c := strings.Compare(x.Labels[LabelAlertname], y.Labels[LabelAlertname]); c != 0 {
			return c
		}
		return strings.Compare(labelString(x.Labels), labelString(y.Labels))
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
