package shopmesh_test

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	observerpb "github.com/cilium/cilium/api/v1/observer"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/hubble-sentinel/hubble-sentinel/test/shopmesh"
	"github.com/hubble-sentinel/hubble-sentinel/test/testrelay"
)

// relay serves feed on loopback for the test's lifetime.
func relay(t *testing.T, feed testrelay.Feed) observerpb.ObserverClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- testrelay.New(feed, nil).Serve(ctx, lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, conn.Close())
		cancel()
		require.NoError(t, <-done)
	})
	return observerpb.NewObserverClient(conn)
}

// receive reads up to n flows, returning them with the time each arrived.
func receive(t *testing.T, stream grpc.ServerStreamingClient[observerpb.GetFlowsResponse], n int) ([]*observerpb.GetFlowsResponse, []time.Time, error) {
	t.Helper()
	var got []*observerpb.GetFlowsResponse
	var at []time.Time
	for len(got) < n {
		resp, err := stream.Recv()
		if err != nil {
			return got, at, err
		}
		got = append(got, resp)
		at = append(at, time.Now())
	}
	return got, at, nil
}

func TestFeed(t *testing.T) {
	cfg := shopmesh.Config{Seed: 9, Attacks: true}
	for _, tc := range []struct {
		name    string
		rate    float64
		req     *observerpb.GetFlowsRequest
		want    int
		wantEOF bool
		// minSpan and maxSpan bound the wall time from the first flow to the
		// last; loose, the machine is shared.
		minSpan, maxSpan time.Duration
	}{
		{"follow paced", 200, &observerpb.GetFlowsRequest{Follow: true}, 101, false, 350 * time.Millisecond, 10 * time.Second},
		{"follow unpaced", 0, &observerpb.GetFlowsRequest{Follow: true}, 2000, false, 0, 10 * time.Second},
		{"history with number", 5, &observerpb.GetFlowsRequest{Number: 50}, 50, true, 0, 2 * time.Second},
		{"whole history", 5, &observerpb.GetFlowsRequest{}, shopmesh.HistorySize, true, 0, 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := relay(t, shopmesh.Feed(cfg, tc.rate))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			before := time.Now()
			stream, err := client.GetFlows(ctx, tc.req)
			require.NoError(t, err)
			got, at, err := receive(t, stream, tc.want)
			require.NoError(t, err)
			require.Len(t, got, tc.want)
			if tc.wantEOF {
				_, err := stream.Recv()
				require.ErrorIs(t, err, io.EOF)
			}
			span := at[len(at)-1].Sub(at[0])
			require.GreaterOrEqual(t, span, tc.minSpan)
			require.Less(t, span, tc.maxSpan)

			var prev time.Time
			for i, resp := range got {
				f := resp.GetFlow()
				require.NotNil(t, f, "response %d", i)
				ts := f.GetTime().AsTime()
				require.True(t, ts.Equal(resp.GetTime().AsTime()), "response %d: flow and response times differ", i)
				require.Equal(t, f.GetNodeName(), resp.GetNodeName(), "response %d", i)
				require.True(t, ts.After(prev), "response %d: time %v not after %v", i, ts, prev)
				prev = ts
				if tc.req.GetFollow() {
					require.False(t, ts.Before(before), "response %d stamped %v before the request at %v", i, ts, before)
				}
				require.False(t, ts.After(time.Now()), "response %d stamped in the future", i)
			}
			if !tc.req.GetFollow() {
				// History spans HistorySize flows at the requested pace.
				span := time.Duration(float64(shopmesh.HistorySize-1) / tc.rate * float64(time.Second))
				require.WithinDuration(t, before.Add(-span), got[0].GetFlow().GetTime().AsTime(), 2*time.Second)
			}
		})
	}
}

// Every stream plays the simulation from its start, so two clients see the
// same flows (apart from the wall-clock timestamps).
func TestFeedReplaysPerStream(t *testing.T) {
	client := relay(t, shopmesh.Feed(shopmesh.Config{Seed: 4}, 0))
	var uuids [2][]string
	for i := range uuids {
		stream, err := client.GetFlows(context.Background(), &observerpb.GetFlowsRequest{Number: 30})
		require.NoError(t, err)
		got, _, err := receive(t, stream, 30)
		require.NoError(t, err)
		for _, r := range got {
			uuids[i] = append(uuids[i], r.GetFlow().GetUuid())
		}
	}
	require.Equal(t, uuids[0], uuids[1])
}

func TestFeedStopsWhenTheClientGoes(t *testing.T) {
	client := relay(t, shopmesh.Feed(shopmesh.Config{Seed: 4}, 1))
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := client.GetFlows(ctx, &observerpb.GetFlowsRequest{Follow: true})
	require.NoError(t, err)
	_, _, err = receive(t, stream, 1)
	require.NoError(t, err)
	cancel()
	_, err = stream.Recv()
	require.Equal(t, codes.Canceled, status.Code(err), "got %v", err)
	require.False(t, errors.Is(err, io.EOF))
}

func TestFeedReturnsWhenContextEnds(t *testing.T) {
	for _, tc := range []struct {
		name string
		rate float64
		req  *observerpb.GetFlowsRequest
	}{
		{"follow paced", 20, &observerpb.GetFlowsRequest{Follow: true}},
		{"follow unpaced", 0, &observerpb.GetFlowsRequest{Follow: true}},
		{"history", 20, &observerpb.GetFlowsRequest{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			feed := shopmesh.Feed(shopmesh.Config{Seed: 2, Attacks: true}, tc.rate)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			sent := 0
			errc := make(chan error, 1)
			go func() {
				errc <- feed(ctx, tc.req, func(*observerpb.GetFlowsResponse) error {
					sent++
					if sent == 3 {
						cancel()
					}
					return nil
				})
			}()
			select {
			case err := <-errc:
				require.ErrorIs(t, err, context.Canceled)
				require.Equal(t, 3, sent)
			case <-time.After(10 * time.Second):
				t.Fatal("feed did not return after its context ended")
			}
		})
	}
}

func TestFeedReturnsSendErrors(t *testing.T) {
	boom := errors.New("stream closed")
	err := shopmesh.Feed(shopmesh.Config{Seed: 2}, 0)(context.Background(), &observerpb.GetFlowsRequest{Follow: true},
		func(*observerpb.GetFlowsResponse) error { return boom })
	require.ErrorIs(t, err, boom)
}
