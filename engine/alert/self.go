package alert

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// hubble-sentinel's own alerts. They go through the same aggregator and
// Alertmanagers as the policies', and each resolves when its condition ends.
const (
	// AlertVisibilityGap fires while hubble-sentinel cannot see flows, or
	// when it learns it missed some (LabelReason says how).
	AlertVisibilityGap = "SentinelVisibilityGap"
	// AlertAlertsThrottled fires while a policy's new incidents are folded
	// into it (see AggregatorConfig.MaxIncidentsPerPolicy).
	AlertAlertsThrottled = "SentinelAlertsThrottled"
	// AlertDeliveryFailing fires while an Alertmanager has not accepted
	// alerts for a while; it names it in LabelAlertmanager.
	AlertDeliveryFailing = "SentinelDeliveryFailing"
)

// Reasons of SentinelVisibilityGap, the values of its reason label.
const (
	// Lasting blind spots: they fire after the grace period and resolve when
	// they end.
	ReasonRelayDisconnected = "relay_disconnected"
	ReasonNodeUnavailable   = "node_unavailable"
	// Flows known to be missed: they fire at once and resolve once nothing
	// more is missed for the resolve timeout.
	ReasonLostEvents       = "lost_events"
	ReasonFlowsOverwritten = "flows_overwritten"
	ReasonOversizedFlow    = "oversized_flow"
)

// Conditions raises and clears alerts about conditions rather than
// violations; the Aggregator implements it.
type Conditions interface {
	Hold(now time.Time, a Alert)
	Release(now time.Time, labels map[string]string) bool
}

var _ Conditions = (*Aggregator)(nil)

// Raiser raises alerts: the Aggregator, or the Cluster view of it that one
// source of several raises its alerts through.
type Raiser interface {
	Observe(now time.Time, a Alert)
	Conditions
}

var (
	_ Raiser = (*Aggregator)(nil)
	_ Raiser = Cluster{}
)

// Gaps is what the Hubble side tells of blind spots. Visibility implements
// it; the command adapts the Hubble client's reports to it.
type Gaps interface {
	// Missed reports flows known not to have been seen.
	Missed(now time.Time, reason, node string, flows uint64, detail string)
	// Lost reports the start of a lasting blind spot, named by reason and
	// key (the relay's address, a node), and Restored its end.
	Lost(now time.Time, reason, key, detail string)
	Restored(now time.Time, reason, key string)
}

var _ Gaps = (*Visibility)(nil)

// Visibility raises SentinelVisibilityGap. A lasting blind spot fires once
// it has lasted Grace (a relay restart should not page anyone) and is held
// until every key of its reason is restored; flows known to be missed fire
// at once and resolve when no more are missed.
type Visibility struct {
	agg    Raiser
	grace  time.Duration
	logger *slog.Logger

	mu      sync.Mutex
	lasting map[string]*lastingGap
}

type lastingGap struct {
	keys  map[string]gapStart
	fired []string // the keys the held alert names; nil when not firing
}

type gapStart struct {
	since  time.Time
	detail string
}

// NewVisibility returns a Visibility raising alerts through agg (a Cluster
// for one source of several, so that its gaps carry the cluster). Its Run
// checks the grace period of lasting gaps.
func NewVisibility(agg Raiser, grace time.Duration, logger *slog.Logger) *Visibility {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Visibility{agg: agg, grace: grace, logger: logger, lasting: map[string]*lastingGap{}}
}

// VisibilityLabels are the labels of the SentinelVisibilityGap with this
// reason.
func VisibilityLabels(reason string) map[string]string {
	return map[string]string{LabelAlertname: AlertVisibilityGap, LabelSeverity: "warning", LabelReason: reason}
}

var missedText = map[string]string{
	ReasonLostEvents:       "Hubble dropped events before sending them (its perf ring, observer queue or ring buffer overflowed)",
	ReasonFlowsOverwritten: "flows were overwritten in a node's Hubble ring before a resumed stream could read them",
	ReasonOversizedFlow:    "flows larger than the --hubble.max-flow-size bound were skipped",
}

// Missed implements Gaps.
func (v *Visibility) Missed(now time.Time, reason, node string, flows uint64, detail string) {
	what := missedText[reason]
	if what == "" {
		what = reason
	}
	occ := &Occurrence{Time: now, Count: max(flows, 1)}
	if node != "" {
		occ.Labels = map[string]string{"node": node}
	}
	v.agg.Observe(now, Alert{
		Labels: VisibilityLabels(reason),
		Annotations: map[string]string{
			AnnotationSummary: "hubble-sentinel did not see some flows: " + what,
			AnnotationDescription: "No policy judged the missing flows. count is the flows missed (as Hubble counted them, or " +
				"estimated from the node's rate), nodes the nodes they were on. " + detail,
		},
		StartsAt:   now,
		Occurrence: occ,
	})
}

// Lost implements Gaps.
func (v *Visibility) Lost(now time.Time, reason, key, detail string) {
	v.mu.Lock()
	g, ok := v.lasting[reason]
	if !ok {
		g = &lastingGap{keys: map[string]gapStart{}}
		v.lasting[reason] = g
	}
	if _, ok := g.keys[key]; !ok {
		g.keys[key] = gapStart{since: now, detail: detail}
	}
	v.mu.Unlock()
	v.Check(now)
}

// Restored implements Gaps.
func (v *Visibility) Restored(now time.Time, reason, key string) {
	v.mu.Lock()
	g, ok := v.lasting[reason]
	if !ok {
		v.mu.Unlock()
		return
	}
	delete(g.keys, key)
	release := len(g.keys) == 0 && g.fired != nil
	if len(g.keys) == 0 {
		delete(v.lasting, reason)
	}
	v.mu.Unlock()
	if release {
		v.logger.Info("visibility restored", "alertname", AlertVisibilityGap, "reason", reason)
		v.agg.Release(now, VisibilityLabels(reason))
		return
	}
	v.Check(now)
}

// Check raises or updates the alert of every lasting gap older than the
// grace period. Run calls it every second; Lost and Restored too.
func (v *Visibility) Check(now time.Time) {
	type hold struct {
		reason string
		alert  Alert
	}
	var holds []hold
	v.mu.Lock()
	for reason, g := range v.lasting {
		var overdue []string
		first := now
		for k, s := range g.keys {
			if now.Sub(s.since) >= v.grace {
				overdue = append(overdue, k)
				if s.since.Before(first) {
					first = s.since
				}
			}
		}
		slices.Sort(overdue)
		if len(overdue) == 0 || slices.Equal(overdue, g.fired) {
			continue
		}
		g.fired = overdue
		holds = append(holds, hold{reason, v.lastingAlert(reason, g, overdue, first)})
	}
	v.mu.Unlock()
	for _, h := range holds {
		v.logger.Warn("visibility gap", "alertname", AlertVisibilityGap, "reason", h.reason, "summary", h.alert.Annotations[AnnotationSummary])
		v.agg.Hold(now, h.alert)
	}
}

func (v *Visibility) lastingAlert(reason string, g *lastingGap, keys []string, since time.Time) Alert {
	var summary, description string
	details := make([]string, 0, len(keys))
	for _, k := range keys {
		if d := g.keys[k].detail; d != "" {
			details = append(details, k+": "+d)
		}
	}
	switch reason {
	case ReasonRelayDisconnected:
		summary = fmt.Sprintf("Hubble Relay %s unreachable since %s: no flow is judged", strings.Join(keys, ", "), since.UTC().Format(time.RFC3339))
		description = "hubble-sentinel keeps reconnecting and resumes where it left off; flows the relay no longer holds when it is back are reported as flows_overwritten."
	case ReasonNodeUnavailable:
		summary = fmt.Sprintf("%d Hubble node(s) unavailable since %s: %s", len(keys), since.UTC().Format(time.RFC3339), strings.Join(keys, ", "))
		description = "Hubble Relay reports these nodes unavailable; their flows are not seen until they are back."
	default:
		summary = fmt.Sprintf("%s since %s: %s", reason, since.UTC().Format(time.RFC3339), strings.Join(keys, ", "))
	}
	if len(details) > 0 {
		description += " " + strings.Join(details, "; ")
	}
	return Alert{
		Labels:      VisibilityLabels(reason),
		Annotations: map[string]string{AnnotationSummary: summary, AnnotationDescription: description},
		StartsAt:    since,
	}
}

// Run checks the grace period every second until ctx ends.
func (v *Visibility) Run(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			v.Check(now)
		}
	}
}

// HubbleUILink opens Hubble UI at base on the incident's namespace, with
// flow filters for the sides and port that identify it. base is returned
// unchanged when it does not parse.
func HubbleUILink(base string, labels map[string]string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	q := u.Query()
	ns := labels[LabelSourceNamespace]
	if ns == "" {
		ns = labels[LabelDestinationNamespace]
	}
	if ns != "" {
		q.Set("namespace", ns)
	}
	var filters []string
	add := func(dir, kind, v string) {
		if v != "" {
			filters = append(filters, dir+":"+kind+"="+v)
		}
	}
	add("from", "pod", labels[LabelSourcePod])
	add("from", "ip", labels[LabelSourceIP])
	add("to", "pod", labels[LabelDestinationPod])
	if labels[LabelDestinationFQDN] != "" {
		add("to", "dns", labels[LabelDestinationFQDN])
	} else {
		add("to", "ip", labels[LabelDestinationIP])
	}
	add("to", "port", labels[LabelDestinationPort])
	if len(filters) > 0 {
		q.Set("flows-filter", strings.Join(filters, ","))
	}
	u.RawQuery = q.Encode()
	return u.String()
}
