package testrelay

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	observerpb "github.com/cilium/cilium/api/v1/observer"
	relaypb "github.com/cilium/cilium/api/v1/relay"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// ringOf returns a ring of capacity holding n numbered flows, at(0)…, the
// older ones overwritten when n > capacity; odd flows go to port 8001.
func ringOf(capacity, n int) *Ring {
	r := NewRing(capacity)
	for _, f := range numberedFlows(n) {
		f.NodeName = "node-1"
		r.Write(f)
	}
	return r
}

func TestRingServerGetFlows(t *testing.T) {
	client, _ := serve(t, NewRingServer(ringOf(8, 10), nil), nil)
	port8001 := []*flowpb.FlowFilter{{DestinationPort: []string{"8001"}}}
	tests := []struct {
		name    string
		req     *observerpb.GetFlowsRequest
		want    []string
		wantErr codes.Code
	}{
		{name: "everything the ring holds", req: &observerpb.GetFlowsRequest{}, want: []string{"2", "3", "4", "5", "6", "7", "8", "9"}},
		{name: "last 3 are the newest", req: &observerpb.GetFlowsRequest{Number: 3}, want: []string{"7", "8", "9"}},
		{name: "first 3 are the oldest held", req: &observerpb.GetFlowsRequest{Number: 3, First: true}, want: []string{"2", "3", "4"}},
		{name: "last 2 matching", req: &observerpb.GetFlowsRequest{Number: 2, Whitelist: port8001}, want: []string{"7", "9"}},
		{name: "since is inclusive", req: &observerpb.GetFlowsRequest{Since: timestamppb.New(at(6))}, want: []string{"6", "7", "8", "9"}},
		{name: "since older than the ring starts at the oldest held", req: &observerpb.GetFlowsRequest{Since: timestamppb.New(at(0))},
			want: []string{"2", "3", "4", "5", "6", "7", "8", "9"}},
		{name: "since with number is the first n since", req: &observerpb.GetFlowsRequest{Since: timestamppb.New(at(4)), Number: 2}, want: []string{"4", "5"}},
		{name: "until is inclusive", req: &observerpb.GetFlowsRequest{Since: timestamppb.New(at(3)), Until: timestamppb.New(at(5))}, want: []string{"3", "4", "5"}},
		{name: "first with follow", req: &observerpb.GetFlowsRequest{First: true, Follow: true}, wantErr: codes.InvalidArgument},
		{name: "a filter the relay does not know", req: &observerpb.GetFlowsRequest{Whitelist: []*flowpb.FlowFilter{{TraceId: []string{"x"}}}},
			wantErr: codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := client.GetFlows(t.Context(), tt.req)
			require.NoError(t, err)
			got, err := uuidsOf(t, st)
			if tt.wantErr != codes.OK {
				require.Equal(t, tt.wantErr, status.Code(err), "%v", err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestRingServerFollow(t *testing.T) {
	ring := ringOf(100, 5)
	client, _ := serve(t, NewRingServer(ring, nil), nil)
	recv := func(st grpc.ServerStreamingClient[observerpb.GetFlowsResponse], n int) []string {
		var out []string
		for range n {
			resp, err := st.Recv()
			require.NoError(t, err)
			out = append(out, resp.GetFlow().GetUuid())
		}
		return out
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	fromNow, err := client.GetFlows(ctx, &observerpb.GetFlowsRequest{Follow: true})
	require.NoError(t, err)
	lastTwo, err := client.GetFlows(ctx, &observerpb.GetFlowsRequest{Follow: true, Number: 2})
	require.NoError(t, err)
	since, err := client.GetFlows(ctx, &observerpb.GetFlowsRequest{Follow: true, Since: timestamppb.New(at(3))})
	require.NoError(t, err)
	require.Equal(t, []string{"3", "4"}, recv(lastTwo, 2))
	require.Equal(t, []string{"3", "4"}, recv(since, 2))

	for i := 5; i < 7; i++ {
		f := numberedFlows(i + 1)[i]
		f.NodeName = "node-1"
		ring.Write(f)
	}
	require.Equal(t, []string{"5", "6"}, recv(fromNow, 2), "follow without since or number starts with the next flow")
	require.Equal(t, []string{"5", "6"}, recv(lastTwo, 2))
	require.Equal(t, []string{"5", "6"}, recv(since, 2))
}

func TestRingReadAfterOverwrite(t *testing.T) {
	r := ringOf(4, 4)
	buf := make([]*flowpb.Flow, 10)
	for i := 4; i < 10; i++ {
		r.Write(numberedFlows(i + 1)[i])
	}
	n, next, lost := r.read(1, buf)
	require.Equal(t, uint64(5), lost, "flows 1 to 5 were overwritten")
	require.Equal(t, 4, n)
	require.Equal(t, uint64(10), next)
	require.Equal(t, "6", buf[0].GetUuid())
}

func TestRingServerFieldMask(t *testing.T) {
	client, _ := serve(t, NewRingServer(ringOf(8, 2), nil), nil)
	st, err := client.GetFlows(t.Context(), &observerpb.GetFlowsRequest{
		FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"time", "l4.TCP.destination_port"}},
	})
	require.NoError(t, err)
	resp, err := st.Recv()
	require.NoError(t, err)
	f := resp.GetFlow()
	require.Equal(t, at(0), f.GetTime().AsTime())
	require.Equal(t, uint32(8000), f.GetL4().GetTCP().GetDestinationPort())
	require.Empty(t, f.GetUuid())
	require.Empty(t, f.GetNodeName())

	st, err = client.GetFlows(t.Context(), &observerpb.GetFlowsRequest{FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"no_such"}}})
	require.NoError(t, err)
	_, err = st.Recv()
	require.Equal(t, codes.InvalidArgument, status.Code(err))
}

func TestRingServerStatusNodesAndHealth(t *testing.T) {
	ring := NewRing(10)
	now := time.Now()
	for i := range 30 {
		ring.Write(&flowpb.Flow{Time: timestamppb.New(now.Add(time.Duration(i-30) * time.Second)), NodeName: fmt.Sprintf("node-%d", i%2)})
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- NewRingServer(ring, nil).Serve(ctx, lis) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })

	hc, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{Service: ObserverServiceName})
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, hc.GetStatus())

	client := observerpb.NewObserverClient(conn)
	ss, err := client.ServerStatus(t.Context(), &observerpb.ServerStatusRequest{})
	require.NoError(t, err)
	require.Equal(t, uint64(10), ss.GetNumFlows())
	require.Equal(t, uint64(10), ss.GetMaxFlows())
	require.Equal(t, uint64(30), ss.GetSeenFlows())
	require.InDelta(t, 1.0, ss.GetFlowsRate(), 0.2, "one flow per second over what the ring holds")
	require.Equal(t, uint32(2), ss.GetNumConnectedNodes().GetValue())

	nodes, err := client.GetNodes(t.Context(), &observerpb.GetNodesRequest{})
	require.NoError(t, err)
	require.Len(t, nodes.GetNodes(), 2)
	require.Equal(t, "node-0", nodes.GetNodes()[0].GetName())
	require.Equal(t, relaypb.NodeState_NODE_CONNECTED, nodes.GetNodes()[0].GetState())
}

func TestRingAssignsUUIDs(t *testing.T) {
	r := NewRing(2)
	f := &flowpb.Flow{}
	r.Write(f)
	require.Len(t, f.GetUuid(), 36)
}

// TestRingLostEvents: an agent's LostEvents are served in order with the
// flows, from the node that lost them, to every stream reading past them.
func TestRingLostEvents(t *testing.T) {
	ring := NewRing(8)
	flows := numberedFlows(5)
	for _, f := range flows[:3] {
		ring.Write(f)
	}
	ring.Lose("node-2", 42, at(2), at(3))
	for _, f := range flows[3:] {
		ring.Write(f)
	}
	client, _ := serve(t, NewRingServer(ring, nil), nil)
	for range 2 { // every stream
		st, err := client.GetFlows(t.Context(), &observerpb.GetFlowsRequest{First: true, Number: 5})
		require.NoError(t, err)
		var got []string
		for {
			resp, err := st.Recv()
			if err != nil {
				break
			}
			if le := resp.GetLostEvents(); le != nil {
				got = append(got, fmt.Sprintf("lost %d from %s %s..%s", le.GetNumEventsLost(), resp.GetNodeName(), le.GetSource(),
					le.GetLast().AsTime().Sub(le.GetFirst().AsTime())))
				continue
			}
			got = append(got, resp.GetFlow().GetUuid())
		}
		require.Equal(t, []string{"0", "1", "2", "lost 42 from node-2 PERF_EVENT_RING_BUFFER..1s", "3", "4"}, got)
	}
}
