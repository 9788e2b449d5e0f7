//go:build hubble

package cilium

import (
	"context"
	"strings"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	observerpb "github.com/cilium/cilium/api/v1/observer"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hubble-sentinel/hubble-sentinel/test/loopback"
)

// TestHubbleCLIAgainstDemoRelay: the real hubble CLI (v1.20.2) against
// `hubble-sentinel demo --demo.listen-address`: status, list nodes, the
// last 20 flows (the newest), L7 flows only, flows to an FQDN, HTTP errors.
func TestHubbleCLIAgainstDemoRelay(t *testing.T) {
	hubbleBin := tool(t, "hubble")
	addr := loopback.FreeT(t)
	demo := startProc(t, binary(t), "demo", "--demo.listen-address", addr, "--demo.rate", "500", "--log.level", "warn")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	hubble := func(args ...string) (string, error) {
		return runTool(t, ctx, hubbleBin, append(args, "--server", addr, "--timeout", "10s")...)
	}
	require.Eventually(t, func() bool {
		out, err := hubble("observe", "--last", "200", "-o", "jsonpb")
		return err == nil && strings.Count(out, "\n") >= 200
	}, 60*time.Second, 200*time.Millisecond, "the demo relay serves flows:\n%s", demo.output())

	out, err := hubble("status")
	require.NoError(t, err)
	require.Contains(t, out, "Healthcheck (via "+addr+"): Ok")
	require.Contains(t, out, "Current/Max Flows:")
	require.Contains(t, out, "Connected Nodes:")

	out, err = hubble("list", "nodes")
	require.NoError(t, err)
	require.Contains(t, out, "Connected")
	require.GreaterOrEqual(t, strings.Count(out, "\n"), 2, "a header and a node at least:\n%s", out)

	before := time.Now()
	out, err = hubble("observe", "--last", "20", "-o", "jsonpb")
	require.NoError(t, err)
	flows := parseFlows(t, out)
	require.Len(t, flows, 20)
	for i := 1; i < len(flows); i++ {
		require.False(t, flows[i].GetTime().AsTime().Before(flows[i-1].GetTime().AsTime()), "in time order")
	}
	require.WithinDuration(t, before, flows[19].GetTime().AsTime(), 3*time.Second, "--last gives the newest flows")

	out, err = hubble("observe", "--last", "50", "--type", "l7", "-o", "jsonpb")
	require.NoError(t, err)
	flows = parseFlows(t, out)
	require.NotEmpty(t, flows)
	for _, f := range flows {
		require.Equal(t, int32(129), f.GetEventType().GetType(), "only L7 flows")
		require.NotNil(t, f.GetL7())
	}

	out, err = hubble("observe", "--last", "20", "--to-fqdn", "*.*", "-o", "jsonpb")
	require.NoError(t, err)
	flows = parseFlows(t, out)
	require.NotEmpty(t, flows)
	for _, f := range flows {
		require.NotEmpty(t, f.GetDestinationNames(), "only flows to a name")
	}

	out, err = hubble("observe", "--last", "5", "--http-status", "2+", "-o", "jsonpb")
	require.NoError(t, err)
	for _, f := range parseFlows(t, out) {
		require.GreaterOrEqual(t, f.GetL7().GetHttp().GetCode(), uint32(200))
	}

	// The human formats, as a user runs them.
	out, err = hubble("observe", "--last", "5")
	require.NoError(t, err)
	require.Equal(t, 5, strings.Count(out, "\n"), out)

	// A filter the demo relay cannot apply is refused, not ignored.
	_, err = hubble("observe", "--last", "5", "--cel-expression", "true")
	require.ErrorContains(t, err, "InvalidArgument")
}

func parseFlows(t *testing.T, out string) []*flowpb.Flow {
	t.Helper()
	var flows []*flowpb.Flow
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var resp observerpb.GetFlowsResponse
		require.NoError(t, protojson.Unmarshal([]byte(line), &resp), line)
		if f := resp.GetFlow(); f != nil {
			flows = append(flows, f)
		}
	}
	return flows
}
