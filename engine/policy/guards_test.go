package policy

import (
	"context"
	"fmt"
	"math/big"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/policies"
)

// TestGuardsOf: the comparisons a violation rule requires are read from the
// compiled rule (through variables bound to input paths and inlined data),
// and only where a false one proves the body fails.
func TestGuardsOf(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       [][]string // per rule, the guards as path op constant
	}{
		{name: "equality", body: `violation contains lib.violation(rego.metadata.chain(), "x") if input.verdict == "DROPPED"`,
			want: [][]string{{`input.verdict == "DROPPED"`}}},
		{name: "through_a_variable_and_data", body: `violation contains lib.violation(rego.metadata.chain(), "x") if {
	rate := input.sentinel.baseline.rate
	rate.per_min >= data.data.test.min_rate
	100 > rate.baseline_per_min
}`, want: [][]string{{"input.sentinel.baseline.rate.per_min >= 50", "input.sentinel.baseline.rate.baseline_per_min < 100"}}},
		{name: "each_rule", body: `violation contains lib.violation(rego.metadata.chain(), "x") if input.verdict != "FORWARDED"

violation contains lib.violation(rego.metadata.chain(), "y") if {
	input.sentinel.initiated == true
	input.sentinel.destination_port <= 1024
}`, want: [][]string{{`input.verdict != "FORWARDED"`}, {"input.sentinel.initiated == true", "input.sentinel.destination_port <= 1024"}}},
		{name: "a_rule_without_guards_opens_the_policy", body: `violation contains lib.violation(rego.metadata.chain(), "x") if input.verdict == "DROPPED"

violation contains lib.violation(rego.metadata.chain(), "y") if count(input.sentinel.http.path) > 3`},
		{name: "membership_in_a_constant_collection", body: `violation contains lib.violation(rego.metadata.chain(), "x") if {
	input.trace_observation_point in {"TO_NETWORK", "FROM_NETWORK"}
	input.sentinel.service_port in [22, 3389]
	input.sentinel.destination_port in data.data.test.bad_ports
}`, want: [][]string{{`input.trace_observation_point in {"FROM_NETWORK", "TO_NETWORK"}`, "input.sentinel.service_port in [22, 3389]", "input.sentinel.destination_port in [4444]"}}},
		{name: "membership_in_a_computed_collection_is_no_guard", body: `violation contains lib.violation(rego.metadata.chain(), "x") if {
	input.sentinel.service_port in object.get(data.data.test, "ports", [])
}`},
		{name: "a_constant_substring", body: `violation contains lib.violation(rego.metadata.chain(), "x") if {
	http := input.sentinel.http
	contains(http.specials, "$")
	contains(input.sentinel.http.query, data.data.test.marker)
	contains("$", input.sentinel.http.specials)
	contains(input.sentinel.http.text, input.sentinel.http.query)
}`, want: [][]string{{`contains(input.sentinel.http.specials, "$")`, `contains(input.sentinel.http.query, "jndi")`, `contains("$", input.sentinel.http.specials)`}}},
		{name: "a_builtin_test_of_one_input_value", body: `violation contains lib.violation(rego.metadata.chain(), "x") if {
	q := input.sentinel.http.query
	strings.any_prefix_match(split(lower(q), "&"), ["token", "key"])
	regex.match("[;|]", input.sentinel.http.specials)
	some keyword in data.data.test.keywords
	contains(input.sentinel.http.text, keyword)
	some pattern in data.data.test.patterns
	regex.match(pattern, q)
	regex.match(input.sentinel.http.query, "x")
	startswith(input.sentinel.http.text, input.sentinel.http.query)
	regex.match("(", q)
}`, want: [][]string{{
			`strings.any_prefix_match(split(lower(input.sentinel.http.query), "&"), ["token", "key"])`,
			`regex.match("[;|]", input.sentinel.http.specials)`,
			`contains(input.sentinel.http.text, each ["union", "/bin/"])`,
			`regex.match(each ["a+", "b{2}"], input.sentinel.http.query)`,
		}}},
		{name: "a_helper_rule_with_guards_in_each_body", body: `violation contains lib.violation(rego.metadata.chain(), "x") if {
	input.l7.type == "REQUEST"
	triggered
	untriggerable
}

triggered if contains(input.sentinel.http.specials, "'")

triggered if {
	input.sentinel.http.query != ""
	regex.match("union", input.sentinel.http.text)
}

untriggerable if count(input.sentinel.http.text) > 5

untriggerable if input.verdict == "DROPPED"`, want: [][]string{{
			`input.l7.type == "REQUEST"`,
			`any({contains(input.sentinel.http.specials, "'")} | {input.sentinel.http.query != ""; regex.match("union", input.sentinel.http.text)})`,
		}}},
		{name: "a_library_value_with_a_fallback", body: `violation contains lib.violation(rego.metadata.chain(), "x") if {
	regex.match("[<>]", measured)
	contains(computed, "x")
}

measured := s if {
	s := input.sentinel.http.specials
	is_string(s)
} else := regex.replace(input.sentinel.http.text, "[a-z]", "")

computed := lower(input.sentinel.http.text)`, want: [][]string{{`regex.match("[<>]", ~input.sentinel.http.specials)`}}},
		{name: "a_helper_rule_that_may_be_false_is_no_guard", body: `violation contains lib.violation(rego.metadata.chain(), "x") if triggered

default triggered := false

triggered if contains(input.sentinel.http.specials, "'")`},
		{name: "an_element_of_an_input_collection_in_a_constant_one", body: `violation contains lib.violation(rego.metadata.chain(), "x") if {
	some name in input.sentinel.destination.names
	name in data.data.test.keywords
	names := input.sentinel.destination.domains
	some d in names
	d in {"example.com"}
	some n2 in input.sentinel.destination.names
	startswith(n2, "x")
}`, want: [][]string{{`some x in input.sentinel.destination.names; x in ["union", "/bin/"]`, `some x in input.sentinel.destination.domains; x in {"example.com"}`}}},
		{name: "a_key_computed_from_an_input_value", body: `violation contains lib.violation(rego.metadata.chain(), "x") if {
	service := data.data.test.ports[format_int(input.sentinel.destination_port, 10)]
	service != ""
}`, want: [][]string{{`data.data.test.ports[format_int(input.sentinel.destination_port, 10)]`}}},
		{name: "a_key_of_a_data_object", body: `violation contains lib.violation(rego.metadata.chain(), "x") if {
	some d in input.sentinel.destination.domains
	data.data.test.deny[d]
	host := input.sentinel.http.host
	data.data.test.deny[host]
}`, want: [][]string{{`some x in input.sentinel.destination.domains; x in {"a.example"}`, `input.sentinel.http.host in {"a.example"}`}}},
		{name: "negation_is_no_guard", body: `violation contains lib.violation(rego.metadata.chain(), "x") if not input.verdict == "FORWARDED"`},
		// A policy replacing its input (with) is judged on every flow.
		{name: "with_input_disables_guards", body: `violation contains lib.violation(rego.metadata.chain(), "x") if {
	input.verdict == "FORWARDED" with input.verdict as "FORWARDED"
	input.sentinel.destination_port == 22
}`},
		{name: "iteration_is_no_guard", body: `violation contains lib.violation(rego.metadata.chain(), "x") if {
	some h in input.l7.http.headers
	h.key == "x-debug"
}`},
		{name: "comparing_two_inputs_is_no_guard", body: `violation contains lib.violation(rego.metadata.chain(), "x") if input.sentinel.source.namespace != input.sentinel.destination.namespace`},
		{name: "a_computed_side_is_no_guard", body: `violation contains lib.violation(rego.metadata.chain(), "x") if input.sentinel.baseline.rate.per_min >= count(input.sentinel.dns.labels)`},
		{name: "an_input_scaled_or_shifted_by_a_constant", body: `violation contains lib.violation(rego.metadata.chain(), "x") if {
	rate := input.sentinel.baseline.rate
	rate.per_min >= data.data.test.min_rate * rate.baseline_per_min
	input.sentinel.baseline.errors.ratio > input.sentinel.baseline.errors.baseline_ratio + 0.2
	input.sentinel.baseline.fanout.ips * 2 <= input.sentinel.baseline.fanout.ports
	input.sentinel.baseline.drops.per_min != 2 * input.sentinel.baseline.drops.baseline_per_min
}`, want: [][]string{{
			"input.sentinel.baseline.rate.per_min >= 50 * input.sentinel.baseline.rate.baseline_per_min",
			"input.sentinel.baseline.errors.ratio > input.sentinel.baseline.errors.baseline_ratio + 0.2",
			"input.sentinel.baseline.fanout.ports >= 2 * input.sentinel.baseline.fanout.ips",
		}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := base()
			files["test/p/p.rego"] = policyWith("Probe", "p", tc.body)
			files["data/test.yaml"] = "test:\n  bad_ports: [4444]\n  min_rate: 50\n  marker: jndi\n  keywords: [union, /bin/]\n  patterns: {a: a+, b: 'b{2}'}\n  deny: {a.example: x, b.example: false}\n  ports: {'22': SSH, '5432': PostgreSQL}\n"
			s, err := Load(context.Background(), fsWith(files), ".")
			require.NoError(t, err)
			var got [][]string
			for _, gs := range s.guards[s.order["Probe"]] {
				var rule []string
				for _, g := range gs {
					rule = append(rule, g.String())
				}
				got = append(got, rule)
			}
			require.ElementsMatch(t, tc.want, got)
		})
	}
}

// TestGuardHoldsAsRegoCompares: a guard's verdict in Go is Rego's own for
// the same comparison, across types (Rego orders null < booleans < numbers
// < strings < composites) and number spellings, and an absent value fails.
func TestGuardHoldsAsRegoCompares(t *testing.T) {
	values := []string{`null`, `false`, `true`, `-1`, `0`, `19.5`, `20`, `20.0`, `21`, `1e3`, `""`, `"20"`, `"REQUEST"`, `[]`, `{}`, `[20]`}
	constants := []string{`null`, `false`, `true`, `20`, `0`, `"REQUEST"`, `""`}
	ops := map[string]guardOp{"==": opEq, "=": opEq, "!=": opNeq, "<": opLt, "<=": opLte, ">": opGt, ">=": opGte}
	for _, c := range constants {
		for sym, op := range ops {
			requireGuardAsRego(t, guard{path: ast.MustParseRef("input.x")[1:], op: op, c: ast.MustParseTerm(c).Value},
				fmt.Sprintf("input.x %s %s", sym, c), values)
		}
	}
}

// requireGuardAsRego checks g, a guard on input.x, against OPA evaluating
// q for x set to each of values and for x absent.
func requireGuardAsRego(t *testing.T, g guard, q string, values []string) {
	t.Helper()
	for _, v := range append(values, "absent") {
		in := ast.NewObject()
		if v != "absent" {
			in.Insert(ast.StringTerm("x"), ast.MustParseTerm(v))
		}
		rs, err := evalQuery(context.Background(), q, in)
		require.NoError(t, err)
		// A query answers with the expression's value; in a rule body,
		// false fails the body as undefined does.
		rego := len(rs) > 0 && rs[0].Expressions[0].Value != false
		require.Equal(t, rego, g.holds(in), "%s with x = %s", q, v)
	}
}

// TestMembershipGuardAsRego: an `in` guard's verdict is OPA's own for the
// same membership, for sets, arrays and objects, across types and number
// spellings, and an absent value fails.
func TestMembershipGuardAsRego(t *testing.T) {
	values := []string{`null`, `false`, `true`, `1`, `1.0`, `22`, `22.0`, `2.2e1`, `-0`, `0`, `1e3`, `1000`, `"22"`, `"TO_NETWORK"`, `[]`, `{}`, `[22]`}
	collections := []string{`{22, "TO_NETWORK", null}`, `[1.0, 22, false]`, `{"a": 22, "b": "TO_NETWORK"}`, `set()`, `[]`, `{"x": [22]}`, `{[22], {}}`,
		`[22, 1000, 0]`, `{1, 22}`, `{"ssh": 22, "k": 1000}`, `[22.0, 1]`, `[1e3]`, `["22", "TO_NETWORK"]`, `{"a": "22"}`}
	withInts, withStrings := 0, 0
	for _, c := range collections {
		v := ast.MustParseTerm(c).Value
		g := guard{path: ast.MustParseRef("input.x")[1:], op: opIn, c: v, ints: integers(v), strs: stringsOf(v)}
		if g.ints != nil {
			withInts++
		}
		if g.strs != nil {
			withStrings++
		}
		requireGuardAsRego(t, g, fmt.Sprintf("input.x in %s", c), values)
	}
	require.Equal(t, 4, withInts, "collections of integers (22.0 is one) are looked up as such")
	require.Equal(t, 2, withStrings, "and collections of strings")
}

// TestAnyInGuardAsRego: a guard that some element of an input collection
// is in a constant one says what OPA says of `some x in input.x; x in c`,
// for arrays, sets and objects (their values), scalars and absence.
func TestAnyInGuardAsRego(t *testing.T) {
	values := []string{`null`, `"a.example"`, `22`, `[]`, `["a.example"]`, `["x", "b.example"]`, `["x"]`, `[22.0, "x"]`, `{"k": "a.example"}`,
		`{"a.example": 1}`, `{"a.example"}`, `{"x", 22}`, `[["a.example"]]`}
	for _, c := range []string{`{"a.example", "b.example"}`, `["a.example"]`, `[22, 1]`, `{"p": 22}`, `set()`} {
		v := ast.MustParseTerm(c).Value
		requireGuardAsRego(t, guard{path: ast.MustParseRef("input.x")[1:], op: opAnyIn, c: v, ints: integers(v), strs: stringsOf(v)},
			fmt.Sprintf("some x in input.x; x in %s", c), values)
	}
	// A data object's keys whose values are not false, as keyOf reads
	// `data.x[d]`.
	keys := ast.MustParseTerm(`{"a.example", 22}`).Value
	requireGuardAsRego(t, guard{path: ast.MustParseRef("input.x")[1:], op: opAnyIn, c: keys, ints: integers(keys), strs: stringsOf(keys)},
		`some x in input.x; {"a.example": "y", 22: true, "x": false}[x]`, values)
}

// TestKeyGuardAsRego: a guard that a key computed from an input value is
// one of a data object's keys (`v := data.x[format_int(input.p, 10)]`)
// says what the body says, on integers, other numbers, strings and
// absence, computed with OPA's own builtins.
func TestKeyGuardAsRego(t *testing.T) {
	files := base()
	files["test/p/p.rego"] = policyWith("Probe", "p", `violation contains lib.violation(rego.metadata.chain(), "x") if {
	service := data.data.test.ports[format_int(input.sentinel.destination_port, 10)]
	service != "nope"
}`)
	files["data/test.yaml"] = "test:\n  bad_ports: [4444]\n  ports: {'22': SSH, '5432': false, '-1': x}\n"
	s, err := Load(context.Background(), fsWith(files), ".", WithoutShortcuts())
	require.NoError(t, err)
	gs := s.guards[s.order["Probe"]]
	require.Len(t, gs, 1)
	var g *guard
	for k := range gs[0] {
		if gs[0][k].op == opCall {
			g = &gs[0][k]
		}
	}
	require.NotNil(t, g, "%v", gs)
	held := 0
	for _, v := range []string{`22`, `22.0`, `22.7`, `5432`, `-1`, `-1.5`, `80`, `2e1`, `"22"`, `null`, `true`, `[22]`, "absent"} {
		in := ast.NewObject()
		if v != "absent" {
			insertAt(in, ast.MustParseRef("input.sentinel.destination_port")[1:], ast.MustParseTerm(v))
		}
		vs, err := s.Eval(context.Background(), in)
		require.NoError(t, err)
		rego := len(vs) > 0
		if rego {
			held++
		}
		if !g.holds(in) {
			require.False(t, rego, "%s with port %s: the guard fails, Rego holds", g.String(), v)
		}
		if v == "absent" {
			continue
		}
		if _, isNum := ast.MustParseTerm(v).Value.(ast.Number); isNum {
			require.Equal(t, rego, g.holds(in), "%s with port %s", g.String(), v)
		}
	}
	require.Positive(t, held)
}

// TestSubstringGuardAsRego: a contains guard's verdict is OPA's own for
// the same call: strings only, the empty string in every string, and an
// absent value fails.
func TestSubstringGuardAsRego(t *testing.T) {
	values := []string{`null`, `true`, `36`, `""`, `"$"`, `"a$b"`, `"${"`, `"\u00e9$"`, `"S"`, `["$"]`, `{"$": "$"}`, `{"$"}`}
	for _, c := range []string{`"$"`, `""`, `"${"`, `"\u00e9"`} {
		requireGuardAsRego(t, guard{path: ast.MustParseRef("input.x")[1:], op: opContains, c: ast.MustParseTerm(c).Value},
			fmt.Sprintf("contains(input.x, %s)", c), values)
	}
}

// TestRelationGuardFailsOnlyWhereRegoFails: a guard comparing an input
// value with another times or plus a constant fails only where Rego's own
// comparison fails (it may hold where Rego's fails: the rule decides),
// across two-decimal values on both sides of the boundary, equal sides,
// other types and absence; and on numbers away from the boundary it fails
// as often as Rego does, so it skips flows at all.
func TestRelationGuardFailsOnlyWhereRegoFails(t *testing.T) {
	values := []string{`0`, `0.01`, `0.1`, `0.2`, `0.3`, `0.6`, `0.7`, `1`, `1.5`, `3`, `4.5`, `4.51`, `4.49`, `10`, `12.34`, `37.02`, `-1`, `1e300`,
		`"3"`, `true`, `null`, `[]`, "absent"}
	rels := []struct {
		rel  *relation
		rego string
	}{
		{&relation{arith: ast.Multiply.Name, k: "3"}, "3 * input.y"},
		{&relation{arith: ast.Multiply.Name, k: "1.5"}, "1.5 * input.y"},
		{&relation{arith: ast.Plus.Name, k: "0.2"}, "input.y + 0.2"},
		{&relation{arith: ast.Plus.Name, k: "-0.1"}, "input.y + -0.1"},
	}
	ops := map[string]guardOp{"<": opLt, "<=": opLte, ">": opGt, ">=": opGte}
	skipped := 0
	for _, r := range rels {
		r.rel.path = ast.MustParseRef("input.y")[1:]
		r.rel.kf, _ = r.rel.k.Float64()
		for sym, op := range ops {
			g := guard{path: ast.MustParseRef("input.x")[1:], op: op, rel: r.rel}
			q := fmt.Sprintf("input.x %s %s", sym, r.rego)
			for _, x := range values {
				for _, y := range values {
					in := ast.NewObject()
					for k, v := range map[string]string{"x": x, "y": y} {
						if v != "absent" {
							in.Insert(ast.StringTerm(k), ast.MustParseTerm(v))
						}
					}
					rs, err := evalQuery(context.Background(), q, in)
					require.NoError(t, err)
					rego := len(rs) > 0 && rs[0].Expressions[0].Value != false
					if !g.holds(in) {
						require.False(t, rego, "%s with x = %s, y = %s: the guard fails, Rego holds", q, x, y)
						skipped++
					}
				}
			}
		}
	}
	require.Greater(t, skipped, 1000, "the guards fail almost nowhere: they would skip nothing")
}

func evalQuery(ctx context.Context, q string, in ast.Value) (rego.ResultSet, error) {
	return rego.New(rego.Query(q), rego.ParsedInput(in), rego.SetRegoVersion(ast.RegoV1)).Eval(ctx)
}

// TestInputPaths: what the policies read, as keys below input; nothing
// (the whole document) when one reads the whole input or the Set takes
// no shortcuts.
func TestInputPaths(t *testing.T) {
	set, err := Load(context.Background(), fsWith(base()), ".")
	require.NoError(t, err)
	require.ElementsMatch(t, [][]string{{"sentinel", "destination_port"}, {"verdict"}}, set.InputPaths())

	plain, err := Load(context.Background(), fsWith(base()), ".", WithoutShortcuts())
	require.NoError(t, err)
	require.Nil(t, plain.InputPaths())

	files := base()
	files["test/p/p.rego"] = policyWith("Probe", "p", `violation contains lib.violation(rego.metadata.chain(), "x") if count(input) > 3`)
	whole, err := Load(context.Background(), fsWith(files), ".")
	require.NoError(t, err)
	require.Nil(t, whole.InputPaths())
}

// TestGuardTableAnswersAsEachGuard: the shared table of the bundled
// policies' guards (each path looked up and each comparison made once per
// flow) says of every policy what checking its own guards one by one says,
// on documents whose guarded values are drawn from the guards' constants,
// their neighbours, other types and absence; and the table fits the
// memo's arrays, so the hot path allocates nothing for it.
func TestGuardTableAnswersAsEachGuard(t *testing.T) {
	s, err := Load(context.Background(), policies.FS, ".")
	require.NoError(t, err)
	tab := s.guardTable
	require.NotEmpty(t, tab.guards)
	var m guardMemo
	require.LessOrEqual(t, len(tab.paths), len(m.vbuf))
	require.LessOrEqual(t, len(tab.guards), len(m.sbuf))

	// The documents' paths: the guards' and every prefix of them (a
	// prefix may hold another type, which hides what is below).
	paths := slices.Clone(tab.paths)
	seen := map[string]bool{}
	for _, p := range paths {
		seen[ast.Ref(p).String()] = true
	}
	for i := 0; i < len(paths); i++ {
		if parent := paths[i][:len(paths[i])-1]; len(parent) > 0 && !seen[ast.Ref(parent).String()] {
			seen[ast.Ref(parent).String()] = true
			paths = append(paths, parent)
		}
	}
	// Candidate values per path: each constant compared there, one more
	// and one less for numbers, and values of other types.
	cands := make([][]*ast.Term, len(paths))
	for k, g := range tab.guards {
		p := tab.pathOf[k]
		switch g.op {
		case opAnyOf:
			continue // its bodies' guards are in the table
		case opCall:
			// The strings its test compares with, and strings with
			// the characters the bundled tests look for.
			for _, st := range g.call.steps {
				for _, a := range st.args {
					if a.kind == argConst {
						if _, ok := a.c.Value.(ast.String); ok {
							cands[p] = append(cands[p], a.c)
						}
					}
				}
			}
			for _, e := range g.call.each {
				cands[p] = append(cands[p], e)
			}
			for _, v := range []string{"", "'", "a b", "x=1&token=abc", "/../..", "%c0%ae", "sqlmap/1.7", "Mozilla/5.0", "${jndi:ldap://x}"} {
				cands[p] = append(cands[p], ast.StringTerm(v))
			}
			continue
		}
		if g.rel != nil {
			// Numbers on both sides, equal ones among them.
			for _, q := range []int{p, tab.relOf[k]} {
				cands[q] = append(cands[q], ast.IntNumberTerm(0), ast.IntNumberTerm(1), ast.IntNumberTerm(3), ast.FloatNumberTerm(0.6))
			}
			continue
		}
		cands[p] = append(cands[p], ast.NewTerm(g.c))
		if n, ok := g.c.(ast.Number); ok {
			f, _ := n.Float64()
			cands[p] = append(cands[p], ast.FloatNumberTerm(f+1), ast.FloatNumberTerm(f-0.5))
		}
	}
	for p := range cands {
		cands[p] = append(cands[p], ast.BooleanTerm(true), ast.StringTerm("x"), ast.NullTerm(), nil)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	judged := 0
	for range 3000 {
		doc := ast.NewObject()
		for p, path := range paths {
			if v := cands[p][rng.IntN(len(cands[p]))]; v != nil {
				insertAt(doc, path, v)
			}
		}
		m.reset(tab, document{doc})
		for i := range s.policies {
			want := true
			if rules := s.guards[i]; rules != nil {
				want = false
				for _, gs := range rules {
					all := true
					for k := range gs {
						all = all && gs[k].holds(doc)
					}
					want = want || all
				}
			}
			require.Equal(t, want, m.canJudge(i), "%s on %v", s.policies[i].ID, doc)
			if want && s.guards[i] != nil {
				judged++
			}
		}
	}
	require.Positive(t, judged, "no document passed any policy's guards: the test checks nothing")
}

// insertAt sets path (keys below the object) to v in obj, making the
// objects on the way.
func insertAt(obj ast.Object, path []*ast.Term, v *ast.Term) {
	for _, k := range path[:len(path)-1] {
		next := obj.Get(k)
		if next == nil {
			next = ast.NewTerm(ast.NewObject())
			obj.Insert(k, next)
		}
		o, ok := next.Value.(ast.Object)
		if !ok {
			return // a shorter path holds a scalar here
		}
		obj = o
	}
	obj.Insert(path[len(path)-1], v)
}

// TestMayHoldOnlyFailsWhereTheDocumentFails: a guard judged from a
// measurement before the document writes it with two decimals says a flow
// cannot match only when the written number fails it: for numbers around
// each boundary, every operator, constant and relation guard.
func TestMayHoldOnlyFailsWhereTheDocumentFails(t *testing.T) {
	written := func(x float64) *big.Rat {
		r, ok := new(big.Rat).SetString(strconv.FormatFloat(x, 'f', 2, 64))
		require.True(t, ok)
		return r
	}
	exact := func(op guardOp, v, c *big.Rat) bool {
		switch cmp := v.Cmp(c); op {
		case opEq:
			return cmp == 0
		case opNeq:
			return cmp != 0
		case opLt:
			return cmp < 0
		case opLte:
			return cmp <= 0
		case opGt:
			return cmp > 0
		default:
			return cmp >= 0
		}
	}
	var xs []float64
	for _, c := range []float64{0, 0.3, 1, 5, 100, 1234.5} {
		for d := -0.02; d <= 0.02; d += 0.0005 {
			xs = append(xs, c+d, c*1.0000001+d)
		}
	}
	skipped := 0
	for _, c := range []float64{0, 0.3, 1, 5, 100, 1234.5} {
		cr := new(big.Rat).SetFloat64(c)
		for op := opEq; op <= opGte; op++ {
			g := guard{op: op}
			for _, x := range xs {
				if !g.mayHold(x, c) {
					skipped++
					require.False(t, exact(op, written(x), cr), "%v %s %v: written %s", x, opSymbols[op], c, strconv.FormatFloat(x, 'f', 2, 64))
				}
			}
		}
	}
	require.Positive(t, skipped, "the guards do skip flows")

	skipped = 0
	for _, k := range []float64{5, 0.5, 3, -2} {
		for _, arith := range []string{ast.Multiply.Name, ast.Plus.Name} {
			for _, op := range []guardOp{opLt, opLte, opGt, opGte} {
				g := guard{op: op, rel: &relation{arith: arith, kf: k}}
				kr := new(big.Rat).SetFloat64(k)
				for _, x := range xs {
					for _, y := range []float64{0, 0.2, 1, 20, 246.9} {
						if g.relationMayHold(x, y) {
							continue
						}
						skipped++
						r := new(big.Rat).Add(written(y), kr)
						if arith == ast.Multiply.Name {
							r = new(big.Rat).Mul(written(y), kr)
						}
						require.False(t, exact(op, written(x), r), "%v %s %v(%v, %v)", x, opSymbols[op], arith, y, k)
					}
				}
			}
		}
	}
	require.Positive(t, skipped, "the relation guards do skip flows")
}

// TestCallGuardAsRego: a call guard's verdict is OPA's own for the rule
// body it was read from, on strings (it calls OPA's builtins, and compiles
// patterns as OPA does), through mapped values, ranges over constants and
// data, and a library value with a fallback; on an absent value or
// another type it fails only where the body fails.
func TestCallGuardAsRego(t *testing.T) {
	values := []string{`""`, `"a"`, `"A&Token=1"`, `"x=1&key=2"`, `"keyx"`, `"UNION select"`, `"/BIN/sh"`, `"a;b"`, `"ab"`, `"aab"`, `"bb"`,
		`"  xx "`, `"XX"`, `"q=x\n/etc/passwd"`, `"q=/etc/passwd&x"`, `"\u00e9;"`, `1`, `true`, `null`, `["a;"]`, `{"a": ";"}`, "absent"}
	for _, body := range []string{
		`regex.match("[;|$]", input.sentinel.http.query)`,
		`strings.any_prefix_match(split(lower(input.sentinel.http.query), "&"), ["token", "key"])`,
		`strings.any_suffix_match(input.sentinel.http.query, ["sh", "xx"])`,
		`some k in ["union", "/bin/"]
	contains(lower(input.sentinel.http.query), k)`,
		`some pattern in data.data.test.patterns
	regex.match(pattern, input.sentinel.http.query)`,
		`endswith(trim_space(upper(input.sentinel.http.query)), "XX")`,
		`y := replace(input.sentinel.http.query, "\n", "&")
	some f in data.data.test.files
	contains(y, f)`,
		`startswith(measured, "a")`,
		`regex.match("^[a-z]+$", measured)`,
		`measured != ""`,
	} {
		t.Run(body, func(t *testing.T) {
			files := base()
			files["test/p/p.rego"] = policyWith("Probe", "p", `violation contains lib.violation(rego.metadata.chain(), "x") if {
	`+body+`
}

measured := s if {
	s := input.sentinel.http.query
	is_string(s)
} else := "computed"`)
			files["data/test.yaml"] = "test:\n  bad_ports: [4444]\n  patterns: {a: 'a+b', b: '(?i)^union'}\n  files: [/etc/passwd]\n"
			s, err := Load(context.Background(), fsWith(files), ".", WithoutShortcuts())
			require.NoError(t, err)
			gs := s.guards[s.order["Probe"]]
			require.Len(t, gs, 1)
			require.Len(t, gs[0], 1)
			g := gs[0][0]
			require.Equal(t, opCall, g.op, g.String())
			held, failed := 0, 0
			for _, v := range values {
				in := ast.NewObject()
				x := ast.MustParseRef("input.sentinel.http.query")[1:]
				if v != "absent" {
					insertAt(in, x, ast.MustParseTerm(v))
				}
				vs, err := s.Eval(context.Background(), in)
				require.NoError(t, err)
				rego := len(vs) > 0
				if v != "absent" && strings.HasPrefix(v, `"`) {
					require.Equal(t, rego, g.holds(in), "%s with x = %s", g.String(), v)
				} else if !g.holds(in) {
					require.False(t, rego, "%s with x = %s: the guard fails, Rego holds", g.String(), v)
				}
				if rego {
					held++
				} else {
					failed++
				}
			}
			require.Positive(t, held, "no value passes: the test checks nothing")
			require.Positive(t, failed, "every value passes: the test checks nothing")
		})
	}
}

// FuzzCallGuardNative: each call guard of the bundled policies says on
// any string, run natively on Go strings, what it says with OPA's
// builtins (TestCallGuardAsRego holds those to Rego).
func FuzzCallGuardNative(f *testing.F) {
	s, err := Load(context.Background(), policies.FS, ".")
	require.NoError(f, err)
	var calls []*call
	for _, g := range s.guardTable.guards {
		if g.op == opCall && g.call.native {
			calls = append(calls, g.call)
		}
	}
	require.Greater(f, len(calls), 10, "the bundled policies' call guards run natively")
	for _, seed := range []string{"", "x=1&token=abc", "/../../etc/passwd", "%c0%ae", "sqlmap/1.7", "Mozilla/5.0", "${jndi:ldap://x}",
		"q=1' or '1'='1", "/cmd.php", "/ACTUATOR//env", "a\nb&c", "\xff\xfe", "AKIAABCDEFGHIJKLMNOP",
		// A value each secret pattern matches: the literals checked before
		// the regular expressions must not lose one.
		"k=AKIAABCDEFGHIJKLMNOP", "t=ghp_" + strings.Repeat("a1", 18), "t=github_pat_" + strings.Repeat("B", 22),
		"t=xoxb-1234567890", "t=eyJhbGciOi.eyJzdWIiOi.sig", "k=sk_live_" + strings.Repeat("x", 16), "t=glpat-" + strings.Repeat("z", 20),
		"k=-----BEGIN%20RSA%20PRIVATE%20KEY"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		term := ast.StringTerm(in)
		for _, c := range calls {
			if native, builtin := c.holdsNative(in), c.holdsBuiltin(term); native != builtin {
				t.Fatalf("%s on %q: native %v, OPA's builtins %v", c.text, in, native, builtin)
			}
		}
	})
}
