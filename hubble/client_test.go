package hubble

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	observerpb "github.com/cilium/cilium/api/v1/observer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hubble-sentinel/hubble-sentinel/test/logtest"
	"github.com/hubble-sentinel/hubble-sentinel/test/testrelay"
)

const testTimeout = 10 * time.Second

func uuids(flows []*flowpb.Flow) []string {
	out := make([]string, len(flows))
	for i, f := range flows {
		out[i] = fmt.Sprintf("%s@%d:%d", f.GetUuid(), f.GetTime().AsTime().Unix(), f.GetL4().GetTCP().GetDestinationPort())
	}
	return out
}

func TestClientTransports(t *testing.T) {
	pki, err := testrelay.NewPKI(t.TempDir())
	require.NoError(t, err)
	flows := []*flowpb.Flow{
		newFlow(at(1), "a", 80),
		newFlow(at(2), "b", 81),
		newFlow(at(2), "", 82),
		newFlow(at(3), "d", 83),
	}

	tests := []struct {
		name      string
		server    func() ([]testrelay.Option, error)
		client    TLSConfig
		wantError bool
	}{
		{
			name:   "plaintext",
			server: func() ([]testrelay.Option, error) { return nil, nil },
		},
		{
			name: "TLS",
			server: func() ([]testrelay.Option, error) {
				cfg, err := pki.ServerTLSConfig(false)
				return []testrelay.Option{testrelay.WithTLS(cfg)}, err
			},
			client: TLSConfig{Enabled: true, CAFile: pki.CAFile, ServerName: "ui.hubble-relay.cilium.io"},
		},
		{
			name: "mTLS",
			server: func() ([]testrelay.Option, error) {
				cfg, err := pki.ServerTLSConfig(true)
				return []testrelay.Option{testrelay.WithTLS(cfg)}, err
			},
			client: TLSConfig{
				Enabled: true, CAFile: pki.CAFile, ServerName: "ui.hubble-relay.cilium.io",
				CertFile: pki.ClientCertFile, KeyFile: pki.ClientKeyFile,
			},
		},
		{
			name: "mTLS without client certificate",
			server: func() ([]testrelay.Option, error) {
				cfg, err := pki.ServerTLSConfig(true)
				return []testrelay.Option{testrelay.WithTLS(cfg)}, err
			},
			client:    TLSConfig{Enabled: true, CAFile: pki.CAFile, ServerName: "ui.hubble-relay.cilium.io"},
			wantError: true,
		},
		{
			name: "TLS with the wrong server name",
			server: func() ([]testrelay.Option, error) {
				cfg, err := pki.ServerTLSConfig(false)
				return []testrelay.Option{testrelay.WithTLS(cfg)}, err
			},
			client:    TLSConfig{Enabled: true, CAFile: pki.CAFile, ServerName: "relay.example.com"},
			wantError: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, err := tt.server()
			require.NoError(t, err)
			r := startRelay(t, listen(t), testrelay.Flows(flows...), opts...)
			conn, err := Dial(r.Addr, tt.client)
			require.NoError(t, err)
			t.Cleanup(func() { _ = conn.Close() })

			c := NewClient(observerpb.NewObserverClient(conn), ClientConfig{Follow: true, Address: r.Addr}, nil, nil)
			ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
			defer cancel()
			var readyDuringStream []bool
			handle, got := collect(cancel, len(flows))
			err = c.Run(ctx, func(ctx context.Context, f *flowpb.Flow) error {
				readyDuringStream = append(readyDuringStream, c.Ready())
				return handle(ctx, f)
			})
			require.False(t, c.Ready(), "not ready once Run has returned")
			if tt.wantError {
				require.Error(t, err)
				require.Equal(t, codes.Unavailable, status.Code(err), "err: %v", err)
				require.Empty(t, *got)
				require.Empty(t, readyDuringStream)
				return
			}
			require.NoError(t, err)
			require.Equal(t, uuids(flows), uuids(*got))
			for i := range flows {
				require.True(t, proto.Equal(flows[i], (*got)[i]), "flow %d differs", i)
			}
			require.Equal(t, []bool{true, true, true, true}, readyDuringStream)
		})
	}
}

func TestClientReadyBeforeFirstFlow(t *testing.T) {
	r := startRelay(t, listen(t), testrelay.Flows())
	conn, err := Dial(r.Addr, TLSConfig{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })

	reg := prometheus.NewRegistry()
	c := NewClient(observerpb.NewObserverClient(conn), ClientConfig{Follow: true}, nil, reg)
	require.False(t, c.Ready())
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- c.Run(ctx, func(context.Context, *flowpb.Flow) error { return nil })
	}()
	require.Eventually(t, c.Ready, testTimeout, 5*time.Millisecond, "headers of an idle relay make the client ready")
	require.Equal(t, 1.0, testutil.ToFloat64(c.metrics.streamUp))
	cancel()
	require.NoError(t, <-done, "cancellation is a clean end")
	require.False(t, c.Ready())
	require.Equal(t, 0.0, testutil.ToFloat64(c.metrics.streamUp))
}

func TestClientReconnectResumesWithoutLossOrDuplicates(t *testing.T) {
	// Flows 3, 4 and 5 share a timestamp. The first relay dies after sending
	// flows 0–4, so the client has delivered two of the three flows at the
	// boundary; the second relay replays from that timestamp. Flow 4 has no
	// UUID, as on Cilium < 1.15, and is recognised by its content.
	flows := []*flowpb.Flow{
		newFlow(at(1), "f0", 1000),
		newFlow(at(2), "f1", 1001),
		newFlow(at(3), "f2", 1002),
		newFlow(at(4), "f3", 1003),
		newFlow(at(4), "", 1004),
		newFlow(at(4), "", 1005),
		newFlow(at(5), "f6", 1006),
		newFlow(at(6), "f7", 1007),
	}
	const killAfter = 5

	lis := listen(t)
	addr := lis.Addr().String()
	killed := make(chan struct{})
	first := startRelay(t, lis, func(ctx context.Context, req *observerpb.GetFlowsRequest, send func(*observerpb.GetFlowsResponse) error) error {
		for _, f := range flows[:killAfter] {
			if err := send(&observerpb.GetFlowsResponse{ResponseTypes: &observerpb.GetFlowsResponse_Flow{Flow: f}}); err != nil {
				return err
			}
		}
		close(killed)
		<-ctx.Done()
		return ctx.Err()
	})

	var (
		mu       sync.Mutex
		requests []*observerpb.GetFlowsRequest
	)
	replay := testrelay.Flows(flows...)
	recordingReplay := func(ctx context.Context, req *observerpb.GetFlowsRequest, send func(*observerpb.GetFlowsResponse) error) error {
		mu.Lock()
		requests = append(requests, req)
		mu.Unlock()
		return replay(ctx, req, send)
	}

	conn, err := Dial(addr, TLSConfig{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	var logs logtest.Buffer
	c := NewClient(observerpb.NewObserverClient(conn), ClientConfig{
		Follow:     true,
		Reconnect:  true,
		BackoffMin: 10 * time.Millisecond,
		BackoffMax: 50 * time.Millisecond,
		Address:    addr,
		Overlap:    time.Second,
	}, logs.Logger(), prometheus.NewRegistry())

	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	handle, got := collect(cancel, len(flows))
	runErr := make(chan error, 1)
	go func() { runErr <- c.Run(ctx, handle) }()

	select {
	case <-killed:
	case <-ctx.Done():
		t.Fatal("first relay never sent its flows")
	}
	first.Stop(t)
	lis2, err := net.Listen("tcp", addr)
	require.NoError(t, err, "listening again on %s", addr)
	startRelay(t, lis2, recordingReplay)

	require.NoError(t, <-runErr)
	require.Equal(t, uuids(flows), uuids(*got), "every flow exactly once, in order")

	reconnects := testutil.ToFloat64(c.metrics.reconnects)
	require.GreaterOrEqual(t, reconnects, 1.0)
	require.Equal(t, 3.0, testutil.ToFloat64(c.metrics.duplicatesDropped), "flows 2 to 4, within the overlap, were replayed")
	require.Equal(t, float64(len(flows)+3), testutil.ToFloat64(c.metrics.flowsReceived))
	require.Equal(t, float64(at(6).Unix()), testutil.ToFloat64(c.metrics.lastFlowTimestamp))

	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, requests)
	for _, req := range requests {
		require.True(t, req.GetFollow())
		require.Equal(t, at(3), req.GetSince().AsTime(), "resumes from the last delivered timestamp minus the overlap")
	}
	warnings := strings.Count(logs.String(), `msg="hubble relay stream failed, reconnecting"`)
	require.Equal(t, 1, warnings, "one warning per outage, however many attempts:\n%s", logs.String())
	require.Contains(t, logs.String(), `msg="hubble relay stream re-established"`)
	require.Contains(t, logs.String(), "address="+addr)
	require.Contains(t, logs.String(), "backoff=")
}

func TestClientLostEventsAndNodeStatus(t *testing.T) {
	feed := func(ctx context.Context, req *observerpb.GetFlowsRequest, send func(*observerpb.GetFlowsResponse) error) error {
		responses := []*observerpb.GetFlowsResponse{
			{ResponseTypes: &observerpb.GetFlowsResponse_LostEvents{LostEvents: &flowpb.LostEvent{
				Source: flowpb.LostEventSource_PERF_EVENT_RING_BUFFER, NumEventsLost: 7,
			}}},
			{ResponseTypes: &observerpb.GetFlowsResponse_Flow{Flow: newFlow(at(1), "a", 80)}},
			{ResponseTypes: &observerpb.GetFlowsResponse_LostEvents{LostEvents: &flowpb.LostEvent{
				Source: flowpb.LostEventSource_OBSERVER_EVENTS_QUEUE, NumEventsLost: 2,
			}}},
			{ResponseTypes: &observerpb.GetFlowsResponse_LostEvents{LostEvents: &flowpb.LostEvent{
				Source: flowpb.LostEventSource_PERF_EVENT_RING_BUFFER, NumEventsLost: 3,
			}}},
		}
		for _, r := range responses {
			if err := send(r); err != nil {
				return err
			}
		}
		return nil
	}
	r := startRelay(t, listen(t), feed)
	conn, err := Dial(r.Addr, TLSConfig{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })

	var logs logtest.Buffer
	reg := prometheus.NewRegistry()
	c := NewClient(observerpb.NewObserverClient(conn), ClientConfig{}, logs.Logger(), reg)
	var n int
	require.NoError(t, c.Run(t.Context(), func(context.Context, *flowpb.Flow) error { n++; return nil }),
		"a finite stream ends cleanly")
	require.Equal(t, 1, n)

	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP hubble_sentinel_hubble_lost_events_total Events Hubble reported as lost before they reached hubble-sentinel, by where they were lost.
# TYPE hubble_sentinel_hubble_lost_events_total counter
hubble_sentinel_hubble_lost_events_total{source="OBSERVER_EVENTS_QUEUE"} 2
hubble_sentinel_hubble_lost_events_total{source="PERF_EVENT_RING_BUFFER"} 10
`), "hubble_sentinel_hubble_lost_events_total"))
	require.Contains(t, logs.String(), `level=WARN msg="hubble visibility gap: flows not seen" kind=lost_events`)
	require.Contains(t, logs.String(), "reason=PERF_EVENT_RING_BUFFER flows=7")
	require.Equal(t, 10.0, testutil.ToFloat64(c.metrics.missed.WithLabelValues("lost_events"))-2)
}

// TestClientCountsALossOnce: a relay sends a LostEvents record again when
// a resumed stream's overlap covers it; it is reported once, while a new
// record is reported.
func TestClientCountsALossOnce(t *testing.T) {
	loss := func(n uint64, sec int) *observerpb.GetFlowsResponse {
		return &observerpb.GetFlowsResponse{NodeName: "node-1", ResponseTypes: &observerpb.GetFlowsResponse_LostEvents{LostEvents: &flowpb.LostEvent{
			Source: flowpb.LostEventSource_PERF_EVENT_RING_BUFFER, NumEventsLost: n,
			First: timestamppb.New(at(sec)), Last: timestamppb.New(at(sec).Add(time.Second)),
		}}}
	}
	flow := func(f *flowpb.Flow) *observerpb.GetFlowsResponse {
		return &observerpb.GetFlowsResponse{NodeName: "node-1", ResponseTypes: &observerpb.GetFlowsResponse_Flow{Flow: f}}
	}
	var streams atomic.Int32
	feed := func(ctx context.Context, _ *observerpb.GetFlowsRequest, send func(*observerpb.GetFlowsResponse) error) error {
		responses := []*observerpb.GetFlowsResponse{loss(42, 1), flow(newFlow(at(2), "a", 80))}
		first := streams.Add(1) == 1
		if !first { // the overlap again, then a new loss
			responses = append(responses, loss(7, 3), flow(newFlow(at(4), "b", 80)))
		}
		for _, r := range responses {
			if err := send(r); err != nil {
				return err
			}
		}
		if first {
			return status.Error(codes.Unavailable, "relay restarting")
		}
		<-ctx.Done()
		return ctx.Err()
	}
	r := startRelay(t, listen(t), feed)
	conn, err := Dial(r.Addr, TLSConfig{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	var gaps []uint64
	c := NewClient(observerpb.NewObserverClient(conn), ClientConfig{
		Follow: true, Reconnect: true, BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond, Overlap: 5 * time.Second,
		Gaps: GapFuncs{OnGap: func(g Gap) { gaps = append(gaps, g.Flows) }},
	}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	handle, got := collect(cancel, 2)
	require.NoError(t, c.Run(ctx, handle))
	require.Len(t, *got, 2)
	require.Equal(t, "b", (*got)[1].GetUuid(), "a replayed flow is not delivered twice")
	require.Equal(t, int32(2), streams.Load(), "resumed once")
	require.Equal(t, []uint64{42, 7}, gaps, "the replayed record is not a second loss")
	require.Equal(t, 49.0, testutil.ToFloat64(c.metrics.lostEvents.WithLabelValues("PERF_EVENT_RING_BUFFER")))
	require.Equal(t, 49.0, testutil.ToFloat64(c.metrics.missed.WithLabelValues("lost_events")))
}

func TestClientEnds(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name    string
		cfg     ClientConfig
		feed    testrelay.Feed
		handle  func(context.Context, *flowpb.Flow) error
		wantErr func(t *testing.T, err error)
	}{
		{
			name: "handler error is returned wrapped",
			cfg:  ClientConfig{Follow: true, Reconnect: true},
			feed: testrelay.Flows(newFlow(at(1), "a", 80)),
			handle: func(context.Context, *flowpb.Flow) error {
				return errBoom
			},
			wantErr: func(t *testing.T, err error) {
				require.ErrorIs(t, err, errBoom)
				require.ErrorContains(t, err, "handling flow")
			},
		},
		{
			name: "stream error without reconnect is returned",
			cfg:  ClientConfig{Address: "relay:4245"},
			feed: func(context.Context, *observerpb.GetFlowsRequest, func(*observerpb.GetFlowsResponse) error) error {
				return status.Error(codes.ResourceExhausted, "too many streams")
			},
			wantErr: func(t *testing.T, err error) {
				require.Equal(t, codes.ResourceExhausted, status.Code(err))
				require.ErrorContains(t, err, "relay:4245")
			},
		},
		{
			name: "canceled status is a clean end",
			cfg:  ClientConfig{},
			feed: func(context.Context, *observerpb.GetFlowsRequest, func(*observerpb.GetFlowsResponse) error) error {
				return status.Error(codes.Canceled, "relay going away")
			},
		},
		{
			name: "invalid request is not retried",
			cfg: ClientConfig{Follow: true, Reconnect: true, Allow: []*flowpb.FlowFilter{
				{TraceId: []string{"x"}},
			}},
			feed: testrelay.Flows(),
			wantErr: func(t *testing.T, err error) {
				require.Equal(t, codes.InvalidArgument, status.Code(err))
			},
		},
		{
			name: "follow without reconnect ends at EOF",
			cfg:  ClientConfig{Follow: true},
			feed: func(context.Context, *observerpb.GetFlowsRequest, func(*observerpb.GetFlowsResponse) error) error {
				return nil
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := startRelay(t, listen(t), tt.feed)
			conn, err := Dial(r.Addr, TLSConfig{})
			require.NoError(t, err)
			t.Cleanup(func() { _ = conn.Close() })
			handle := tt.handle
			if handle == nil {
				handle = func(context.Context, *flowpb.Flow) error { return nil }
			}
			ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
			defer cancel()
			err = NewClient(observerpb.NewObserverClient(conn), tt.cfg, nil, nil).Run(ctx, handle)
			require.NoError(t, ctx.Err(), "Run returned by itself")
			if tt.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			tt.wantErr(t, err)
		})
	}
}

func TestClientReconnectsAfterCleanEndOfFollowStream(t *testing.T) {
	// A relay never ends a follow stream on its own; when it does, the
	// client reconnects rather than stopping detection.
	var (
		mu    sync.Mutex
		calls int
	)
	feed := func(ctx context.Context, req *observerpb.GetFlowsRequest, send func(*observerpb.GetFlowsResponse) error) error {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 1 {
			return send(&observerpb.GetFlowsResponse{ResponseTypes: &observerpb.GetFlowsResponse_Flow{Flow: newFlow(at(1), "a", 80)}})
		}
		return testrelay.Flows(newFlow(at(1), "a", 80), newFlow(at(2), "b", 80))(ctx, req, send)
	}
	r := startRelay(t, listen(t), feed)
	conn, err := Dial(r.Addr, TLSConfig{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	c := NewClient(observerpb.NewObserverClient(conn), ClientConfig{
		Follow: true, Reconnect: true, BackoffMin: time.Millisecond, BackoffMax: time.Millisecond,
	}, nil, nil)
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	handle, got := collect(cancel, 2)
	require.NoError(t, c.Run(ctx, handle))
	require.Equal(t, []string{"a@1714564801:80", "b@1714564802:80"}, uuids(*got))
	require.Equal(t, 1.0, testutil.ToFloat64(c.metrics.reconnects))
	require.Equal(t, 1.0, testutil.ToFloat64(c.metrics.duplicatesDropped))
}

func TestClientUnreachableRelayKeepsRetrying(t *testing.T) {
	lis := listen(t)
	addr := lis.Addr().String()
	require.NoError(t, lis.Close())
	conn, err := Dial(addr, TLSConfig{})
	require.NoError(t, err, "dialling is lazy")
	t.Cleanup(func() { _ = conn.Close() })

	var logs logtest.Buffer
	c := NewClient(observerpb.NewObserverClient(conn), ClientConfig{
		Follow: true, Reconnect: true, BackoffMin: time.Millisecond, BackoffMax: 5 * time.Millisecond, Address: addr,
	}, logs.Logger(), nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, func(context.Context, *flowpb.Flow) error { return nil }) }()
	require.Eventually(t, func() bool { return testutil.ToFloat64(c.metrics.reconnects) >= 2 }, testTimeout, 5*time.Millisecond)
	require.False(t, c.Ready())
	cancel()
	require.NoError(t, <-done)
	require.Equal(t, 1, strings.Count(logs.String(), "hubble relay stream failed, reconnecting"),
		"one clear message per outage:\n%s", logs.String())
	require.Contains(t, logs.String(), "code = Unavailable")
}

func TestIsCleanEnd(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{nil, true},
		{io.EOF, true},
		{fmt.Errorf("wrapped: %w", io.EOF), true},
		{context.Canceled, true},
		{status.Error(codes.Canceled, "context canceled"), true},
		{fmt.Errorf("opening: %w", status.Error(codes.Canceled, "x")), true},
		{status.Error(codes.Unavailable, "connection refused"), false},
		{context.DeadlineExceeded, false},
		{errors.New("boom"), false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.err), func(t *testing.T) {
			require.Equal(t, tt.want, isCleanEnd(tt.err))
		})
	}
}
