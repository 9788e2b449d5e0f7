package policy

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/stretchr/testify/require"
)

func refStrings(rs []ast.Ref) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.String())
	}
	return out
}

// TestInputReads: what a policy reads of its input, through the functions
// it calls, decides its class and its decision cache's key.
func TestInputReads(t *testing.T) {
	for _, tc := range []struct {
		name, body    string
		class         string
		paths, exists []string
		whole         string
	}{
		{name: "edge", class: "edge", body: `violation contains lib.violation(rego.metadata.chain(), "x") if input.verdict == "DROPPED"`,
			paths: []string{"input.verdict"}},
		{name: "object_get", class: "edge", body: `violation contains lib.violation(rego.metadata.chain(), x) if {
	x := object.get(input, "node_name", "unknown")
	input.sentinel.destination_port == 22
}`, paths: []string{"input.node_name", "input.sentinel.destination_port"}},
		{name: "object_get_path", class: "edge", body: `violation contains lib.violation(rego.metadata.chain(), "x") if object.get(input, ["IP", "encrypted"], false) == false`,
			paths: []string{"input.IP.encrypted"}},
		{name: "guard", class: "wide", body: `violation contains lib.violation(rego.metadata.chain(), "x") if {
	input.l7.http
	input.sentinel.http.path == "/admin"
}`, paths: []string{"input.sentinel.http.path"}, exists: []string{"input.l7.http"}},
		{name: "guard_read_too", class: "wide", body: `violation contains lib.violation(rego.metadata.chain(), "x") if {
	input.l7.http
	input.l7.http.method == "TRACE"
}`, paths: []string{"input.l7.http.method"}, exists: []string{"input.l7.http"}},
		{name: "measurement", class: "volatile", body: `violation contains lib.violation(rego.metadata.chain(), "x") if input.sentinel.baseline.rate.per_min > 100`,
			paths: []string{"input.sentinel.baseline.rate.per_min"}},
		{name: "dynamic_key", class: "volatile", body: `violation contains lib.violation(rego.metadata.chain(), k) if {
	some k
	input.sentinel[k] == "x"
}`, paths: []string{"input.sentinel"}},
		{name: "through_a_function", class: "volatile", body: `violation contains lib.violation(rego.metadata.chain(), "x") if ephemeral(22)

ephemeral(p) if input.l4.TCP.source_port > p`, paths: []string{"input.l4.TCP.source_port"}},
		{name: "through_a_parameter", class: "edge", body: `violation contains lib.violation(rego.metadata.chain(), "x") if {
	input.verdict == "DROPPED"
	not listed(input.sentinel.source)
}

listed(side) if object.get(side, "namespace", "") == "kube-system"

listed(side) if named(side) == "shop/cart"

named(side) := sprintf("%s/%s", [side.namespace, side.workload])`,
			paths:  []string{"input.sentinel.source.namespace", "input.sentinel.source.workload", "input.verdict"},
			exists: []string{"input.sentinel.source"}},
		{name: "through_a_local", class: "edge", body: `violation contains lib.violation(rego.metadata.chain(), "x") if {
	side := input.sentinel.destination
	side.kind == "world"
	side.ip != ""
}`, paths: []string{"input.sentinel.destination.ip", "input.sentinel.destination.kind"}, exists: []string{"input.sentinel.destination"}},
		{name: "parameter_read_whole", class: "edge", body: `violation contains lib.violation(rego.metadata.chain(), "x") if {
	input.verdict == "DROPPED"
	big(input.sentinel.source)
}

big(side) if side.namespace == "x"

big(side) if count(side) > 3`, paths: []string{"input.sentinel.source", "input.verdict"}},
		{name: "parameter_dynamic_key", class: "edge", body: `violation contains lib.violation(rego.metadata.chain(), "x") if {
	input.verdict == "DROPPED"
	has(input.sentinel.source, "pod")
}

has(side, k) if side[k] != ""`, paths: []string{"input.sentinel.source", "input.verdict"}},
		{name: "parameter_returned", class: "edge", body: `violation contains lib.violation(rego.metadata.chain(), "x") if {
	same(input.sentinel.source) == {"kind": "world"}
}

same(side) := side if side.kind != ""`, paths: []string{"input.sentinel.source"}},
		{name: "input_alias", class: "edge", body: `violation contains lib.violation(rego.metadata.chain(), "x") if {
	flow := input
	flow.verdict == "DROPPED"
	object.get(flow, "node_name", "") == "n1"
}`, paths: []string{"input.node_name", "input.verdict"}},
		{name: "input_alias_whole", class: "volatile", body: `violation contains lib.violation(rego.metadata.chain(), "x") if {
	flow := input
	flow.verdict == "DROPPED"
	count(flow) > 3
}`, whole: "reads the whole input"},
		{name: "whole_input", class: "volatile", body: `violation contains lib.violation(rego.metadata.chain(), "x") if count(input) > 3`,
			whole: "reads the whole input"},
		{name: "with_input", class: "volatile", body: `violation contains lib.violation(rego.metadata.chain(), "x") if dropped with input.verdict as "DROPPED"

dropped if input.verdict == "DROPPED"`, paths: []string{"input.verdict"}, whole: "replaces the input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := base()
			files["test/p/p.rego"] = policyWith("Probe", "p", tc.body)
			s, err := Load(context.Background(), fsWith(files), ".")
			require.NoError(t, err)
			i := s.order["Probe"]
			r := s.reads[i]
			require.Equal(t, tc.class, classNames[s.class[i]])
			if tc.paths == nil {
				tc.paths = []string{}
			}
			if tc.exists == nil {
				tc.exists = []string{}
			}
			require.Equal(t, tc.paths, refStrings(r.paths))
			require.Equal(t, tc.exists, refStrings(r.exists))
			if tc.whole == "" {
				require.Empty(t, r.whole)
			} else {
				require.Contains(t, r.whole, tc.whole)
				require.True(t, strings.HasPrefix(r.whole, "test/p/p.rego:"), r.whole)
				require.Contains(t, s.Uncached(), "Probe")
			}
		})
	}
}

// TestDecisionCacheConfirmsHits: inputs whose OPA hashes collide (OPA's
// object hash is a sum: {a: x, b: y} and {a: y, b: x} collide) get
// different fingerprints, so one is never given the other's verdict, and
// the verdicts of a cached Set are those of an uncached one.
func TestDecisionCacheConfirmsHits(t *testing.T) {
	c := newDecisionCache([]ast.Ref{ast.MustParseRef("input.sentinel.source")}, nil, 16, nil)
	a := parseInput(t, `{"sentinel": {"source": {"namespace": "shop", "pod": "db"}}}`)
	b := parseInput(t, `{"sentinel": {"source": {"namespace": "db", "pod": "shop"}}}`)
	require.Equal(t, a.Hash(), b.Hash(), "OPA's sum hash collides")
	ka, kb := c.key(document{a}, 0, 0, ^uint64(0)), c.key(document{b}, 0, 0, ^uint64(0))
	require.NotEqual(t, ka.hash, kb.hash)
	require.NotEqual(t, ka.check, kb.check)
	c.put(ka, []Violation{{ID: "X"}})
	_, hit := c.get(ka)
	require.False(t, hit, "a key seen once is not kept")
	c.put(ka, []Violation{{ID: "X"}})
	_, hit = c.get(kb)
	require.False(t, hit, "another input is judged, not given another's verdict")
	_, hit = c.get(cacheKey{hash: ka.hash, check: ka.check ^ 1})
	require.False(t, hit, "an entry whose confirming hash differs is a miss")
	got, hit := c.get(ka)
	require.True(t, hit)
	require.Equal(t, "X", got[0].ID)
	require.Equal(t, ka, c.key(document{parseInput(t, `{"sentinel": {"source": {"pod": "db", "namespace": "shop"}}, "other": 1}`)}, 0, 0, ^uint64(0)),
		"the same values, keys written in another order and unread paths aside, are the same key")

	files := base()
	files["test/p/p.rego"] = policyWith("Probe", "p", `violation contains lib.violation(rego.metadata.chain(), "x") if {
	input.sentinel.source.namespace == "shop"
	input.sentinel.source.pod == "db"
}`)
	cached, err := Load(context.Background(), fsWith(files), ".")
	require.NoError(t, err)
	uncached, err := Load(context.Background(), fsWith(files), ".", WithCacheSize(-1))
	require.NoError(t, err)
	for range 3 {
		for _, in := range []ast.Value{a, b, parseInput(t, `{"verdict": "DROPPED"}`)} {
			want, err := uncached.Eval(context.Background(), in)
			require.NoError(t, err)
			got, err := cached.Eval(context.Background(), in)
			require.NoError(t, err)
			require.Equal(t, want, got)
		}
	}
	stats := cached.CacheStats()
	require.Equal(t, "edge", stats[0].Group)
	require.Positive(t, stats[0].Hits)
	require.Zero(t, uncached.CacheStats()[0].Hits)
}

// TestGateOf: a policy is left out for a flow only when every one of its
// violation rules needs a marker the flow lacks.
func TestGateOf(t *testing.T) {
	const (
		l7   = 1 << 0
		http = 1 << 1
		sdns = 1 << 5
	)
	for _, tc := range []struct {
		name, body string
		gate       uint
	}{
		{"guard", `violation contains lib.violation(rego.metadata.chain(), "x") if {
	input.l7.http
	input.sentinel.destination_port == 80
}`, l7 | http},
		{"comparison", `violation contains lib.violation(rego.metadata.chain(), "x") if input.sentinel.dns.query == "x."`, sdns},
		{"negated", `violation contains lib.violation(rego.metadata.chain(), "x") if not input.l7.http`, 0},
		{"comprehension", `violation contains lib.violation(rego.metadata.chain(), "x") if {
	methods := [m | m := input.l7.http.method]
	count(methods) == 0
}`, 0},
		{"one_rule_of_two", `violation contains lib.violation(rego.metadata.chain(), "x") if input.l7.http.method == "TRACE"

violation contains lib.violation(rego.metadata.chain(), "y") if input.verdict == "DROPPED"`, 0},
		{"both_rules", `violation contains lib.violation(rego.metadata.chain(), "x") if input.l7.http.method == "TRACE"

violation contains lib.violation(rego.metadata.chain(), "y") if input.l7.http.code == 500`, l7 | http},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := base()
			files["test/p/p.rego"] = policyWith("Probe", "p", tc.body)
			s, err := Load(context.Background(), fsWith(files), ".")
			require.NoError(t, err)
			require.Equal(t, tc.gate, s.gate[s.order["Probe"]])
		})
	}
}

// TestGatedEval: a policy gated on HTTP is not evaluated for a DNS flow,
// and judges an HTTP flow.
func TestGatedEval(t *testing.T) {
	files := base()
	files["test/p/p.rego"] = policyWith("Probe", "p", `violation contains lib.violation(rego.metadata.chain(), "x") if {
	input.l7.http
	input.sentinel.destination_port == 4444
}`)
	s, err := Load(context.Background(), fsWith(files), ".")
	require.NoError(t, err)
	got, err := s.Eval(context.Background(), parseInput(t, `{"l7": {"http": {"method": "GET"}}, "sentinel": {"destination_port": 4444}}`))
	require.NoError(t, err)
	require.Contains(t, ids(got), "Probe")
	got, err = s.Eval(context.Background(), parseInput(t, `{"l7": {"dns": {"query": "x."}}, "sentinel": {"destination_port": 4444}}`))
	require.NoError(t, err)
	require.NotContains(t, ids(got), "Probe")
}

// TestDecisionCacheKeepsOnlyRepeats: keys that never come again (a new pod
// in every flow) cost the cache no entries; a key that repeats is kept.
func TestDecisionCacheKeepsOnlyRepeats(t *testing.T) {
	c := newDecisionCache([]ast.Ref{ast.MustParseRef("input.sentinel.source.pod")}, nil, 1024, nil)
	kept := func() int {
		n := 0
		for i := range c.shards {
			n += c.shards[i].lru.Len()
		}
		return n
	}
	for i := range 5000 {
		c.put(c.key(document{parseInput(t, fmt.Sprintf(`{"sentinel": {"source": {"pod": "p%d"}}}`, i))}, 0, 0, ^uint64(0)), nil)
	}
	require.Zero(t, kept())
	k := c.key(document{parseInput(t, `{"sentinel": {"source": {"pod": "again"}}}`)}, 0, 0, ^uint64(0))
	c.put(k, nil)
	c.put(k, nil)
	require.Equal(t, 1, kept())
	_, hit := c.get(k)
	require.True(t, hit)
}

// TestEncodingIsUnambiguous: values that differ (in type, in how strings
// split, in nesting, undefined or null) never encode alike; the same
// value built another way does.
func TestEncodingIsUnambiguous(t *testing.T) {
	enc := func(v ast.Value) string {
		e := encoders.Get().(*encoder)
		e.buf = e.buf[:0]
		e.value(v)
		return string(e.buf)
	}
	values := []ast.Value{nil, ast.Null{}, ast.Boolean(false), ast.Boolean(true),
		ast.Number("1"), ast.Number("1.0"), ast.String("1"), ast.String(""), ast.String("ab"),
		ast.MustParseTerm(`["a", "b"]`).Value, ast.MustParseTerm(`["ab"]`).Value, ast.MustParseTerm(`["a", ["b"]]`).Value,
		ast.MustParseTerm(`[]`).Value, ast.MustParseTerm(`{}`).Value, ast.MustParseTerm(`set()`).Value,
		ast.MustParseTerm(`{"a": "b"}`).Value, ast.MustParseTerm(`{"ab": ""}`).Value, ast.MustParseTerm(`{"a": "b", "c": null}`).Value,
		ast.MustParseTerm(`{"a": {"b": 1}}`).Value, ast.MustParseTerm(`{"a": ["b", 1]}`).Value, ast.MustParseTerm(`{"a"}`).Value,
		ast.MustParseTerm(`[null]`).Value, ast.MustParseTerm(`[[]]`).Value, ast.MustParseTerm(`[{}]`).Value,
	}
	seen := map[string]int{}
	for i, v := range values {
		k := enc(v)
		j, dup := seen[k]
		require.False(t, dup, "%v and %v encode alike", v, values[min(j, len(values)-1)])
		seen[k] = i
	}
	// Concatenations must not collide either: a path's value ends where
	// the next begins.
	pairs := map[string][2]int{}
	for i, a := range values {
		for j, b := range values {
			k := enc(a) + enc(b)
			if p, dup := pairs[k]; dup {
				t.Fatalf("(%v, %v) and (%v, %v) encode alike", a, b, values[p[0]], values[p[1]])
			}
			pairs[k] = [2]int{i, j}
		}
	}
	x, y := ast.NewObject(), ast.NewObject()
	x.Insert(ast.StringTerm("a"), ast.IntNumberTerm(1))
	x.Insert(ast.StringTerm("b"), ast.StringTerm("c"))
	y.Insert(ast.StringTerm("b"), ast.StringTerm("c"))
	y.Insert(ast.StringTerm("a"), ast.IntNumberTerm(1))
	require.Equal(t, enc(x), enc(y))
}
