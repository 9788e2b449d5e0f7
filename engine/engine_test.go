package engine

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/hubble-sentinel/hubble-sentinel/engine/alert"
	"github.com/hubble-sentinel/hubble-sentinel/engine/policy"
	"github.com/hubble-sentinel/hubble-sentinel/engine/profile"
	"github.com/hubble-sentinel/hubble-sentinel/policies"
	"github.com/hubble-sentinel/hubble-sentinel/test/shopmesh"
)

type recordingAggregator struct {
	mu     sync.Mutex
	alerts []alert.Alert
	ticks  []time.Time
}

func (r *recordingAggregator) Observe(_ time.Time, a alert.Alert) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.alerts = append(r.alerts, a)
}

func (r *recordingAggregator) Tick(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ticks = append(r.ticks, now)
}

func bundled(t testing.TB) *policy.Set {
	t.Helper()
	set, err := policy.Load(context.Background(), policies.FS, ".")
	require.NoError(t, err)
	return set
}

func TestProcessRaisesAlertsForAttacks(t *testing.T) {
	rec := &recordingAggregator{}
	reg := prometheus.NewRegistry()
	set := bundled(t)
	e, err := New(Config{FlowClock: true}, set, rec, slog.New(slog.DiscardHandler), reg)
	require.NoError(t, err)

	g := shopmesh.New(shopmesh.Config{Seed: 3, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Attacks: true})
	want := map[string]bool{}
	var last *flowpb.Flow
	for range 2500 {
		f := g.Next()
		last = f
		if a := shopmesh.Classify(f); a != "" {
			for _, id := range a.Policies() {
				want[id] = !set.Learnable(id)
			}
		}
		require.NoError(t, e.Process(context.Background(), f))
	}
	got := map[string]bool{}
	for id, alerts := range want {
		if !alerts {
			delete(want, id)
			require.Positive(t, testutil.ToFloat64(e.metrics.learned.WithLabelValues(id)),
				"%s is learnable: recorded while the shop learns, not alerted", id)
		}
	}
	for _, a := range rec.alerts {
		got[a.Labels[alert.LabelAlertname]] = true
	}
	require.Equal(t, want, got, "exactly the attacks' non-learnable policies alert while learning")
	require.Len(t, rec.ticks, 2500, "the flow clock ticks once per flow")
	require.Equal(t, last.GetTime().AsTime(), rec.ticks[len(rec.ticks)-1])
	require.Equal(t, 2500.0, testutil.ToFloat64(e.metrics.flows))
	require.Equal(t, 21, e.Profiles().Len(), "profiles are per workload, not per pod: 16 workloads and 5 reserved kinds (world, host, remote-node, health, kube-apiserver)")
}

// A policy that fails at evaluation (a conflict here) is reported by name,
// raised as SentinelPolicyDegraded and, after repeated failures,
// quarantined; the other policies keep judging every flow.
func TestProcessSurvivesAFailingPolicy(t *testing.T) {
	const lib = "package sentinel.lib\n\nviolation(chain, summary) := {\"id\": pkg.annotations.custom.id, \"severity\": \"info\", \"policy\": concat(\".\", pkg.path), \"summary\": summary} if {\n\tsome pkg in chain\n\tpkg.annotations.scope == \"package\"\n}\n"
	fsys := fstest.MapFS{
		"lib.rego": {Data: []byte(lib)},
		// A complete rule with two values conflicts at evaluation time only.
		"x/conflict/conflict.rego": {Data: []byte(`# METADATA
# title: Conflict
# custom:
#   id: Conflict
#   severity: info
package sentinel.x.conflict

import data.sentinel.lib

port := input.sentinel.destination_port
port := 1 if input.sentinel.destination_port > 0

violation contains lib.violation(rego.metadata.chain(), "x") if port > 0
`)},
		"x/any/any.rego": {Data: []byte(`# METADATA
# title: Any
# custom:
#   id: Any
#   severity: info
package sentinel.x.any

import data.sentinel.lib

violation contains lib.violation(rego.metadata.chain(), "x") if input.sentinel.destination_port > 0
`)},
	}
	set, err := policy.Load(context.Background(), fsys, ".")
	require.NoError(t, err)
	var logs bytes.Buffer
	rec := &holdingAggregator{}
	e, err := New(Config{}, set, rec, slog.New(slog.NewTextHandler(&logs, nil)), prometheus.NewRegistry())
	require.NoError(t, err)

	g := shopmesh.New(shopmesh.Config{Seed: 1, Attacks: true})
	for range 2000 {
		require.NoError(t, e.Process(context.Background(), g.Next()))
	}
	require.Equal(t, 2000.0, testutil.ToFloat64(e.metrics.flows))
	require.Equal(t, float64(policy.DefaultBudget.Strikes), testutil.ToFloat64(e.metrics.failures.WithLabelValues("Conflict", policy.ReasonError)),
		"it fails until quarantined, then is no longer evaluated")
	require.Equal(t, 1.0, testutil.ToFloat64(e.metrics.quarantine.WithLabelValues("Conflict")))
	require.Contains(t, logs.String(), `policy=Conflict file=x/conflict/conflict.rego reason=error err="x/conflict/conflict.rego:11: eval_conflict_error"`)
	require.Contains(t, logs.String(), "policy quarantined")

	byName := map[string]int{}
	for _, a := range rec.alerts {
		byName[a.Labels[alert.LabelAlertname]+"/"+a.Labels[alert.LabelReason]]++
	}
	require.Equal(t, policy.DefaultBudget.Strikes, byName[alert.AlertPolicyDegraded+"/"+policy.ReasonError])
	require.Greater(t, byName["Any/"], 1000, "the other policy judged every flow")
	require.Len(t, rec.held, 1)
	require.Equal(t, alert.PolicyDegradedLabels("Conflict", alert.ReasonQuarantined), rec.held[0].Labels)

	// A reload ends the quarantine and resolves its alert.
	e.SetPolicies(set)
	require.Equal(t, []map[string]string{alert.PolicyDegradedLabels("Conflict", alert.ReasonQuarantined)}, rec.released)
}

// holdingAggregator records held and released alerts too.
type holdingAggregator struct {
	recordingAggregator
	held     []alert.Alert
	released []map[string]string
}

func (h *holdingAggregator) Hold(_ time.Time, a alert.Alert) { h.held = append(h.held, a) }

func (h *holdingAggregator) Release(_ time.Time, labels map[string]string) bool {
	h.released = append(h.released, labels)
	return true
}

func TestProcessNilFlow(t *testing.T) {
	e, err := New(Config{}, bundled(t), &recordingAggregator{}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(t, err)
	require.NoError(t, e.Process(context.Background(), nil))
	require.Equal(t, 1.0, testutil.ToFloat64(e.metrics.malformed))
}

// learnablePolicy alerts on every connection to port 5432, and says a team
// may do that on purpose.
const learnablePolicy = `# METADATA
# title: Database connection
# custom:
#   id: DatabaseConnection
#   severity: warning
#   learnable: true
package sentinel.test.db

violation contains {"id": "DatabaseConnection", "severity": "warning", "title": "Database connection",
	"policy": "sentinel.test.db", "summary": "db", "description": "", "mitre": ""} if {
	input.sentinel.service_port == 5432
	input.sentinel.initiated == true
}
`

// TestLearnablePoliciesLearnEdges: a learnable policy records instead of
// alerting while the client learns; afterwards the learned edge stays
// silent, and a new edge alerts.
func TestLearnablePoliciesLearnEdges(t *testing.T) {
	set, err := policy.Load(context.Background(), fstest.MapFS{"db/db.rego": {Data: []byte(learnablePolicy)}}, ".")
	require.NoError(t, err)
	require.True(t, set.Learnable("DatabaseConnection"))
	rec := &recordingAggregator{}
	e, err := New(Config{Profiles: profile.Config{LearningPeriod: time.Hour}}, set, rec, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(t, err)
	t0 := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	conn := func(at time.Time, client, server string) *flowpb.Flow {
		return &flowpb.Flow{
			Time:        timestamppb.New(at),
			IsReply:     wrapperspb.Bool(false),
			L4:          &flowpb.Layer4{Protocol: &flowpb.Layer4_TCP{TCP: &flowpb.TCP{SourcePort: 40000, DestinationPort: 5432, Flags: &flowpb.TCPFlags{SYN: true}}}},
			Source:      &flowpb.Endpoint{Identity: 100, Namespace: "shop", PodName: client + "-0", Labels: []string{"k8s:app=" + client}},
			Destination: &flowpb.Endpoint{Identity: 200, Namespace: "shop-data", PodName: server + "-0", Labels: []string{"k8s:app=" + server}},
		}
	}
	ctx := context.Background()
	require.NoError(t, e.Process(ctx, conn(t0, "orders", "postgres")))
	require.Empty(t, rec.alerts, "learning: recorded, not alerted")
	require.Equal(t, 1.0, testutil.ToFloat64(e.metrics.learned.WithLabelValues("DatabaseConnection")))

	require.NoError(t, e.Process(ctx, conn(t0.Add(50*time.Minute), "orders", "postgres")))
	require.NoError(t, e.Process(ctx, conn(t0.Add(2*time.Hour), "orders", "postgres")))
	require.Empty(t, rec.alerts, "the edge learned during learning stays silent")

	require.NoError(t, e.Process(ctx, conn(t0.Add(2*time.Hour), "orders", "analytics-db")))
	require.Len(t, rec.alerts, 1, "a new edge after learning alerts")
	require.Equal(t, "DatabaseConnection", rec.alerts[0].Labels[alert.LabelAlertname])
}

// Stalled: flows in flight and none finished for longer than the bound.
func TestStalled(t *testing.T) {
	e, err := New(Config{}, bundled(t), &recordingAggregator{}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(t, err)
	now := time.Now()
	stalled, _ := e.Stalled(now.Add(time.Hour), time.Second)
	require.False(t, stalled, "idle is not stalled")

	require.NoError(t, e.Process(context.Background(), shopmesh.New(shopmesh.Config{Seed: 1}).Next()))
	e.inflight.Add(1) // a flow that never finishes
	stalled, n := e.Stalled(time.Now(), time.Minute)
	require.False(t, stalled, "in flight for less than the bound")
	stalled, n = e.Stalled(time.Now().Add(2*time.Minute), time.Minute)
	require.True(t, stalled)
	require.Equal(t, int64(1), n)
}
