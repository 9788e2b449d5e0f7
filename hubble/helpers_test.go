package hubble

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hubble-sentinel/hubble-sentinel/test/testrelay"
)

// at returns a fixed test time sec seconds after a base.
func at(sec int) time.Time {
	return time.Date(2024, 5, 1, 12, 0, sec, 0, time.UTC)
}

// newFlow builds a TCP flow; port tells flows apart when uuid is empty.
func newFlow(t time.Time, uuid string, port uint32) *flowpb.Flow {
	return &flowpb.Flow{
		Time:     timestamppb.New(t),
		Uuid:     uuid,
		NodeName: "node-1",
		Verdict:  flowpb.Verdict_FORWARDED,
		IP:       &flowpb.IP{Source: "10.0.0.1", Destination: "10.0.0.2", IpVersion: flowpb.IPVersion_IPv4},
		L4: &flowpb.Layer4{Protocol: &flowpb.Layer4_TCP{TCP: &flowpb.TCP{
			SourcePort: 40000, DestinationPort: port,
		}}},
		Source:      &flowpb.Endpoint{Namespace: "shop", PodName: "frontend-1"},
		Destination: &flowpb.Endpoint{Namespace: "shop", PodName: "db-1"},
	}
}

// listen opens a loopback listener on a free port.
func listen(t *testing.T) net.Listener {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return lis
}

// relay is a test relay serving in the background.
type relay struct {
	Addr string
	stop func() error
}

// startRelay serves feed on lis until Stop or the end of the test.
func startRelay(t *testing.T, lis net.Listener, feed testrelay.Feed, opts ...testrelay.Option) *relay {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	srv := testrelay.New(feed, slog.New(slog.DiscardHandler), opts...)
	go func() { done <- srv.Serve(ctx, lis) }()
	r := &relay{Addr: lis.Addr().String(), stop: sync.OnceValue(func() error {
		cancel()
		return <-done
	})}
	t.Cleanup(func() { require.NoError(t, r.stop()) })
	return r
}

// Stop shuts the relay down and waits for it.
func (r *relay) Stop(t *testing.T) {
	t.Helper()
	require.NoError(t, r.stop())
}

// collect returns a handler that records flows and cancels once it has want
// of them, and the recorded flows.
func collect(cancel context.CancelFunc, want int) (func(context.Context, *flowpb.Flow) error, *[]*flowpb.Flow) {
	var got []*flowpb.Flow
	return func(_ context.Context, f *flowpb.Flow) error {
		got = append(got, f)
		if len(got) == want {
			cancel()
		}
		return nil
	}, &got
}
