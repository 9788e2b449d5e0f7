package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hubble-sentinel/hubble-sentinel/engine/policy"
	"github.com/hubble-sentinel/hubble-sentinel/policies"
	"github.com/hubble-sentinel/hubble-sentinel/test/logtest"
	"github.com/hubble-sentinel/hubble-sentinel/test/loopback"
	"github.com/hubble-sentinel/hubble-sentinel/test/testrelay"
)

// slowPolicy judges flows to port 6666 slowly, well within the evaluation
// budget, and never finds anything. The test runs without the decision
// cache, which would judge the identical flows once.
const slowPolicy = `# METADATA
# title: Slow
# custom:
#   id: CustomSlow
#   severity: info
package sentinel.custom.slow

violation contains {"id": "CustomSlow"} if {
	input.l4.TCP.destination_port == 6666
	some i in numbers.range(1, 2999)
	i == -1
}
`

// TestReadyzSaysWhenTheEngineFallsBehind: an engine that judges every
// flow, each within the budget, but more slowly than they arrive is not
// ready (/readyz 503, saying why) while it is behind, and ready again once
// it has caught up: readiness reflects an engine that is not keeping up,
// not only one that is stuck. The relay sends the flows at once, so the
// k-th waits about k times a flow's cost in the worker's queue.
func TestReadyzSaysWhenTheEngineFallsBehind(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, policies.WriteTo(dir))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "custom", "slow"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "custom", "slow", "slow.rego"), []byte(slowPolicy), 0o600))

	const n = 200
	at := time.Now().Add(-time.Minute)
	flows := make([]*flowpb.Flow, n)
	for i := range flows {
		f := credentialFetch(at.Add(time.Duration(i) * time.Millisecond))
		f.Uuid = fmt.Sprintf("0b7f3c52-4e0d-4c1e-9a51-%012d", i)
		f.Destination = &flowpb.Endpoint{Identity: 51300, Namespace: "billing", PodName: "ledger-0"}
		f.IP.Destination = "10.0.9.5"
		f.L4.GetTCP().DestinationPort = 6666
		f.Time = timestamppb.New(at.Add(time.Duration(i) * time.Millisecond))
		flows[i] = f
	}
	relay := loopback.FreeT(t)
	lis, err := net.Listen("tcp", relay)
	require.NoError(t, err)
	relayCtx, stopRelay := context.WithCancel(context.Background())
	relayDone := make(chan struct{})
	go func() {
		_ = testrelay.New(testrelay.Flows(flows...), slog.New(slog.DiscardHandler)).Serve(relayCtx, lis)
		close(relayDone)
	}()
	t.Cleanup(func() { stopRelay(); <-relayDone })

	web := loopback.FreeT(t)
	var logs logtest.Buffer
	runInBackground(t, Options{
		HubbleSources: []HubbleSource{{Address: relay}}, PoliciesDir: dir, Workers: 1,
		PolicyLimits:     PolicyLimits{Budget: policy.Budget{Timeout: time.Minute}, CacheSize: -1},
		WebListenAddress: web, Logger: logs.Logger(), Stdout: io.Discard, Stderr: io.Discard,
		stallAfter: 50 * time.Millisecond,
	})

	get := func(path string) (int, string) { // 0 until the server is up
		resp, err := http.Get("http://" + web + path)
		if err != nil {
			return 0, ""
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return 0, ""
		}
		return resp.StatusCode, string(b)
	}
	processed := func() int {
		_, body := get("/metrics")
		m := regexp.MustCompile(`(?m)^hubble_sentinel_engine_flows_processed_total (\d+)$`).FindStringSubmatch(body)
		if m == nil {
			return 0
		}
		v, err := strconv.Atoi(m[1])
		if err != nil {
			return -1
		}
		return v
	}
	var behind string
	var judgedThen int
	require.Eventually(t, func() bool {
		code, body := get("/readyz")
		if code == 503 && strings.Contains(body, "flows queued, judged more than 50ms after they arrive") {
			behind, judgedThen = body, processed()
			return true
		}
		return false
	}, 60*time.Second, 20*time.Millisecond, "never said it was behind; logs:\n%s", &logs)
	t.Logf("behind after %d of %d flows: %s", judgedThen, n, strings.TrimSpace(behind))
	require.Less(t, judgedThen, n, "said while it was behind")

	require.Eventually(t, func() bool {
		code, _ := get("/readyz")
		return code == 200 && processed() == n
	}, 120*time.Second, 50*time.Millisecond, "ready again once caught up")
}
