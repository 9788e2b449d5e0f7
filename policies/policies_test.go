package policies_test

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	observerpb "github.com/cilium/cilium/api/v1/observer"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hubble-sentinel/hubble-sentinel/engine/input"
	"github.com/hubble-sentinel/hubble-sentinel/engine/policy"
	"github.com/hubble-sentinel/hubble-sentinel/hubble/shopmesh"
	"github.com/hubble-sentinel/hubble-sentinel/policies"
	"github.com/hubble-sentinel/hubble-sentinel/test/captures"
)

// These tests run the bundled policies the way the engine does (its input
// document and its loader) on whole streams of flows, where the Rego tests
// beside each policy check single hand-built inputs.

func load(t *testing.T) *policy.Set {
	t.Helper()
	set, err := policy.Load(context.Background(), policies.FS, ".")
	require.NoError(t, err)
	return set
}

// alerts returns the ids of the policies f violates.
func alerts(t *testing.T, set *policy.Set, f *flowpb.Flow) []string {
	t.Helper()
	fa := input.Measure(f)
	vs, err := set.Eval(context.Background(), input.Document(f, &fa, nil))
	require.NoError(t, err)
	ids := make([]string, 0, len(vs))
	for _, v := range vs {
		ids = append(ids, v.ID)
	}
	slices.Sort(ids)
	return ids
}

// Each simulated attack alerts with exactly its policies on every flow in
// the initiating direction, never on replies, and ordinary traffic never
// alerts.
func TestShopmeshAttacksAlertWithTheirPolicies(t *testing.T) {
	set := load(t)
	for _, seed := range []int64{1, 2} {
		g := shopmesh.New(shopmesh.Config{Seed: seed, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Attacks: true})
		alerted := map[shopmesh.Attack]int{}
		for i := range 4000 {
			f := g.Next()
			got := alerts(t, set, f)
			attack := shopmesh.Classify(f)
			switch {
			case attack == shopmesh.AttackNone:
				require.Empty(t, got, "seed %d: benign flow %d alerted: %v", seed, i, f)
			case f.GetIsReply().GetValue():
				require.Empty(t, got, "seed %d: reply %d of %s alerted: %v", seed, i, attack, f)
			default:
				want := slices.Sorted(slices.Values(attack.Policies()))
				require.Equal(t, want, got, "seed %d: flow %d of %s: %v", seed, i, attack, f)
				alerted[attack]++
			}
		}
		for _, a := range shopmesh.AllAttacks() {
			require.Positive(t, alerted[a], "seed %d: %s never alerted", seed, a)
		}
	}
}

func TestShopmeshBenignTrafficDoesNotAlert(t *testing.T) {
	set := load(t)
	g := shopmesh.New(shopmesh.Config{Seed: 77})
	for i := range 5000 {
		f := g.Next()
		require.Empty(t, alerts(t, set, f), "flow %d: %v", i, f)
	}
}

// The real GKE captures hold ordinary cluster traffic, including node
// addresses labelled world and kube-dns lookups: nothing may alert.
func TestCapturesDoNotAlert(t *testing.T) {
	set := load(t)
	n := 0
	for _, path := range captures.Files(t) {
		file, err := os.Open(path)
		require.NoError(t, err)
		sc := bufio.NewScanner(file)
		sc.Buffer(make([]byte, 0, 1<<20), 1<<24)
		for line := 1; sc.Scan(); line++ {
			if len(sc.Bytes()) == 0 {
				continue
			}
			var resp observerpb.GetFlowsResponse
			require.NoError(t, protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(sc.Bytes(), &resp))
			if f := resp.GetFlow(); f != nil {
				require.Empty(t, alerts(t, set, f), "%s:%d", filepath.Base(path), line)
				n++
			}
		}
		require.NoError(t, sc.Err())
		require.NoError(t, file.Close())
	}
	require.Greater(t, n, 1000)
}
