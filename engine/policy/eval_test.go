package policy

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/policies"
)

// policyWith is a policy package test.<name> whose violation rule has body.
func policyWith(id, name, body string) string {
	return "# METADATA\n# title: " + id + "\n# custom:\n#   id: " + id + "\n#   severity: warning\npackage sentinel.test." + name +
		"\n\nimport data.sentinel.lib\n\n" + body + "\n"
}

const dropped = `{"verdict": "DROPPED", "sentinel": {"destination_port": 4444}}`

func ids(vs []Violation) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.ID)
	}
	return out
}

// A policy that fails on a flow (wrong output shape, a conflict, a sandbox
// bound) is reported by name, and the other policies still judge the flow.
func TestEvalIsolatesAFailingPolicy(t *testing.T) {
	for _, tc := range []struct {
		name, body, reason, msg string
	}{
		{"not_an_object", `violation contains json.unmarshal("42") if input.verdict == "DROPPED"`, ReasonOutput, "violation is a number, want an object"},
		{"no_id", `violation contains json.unmarshal("{\"summary\": \"x\"}") if input.verdict == "DROPPED"`, ReasonOutput, "no id or policy"},
		{"foreign_id", `violation contains object.union(lib.violation(rego.metadata.chain(), "x"), {"id": "BadPort"}) if input.verdict == "DROPPED"`, ReasonOutput, `id "BadPort" is not the policy's`},
		{"conflict", "violation contains lib.violation(rego.metadata.chain(), \"x\") if c == 1\n\nc := 1 if input.verdict == \"DROPPED\"\n\nc := 2 if input.verdict == \"DROPPED\"", ReasonError, "test/broken/broken.rego:14: eval_conflict_error"},
		{"huge_range", `violation contains lib.violation(rego.metadata.chain(), "x") if {
	input.verdict == "DROPPED"
	count(numbers.range(1, 100000000 + input.sentinel.destination_port)) > 0
}`, ReasonError, "more than 100000 elements"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := base()
			files["test/broken/broken.rego"] = policyWith("Broken", "broken", tc.body)
			set, err := Load(context.Background(), fsWith(files), ".")
			require.NoError(t, err)

			vs, err := set.Eval(context.Background(), parseInput(t, dropped))
			require.ElementsMatch(t, []string{"BadPort", "Dropped"}, ids(vs), "the other policies' verdicts stand")
			var fails Failures
			require.ErrorAs(t, err, &fails)
			require.Len(t, fails, 1)
			require.Equal(t, "Broken", fails[0].Policy.ID)
			require.Equal(t, "test/broken/broken.rego", fails[0].Policy.File)
			require.Equal(t, tc.reason, fails[0].Reason)
			require.ErrorContains(t, fails[0].Err, tc.msg)

			// A flow the broken rule does not reach is judged as before.
			vs, err = set.Eval(context.Background(), parseInput(t, `{"verdict": "FORWARDED", "sentinel": {"destination_port": 4444}}`))
			require.NoError(t, err)
			require.Equal(t, []string{"BadPort"}, ids(vs))
		})
	}
}

// A policy over budget is cut off at the deadline; after Strikes flows it
// is quarantined, and the others keep judging at their usual cost.
func TestEvalBudgetQuarantinesASlowPolicy(t *testing.T) {
	files := base()
	files["test/slow/slow.rego"] = policyWith("Slow", "slow", `violation contains lib.violation(rego.metadata.chain(), "x") if {
	input.verdict == "DROPPED"
	some i in numbers.range(1, 99999)
	some j in numbers.range(1, 99999)
	i * j == -1
}`)
	set, err := Load(context.Background(), fsWith(files), ".", WithBudget(Budget{Timeout: 20 * time.Millisecond, Strikes: 2}))
	require.NoError(t, err)
	for range 2 {
		start := time.Now()
		vs, err := set.Eval(context.Background(), parseInput(t, dropped))
		require.Less(t, time.Since(start), 2*time.Second, "the deadline cut the slow policy off")
		require.ElementsMatch(t, []string{"BadPort", "Dropped"}, ids(vs))
		var fails Failures
		require.ErrorAs(t, err, &fails)
		require.Equal(t, "Slow", fails[0].Policy.ID)
		require.Equal(t, ReasonTimeout, fails[0].Reason)
	}
	require.Equal(t, []PolicyHealth{{Policy: fails(set, "Slow"), Failures: 2, Quarantined: true}}, set.Health())

	// Quarantined: no longer evaluated, so no failure and no deadline.
	require.Eventually(t, func() bool { return !set.health.rebuilding.Load() }, 10*time.Second, 10*time.Millisecond)
	vs, err := set.Eval(context.Background(), parseInput(t, dropped))
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"BadPort", "Dropped"}, ids(vs))
	require.Equal(t, int64(2), set.Health()[0].Failures)
}

func fails(s *Set, id string) Info {
	for _, p := range s.Policies() {
		if p.ID == id {
			return p
		}
	}
	return Info{}
}

// A violation rule the type checker knows produces no objects is refused
// at load, naming file and rule.
func TestLoadRefusesViolationsThatAreNotObjects(t *testing.T) {
	files := base()
	files["test/broken/broken.rego"] = policyWith("Broken", "broken", `violation contains input.source.namespace if input.verdict == "DROPPED"`)
	_, err := Load(context.Background(), fsWith(files), ".")
	require.ErrorContains(t, err, "test/broken/broken.rego: package sentinel.test.broken: violation produces string, want objects")
}

// The engine's bounded numbers.range matches OPA's within the bound.
func TestBoundedRangeMatchesOPA(t *testing.T) {
	for _, tc := range []struct{ a, b, step int64 }{{0, 5, 1}, {5, 0, 1}, {1, 10, 3}, {10, 1, 4}, {-3, 3, 2}, {7, 7, 1}} {
		got, err := rangeTerm("numbers.range_step", termOf(tc.a), termOf(tc.b), termOf(tc.step))
		require.NoError(t, err)
		var want []int64
		if tc.a <= tc.b {
			for i := tc.a; i <= tc.b; i += tc.step {
				want = append(want, i)
			}
		} else {
			for i := tc.a; i >= tc.b; i -= tc.step {
				want = append(want, i)
			}
		}
		require.Equal(t, ints(want).String(), got.String(), "%d..%d step %d", tc.a, tc.b, tc.step)
	}
	_, err := rangeTerm("numbers.range", termOf(1), termOf(1e9), termOf(1))
	require.ErrorContains(t, err, "more than 100000 elements")
}

// Every bundled policy judges every bundled sample input alone, within the
// budget and the contract.
func TestBundledPoliciesPassCheck(t *testing.T) {
	set, err := Load(context.Background(), policies.FS, ".")
	require.NoError(t, err)
	samples, err := Samples(policies.FS, ".")
	require.NoError(t, err)
	require.Greater(t, len(samples), 100)
	costs, err := set.Check(context.Background(), samples, 0)
	require.NoError(t, err)
	require.Len(t, costs, len(set.Policies()))
	flagged := 0
	for _, c := range costs {
		require.Equal(t, len(samples), c.Flows)
		require.Positive(t, c.Mean, c.Policy.ID)
		require.GreaterOrEqual(t, c.Max, c.Mean, c.Policy.ID)
		if c.Violations > 0 {
			flagged++
		}
	}
	// Many fixtures only flag with test data (`with`); most flag as loaded.
	require.Greater(t, flagged, len(costs)/2, "the samples reach the policies")
}

// Check refuses a policy that breaks the contract on a sample, or costs
// more than the bound, naming its file.
func TestCheckRefuses(t *testing.T) {
	files := base()
	files["test/broken/broken.rego"] = policyWith("Broken", "broken", `violation contains json.unmarshal("[1]") if input.verdict == "DROPPED"`)
	set, err := Load(context.Background(), fsWith(files), ".")
	require.NoError(t, err)
	samples := []ast.Value{parseInput(t, dropped)}

	costs, err := set.Check(context.Background(), samples, 0)
	require.ErrorContains(t, err, "test/broken/broken.rego: package sentinel.test.broken failed on 1 of 1 sample inputs: Broken (test/broken/broken.rego): output: violation is an array, want an object")
	for _, c := range costs {
		require.Equal(t, c.Policy.ID == "Broken", c.Failed == 1, c.Policy.ID)
	}
	require.Empty(t, set.Health(), "checking is not judging: no strike")

	_, err = set.Check(context.Background(), samples, time.Nanosecond)
	require.ErrorContains(t, err, "test/bad_port/bad_port.rego: package sentinel.test.bad_port costs")
	require.ErrorContains(t, err, "above the bound of 1ns")
}

// Quarantine and its rebuild run while other goroutines judge flows.
func TestQuarantineUnderConcurrentEvaluation(t *testing.T) {
	files := base()
	files["test/broken/broken.rego"] = policyWith("Broken", "broken", "violation contains lib.violation(rego.metadata.chain(), \"x\") if c == 1\n\nc := 1 if input.verdict == \"DROPPED\"\n\nc := 2 if input.verdict == \"DROPPED\"")
	set, err := Load(context.Background(), fsWith(files), ".")
	require.NoError(t, err)
	doc := parseInput(t, dropped)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				vs, _ := set.Eval(context.Background(), doc)
				require.ElementsMatch(t, []string{"BadPort", "Dropped"}, ids(vs))
			}
		})
	}
	wg.Wait()
	require.Eventually(t, func() bool { return !set.health.rebuilding.Load() }, 10*time.Second, 10*time.Millisecond)
	vs, err := set.Eval(context.Background(), doc)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"BadPort", "Dropped"}, ids(vs))
	require.True(t, set.Health()[0].Quarantined)
}
