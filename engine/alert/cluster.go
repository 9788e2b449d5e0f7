package alert

import (
	"maps"
	"time"
)

// Sink is where an engine's alerts go: the Aggregator, or the Cluster view
// of it.
type Sink interface {
	Raiser
	Tick(now time.Time)
}

var (
	_ Sink = (*Aggregator)(nil)
	_ Sink = Cluster{}
)

// Cluster is the view of a Sink through which the engine and the
// visibility checks of one source of several raise their alerts: each
// alert they observe, hold or release carries LabelCluster=Name, which is
// part of its identity, so that two clusters' incidents are two alerts
// sharing one aggregator (and its Alertmanagers).
//
// Alerts about the process rather than the source (SentinelPolicyDegraded:
// the policy set is shared by every source) pass unlabelled, so that the
// sources raise and release one alert between them.
type Cluster struct {
	Sink Sink
	Name string
}

// processWide are the alerts an engine raises about the policies every
// source shares.
var processWide = map[string]bool{AlertPolicyDegraded: true}

func (c Cluster) label(l map[string]string) map[string]string {
	if processWide[l[LabelAlertname]] {
		return l
	}
	out := make(map[string]string, len(l)+1)
	maps.Copy(out, l)
	out[LabelCluster] = c.Name
	return out
}

// Observe implements Sink. The occurrence is labelled too: a policy's
// grouping takes the incident's identity from it.
func (c Cluster) Observe(now time.Time, a Alert) {
	if !processWide[a.Labels[LabelAlertname]] {
		a.Labels = c.label(a.Labels)
		if a.Occurrence != nil {
			occ := *a.Occurrence
			occ.Labels = c.label(occ.Labels)
			a.Occurrence = &occ
		}
	}
	c.Sink.Observe(now, a)
}

// Hold implements Sink.
func (c Cluster) Hold(now time.Time, a Alert) {
	a.Labels = c.label(a.Labels)
	c.Sink.Hold(now, a)
}

// Release implements Sink.
func (c Cluster) Release(now time.Time, labels map[string]string) bool {
	return c.Sink.Release(now, c.label(labels))
}

// Tick implements Sink.
func (c Cluster) Tick(now time.Time) { c.Sink.Tick(now) }
