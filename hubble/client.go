// Package hubble reads Hubble flows from a live Hubble Relay, from capture files, or from the built-in test relay.
package hubble

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	observerpb "github.com/cilium/cilium/api/v1/observer"
	relaypb "github.com/cilium/cilium/api/v1/relay"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Defaults of ClientConfig.
const (
	// DefaultOverlap is how far before the newest delivered flow a resumed
	// stream starts: more than Relay's one-second sort buffer plus clock
	// skew between nodes, so a flow that a slow node had not yet sent is
	// not skipped.
	DefaultOverlap = 2 * time.Second
	// DefaultStatusInterval is how often the relay is asked ServerStatus
	// while streaming: a relay that stops answering (frozen, partitioned)
	// is noticed within this plus DefaultStatusTimeout.
	DefaultStatusInterval = 10 * time.Second
	// DefaultStatusTimeout bounds each ServerStatus and GetNodes call.
	DefaultStatusTimeout = 5 * time.Second
)

// ClientConfig says what to ask the Observer API for and how to behave when
// the stream breaks. The zero value reads a finite stream once, unfiltered.
type ClientConfig struct {
	// Follow asks the server to keep streaming new flows (live relay).
	Follow bool
	// Reconnect reopens a failed stream with backoff and resumes where it
	// left off. Use it for a live relay; leave it off for capture files,
	// whose errors do not heal by retrying.
	Reconnect bool
	// Allow and Deny are the server-side whitelist and blacklist: a flow is
	// sent if it matches any Allow filter (or Allow is empty) and no Deny
	// filter.
	Allow, Deny []*flowpb.FlowFilter
	// FieldMask, when set, asks the server for only these flow fields.
	FieldMask *fieldmaskpb.FieldMask
	// Since, when set, asks for flows from this time on. A position
	// restored from Position takes precedence.
	Since time.Time
	// BackoffMin and BackoffMax bound the reconnect delay, which grows
	// exponentially with full jitter. Zero means DefaultBackoffMin and
	// DefaultBackoffMax.
	BackoffMin, BackoffMax time.Duration
	// Address names the server in logs and gaps only; the connection is
	// whatever ObserverClient was given to NewClient.
	Address string
	// Cluster names the source when several are followed; it is carried
	// in gaps (the logger given to NewClient carries it in logs).
	Cluster string
	// TLS says whether the connection uses TLS, so that an error can be
	// explained ("the relay requires TLS").
	TLS bool
	// Conn, when set, is the gRPC connection behind the ObserverClient
	// (*grpc.ClientConn satisfies it). Between attempts the Client resets
	// its connect backoff and waits for it to be ready, so the stream
	// reopens as soon as the relay accepts connections, with one backoff
	// rather than gRPC's stacked on the Client's.
	Conn Connection
	// Overlap is how far before the newest delivered flow a resumed
	// stream asks to start; replayed flows are dropped by their UUID.
	// Zero means DefaultOverlap.
	Overlap time.Duration
	// DedupSize is how many recent flows are remembered to drop replays
	// (DefaultDedupSize when zero). With Position, the file's size rules.
	DedupSize int
	// Position, when set, keeps the stream position across restarts.
	Position *PositionFile
	// Gaps is told of every blind spot; nil only logs and counts them.
	Gaps GapObserver
	// ShedAfter, when positive, turns on the reduced-coverage mode: once
	// the flows handed on are older than this (evaluation has fallen
	// behind), plain L3/L4 trace flows — forwarded, no L7, not a
	// connection's first packet — are sampled, one in ShedKeep (10 when
	// zero), until the lag is back under half of it. L7, DNS, drops and
	// new connections are never sampled. Each such span is a GapShed. Zero
	// keeps back-pressure only: the stream waits for the engine.
	ShedAfter time.Duration
	ShedKeep  int
	// StatusInterval is how often the relay is asked ServerStatus while
	// streaming, and StatusTimeout bounds each call; zero means the
	// defaults, a negative interval asks only when a stream opens.
	StatusInterval, StatusTimeout time.Duration
}

// Connection is what the Client needs of a gRPC connection to reconnect
// quickly. *grpc.ClientConn satisfies it.
type Connection interface {
	GetState() connectivity.State
	WaitForStateChange(ctx context.Context, source connectivity.State) bool
	Connect()
	ResetConnectBackoff()
}

// Client streams flows from any observerpb.ObserverClient — a live relay
// connection, a FileObserver or the test relay — so the engine sees one
// source whatever the flows come from. A Client runs one stream at a time;
// call Run once.
type Client struct {
	obs     observerpb.ObserverClient
	cfg     ClientConfig
	logger  *slog.Logger
	metrics *clientMetrics
	// rand drives the backoff jitter; tests replace it.
	rand func() float64
	// set is the dedup set and stream position; only Run's goroutine
	// uses it.
	set *recentSet
	// pending are the nodes whose first flow on a resumed stream tells
	// whether the relay still held what was missed: node -> newest flow
	// time delivered from it before.
	pending map[uint64]time.Time
	// replayUntil is the newest flow time delivered before the current
	// stream started: only a flow no newer can be a copy of one
	// delivered before (a relay sends each flow once per stream).
	// replaying says some flow was delivered before it started.
	replayUntil time.Time
	replaying   bool
	limiter     logLimiter
	totals      totals
	// shed is the reduced-coverage state; only Run's goroutine uses it.
	shed shedState
	// position is set.hw for other goroutines, in Unix nanoseconds.
	position atomic.Int64
	// losses are the LostEvents reported lately; only Run's goroutine
	// uses it.
	losses recentLosses

	mu sync.Mutex
	// gen identifies the current stream so that a late readiness signal
	// from a finished stream cannot mark the Client ready.
	gen uint64
	up  bool
	// connectedOnce is set by the first readiness.
	connectedOnce bool
	// outageSince is when the current run of stream failures began; zero
	// while the stream is healthy.
	outageSince time.Time
	// unavailable are the nodes the relay reports unavailable.
	unavailable map[string]bool
}

// totals are what the shutdown line reports.
type totals struct {
	received, delivered, duplicates atomic.Uint64
	gaps, lost, estimated           atomic.Uint64
	oversized, reconnects           atomic.Uint64
}

// NewClient returns a Client reading from obs. The caller names the
// component in logger (logger.With("component", "hubble")); metrics are
// registered on reg, which may be nil. Register at most one Client per
// registry (wrap reg with a constant label to register several).
func NewClient(obs observerpb.ObserverClient, cfg ClientConfig, logger *slog.Logger, reg prometheus.Registerer) *Client {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = DefaultBackoffMin
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = DefaultBackoffMax
	}
	if cfg.Overlap <= 0 {
		cfg.Overlap = DefaultOverlap
	}
	if cfg.StatusInterval == 0 {
		cfg.StatusInterval = DefaultStatusInterval
	}
	if cfg.StatusTimeout <= 0 {
		cfg.StatusTimeout = DefaultStatusTimeout
	}
	var slots []slot
	if cfg.Position != nil {
		slots = cfg.Position.slots
	} else {
		slots = make([]slot, max(cfg.DedupSize, 0))
		if cfg.DedupSize == 0 {
			slots = make([]slot, DefaultDedupSize)
		}
	}
	if !cfg.Reconnect && cfg.Position == nil && cfg.DedupSize == 0 {
		// A finite read (a capture) is never resumed: no memory needed.
		slots = nil
	}
	c := &Client{
		obs:         obs,
		cfg:         cfg,
		logger:      logger,
		metrics:     newClientMetrics(reg),
		rand:        rand.Float64,
		set:         newRecentSet(slots),
		unavailable: map[string]bool{},
	}
	c.limiter.every = 10 * time.Second
	return c
}

// Ready reports whether the stream is open and the relay answered
// ServerStatus (or sent a response): a relay that is reachable, whether or
// not the cluster has flows. Readiness probes use it so that a sentinel
// that cannot reach its relay is visibly not ready.
func (c *Client) Ready() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.up
}

// Position returns the newest flow time delivered so far: where a resumed
// stream (minus the overlap) starts. It is safe to call while Run runs.
func (c *Client) Position() time.Time {
	if n := c.position.Load(); n != 0 {
		return time.Unix(0, n).UTC()
	}
	return time.Time{}
}

// handlerError marks an error returned by the flow handler, which ends Run
// instead of triggering a reconnect.
type handlerError struct{ err error }

func (e *handlerError) Error() string { return e.err.Error() }
func (e *handlerError) Unwrap() error { return e.err }

// errResubscribe ends a stream to open a new one at once: Relay does not
// add a node that comes back to the streams it is already serving.
var errResubscribe = errors.New("a node is back: reopening the stream to include it")

// errUnresponsive ends a stream whose relay stopped answering ServerStatus.
var errUnresponsive = errors.New("relay stopped answering (no ServerStatus reply within the timeout)")

// Run streams flows to handle, in the order the server sends them, until
// ctx is done (nil), a finite stream ends (nil), or handle fails (its error,
// wrapped). io.EOF, context.Canceled and codes.Canceled end a stream
// cleanly.
//
// With Reconnect, any other stream error — and a clean end of a Follow
// stream, which a healthy relay never sends — is logged once and the stream
// is reopened after a backoff, asking for flows since the newest one
// delivered minus the overlap; flows already delivered are dropped by their
// UUID (or a hash of their content) so that handle sees each flow once.
// Without Reconnect, stream errors are returned, and so are InvalidArgument
// and Unimplemented even with it: the request itself is wrong and retrying
// it cannot help.
//
// A flow handed to handle is read-only: its strings and its endpoints'
// label and workload lists may be shared with other flows (an append to
// a list copies it; a write into one changes them all).
func (c *Client) Run(ctx context.Context, handle func(context.Context, *flowpb.Flow) error) error {
	started := time.Now()
	defer c.logTotals(started)
	defer c.endShed(time.Time{})
	bo := newBackoff(c.cfg.BackoffMin, c.cfg.BackoffMax, c.rand)
	for attempt := 0; ; attempt++ {
		delivered, err := c.stream(ctx, attempt > 0 || c.set.restored(), handle)
		if ctx.Err() != nil {
			return nil
		}
		if herr, ok := errors.AsType[*handlerError](err); ok {
			return fmt.Errorf("handling flow: %w", herr.err)
		}
		if errors.Is(err, errResubscribe) {
			c.logger.Info("hubble node back; reopening the stream to include its flows", "address", c.addr())
			continue
		}
		clean := isCleanEnd(err)
		switch {
		case clean && !(c.cfg.Follow && c.cfg.Reconnect):
			return nil
		case !c.cfg.Reconnect || isPermanent(err):
			return fmt.Errorf("streaming flows from %s: %w", c.addr(), err)
		case clean:
			err = errors.New("server ended a follow stream")
		}

		if delivered {
			bo.Reset()
		}
		delay := bo.Next()
		c.metrics.reconnects.Inc()
		c.totals.reconnects.Add(1)
		if c.beginOutage() {
			attrs := []any{"address", c.addr(), "err", err, "backoff", delay}
			if hint := explain(err, c.cfg.TLS); hint != "" {
				attrs = append(attrs, "hint", hint)
			}
			c.logger.Warn("hubble relay stream failed, reconnecting", attrs...)
		} else {
			// One warning per outage: a relay down for an hour must not
			// bury the log in identical lines.
			c.logger.Debug("hubble relay still unreachable, retrying",
				"address", c.addr(), "err", err, "backoff", delay)
		}
		if !c.waitRetry(ctx, delay) {
			return nil
		}
	}
}

// waitRetry waits before the next attempt: delay, or less if the
// connection becomes ready first. It resets gRPC's connect backoff so that
// the connection is retried now, not after gRPC's own delay. It reports
// false when ctx ends.
func (c *Client) waitRetry(ctx context.Context, delay time.Duration) bool {
	wctx, cancel := context.WithTimeout(ctx, delay)
	defer cancel()
	if conn := c.cfg.Conn; conn != nil {
		conn.ResetConnectBackoff()
		conn.Connect()
		for {
			st := conn.GetState()
			if st == connectivity.Ready {
				return ctx.Err() == nil
			}
			if !conn.WaitForStateChange(wctx, st) {
				break
			}
		}
	}
	<-wctx.Done()
	return ctx.Err() == nil
}

// stream runs one GetFlows stream until it ends. delivered reports whether
// the stream produced any response, which resets the backoff.
func (c *Client) stream(ctx context.Context, resuming bool, handle func(context.Context, *flowpb.Flow) error) (delivered bool, err error) {
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	req := &observerpb.GetFlowsRequest{
		Follow:    c.cfg.Follow,
		Whitelist: c.cfg.Allow,
		Blacklist: c.cfg.Deny,
		FieldMask: c.cfg.FieldMask,
	}
	since := c.cfg.Since
	c.pending = nil
	c.replayUntil, c.replaying = c.set.hw, c.set.restored()
	if hw := c.set.hw; resuming && !hw.IsZero() {
		since = hw.Add(-c.cfg.Overlap)
		if !c.set.horizon.IsZero() && c.set.horizon.After(since) {
			c.limiter.warn(c.logger, "dedup-window", "dedup window shorter than the resume overlap at this flow rate: replays older than it are dropped by node position; raise --hubble.dedup-size",
				"window_start", c.set.horizon, "resume_from", since)
		}
		// A node whose newest delivered flow is within the overlap must
		// replay it: if its first flow is newer, the relay lost the rest.
		c.pending = make(map[uint64]time.Time)
		for id, ns := range c.set.nodes {
			if !ns.hw.Before(since) {
				c.pending[id] = ns.hw
			}
		}
	}
	if !since.IsZero() {
		req.Since = timestamppb.New(since)
	}

	gen := c.streamStarting()
	defer c.streamEnded()
	st, err := c.obs.GetFlows(sctx, req)
	if err != nil {
		return false, fmt.Errorf("opening flow stream: %w", err)
	}
	probeDone := make(chan struct{})
	go func() {
		defer close(probeDone)
		c.probe(sctx, cancel, gen)
	}()
	defer func() { cancel(nil); <-probeDone }()

	for {
		resp, err := st.Recv()
		if err != nil {
			if cause := context.Cause(sctx); errors.Is(cause, errUnresponsive) || errors.Is(cause, errResubscribe) {
				return delivered, cause
			}
			return delivered, err
		}
		delivered = true
		c.markUp(gen, nil)
		switch r := resp.GetResponseTypes().(type) {
		case *observerpb.GetFlowsResponse_Flow:
			if err := c.deliver(ctx, r.Flow, handle); err != nil {
				return delivered, err
			}
		case *observerpb.GetFlowsResponse_LostEvents:
			c.lostEvents(resp.GetNodeName(), r.LostEvents)
		case *observerpb.GetFlowsResponse_NodeStatus:
			c.nodeStatus(r.NodeStatus)
		}
	}
}

// deliver hands one flow to handle unless it is a replayed duplicate,
// and checks a resumed stream's first flow of each node for a gap.
func (c *Client) deliver(ctx context.Context, f *flowpb.Flow, handle func(context.Context, *flowpb.Flow) error) error {
	if f == nil {
		return nil
	}
	c.metrics.flowsReceived.Inc()
	c.totals.received.Add(1)
	t := flowTime(f)
	node := nodeID(f.GetNodeName())
	if c.pending != nil && !t.IsZero() {
		if hw, ok := c.pending[node]; ok {
			delete(c.pending, node)
			if t.After(hw) {
				c.resumeGap(f.GetNodeName(), node, hw, t)
			}
		}
	}
	k := keyOf(f)
	// A flow newer than every flow delivered before this stream cannot be
	// a replay: nearly every flow, once a resumed stream has caught up,
	// skips the lookup (a map of DedupSize keys).
	if c.mayReplay(t) {
		if v := c.set.admit(f, k, node, t); v != admitNew {
			c.metrics.duplicatesDropped.Inc()
			c.totals.duplicates.Add(1)
			return nil
		}
	}
	if size, ok := oversized(f); ok {
		c.set.record(k, node, t, f.GetNodeName())
		c.oversizedFlow(f, size)
		return nil
	}
	if !Judgeable(f) {
		// {"flow":{}}: counted, not judged, and resumed past.
		c.set.record(k, node, t, f.GetNodeName())
		c.metrics.malformed.Inc()
		return nil
	}
	if c.shedding(f, t) {
		c.set.record(k, node, t, f.GetNodeName())
		c.position.Store(c.set.hw.UnixNano())
		return nil
	}
	if err := handle(ctx, f); err != nil {
		return &handlerError{err}
	}
	// Recorded once handed on: a flow the handler refused (shutdown) is
	// asked for again by the next run.
	c.set.record(k, node, t, f.GetNodeName())
	c.totals.delivered.Add(1)
	if !t.IsZero() {
		c.position.Store(c.set.hw.UnixNano())
		c.metrics.lastFlowTimestamp.Set(float64(c.set.hw.UnixNano()) / 1e9)
		c.metrics.lag.Set(max(time.Since(t).Seconds(), 0))
	}
	return nil
}

// mayReplay reports whether a flow of time t (zero: none) may be a copy of
// one delivered before the current stream started: some flow was, and t is
// no newer than the newest of them, or either time is unknown.
func (c *Client) mayReplay(t time.Time) bool {
	return c.replaying && (t.IsZero() || c.replayUntil.IsZero() || !t.After(c.replayUntil))
}

// shedState is the reduced-coverage mode's state.
type shedState struct {
	on          bool
	from, last  time.Time
	seen, shed  uint64
	sinceReport time.Time
}

// shedding reports whether f is sampled out: the reduced-coverage mode is
// on (or turns on now, the lag above ShedAfter) and f is a plain L3/L4
// trace flow not kept by the sampling.
func (c *Client) shedding(f *flowpb.Flow, t time.Time) bool {
	if c.cfg.ShedAfter <= 0 || t.IsZero() {
		return false
	}
	s := &c.shed
	lag := time.Since(t)
	switch {
	case !s.on && lag > c.cfg.ShedAfter:
		*s = shedState{on: true, from: t, sinceReport: time.Now()}
		c.logger.Warn("evaluation is falling behind: reduced coverage, sampling plain L3/L4 flows (never L7, DNS, drops or new connections)",
			"address", c.addr(), "lag", lag.Round(time.Millisecond), "keep_one_in", c.shedKeep())
	case s.on && lag < c.cfg.ShedAfter/2:
		c.endShed(t)
		return false
	case s.on && time.Since(s.sinceReport) > 10*time.Second:
		// A long span is reported as it goes, not only at its end.
		c.reportShed(t)
	}
	if !s.on || !sheddable(f) {
		return false
	}
	s.seen++
	s.last = t
	if s.seen%uint64(c.shedKeep()) == 0 {
		return false
	}
	s.shed++
	c.metrics.shed.Inc()
	return true
}

func (c *Client) shedKeep() int {
	if c.cfg.ShedKeep > 0 {
		return c.cfg.ShedKeep
	}
	return 10
}

// endShed ends the reduced-coverage mode, reporting what it sampled out.
func (c *Client) endShed(t time.Time) {
	if !c.shed.on {
		return
	}
	c.reportShed(t)
	c.shed.on = false
	c.logger.Info("evaluation caught up: full coverage again", "address", c.addr())
}

func (c *Client) reportShed(t time.Time) {
	s := &c.shed
	if t.IsZero() {
		t = s.last
	}
	if s.shed > 0 {
		c.gap(Gap{Kind: GapShed, Start: s.from, End: t, Flows: s.shed,
			Reason: fmt.Sprintf("plain L3/L4 flows sampled one in %d while evaluation lagged", c.shedKeep())})
	}
	s.from, s.shed, s.sinceReport = t, 0, time.Now()
}

// sheddable reports whether f is a plain L3/L4 trace flow: forwarded, no
// L7 record, not DNS, not a connection's first packet. Whatever a policy
// most needs — L7, DNS, drops, new connections — is never sampled.
func sheddable(f *flowpb.Flow) bool {
	if f.GetL7() != nil || f.GetVerdict() != flowpb.Verdict_FORWARDED {
		return false
	}
	if et := f.GetEventType().GetType(); et != 0 && et != 4 {
		return false
	}
	if t := f.GetType(); t != flowpb.FlowType_L3_L4 && t != flowpb.FlowType_UNKNOWN_TYPE {
		return false
	}
	if tcp := f.GetL4().GetTCP(); tcp != nil && tcp.GetFlags().GetSYN() {
		return false
	}
	if u := f.GetL4().GetUDP(); u != nil && (u.GetDestinationPort() == 53 || u.GetSourcePort() == 53) {
		return false
	}
	return true
}

// resumeGap reports that a resumed stream's first flow from a node is newer
// than the newest delivered from it before: the relay (the node's ring)
// no longer held the flows in between.
func (c *Client) resumeGap(name string, node uint64, from, to time.Time) {
	var est uint64
	if rate := c.set.rate(node, from); rate > 0 {
		est = uint64(rate*to.Sub(from).Seconds() + 0.5)
	}
	c.metrics.gapSeconds.Add(to.Sub(from).Seconds())
	c.gap(Gap{
		Kind: GapResume, Node: name, Start: from, End: to, Flows: est, Estimated: true,
		Reason: "flows overwritten before they could be resumed",
	})
}

// lostEvents reports events Hubble dropped before sending them. They are
// invisible to every policy.
func (c *Client) lostEvents(node string, le *flowpb.LostEvent) {
	source := le.GetSource().String()
	n := le.GetNumEventsLost()
	if le.GetFirst() != nil || le.GetLast() != nil {
		// A resumed stream starts before the newest flow seen, so a relay
		// sends again the LostEvents of that overlap: the same record,
		// counted once.
		k := lossKey{node: node, source: source, n: n, first: le.GetFirst().AsTime().UnixNano(), last: le.GetLast().AsTime().UnixNano()}
		if c.losses.seen(k) {
			return
		}
	}
	c.metrics.lostEvents.WithLabelValues(source).Add(float64(n))
	g := Gap{Kind: GapLostEvents, Node: node, Reason: source, Flows: n}
	if le.GetFirst() != nil {
		g.Start = le.GetFirst().AsTime()
	}
	if le.GetLast() != nil {
		g.End = le.GetLast().AsTime()
	}
	c.gap(g)
}

// lossKey identifies a LostEvent record: its node, source, count and the
// times of the first and last event lost.
type lossKey struct {
	node, source string
	n            uint64
	first, last  int64
}

// recentLosses remembers the last LostEvent records reported, enough for
// those a resumed stream's overlap sends again.
type recentLosses struct {
	keys [64]lossKey
	next int
}

// seen reports whether k was reported lately, and remembers it.
func (r *recentLosses) seen(k lossKey) bool {
	for _, x := range r.keys {
		if x == k {
			return true
		}
	}
	r.keys[r.next] = k
	r.next = (r.next + 1) % len(r.keys)
	return false
}

// nodeStatus tracks the relay's reports of its nodes: an unavailable node's
// flows are a blind spot until it is back.
func (c *Client) nodeStatus(ns *relaypb.NodeStatusEvent) {
	state := ns.GetStateChange()
	c.metrics.nodeStatus.WithLabelValues(nodeStateLabel(state)).Inc()
	names := ns.GetNodeNames()
	switch state {
	case relaypb.NodeState_NODE_CONNECTED:
		for _, n := range names {
			if c.setAvailable(n, true) {
				c.logger.Info("hubble node back", "address", c.addr(), "node", n)
				if c.cfg.Gaps != nil {
					c.cfg.Gaps.NodeRecovered(c.cfg.Address, c.cfg.Cluster, n)
				}
			}
		}
	case relaypb.NodeState_NODE_UNAVAILABLE, relaypb.NodeState_NODE_GONE, relaypb.NodeState_NODE_ERROR:
		for _, n := range names {
			if c.setAvailable(n, false) || state != relaypb.NodeState_NODE_UNAVAILABLE {
				c.gap(Gap{Kind: GapNodeStatus, Node: n, Reason: state.String(), Message: ns.GetMessage()})
			}
		}
	default:
		c.logger.Debug("hubble node status", "state", state.String(), "nodes", names, "message", ns.GetMessage())
	}
}

func nodeStateLabel(s relaypb.NodeState) string {
	switch s {
	case relaypb.NodeState_NODE_CONNECTED, relaypb.NodeState_NODE_UNAVAILABLE, relaypb.NodeState_NODE_GONE, relaypb.NodeState_NODE_ERROR:
		return strings.ToLower(strings.TrimPrefix(s.String(), "NODE_"))
	}
	return "unknown"
}

// setAvailable records a node's availability and reports whether it
// changed.
func (c *Client) setAvailable(node string, ok bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	was := !c.unavailable[node]
	if ok {
		delete(c.unavailable, node)
	} else {
		c.unavailable[node] = true
	}
	c.metrics.nodesUnavailable.Set(float64(len(c.unavailable)))
	return was != ok
}

// oversizedFlow reports a flow skipped for exceeding the size bound.
func (c *Client) oversizedFlow(f *flowpb.Flow, size int) {
	c.metrics.oversized.Inc()
	c.totals.oversized.Add(1)
	t := flowTime(f)
	c.gap(Gap{Kind: GapOversized, Node: f.GetNodeName(), Start: t, End: t, Flows: 1,
		Reason: fmt.Sprintf("flow of %d bytes above the --hubble.max-flow-size bound", size)})
}

// gap counts, logs and reports a blind spot.
func (c *Client) gap(g Gap) {
	g.Source, g.Cluster = c.cfg.Address, c.cfg.Cluster
	c.metrics.gaps.WithLabelValues(string(g.Kind)).Inc()
	c.metrics.missed.WithLabelValues(string(g.Kind)).Add(float64(g.Flows))
	c.totals.gaps.Add(1)
	if g.Estimated {
		c.totals.estimated.Add(g.Flows)
	} else {
		c.totals.lost.Add(g.Flows)
	}
	attrs := []any{"kind", g.Kind, "address", c.addr(), "node", g.Node, "reason", g.Reason}
	if g.Flows > 0 || g.Kind != GapNodeStatus {
		attrs = append(attrs, "flows", g.Flows, "estimated", g.Estimated)
	}
	if !g.Start.IsZero() {
		attrs = append(attrs, "from", g.Start, "to", g.End, "span", g.End.Sub(g.Start))
	}
	if g.Message != "" {
		attrs = append(attrs, "message", g.Message)
	}
	// Lost events arrive every second from a busy node: one line per
	// kind and reason every ten seconds, with the count since.
	c.limiter.warn(c.logger, string(g.Kind)+"/"+g.Reason+"/"+g.Node, "hubble visibility gap: flows not seen", attrs...)
	if c.cfg.Gaps != nil {
		c.cfg.Gaps.Gap(g)
	}
}

// probe asks the relay ServerStatus (and GetNodes) when a stream opens,
// which makes the Client ready and logs coverage, then every
// StatusInterval; a relay that does not answer within StatusTimeout ends
// the stream with errUnresponsive.
func (c *Client) probe(ctx context.Context, cancel context.CancelCauseFunc, gen uint64) {
	first := true
	for {
		ss, err := c.serverStatus(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case status.Code(err) == codes.Unimplemented:
			// A capture, or a server without it: the open stream is all
			// there is to know.
			c.markUp(gen, nil)
			return
		case status.Code(err) == codes.DeadlineExceeded:
			c.metrics.unresponsive.Inc()
			c.logger.Warn("hubble relay not answering; reopening the stream", "address", c.addr(), "timeout", c.cfg.StatusTimeout)
			c.setDown(gen)
			cancel(errUnresponsive)
			return
		case err != nil:
			c.logger.Debug("hubble relay ServerStatus failed", "address", c.addr(), "err", err)
		default:
			if c.coverage(ss, first) && c.cfg.Reconnect {
				cancel(errResubscribe)
				return
			}
			if first {
				c.markUp(gen, ss)
				c.nodes(ctx)
			}
			first = false
		}
		if c.cfg.StatusInterval < 0 {
			return
		}
		t := time.NewTimer(c.cfg.StatusInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (c *Client) serverStatus(ctx context.Context) (*observerpb.ServerStatusResponse, error) {
	cctx, cancel := context.WithTimeout(ctx, c.cfg.StatusTimeout)
	defer cancel()
	return c.obs.ServerStatus(cctx, &observerpb.ServerStatusRequest{})
}

// coverage records what ServerStatus says of the nodes, and reports
// whether a node is back.
func (c *Client) coverage(ss *observerpb.ServerStatusResponse, first bool) (back bool) {
	if ss.GetNumUnavailableNodes() != nil {
		c.metrics.relayNodesUnavailable.Set(float64(ss.GetNumUnavailableNodes().GetValue()))
	}
	if ss.GetNumConnectedNodes() != nil {
		c.metrics.relayNodesConnected.Set(float64(ss.GetNumConnectedNodes().GetValue()))
	}
	c.metrics.relayFlowsRate.Set(ss.GetFlowsRate())
	listed := map[string]bool{}
	for _, n := range ss.GetUnavailableNodes() {
		listed[n] = true
		if c.setAvailable(n, false) {
			c.gap(Gap{Kind: GapNodeStatus, Node: n, Reason: "NODE_UNAVAILABLE", Message: "reported by ServerStatus"})
		}
	}
	// Relay lists only some unavailable nodes by name; when the list is
	// complete, a node missing from it is back.
	if first || ss.GetNumUnavailableNodes() == nil || uint32(len(listed)) != ss.GetNumUnavailableNodes().GetValue() {
		return false
	}
	c.mu.Lock()
	var recovered []string
	for n := range c.unavailable {
		if !listed[n] {
			recovered = append(recovered, n)
		}
	}
	c.mu.Unlock()
	for _, n := range recovered {
		if c.setAvailable(n, true) {
			back = true
			c.logger.Info("hubble node back", "address", c.addr(), "node", n)
			if c.cfg.Gaps != nil {
				c.cfg.Gaps.NodeRecovered(c.cfg.Address, c.cfg.Cluster, n)
			}
		}
	}
	return back
}

// nodes logs the relay's nodes once per stream, at DEBUG when all are
// connected.
func (c *Client) nodes(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, c.cfg.StatusTimeout)
	defer cancel()
	resp, err := c.obs.GetNodes(cctx, &observerpb.GetNodesRequest{})
	if err != nil {
		if status.Code(err) != codes.Unimplemented {
			c.logger.Debug("hubble relay GetNodes failed", "address", c.addr(), "err", err)
		}
		return
	}
	var connected, other []string
	for _, n := range resp.GetNodes() {
		if n.GetState() == relaypb.NodeState_NODE_CONNECTED {
			connected = append(connected, n.GetName())
			continue
		}
		other = append(other, n.GetName()+"="+strings.ToLower(strings.TrimPrefix(n.GetState().String(), "NODE_")))
		if c.setAvailable(n.GetName(), false) {
			c.gap(Gap{Kind: GapNodeStatus, Node: n.GetName(), Reason: n.GetState().String(), Message: "reported by GetNodes"})
		}
	}
	sort.Strings(connected)
	sort.Strings(other)
	c.logger.Info("hubble relay nodes", "address", c.addr(), "connected", connected, "not_connected", other)
}

func (c *Client) addr() string {
	if c.cfg.Address == "" {
		return "(unnamed)"
	}
	return c.cfg.Address
}

// streamStarting returns the generation of the stream about to open.
func (c *Client) streamStarting() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// markUp marks the stream of generation gen as established, unless it has
// already ended. ss is the relay's status when known.
func (c *Client) markUp(gen uint64, ss *observerpb.ServerStatusResponse) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen || c.up {
		return
	}
	c.up = true
	c.metrics.streamUp.Set(1)
	attrs := []any{"address", c.addr()}
	if ss != nil {
		attrs = append(attrs, "version", ss.GetVersion(), "flows_per_second", fmt.Sprintf("%.1f", ss.GetFlowsRate()),
			"ring_flows", ss.GetNumFlows(), "ring_capacity", ss.GetMaxFlows())
		if ss.GetNumConnectedNodes() != nil {
			attrs = append(attrs, "nodes_connected", ss.GetNumConnectedNodes().GetValue(),
				"nodes_unavailable", ss.GetNumUnavailableNodes().GetValue())
		}
	}
	if hw := c.set.hw; !hw.IsZero() {
		attrs = append(attrs, "resumed_from", hw.Add(-c.cfg.Overlap))
	}
	switch {
	case !c.connectedOnce:
		c.connectedOnce = true
		c.outageSince = time.Time{}
		c.logger.Info("connected to hubble relay", attrs...)
	case !c.outageSince.IsZero():
		down := time.Since(c.outageSince)
		c.metrics.lastOutage.Set(down.Seconds())
		c.logger.Info("hubble relay stream re-established", append(attrs, "down_for", down.Round(time.Millisecond))...)
		c.outageSince = time.Time{}
	}
}

// setDown marks the stream of generation gen as not ready.
func (c *Client) setDown(gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen {
		c.up = false
		c.metrics.streamUp.Set(0)
	}
}

// beginOutage records a stream failure and reports whether it starts an
// outage (the stream was up, or never failed, before).
func (c *Client) beginOutage() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.outageSince.IsZero() {
		return false
	}
	c.outageSince = time.Now()
	return true
}

// streamEnded marks the current stream as gone and invalidates its
// generation.
func (c *Client) streamEnded() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.up = false
	c.metrics.streamUp.Set(0)
}

// logTotals says what the Client did, at shutdown.
func (c *Client) logTotals(started time.Time) {
	t := &c.totals
	attrs := []any{"address", c.addr(), "ran_for", time.Since(started).Round(time.Millisecond),
		"flows_received", t.received.Load(), "flows_delivered", t.delivered.Load(),
		"duplicates_dropped", t.duplicates.Load(), "reconnects", t.reconnects.Load(),
		"gaps", t.gaps.Load(), "flows_lost", t.lost.Load(), "flows_missed_estimate", t.estimated.Load(),
		"oversized_skipped", t.oversized.Load()}
	if hw := c.set.hw; !hw.IsZero() {
		attrs = append(attrs, "position", hw)
	}
	if c.cfg.Follow {
		c.logger.Info("hubble stream stopped", attrs...)
	} else {
		c.logger.Debug("hubble stream stopped", attrs...)
	}
}

// isCleanEnd reports whether err is the normal end of a stream rather than
// a failure.
func isCleanEnd(err error) bool {
	return err == nil ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, context.Canceled) ||
		status.Code(err) == codes.Canceled
}

// isPermanent reports whether err means the server rejects the request
// itself, which no reconnect will change.
func isPermanent(err error) bool {
	switch status.Code(err) {
	case codes.InvalidArgument, codes.Unimplemented:
		return true
	}
	return false
}

// logLimiter logs a warning per key at most once per period, with the
// number of occurrences since.
type logLimiter struct {
	every time.Duration
	mu    sync.Mutex
	last  map[string]time.Time
	count map[string]int
}

func (l *logLimiter) warn(logger *slog.Logger, key, msg string, attrs ...any) {
	l.mu.Lock()
	if l.last == nil {
		l.last, l.count = map[string]time.Time{}, map[string]int{}
	}
	now := time.Now()
	l.count[key]++
	if last, ok := l.last[key]; ok && now.Sub(last) < l.every {
		l.mu.Unlock()
		return
	}
	if len(l.last) > 4096 {
		clear(l.last)
		clear(l.count)
	}
	n := l.count[key]
	l.last[key], l.count[key] = now, 0
	l.mu.Unlock()
	if n > 1 {
		attrs = append(attrs, "occurrences", n)
	}
	logger.Warn(msg, attrs...)
}
