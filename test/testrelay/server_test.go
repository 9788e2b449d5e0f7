package testrelay

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	observerpb "github.com/cilium/cilium/api/v1/observer"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func at(sec int) time.Time { return time.Date(2024, 5, 1, 12, 0, sec, 0, time.UTC) }

func numberedFlows(n int) []*flowpb.Flow {
	flows := make([]*flowpb.Flow, n)
	for i := range flows {
		flows[i] = &flowpb.Flow{
			Time: timestamppb.New(at(i)),
			Uuid: fmt.Sprint(i),
			L4: &flowpb.Layer4{Protocol: &flowpb.Layer4_TCP{TCP: &flowpb.TCP{
				DestinationPort: uint32(8000 + i%2),
			}}},
		}
	}
	return flows
}

// serve runs s on a loopback port until the test ends and returns a client
// and a function that stops the server and returns Serve's result.
func serve(t *testing.T, s *Server, creds credentials.TransportCredentials) (observerpb.ObserverClient, func() error) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, lis) }()
	stopped := false
	var result error
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			result = <-done
		}
		return result
	}
	t.Cleanup(func() { require.NoError(t, stop()) })
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(creds))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return observerpb.NewObserverClient(conn), stop
}

// uuidsOf drains a stream and returns the flows' UUIDs and the final error.
func uuidsOf(t *testing.T, st grpc.ServerStreamingClient[observerpb.GetFlowsResponse]) ([]string, error) {
	t.Helper()
	var out []string
	for {
		resp, err := st.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return out, err
		}
		out = append(out, resp.GetFlow().GetUuid())
	}
}

func TestServerGetFlows(t *testing.T) {
	client, _ := serve(t, New(Flows(numberedFlows(6)...), nil), nil)
	tests := []struct {
		name    string
		req     *observerpb.GetFlowsRequest
		want    []string
		wantErr codes.Code
	}{
		{name: "everything", req: &observerpb.GetFlowsRequest{}, want: []string{"0", "1", "2", "3", "4", "5"}},
		{
			name: "since and until by flow time",
			req:  &observerpb.GetFlowsRequest{Since: timestamppb.New(at(2)), Until: timestamppb.New(at(4))},
			want: []string{"2", "3", "4"},
		},
		{name: "number", req: &observerpb.GetFlowsRequest{Number: 2}, want: []string{"0", "1"}},
		{name: "number with first", req: &observerpb.GetFlowsRequest{Number: 2, First: true}, want: []string{"0", "1"}},
		{
			name: "number counts matching flows",
			req: &observerpb.GetFlowsRequest{Number: 2, Whitelist: []*flowpb.FlowFilter{
				{DestinationPort: []string{"8001"}},
			}},
			want: []string{"1", "3"},
		},
		{
			name: "blacklist",
			req: &observerpb.GetFlowsRequest{Blacklist: []*flowpb.FlowFilter{
				{DestinationPort: []string{"8000"}},
			}},
			want: []string{"1", "3", "5"},
		},
		{
			name: "unsupported filter",
			req: &observerpb.GetFlowsRequest{Whitelist: []*flowpb.FlowFilter{
				{Encrypted: []bool{true}},
			}},
			wantErr: codes.InvalidArgument,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := client.GetFlows(t.Context(), tt.req)
			require.NoError(t, err)
			got, err := uuidsOf(t, st)
			if tt.wantErr != codes.OK {
				require.Equal(t, tt.wantErr, status.Code(err), "err: %v", err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestServerFollowAndShutdown(t *testing.T) {
	client, stop := serve(t, New(Flows(numberedFlows(3)...), slog.New(slog.DiscardHandler)), nil)
	st, err := client.GetFlows(t.Context(), &observerpb.GetFlowsRequest{Follow: true})
	require.NoError(t, err)
	_, err = st.Header()
	require.NoError(t, err, "headers are sent before any flow")
	for i := range 3 {
		resp, err := st.Recv()
		require.NoError(t, err)
		require.Equal(t, fmt.Sprint(i), resp.GetFlow().GetUuid())
	}

	recvd := make(chan error, 1)
	go func() {
		_, err := st.Recv()
		recvd <- err
	}()
	select {
	case err := <-recvd:
		t.Fatalf("a follow stream stays open, got %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	require.NoError(t, stop(), "Serve returns nil on cancel")
	require.Equal(t, codes.Unavailable, status.Code(<-recvd), "a stopping relay ends streams as unavailable")
}

func TestServerClientCancel(t *testing.T) {
	client, _ := serve(t, New(Flows(), nil), nil)
	ctx, cancel := context.WithCancel(t.Context())
	st, err := client.GetFlows(ctx, &observerpb.GetFlowsRequest{Follow: true})
	require.NoError(t, err)
	_, err = st.Header()
	require.NoError(t, err)
	cancel()
	_, err = st.Recv()
	require.Equal(t, codes.Canceled, status.Code(err))
}

func TestServerFeedErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want codes.Code
	}{
		{"status passes through", status.Error(codes.ResourceExhausted, "busy"), codes.ResourceExhausted},
		{"wrapped status passes through", fmt.Errorf("feed: %w", status.Error(codes.Unavailable, "node down")), codes.Unavailable},
		{"plain error is internal", errors.New("boom"), codes.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			feed := func(context.Context, *observerpb.GetFlowsRequest, func(*observerpb.GetFlowsResponse) error) error {
				return tt.err
			}
			client, _ := serve(t, New(feed, nil), nil)
			st, err := client.GetFlows(t.Context(), &observerpb.GetFlowsRequest{})
			require.NoError(t, err)
			_, err = uuidsOf(t, st)
			require.Equal(t, tt.want, status.Code(err), "err: %v", err)
		})
	}
}

func TestServerStatus(t *testing.T) {
	client, _ := serve(t, New(Flows(numberedFlows(4)...), nil), nil)
	for range 2 {
		st, err := client.GetFlows(t.Context(), &observerpb.GetFlowsRequest{Number: 1})
		require.NoError(t, err)
		_, err = uuidsOf(t, st)
		require.NoError(t, err)
	}
	st, err := client.GetFlows(t.Context(), &observerpb.GetFlowsRequest{})
	require.NoError(t, err)
	_, err = uuidsOf(t, st)
	require.NoError(t, err)

	resp, err := client.ServerStatus(t.Context(), &observerpb.ServerStatusRequest{})
	require.NoError(t, err)
	require.Equal(t, uint64(6), resp.GetSeenFlows(), "1 + 1 + 4 flows produced")
	require.Equal(t, uint64(6), resp.GetNumFlows())
	require.Equal(t, uint32(1), resp.GetNumConnectedNodes().GetValue())
	require.Positive(t, resp.GetUptimeNs())
	require.NotEmpty(t, resp.GetVersion())

	nodes, err := client.GetNodes(t.Context(), &observerpb.GetNodesRequest{})
	require.NoError(t, err)
	require.Len(t, nodes.GetNodes(), 1)
}

func TestServeReturnsListenerErrors(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	require.NoError(t, lis.Close())
	err = New(Flows(), nil).Serve(t.Context(), lis)
	require.ErrorContains(t, err, "serving test relay")
}

func TestPKI(t *testing.T) {
	p, err := NewPKI(t.TempDir())
	require.NoError(t, err)

	roots := x509.NewCertPool()
	caPEM, err := os.ReadFile(p.CAFile)
	require.NoError(t, err)
	require.True(t, roots.AppendCertsFromPEM(caPEM))
	parse := func(path string) *x509.Certificate {
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		block, _ := pem.Decode(data)
		require.NotNil(t, block, path)
		c, err := x509.ParseCertificate(block.Bytes)
		require.NoError(t, err)
		return c
	}

	server := parse(p.ServerCertFile)
	for _, name := range []string{"ui.hubble-relay.cilium.io", "localhost", "127.0.0.1"} {
		_, err := server.Verify(x509.VerifyOptions{DNSName: name, Roots: roots})
		require.NoError(t, err, name)
	}
	_, err = server.Verify(x509.VerifyOptions{DNSName: "relay.example.com", Roots: roots})
	require.Error(t, err)

	client := parse(p.ClientCertFile)
	_, err = client.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	require.NoError(t, err)

	info, err := os.Stat(p.ServerKeyFile)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "keys are private")

	cfg, err := p.ServerTLSConfig(true)
	require.NoError(t, err)
	require.NotNil(t, cfg.ClientCAs)
	require.EqualValues(t, 0x0304, cfg.MinVersion, "TLS 1.3")
}
