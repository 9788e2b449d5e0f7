package hubble

import "time"

// GapKind says how a blind spot was found. The values are bounded and are
// used as metric labels.
type GapKind string

// The kinds of gap a Client reports.
const (
	// GapResume: a resumed stream's first flow from a node was newer than
	// the newest delivered from it before the outage, so the node's ring
	// had overwritten the flows in between. Flows is an estimate from the
	// node's rate before the outage.
	GapResume GapKind = "resume"
	// GapLostEvents: Hubble reported events it dropped (Reason is the
	// LostEventSource: the perf ring, the observer queue, the Hubble ring
	// buffer). Flows is Hubble's count.
	GapLostEvents GapKind = "lost_events"
	// GapNodeStatus: the relay reported a node unavailable, gone or in
	// error (Reason is the state); its flows are not seen until it is back
	// (GapObserver.NodeRecovered).
	GapNodeStatus GapKind = "node_status"
	// GapOversized: a flow above the configured size bound was skipped.
	GapOversized GapKind = "oversized"
	// GapShed: in the reduced-coverage mode (ClientConfig.ShedAfter),
	// plain L3/L4 flows were sampled out while evaluation lagged. Flows is
	// how many.
	GapShed GapKind = "shed"
)

// Gap is a span of flows that hubble-sentinel did not, or may not, see.
type Gap struct {
	Kind GapKind
	// Source is the relay's address and Cluster its cluster name, when
	// configured.
	Source, Cluster string
	// Node is the node whose flows are missing, when known.
	Node string
	// Reason is the LostEventSource, node state or cause.
	Reason string
	// Message is the relay's own message, if any.
	Message string
	// Start and End bound the missing flows in event time; zero when
	// unknown (a node that is unavailable from now on).
	Start, End time.Time
	// Flows is how many flows are missing: counted by Hubble, or estimated
	// (Estimated) from the rate before the gap. Zero when unknown.
	Flows     uint64
	Estimated bool
}

// GapObserver learns of blind spots as a Client finds them, to alert on
// them (SentinelVisibilityGap) and to keep baselines from learning rates
// over a window with flows missing. The Client counts and logs every gap
// itself; an observer adds what it needs. Calls come from the Client's
// goroutines and must not block.
type GapObserver interface {
	// Gap reports flows not seen.
	Gap(Gap)
	// NodeRecovered reports that a node reported unavailable (a
	// GapNodeStatus gap) is streaming again.
	NodeRecovered(source, cluster, node string)
}

// GapFuncs adapts functions to a GapObserver; nil functions ignore.
type GapFuncs struct {
	OnGap           func(Gap)
	OnNodeRecovered func(source, cluster, node string)
}

var _ GapObserver = GapFuncs{}

// Gap calls OnGap.
func (f GapFuncs) Gap(g Gap) {
	if f.OnGap != nil {
		f.OnGap(g)
	}
}

// NodeRecovered calls OnNodeRecovered.
func (f GapFuncs) NodeRecovered(source, cluster, node string) {
	if f.OnNodeRecovered != nil {
		f.OnNodeRecovered(source, cluster, node)
	}
}
