package shopmesh

import (
	"context"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	observerpb "github.com/cilium/cilium/api/v1/observer"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hubble-sentinel/hubble-sentinel/test/testrelay"
)

// HistorySize is how many past flows a non-follow request gets before the
// relay's limit applies: the default capacity of Hubble's ring buffer.
const HistorySize = 4095

// Feed returns a testrelay.Feed that plays the shop for every GetFlows
// stream, each stream from the start of a new Generator for cfg (so every
// client and every reconnection sees the same sequence). Flows are stamped
// with the wall clock, not cfg.Start.
//
// A Follow request gets live flows paced at rate flows per second of wall
// time, stamped time.Now() as they are sent, until ctx is done. A request
// without Follow gets a finite burst, like a relay's ring buffer: HistorySize
// flows at once, stamped in the past at the same pace and ending now; the
// relay's Number, Since and Until apply as usual. rate <= 0 sends as fast as
// the stream takes them.
func Feed(cfg Config, rate float64) testrelay.Feed {
	var interval time.Duration
	if rate > 0 {
		interval = time.Duration(float64(time.Second) / rate)
	}
	return func(ctx context.Context, req *observerpb.GetFlowsRequest, send func(*observerpb.GetFlowsResponse) error) error {
		g := New(cfg)
		if !req.GetFollow() {
			return history(ctx, g, interval, send)
		}
		return live(ctx, g, interval, send)
	}
}

func history(ctx context.Context, g *Generator, interval time.Duration, send func(*observerpb.GetFlowsResponse) error) error {
	step := max(interval, time.Microsecond)
	first := time.Now().Add(-step * (HistorySize - 1))
	for i := range HistorySize {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := send(response(g.Next(), first.Add(step*time.Duration(i)))); err != nil {
			return err
		}
	}
	return nil
}

func live(ctx context.Context, g *Generator, interval time.Duration, send func(*observerpb.GetFlowsResponse) error) error {
	start := time.Now()
	var last time.Time
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := 0; ; i++ {
		if wait := time.Until(start.Add(interval * time.Duration(i))); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-timer.C:
			}
		} else if err := ctx.Err(); err != nil {
			return err
		}
		now := time.Now()
		if !now.After(last) {
			now = last.Add(time.Nanosecond)
		}
		last = now
		if err := send(response(g.Next(), now)); err != nil {
			return err
		}
	}
}

// response wraps f, restamped at t, as the relay sends it.
func response(f *flowpb.Flow, t time.Time) *observerpb.GetFlowsResponse {
	f.Time = timestamppb.New(t)
	return &observerpb.GetFlowsResponse{
		ResponseTypes: &observerpb.GetFlowsResponse_Flow{Flow: f},
		NodeName:      f.GetNodeName(),
		Time:          timestamppb.New(t),
	}
}
