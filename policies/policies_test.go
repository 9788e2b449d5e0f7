package policies_test

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/hubble-sentinel/hubble-sentinel/engine/facts"
	"github.com/hubble-sentinel/hubble-sentinel/engine/input"
	"github.com/hubble-sentinel/hubble-sentinel/engine/policy"
	"github.com/hubble-sentinel/hubble-sentinel/policies"
	"github.com/hubble-sentinel/hubble-sentinel/test/captures"
	"github.com/hubble-sentinel/hubble-sentinel/test/shopmesh"
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
	fa := facts.Measure(f)
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
	flows := captures.Flows(t)
	for _, f := range flows {
		require.Empty(t, alerts(t, set, f.Flow), f.Where())
	}
	require.Greater(t, len(flows), 1000)
}

// Every bundled policy reports through sentinel.lib.violation, which is
// where the exceptions of data.data.exceptions apply: a policy building its
// violation objects by hand would ignore them.
func TestEveryPolicyReportsThroughLibViolation(t *testing.T) {
	libViolation := ast.MustParseRef("data.sentinel.lib.violation")
	n := 0
	require.NoError(t, fs.WalkDir(policies.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(p) != ".rego" || strings.HasSuffix(p, "_test.rego") {
			return err
		}
		src, err := fs.ReadFile(policies.FS, p)
		require.NoError(t, err)
		m, err := ast.ParseModuleWithOpts(p, string(src), ast.ParserOptions{RegoVersion: ast.RegoV1})
		require.NoError(t, err)
		imports := map[string]ast.Ref{}
		for _, imp := range m.Imports {
			ref := imp.Path.Value.(ast.Ref)
			imports[string(ref[len(ref)-1].Value.(ast.String))] = ref
		}
		for _, r := range m.Rules {
			if r.Head.Ref().String() != "violation" || len(r.Head.Args) > 0 {
				continue
			}
			n++
			call, ok := r.Head.Key.Value.(ast.Call)
			require.True(t, ok, "%s:%d: a violation must be lib.violation(rego.metadata.chain(), summary)", p, r.Location.Row)
			fn := call[0].Value.(ast.Ref)
			if head, ok := imports[string(fn[0].Value.(ast.Var))]; ok {
				fn = head.Concat(fn[1:])
			}
			require.True(t, fn.Equal(libViolation), "%s:%d: violation built by %s, not lib.violation", p, r.Location.Row, fn)
		}
		return nil
	}))
	require.GreaterOrEqual(t, n, 6)
}

// An exception naming an attack's source workload and policies silences
// every alert of that attack, whichever policy raised it.
func TestExceptionsSilenceEveryAttack(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, policies.WriteTo(dir))
	g := shopmesh.New(shopmesh.Config{Seed: 3, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Attacks: true})
	attackers := map[shopmesh.Attack]map[string]bool{}
	var flows []*flowpb.Flow
	for range 4000 {
		f := g.Next()
		a := shopmesh.Classify(f)
		if a == shopmesh.AttackNone || f.GetIsReply().GetValue() {
			continue
		}
		fa := facts.Measure(f)
		if attackers[a] == nil {
			attackers[a] = map[string]bool{}
		}
		// An attack from outside the cluster is excepted by its target.
		if fa.Source.Workload != "" {
			attackers[a]["source_workloads: ["+fa.Source.Namespace+"/"+fa.Source.Workload+"]"] = true
		} else {
			attackers[a]["destination_workloads: ["+fa.Destination.Namespace+"/"+fa.Destination.Workload+"]"] = true
		}
		flows = append(flows, f)
	}
	var b strings.Builder
	b.WriteString("exceptions:\n")
	entries := 0
	for _, a := range shopmesh.AllAttacks() {
		require.NotEmpty(t, attackers[a], "%s never ran", a)
		for _, match := range slices.Sorted(maps.Keys(attackers[a])) {
			fmt.Fprintf(&b, "  - name: %s\n    reason: test\n    policies: [%s]\n    %s\n", a, strings.Join(a.Policies(), ", "), match)
			entries++
		}
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "data", "exceptions.yaml"), []byte(b.String()), 0o600))

	set, err := policy.Load(context.Background(), os.DirFS(dir), ".")
	require.NoError(t, err)
	require.Len(t, set.Exceptions(), entries)
	for i, f := range flows {
		require.Empty(t, alerts(t, set, f), "attack flow %d (%s) alerted despite its exception", i, shopmesh.Classify(f))
	}
}

// The shipped lateral-movement defaults keep the system namespaces that run
// controllers and node agents, or those policies alert on every cluster.
// This is a Go test, not a Rego one: users are meant to edit the data, and
// the daemon refuses a policy directory whose Rego tests fail.
func TestShippedLateralDefaultsAllowSystemNamespaces(t *testing.T) {
	raw, err := fs.ReadFile(policies.FS, "data/lateral.yaml")
	require.NoError(t, err)
	var doc struct {
		Lateral struct {
			APIServerAllowedSources []string       `json:"apiserver_allowed_sources"`
			NodeAllowedSources      []string       `json:"node_allowed_sources"`
			IsolationInfraSources   []string       `json:"isolation_infra_sources"`
			NamespaceIsolation      map[string]any `json:"namespace_isolation"`
		} `json:"lateral"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &doc))
	l := doc.Lateral
	for _, ns := range []string{"kube-system", "cilium", "monitoring", "cert-manager", "gke-system", "gmp-system"} {
		require.Contains(t, l.APIServerAllowedSources, ns)
	}
	for _, ns := range []string{"kube-system", "cilium", "monitoring"} {
		require.Contains(t, l.NodeAllowedSources, ns)
		require.Contains(t, l.IsolationInfraSources, ns)
	}
	require.Empty(t, l.NamespaceIsolation, "namespace isolation is opt-in")
}
