package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	observerpb "github.com/cilium/cilium/api/v1/observer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// encoded is a GetFlowsResponse marshalled once, ahead of the run: the
// relay's codec writes its bytes as they are, so what the bench measures
// is the consumer, not the server's marshalling.
type encoded []byte

// rawCodec passes encoded messages through and marshals everything else
// (requests, ServerStatus) with gRPC's own proto codec.
type rawCodec struct{ proto encoding.CodecV2 }

var _ encoding.CodecV2 = rawCodec{}

func (c rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	if b, ok := v.(encoded); ok {
		// A SliceBuffer is not pooled: gRPC's Free leaves it alone, so
		// the same bytes serve every run.
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	return c.proto.Marshal(v)
}

func (c rawCodec) Unmarshal(data mem.BufferSlice, v any) error { return c.proto.Unmarshal(data, v) }

func (c rawCodec) Name() string { return c.proto.Name() }

// plan is what the relay streams to the next GetFlows: frames, paced at
// rate flows per second of wall time (0: as fast as the stream takes
// them), once start is closed.
type plan struct {
	frames []encoded
	rate   float64
	// record keeps each frame's send time (for the latency phase).
	record bool

	opened chan struct{} // closed when a client's GetFlows takes the plan
	start  chan struct{} // closed by the bench to begin sending
	done   chan struct{} // closed when every frame is sent or the stream failed

	// Set by the sending stream before done is closed.
	first, last time.Time
	sent        []int64 // Unix ns each frame's Send returned, when record
	err         error
}

func newPlan(frames []encoded, rate float64, record bool) *plan {
	return &plan{frames: frames, rate: rate, record: record,
		opened: make(chan struct{}), start: make(chan struct{}), done: make(chan struct{})}
}

// relay serves Hubble's Observer API on loopback from pre-encoded frames,
// one plan per measured run. A second GetFlows during a run (the client
// reconnected) is counted and served nothing, so the run is reported
// invalid rather than measured twice.
type relay struct {
	observerpb.UnimplementedObserverServer

	addr string
	srv  *grpc.Server

	mu      sync.Mutex
	next    *plan
	streams int // GetFlows calls since the plan was set
}

func startRelay() (*relay, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bench relay: %w", err)
	}
	proto := encoding.GetCodecV2("proto")
	if proto == nil {
		return nil, errors.New("bench relay: gRPC's proto codec is not registered")
	}
	r := &relay{addr: lis.Addr().String(), srv: grpc.NewServer(grpc.ForceServerCodecV2(rawCodec{proto: proto}))}
	observerpb.RegisterObserverServer(r.srv, r)
	go func() { _ = r.srv.Serve(lis) }()
	return r, nil
}

func (r *relay) stop() { r.srv.Stop() }

// serve makes p what the next GetFlows streams.
func (r *relay) serve(p *plan) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.next, r.streams = p, 0
}

// reconnects is how many more GetFlows calls than one the current plan saw.
func (r *relay) reconnects() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return max(r.streams-1, 0)
}

func (r *relay) GetFlows(_ *observerpb.GetFlowsRequest, stream grpc.ServerStreamingServer[observerpb.GetFlowsResponse]) error {
	r.mu.Lock()
	p := r.next
	r.next = nil
	r.streams++
	r.mu.Unlock()
	ctx := stream.Context()
	if p == nil {
		<-ctx.Done()
		return status.FromContextError(ctx.Err()).Err()
	}
	close(p.opened)
	select {
	case <-p.start:
	case <-ctx.Done():
		p.err = ctx.Err()
		close(p.done)
		return status.FromContextError(ctx.Err()).Err()
	}
	p.err = p.send(stream)
	close(p.done)
	// A following client waits for more, as on an idle relay.
	<-ctx.Done()
	return status.FromContextError(ctx.Err()).Err()
}

// send streams the frames, paced when rate > 0.
func (p *plan) send(stream grpc.ServerStream) error {
	if p.record {
		p.sent = make([]int64, len(p.frames))
	}
	p.first = time.Now()
	var interval time.Duration
	if p.rate > 0 {
		interval = time.Duration(float64(time.Second) / p.rate)
	}
	for i, f := range p.frames {
		if interval > 0 {
			if wait := time.Until(p.first.Add(interval * time.Duration(i))); wait > 0 {
				time.Sleep(wait)
			}
		}
		if err := stream.SendMsg(f); err != nil {
			return fmt.Errorf("sending flow %d: %w", i, err)
		}
		if p.record {
			p.sent[i] = time.Now().UnixNano()
		}
	}
	p.last = time.Now()
	return nil
}

// ServerStatus reports one connected node, as a small relay would; the
// client asks it when the stream opens and then every few seconds.
func (r *relay) ServerStatus(context.Context, *observerpb.ServerStatusRequest) (*observerpb.ServerStatusResponse, error) {
	return &observerpb.ServerStatusResponse{
		NumConnectedNodes: wrapperspb.UInt32(1), NumUnavailableNodes: wrapperspb.UInt32(0),
		MaxFlows: 4095, Version: "bench",
	}, nil
}
