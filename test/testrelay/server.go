// Package testrelay serves Hubble's Observer gRPC API from a flow feed on loopback, for tests and the demo.
package testrelay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	observerpb "github.com/cilium/cilium/api/v1/observer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	relaypb "github.com/cilium/cilium/api/v1/relay"
)

// ObserverServiceName is the service name Hubble registers with the gRPC
// health service, which `hubble status` checks.
const ObserverServiceName = "hubble.server.Observer"

// Version is what the test relay reports as its version.
const Version = "1.20.2+hubble-sentinel-testrelay"

// ErrKilled, as the cause of the context given to Serve, stops the server
// at once, closing every connection without a status, as when a relay
// process is killed. Use context.WithCancelCause.
var ErrKilled = errors.New("test relay killed")

// gracePeriod bounds how long Serve waits for streams to finish on shutdown
// before closing their connections.
const gracePeriod = 5 * time.Second

// Feed produces the responses of one GetFlows stream by calling send, in
// order. The Server applies the request's filters, time window and limit to
// the flows a Feed sends, so a Feed only decides what exists and when.
// send fails once the stream is over; a Feed returns that error (or any
// other), or nil when it has nothing more to send. A Feed for a Follow
// request should keep going until ctx is done.
type Feed func(ctx context.Context, req *observerpb.GetFlowsRequest, send func(*observerpb.GetFlowsResponse) error) error

// Flows returns a Feed that sends flows in the given order — the Server
// drops those the request filters out — then, for a Follow request, waits
// for the stream to end like an idle relay, and otherwise ends the stream.
// Every stream replays all flows, so a reconnecting client asking for
// flows since some time gets them again from that time on.
func Flows(flows ...*flowpb.Flow) Feed {
	return func(ctx context.Context, req *observerpb.GetFlowsRequest, send func(*observerpb.GetFlowsResponse) error) error {
		for _, f := range flows {
			resp := &observerpb.GetFlowsResponse{
				ResponseTypes: &observerpb.GetFlowsResponse_Flow{Flow: f},
				NodeName:      f.GetNodeName(),
				Time:          f.GetTime(),
			}
			if err := send(resp); err != nil {
				return err
			}
		}
		if !req.GetFollow() {
			return nil
		}
		<-ctx.Done()
		return ctx.Err()
	}
}

// Option configures a Server.
type Option func(*Server)

// WithTLS serves TLS with cfg instead of plaintext; see PKI.ServerTLSConfig.
func WithTLS(cfg *tls.Config) Option {
	return func(s *Server) { s.tlsConfig = cfg }
}

// Server is a minimal Hubble Relay. Made by NewRingServer, it serves a Ring as
// Hubble does: GetFlows with first, last, follow, since and until, the
// filters `hubble observe` sends (or InvalidArgument), field masks,
// LostEvents when a follower falls behind the ring, and GetNodes,
// ServerStatus and the gRPC health service that `hubble status` and
// `hubble list nodes` ask. Made by New, it plays a scripted Feed instead.
type Server struct {
	observerpb.UnimplementedObserverServer

	feed      Feed
	ring      *Ring
	logger    *slog.Logger
	tlsConfig *tls.Config
	started   time.Time
	seen      atomic.Uint64

	mu sync.Mutex
	// stopping is cancelled when the current Serve shuts down, ending the
	// streams it serves.
	stopping context.Context
}

var _ observerpb.ObserverServer = (*Server)(nil)

// NewRingServer returns a Server for ring. The caller names the component
// in logger, which may be nil.
func NewRingServer(ring *Ring, logger *slog.Logger, opts ...Option) *Server {
	s := New(nil, logger, opts...)
	s.ring = ring
	return s
}

// New returns a Server for feed. The caller names the component in logger,
// which may be nil.
func New(feed Feed, logger *slog.Logger, opts ...Option) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		feed:     feed,
		logger:   logger,
		started:  time.Now(),
		stopping: context.Background(),
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Serve serves on lis until ctx is done, then stops: open streams end with
// codes.Unavailable, as when a real relay goes away, and Serve returns nil.
// lis is closed when Serve returns. Serve may be called again, with a new
// listener, after it has returned.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	var opts []grpc.ServerOption
	if s.tlsConfig != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(s.tlsConfig)))
	}
	gs := grpc.NewServer(opts...)
	observerpb.RegisterObserverServer(gs, s)
	hs := health.NewServer()
	hs.SetServingStatus(ObserverServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(gs, hs)

	stopping, stop := context.WithCancel(context.Background())
	defer stop()
	s.mu.Lock()
	s.stopping = stopping
	s.mu.Unlock()

	s.logger.Info("test relay listening", "address", lis.Addr().String(), "tls", s.tlsConfig != nil)
	errc := make(chan error, 1)
	go func() { errc <- gs.Serve(lis) }()
	select {
	case err := <-errc:
		if err != nil {
			return fmt.Errorf("serving test relay on %s: %w", lis.Addr(), err)
		}
		return nil
	case <-ctx.Done():
	}
	if errors.Is(context.Cause(ctx), ErrKilled) {
		stop()
		gs.Stop()
		<-errc
		return nil
	}

	// Follow streams never end on their own; end them first so that the
	// graceful stop only waits for their final status to be sent.
	stop()
	stopped := make(chan struct{})
	go func() {
		gs.GracefulStop()
		close(stopped)
	}()
	t := time.NewTimer(gracePeriod)
	defer t.Stop()
	select {
	case <-stopped:
	case <-t.C:
		gs.Stop()
		<-stopped
	}
	<-errc
	return nil
}

// errLimitReached ends a feed once a request's Number of flows is sent.
var errLimitReached = errors.New("requested number of flows sent")

// GetFlows streams the feed's responses that pass the request, which is
// honoured as follows:
//
//   - Since and Until select flows by flow time, both inclusive.
//   - Number, without Follow, ends the stream after that many matching
//     flows. A feed has no end to count back from, so "the last N" (First
//     false) is served as the first N; with Follow, Number is ignored.
//   - Whitelist and Blacklist: a flow is sent if it matches any whitelist
//     filter (or there is none) and no blacklist filter; within a filter,
//     all set fields must match, each by any of its values. Supported
//     fields: source_pod/destination_pod ("namespace/pod-prefix", as in
//     Hubble), source_ip/destination_ip (address or CIDR), verdict,
//     destination_port, source_label/destination_label (equality
//     selectors: "k8s:app=x,tier", terms ANDed), protocol (tcp, udp, sctp,
//     icmp, icmpv4, icmpv6, http, dns; any case). event_type is accepted and
//     ignored. Any other field fails the request with InvalidArgument, so a
//     test cannot pass because a filter was silently skipped.
//   - FieldMask is applied; Experimental (CEL) filters are InvalidArgument.
//
// Lost-events and node-status responses from the feed are always sent.
//
// A Server made by NewRingServer honours the request as Hubble's observer does
// instead: First reads from the oldest flow held; Follow without Number or
// Since from the next flow written; otherwise reading starts at the
// oldest flow at or after Since (the oldest held, silently, if Since is
// older), or Number matching flows back from the newest ("the last N");
// without Follow it ends at the newest flow, after Number flows, or at the
// first flow after Until. First with Follow is InvalidArgument. FieldMask
// is applied. A follower that falls behind the ring gets a LostEvent
// (HUBBLE_RING_BUFFER) with the count overwritten, then the oldest flow.
func (s *Server) GetFlows(req *observerpb.GetFlowsRequest, stream grpc.ServerStreamingServer[observerpb.GetFlowsResponse]) error {
	rf, err := newRequestFilter(req)
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	mask, err := newFieldMask(req.GetFieldMask())
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	if s.ring != nil {
		if req.GetFirst() && req.GetFollow() {
			return status.Error(codes.InvalidArgument, "first cannot be specified with follow")
		}
		return s.serveRing(req, rf, mask, stream)
	}
	s.mu.Lock()
	stopping := s.stopping
	s.mu.Unlock()
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	defer context.AfterFunc(stopping, cancel)()

	// Headers tell the client the stream is up before any flow exists.
	if err := stream.SendHeader(metadata.MD{}); err != nil {
		return err
	}
	var sent uint64
	err = s.feed(ctx, req, func(resp *observerpb.GetFlowsResponse) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		f := resp.GetFlow()
		if f != nil {
			s.seen.Add(1)
			if !rf.admit(f) {
				return nil
			}
		}
		if f != nil && mask != nil {
			resp = &observerpb.GetFlowsResponse{ResponseTypes: &observerpb.GetFlowsResponse_Flow{Flow: mask.apply(f)},
				NodeName: resp.GetNodeName(), Time: resp.GetTime()}
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
		if f != nil {
			sent++
			if rf.limit > 0 && sent >= rf.limit {
				return errLimitReached
			}
		}
		return nil
	})
	s.logger.Debug("flow stream ended", "flows_sent", sent, "follow", req.GetFollow(), "err", err)
	switch {
	case err == nil, errors.Is(err, errLimitReached):
		return nil
	case stopping.Err() != nil:
		return status.Error(codes.Unavailable, "test relay is shutting down")
	case stream.Context().Err() != nil:
		return status.FromContextError(stream.Context().Err()).Err()
	}
	if st, ok := status.FromError(err); ok {
		return st.Err()
	}
	return status.Errorf(codes.Internal, "feed: %v", err)
}

// serveRing is GetFlows over the ring.
func (s *Server) serveRing(req *observerpb.GetFlowsRequest, rf *requestFilter, mask *fieldMask, stream grpc.ServerStreamingServer[observerpb.GetFlowsResponse]) error {
	s.mu.Lock()
	stopping := s.stopping
	s.mu.Unlock()
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	defer context.AfterFunc(stopping, cancel)()

	match := func(f *flowpb.Flow) bool { return match(f, rf.allow, rf.deny) }
	pos := s.ring.start(req.GetFirst(), req.GetFollow(), req.GetNumber(), rf.since, match)
	if err := stream.SendHeader(metadata.MD{}); err != nil {
		return err
	}
	var sent uint64
	limit := req.GetNumber()
	buf := make([]*flowpb.Flow, 256)
	for {
		from := pos
		n, next, lost := s.ring.read(pos, buf)
		pos = next
		if lost > 0 {
			now := time.Now()
			if err := stream.Send(&observerpb.GetFlowsResponse{
				NodeName: "testrelay", Time: timestamppb.New(now),
				ResponseTypes: &observerpb.GetFlowsResponse_LostEvents{LostEvents: &flowpb.LostEvent{
					Source: flowpb.LostEventSource_HUBBLE_RING_BUFFER, NumEventsLost: lost,
				}},
			}); err != nil {
				return s.streamErr(stream, stopping, err)
			}
		}
		losses := s.ring.lossesIn(from, next)
		for i, f := range buf[:n] {
			for len(losses) > 0 && losses[0].pos <= next-uint64(n)+uint64(i) {
				if err := stream.Send(&observerpb.GetFlowsResponse{
					NodeName: losses[0].node, Time: losses[0].event.GetLast(),
					ResponseTypes: &observerpb.GetFlowsResponse_LostEvents{LostEvents: losses[0].event},
				}); err != nil {
					return s.streamErr(stream, stopping, err)
				}
				losses = losses[1:]
			}
			t := f.GetTime().AsTime()
			if !rf.until.IsZero() && t.After(rf.until) {
				return nil
			}
			if !rf.since.IsZero() && t.Before(rf.since) {
				continue
			}
			if !match(f) {
				continue
			}
			out := f
			if mask != nil {
				out = mask.apply(f)
			}
			if err := stream.Send(&observerpb.GetFlowsResponse{
				ResponseTypes: &observerpb.GetFlowsResponse_Flow{Flow: out},
				NodeName:      f.GetNodeName(), Time: f.GetTime(),
			}); err != nil {
				return s.streamErr(stream, stopping, err)
			}
			sent++
			if !req.GetFollow() && limit > 0 && sent >= limit {
				return nil
			}
		}
		clear(buf[:n])
		if n > 0 {
			continue
		}
		if !req.GetFollow() {
			return nil
		}
		if ch := s.ring.wait(pos); ch != nil {
			select {
			case <-ch:
			case <-ctx.Done():
				return s.streamErr(stream, stopping, ctx.Err())
			}
		}
	}
}

// streamErr is the status a ring stream ends with.
func (s *Server) streamErr(stream grpc.ServerStreamingServer[observerpb.GetFlowsResponse], stopping context.Context, err error) error {
	switch {
	case stopping.Err() != nil:
		return status.Error(codes.Unavailable, "test relay is shutting down")
	case stream.Context().Err() != nil:
		return status.FromContextError(stream.Context().Err()).Err()
	}
	return err
}

// GetNodes lists the nodes whose flows the ring holds (one, named
// "testrelay", before any is written), all connected.
func (s *Server) GetNodes(context.Context, *observerpb.GetNodesRequest) (*observerpb.GetNodesResponse, error) {
	names := []string{"testrelay"}
	if s.ring != nil {
		if n := s.ring.Nodes(); len(n) > 0 {
			names = n
		}
	}
	st, _ := s.ServerStatus(context.Background(), nil)
	resp := &observerpb.GetNodesResponse{}
	for _, n := range names {
		resp.Nodes = append(resp.Nodes, &observerpb.Node{
			Name: n, Version: Version, Address: "127.0.0.1:4244", State: relaypb.NodeState_NODE_CONNECTED,
			UptimeNs: st.GetUptimeNs(), NumFlows: st.GetNumFlows() / uint64(len(names)),
			MaxFlows: st.GetMaxFlows() / uint64(len(names)), SeenFlows: st.GetSeenFlows() / uint64(len(names)),
		})
	}
	return resp, nil
}

// ServerStatus reports the ring's fill and rate, or, for a feed, the flows
// produced since New, the closest thing a feed has to Hubble's ring
// buffer; and the nodes, all connected.
func (s *Server) ServerStatus(context.Context, *observerpb.ServerStatusRequest) (*observerpb.ServerStatusResponse, error) {
	if r := s.ring; r != nil {
		nodes := max(len(r.Nodes()), 1)
		return &observerpb.ServerStatusResponse{
			NumFlows:            uint64(r.Len()),
			MaxFlows:            uint64(r.Cap()),
			SeenFlows:           r.Written(),
			UptimeNs:            uint64(time.Since(s.started).Nanoseconds()),
			NumConnectedNodes:   wrapperspb.UInt32(uint32(nodes)),
			NumUnavailableNodes: wrapperspb.UInt32(0),
			Version:             Version,
			FlowsRate:           r.flowRate(time.Now()),
		}, nil
	}
	seen := s.seen.Load()
	return &observerpb.ServerStatusResponse{
		NumFlows:            seen,
		MaxFlows:            max(seen, 1),
		SeenFlows:           seen,
		UptimeNs:            uint64(time.Since(s.started).Nanoseconds()),
		NumConnectedNodes:   wrapperspb.UInt32(1),
		NumUnavailableNodes: wrapperspb.UInt32(0),
		Version:             Version,
	}, nil
}
