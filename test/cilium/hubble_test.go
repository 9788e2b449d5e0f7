//go:build hubble

package cilium

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	observerpb "github.com/cilium/cilium/api/v1/observer"
	peerpb "github.com/cilium/cilium/api/v1/peer"
	v1 "github.com/cilium/cilium/pkg/hubble/api/v1"
	"github.com/cilium/cilium/pkg/hubble/container"
	"github.com/cilium/cilium/pkg/hubble/observer"
	"github.com/cilium/cilium/pkg/hubble/observer/namespace"
	"github.com/cilium/cilium/pkg/hubble/observer/observeroption"
	observerTypes "github.com/cilium/cilium/pkg/hubble/observer/types"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hubble-sentinel/hubble-sentinel/test/loopback"
)

// The real Hubble binaries, built from Cilium v1.20.2 through this module
// (its go.mod lists them as tools): `make test-cilium` builds them into
// bin/ before the tests run; otherwise the first test that needs them
// builds them (minutes from a cold cache).
var (
	toolsOnce sync.Once
	toolsErr  error
)

func tool(t *testing.T, name string) string {
	t.Helper()
	env := map[string]string{"hubble-relay": "HUBBLE_RELAY_BIN", "hubble": "HUBBLE_BIN"}[name]
	if p := os.Getenv(env); p != "" {
		return p
	}
	dir, err := filepath.Abs("bin")
	require.NoError(t, err)
	toolsOnce.Do(func() {
		_, e1 := os.Stat(filepath.Join(dir, "hubble-relay"))
		_, e2 := os.Stat(filepath.Join(dir, "hubble"))
		if e1 == nil && e2 == nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", dir+"/", "github.com/cilium/cilium/hubble-relay", "github.com/cilium/cilium/hubble")
		if out, err := cmd.CombinedOutput(); err != nil {
			toolsErr = fmt.Errorf("building the Hubble binaries: %v\n%s", err, out)
		}
	})
	require.NoError(t, toolsErr)
	return filepath.Join(dir, name)
}

// flowDecoder stands in for the agent's BPF parser: the monitor events it
// is fed carry finished flows.
type flowDecoder struct{}

func (flowDecoder) Decode(ev *observerTypes.MonitorEvent) (*v1.Event, error) {
	f := ev.Payload.(*flowpb.Flow)
	return &v1.Event{Timestamp: f.GetTime(), Event: f}, nil
}

// agent is a Cilium node's Hubble server: Cilium's own observer, with its
// ring buffer, fed through its events channel, served on a fixed loopback
// address that can be killed and served again (the ring survives, as the
// agent's does when only its gRPC server goes away).
type agent struct {
	t    *testing.T
	name string
	obs  *observer.LocalObserverServer
	addr string
	mu   sync.Mutex
	gs   *grpc.Server
	seq  int
	last time.Time
}

func newAgent(t *testing.T, name string, ring int) *agent {
	t.Helper()
	capacity, err := container.NewCapacity(ring)
	require.NoError(t, err)
	obs, err := observer.NewLocalServer(flowDecoder{}, namespace.NewManager(), slog.New(slog.DiscardHandler),
		observeroption.WithMaxFlows(capacity), observeroption.WithMonitorBuffer(1024))
	require.NoError(t, err)
	go obs.Start()
	t.Cleanup(func() { close(obs.GetEventsChannel()) })
	a := &agent{t: t, name: name, obs: obs, addr: loopback.FreeT(t)}
	// A live agent's ring is never empty, and Cilium's follow reader
	// misbehaves on an empty one: start with a few flows.
	a.write(8)
	a.serve()
	t.Cleanup(a.kill)
	return a
}

func (a *agent) serve() {
	a.t.Helper()
	var lis net.Listener
	var err error
	for range 100 {
		if lis, err = net.Listen("tcp", a.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(a.t, err)
	gs := grpc.NewServer()
	observerpb.RegisterObserverServer(gs, a.obs)
	go func() { _ = gs.Serve(lis) }()
	a.mu.Lock()
	a.gs = gs
	a.mu.Unlock()
}

func (a *agent) kill() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.gs != nil {
		a.gs.Stop()
		a.gs = nil
	}
}

// write feeds n flows into the agent's observer, numbered on from its
// last, with strictly increasing times; it returns their UUIDs.
func (a *agent) write(n int) []string {
	var out []string
	for range n {
		now := time.Now()
		if !now.After(a.last) {
			now = a.last.Add(time.Microsecond)
		}
		a.last = now
		u := fmt.Sprintf("%08x-0000-4000-8000-%012x", nodeNum(a.name), a.seq)
		a.seq++
		f := &flowpb.Flow{
			Time: timestamppb.New(now), Uuid: u, NodeName: a.name, Verdict: flowpb.Verdict_FORWARDED,
			Type:      flowpb.FlowType_L3_L4,
			EventType: &flowpb.CiliumEventType{Type: 4},
			IP:        &flowpb.IP{Source: "10.0.0.1", Destination: "10.0.0.2", IpVersion: flowpb.IPVersion_IPv4},
			L4:        &flowpb.Layer4{Protocol: &flowpb.Layer4_TCP{TCP: &flowpb.TCP{SourcePort: 40000, DestinationPort: 8080}}},
		}
		a.obs.GetEventsChannel() <- &observerTypes.MonitorEvent{Timestamp: now, NodeName: a.name, Payload: f}
		out = append(out, u)
	}
	return out
}

func nodeNum(name string) int {
	n := 0
	for _, c := range name {
		n = n*31 + int(c)
	}
	return n & 0xffffff
}

// peers is the peer service a relay asks for the nodes, as the Cilium
// agent serves it.
type peers struct {
	peerpb.UnimplementedPeerServer
	nodes []*agent
}

func (p *peers) Notify(_ *peerpb.NotifyRequest, st peerpb.Peer_NotifyServer) error {
	for _, a := range p.nodes {
		if err := st.Send(&peerpb.ChangeNotification{Name: a.name, Address: a.addr, Type: peerpb.ChangeNotificationType_PEER_ADDED}); err != nil {
			return err
		}
	}
	<-st.Context().Done()
	return nil
}

func servePeers(t *testing.T, nodes ...*agent) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	gs := grpc.NewServer()
	peerpb.RegisterPeerServer(gs, &peers{nodes: nodes})
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	return lis.Addr().String()
}

// proc is a process whose output is kept for the test log.
type proc struct {
	cmd *exec.Cmd
	mu  sync.Mutex
	out bytes.Buffer
}

func startProc(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...)}
	r, w, err := os.Pipe()
	require.NoError(t, err)
	p.cmd.Stdout, p.cmd.Stderr = w, w
	require.NoError(t, p.cmd.Start())
	_ = w.Close()
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(bin), p.output())
		}
	})
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// runTool runs a command to completion and returns its stdout.
func runTool(t *testing.T, ctx context.Context, bin string, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s %s: %w\n%s", filepath.Base(bin), strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), err
}
