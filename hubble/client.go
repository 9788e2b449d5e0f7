// Package hubble reads Hubble flows from a live Hubble Relay, from capture files, or from the built-in test relay.
package hubble

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	observerpb "github.com/cilium/cilium/api/v1/observer"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
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
	// Since, when set, asks for flows from this time on.
	Since time.Time
	// BackoffMin and BackoffMax bound the reconnect delay, which grows
	// exponentially with full jitter. Zero means DefaultBackoffMin and
	// DefaultBackoffMax.
	BackoffMin, BackoffMax time.Duration
	// Address names the server in logs only; the connection is whatever
	// ObserverClient was given to NewClient.
	Address string
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

	mu sync.Mutex
	// gen identifies the current stream so that a late "headers arrived"
	// from a finished stream cannot mark the Client ready.
	gen uint64
	up  bool
	// outageSince is when the current run of stream failures began; zero
	// while the stream is healthy.
	outageSince time.Time
}

// NewClient returns a Client reading from obs. The caller names the
// component in logger (logger.With("component", "hubble")); metrics are
// registered on reg, which may be nil. Register at most one Client per
// registry: the metric names are fixed.
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
	return &Client{
		obs:     obs,
		cfg:     cfg,
		logger:  logger,
		metrics: newClientMetrics(reg),
		rand:    rand.Float64,
	}
}

// Ready reports whether a stream is established: the server has sent its
// response headers or a first response. Readiness probes use it so that a
// sentinel that cannot reach its relay is visibly not ready.
func (c *Client) Ready() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.up
}

// handlerError marks an error returned by the flow handler, which ends Run
// instead of triggering a reconnect.
type handlerError struct{ err error }

func (e *handlerError) Error() string { return e.err.Error() }
func (e *handlerError) Unwrap() error { return e.err }

// Run streams flows to handle, in the order the server sends them, until
// ctx is done (nil), a finite stream ends (nil), or handle fails (its error,
// wrapped). io.EOF, context.Canceled and codes.Canceled end a stream
// cleanly.
//
// With Reconnect, any other stream error — and a clean end of a Follow
// stream, which a healthy relay never sends — is logged once and the stream
// is reopened after a backoff, asking for flows since the newest one
// delivered; flows already delivered at that instant are dropped so that
// handle sees each flow once. Without Reconnect, stream errors are returned,
// and so are InvalidArgument and Unimplemented even with it: the request
// itself is wrong and retrying it cannot help.
func (c *Client) Run(ctx context.Context, handle func(context.Context, *flowpb.Flow) error) error {
	bo := newBackoff(c.cfg.BackoffMin, c.cfg.BackoffMax, c.rand)
	var rs resumeState
	for attempt := 0; ; attempt++ {
		delivered, err := c.stream(ctx, &rs, attempt > 0, handle)
		if ctx.Err() != nil {
			return nil
		}
		if herr, ok := errors.AsType[*handlerError](err); ok {
			return fmt.Errorf("handling flow: %w", herr.err)
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
		if c.beginOutage() {
			c.logger.Warn("hubble relay stream failed, reconnecting",
				"address", c.addr(), "err", err, "backoff", delay)
		} else {
			// One warning per outage: a relay down for an hour must not
			// bury the log in identical lines.
			c.logger.Debug("hubble relay still unreachable, retrying",
				"address", c.addr(), "err", err, "backoff", delay)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// stream runs one GetFlows stream until it ends. delivered reports whether
// the stream produced any response, which resets the backoff.
func (c *Client) stream(ctx context.Context, rs *resumeState, resuming bool, handle func(context.Context, *flowpb.Flow) error) (delivered bool, err error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()

	req := &observerpb.GetFlowsRequest{
		Follow:    c.cfg.Follow,
		Whitelist: c.cfg.Allow,
		Blacklist: c.cfg.Deny,
	}
	rs.beginStream(resuming)
	since := c.cfg.Since
	if last := rs.since(); resuming && !last.IsZero() {
		since = last
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
	// Headers show the stream is up before the first flow, which on a
	// quiet cluster can take a while. Header returns when the stream ends,
	// so this goroutine does not outlive it.
	go func() {
		if _, err := st.Header(); err == nil {
			c.markUp(gen)
		}
	}()

	for {
		resp, err := st.Recv()
		if err != nil {
			return delivered, err
		}
		delivered = true
		c.markUp(gen)
		switch r := resp.GetResponseTypes().(type) {
		case *observerpb.GetFlowsResponse_Flow:
			if err := c.deliver(ctx, rs, r.Flow, handle); err != nil {
				return delivered, err
			}
		case *observerpb.GetFlowsResponse_LostEvents:
			c.lostEvents(r.LostEvents)
		case *observerpb.GetFlowsResponse_NodeStatus:
			ns := r.NodeStatus
			level := slog.LevelInfo
			if ns.GetStateChange().String() == "NODE_CONNECTED" {
				level = slog.LevelDebug
			}
			c.logger.Log(ctx, level, "hubble node status changed",
				"state", ns.GetStateChange().String(), "nodes", ns.GetNodeNames(), "message", ns.GetMessage())
		}
	}
}

// deliver hands one flow to handle unless it is a replayed duplicate.
func (c *Client) deliver(ctx context.Context, rs *resumeState, f *flowpb.Flow, handle func(context.Context, *flowpb.Flow) error) error {
	if f == nil {
		return nil
	}
	c.metrics.flowsReceived.Inc()
	if !rs.admit(f) {
		c.metrics.duplicatesDropped.Inc()
		return nil
	}
	if err := handle(ctx, f); err != nil {
		return &handlerError{err}
	}
	if f.GetTime() != nil {
		c.metrics.lastFlowTimestamp.Set(float64(rs.last.UnixNano()) / 1e9)
	}
	return nil
}

// lostEvents reports events Hubble dropped before sending them. They are
// invisible to every policy, so they are worth a warning each time.
func (c *Client) lostEvents(le *flowpb.LostEvent) {
	source := le.GetSource().String()
	c.metrics.lostEvents.WithLabelValues(source).Add(float64(le.GetNumEventsLost()))
	c.logger.Warn("hubble lost events", "address", c.addr(), "source", source, "count", le.GetNumEventsLost())
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
// already ended.
func (c *Client) markUp(gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen || c.up {
		return
	}
	c.up = true
	c.metrics.streamUp.Set(1)
	if !c.outageSince.IsZero() {
		c.logger.Info("hubble relay stream re-established", "address", c.addr(),
			"down_for", time.Since(c.outageSince).Round(time.Millisecond))
		c.outageSince = time.Time{}
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
