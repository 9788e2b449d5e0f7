package policy

import (
	"math"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// A guard is a comparison of one input value with a constant that a
// violation rule's body requires: `input.l7.type == "REQUEST"`, or
// `rate.per_min >= 100` once `rate := input.sentinel.baseline.rate` and
// the data threshold are inlined. A body is a conjunction, so on a flow
// where one of its guards is false (or its value undefined) the rule
// finds nothing, and a policy whose every rule has a false guard need not
// be evaluated. The engine checks guards in Go, on the input's values, with
// the comparison Rego's own builtins use (ast.Compare).
//
// This is what keeps the volatile policies (live baseline rates, latency,
// fan-out, headers) cheap: they read values that differ on every flow, so
// no decision cache helps them, but each leads with a threshold that
// ordinary traffic stays below.
//
// A guard may also compare an input value with another scaled or shifted
// by a constant (see relation): `rate.per_min >= 3 * rate.baseline_per_min`,
// `errors.ratio >= errors.baseline_ratio + 0.2`. Those are checked with
// float64 arithmetic and a margin far wider than its rounding, so that
// they fail only where Rego's exact arithmetic fails too; they only skip
// flows and are left out of the aggregate rules.
//
// And a guard may ask for a constant substring, as contains does:
// `contains(input.sentinel.http.specials, "$")`, true only for a string
// holding it. The engine measures the unusual characters of a request
// (specials), so an injection policy whose payloads need one skips every
// request without it.
//
// A guard may also be a builtin test of one input string (see call), read
// from the body with the string functions and constant lists it goes
// through: `regex.match("['\"`;(*@]", request.specials)`, `some keyword
// in data.data.http.cmdi_keywords; contains(request.text, keyword)`. And a
// body that requires a helper rule (`triggered`, true when one of its
// bodies holds) is guarded by the guards of each of those bodies, one of
// which must hold (opAnyOf). So the injection policies' triggers are
// checked in Go, and a signed URL, new on every request and without any
// trigger, is judged without Rego.
type guard struct {
	path []*ast.Term // keys below input (nil with opAnyOf)
	op   guardOp
	c    ast.Value // a scalar: number, string, boolean or null (nil with rel)
	rel  *relation
	call *call     // opCall
	alts [][]guard // opAnyOf: each body's guards
	// ints and strs are, for opIn, the collection's elements when every
	// one is an integer (ports) or a string (addresses): a flow's integer
	// or string is looked up here.
	ints map[int64]bool
	strs map[string]bool
}

// inRego reports whether the guard is written into the aggregate's rules
// (see guardedRules): comparisons, memberships and substrings are; the
// others are checked in Go only, and the rule bodies decide.
func (g *guard) inRego() bool {
	return g.rel == nil && g.op != opCall && g.op != opAnyOf && g.op != opAnyIn
}

// relation is the other side of a guard comparing two input values: the
// value at path times k (mul) or plus k (plus).
type relation struct {
	path  []*ast.Term
	arith string // ast.Multiply.Name or ast.Plus.Name
	k     ast.Number
	kf    float64 // k, parsed once
}

type guardOp uint8

const (
	opEq guardOp = iota
	opNeq
	opLt
	opLte
	opGt
	opGte
	opIn       // membership in a constant collection: `input.a in {"x", "y"}`
	opContains // a constant substring: `contains(input.a, "$")`
	opAnyIn    // an element in a constant collection: `some x in input.a; x in {…}`
	opCall     // a builtin test of one input value (see call)
	opAnyOf    // one of a helper rule's bodies (see guardReader.anyOf)
)

var guardOps = map[string]guardOp{
	ast.Equality.Name:      opEq, // unification with a constant
	ast.Equal.Name:         opEq,
	ast.NotEqual.Name:      opNeq,
	ast.LessThan.Name:      opLt,
	ast.LessThanEq.Name:    opLte,
	ast.GreaterThan.Name:   opGt,
	ast.GreaterThanEq.Name: opGte,
}

// flipped is op with its operands swapped: 100 <= x is x >= 100.
func (op guardOp) flipped() guardOp {
	switch op {
	case opLt:
		return opGt
	case opLte:
		return opGte
	case opGt:
		return opLt
	case opGte:
		return opLte
	}
	return op
}

// holds reports whether the guard is true of input: the value is there and
// compares with the constant (or the relation) as op says.
func (g *guard) holds(input ast.Value) bool {
	if g.op == opAnyOf {
	alts:
		for _, gs := range g.alts {
			for k := range gs {
				if !gs[k].holds(input) {
					continue alts
				}
			}
			return true
		}
		return false
	}
	if g.rel != nil {
		return g.relationHolds(lookup(input, g.path), lookup(input, g.rel.path))
	}
	return g.holdsFor(lookup(input, g.path))
}

// relMargin is how far apart (relative to the larger of the operands, and
// at least this much absolutely) the two sides of a relation must be for
// the guard to fail: float64 arithmetic on two-decimal numbers is off by
// around 1e-16 of them, and Rego's by less.
const relMargin = 1e-9

// relationHolds reports whether a op (b times or plus k) may be true:
// false only when a or b is undefined (so is the rule's body) or when both
// are numbers and the comparison fails by more than relMargin. Anything
// else (another type, an unparsable or infinite number, == and !=) holds,
// and Rego decides.
func (g *guard) relationHolds(a, b *ast.Term) bool {
	if a == nil || b == nil {
		return false
	}
	x, ok1 := number(a.Value)
	y, ok2 := number(b.Value)
	if !ok1 || !ok2 {
		return true
	}
	r := g.rel.of(y)
	if math.IsInf(r, 0) || math.IsNaN(r) {
		return true
	}
	tol := relMargin * max(1, math.Abs(x), math.Abs(r))
	switch g.op {
	case opGte:
		return x >= r-tol
	case opGt:
		return x > r-tol
	case opLte:
		return x <= r+tol
	case opLt:
		return x < r+tol
	}
	return true
}

// of is y times or plus k.
func (r *relation) of(y float64) float64 {
	if r.arith == ast.Multiply.Name {
		return y * r.kf
	}
	return y + r.kf
}

// number is v as a finite float64, if v is a number.
func number(v ast.Value) (float64, bool) {
	n, ok := v.(ast.Number)
	if !ok {
		return 0, false
	}
	return n.Float64() // false out of float64's range
}

// holdsFor reports whether the guard holds for t, the value at its path
// (nil: undefined).
func (g *guard) holdsFor(t *ast.Term) bool {
	if g.op == opCall {
		return g.call.holdsFor(t)
	}
	if t == nil {
		return false
	}
	if g.op == opContains { // as contains decides: strings only
		v, ok := t.Value.(ast.String)
		return ok && strings.Contains(string(v), string(g.c.(ast.String)))
	}
	if g.op == opAnyIn { // some element of the value (an array, set or object's values)
		switch v := t.Value.(type) {
		case *ast.Array:
			for i := range v.Len() {
				if g.member(v.Elem(i)) {
					return true
				}
			}
		case ast.Set:
			return v.Until(g.member)
		case ast.Object:
			return v.Until(func(_, e *ast.Term) bool { return g.member(e) })
		}
		return false
	}
	if g.op == opIn {
		return g.member(t)
	}
	var c int
	switch v := t.Value.(type) {
	case ast.String: // most guards: a flow's type, verdict, kind
		if k, ok := g.c.(ast.String); ok {
			c = strings.Compare(string(v), string(k))
		} else {
			c = ast.Compare(v, g.c)
		}
	case ast.Boolean:
		if k, ok := g.c.(ast.Boolean); ok {
			c = boolCompare(bool(v), bool(k))
		} else {
			c = ast.Compare(v, g.c)
		}
	default:
		c = ast.Compare(v, g.c)
	}
	switch g.op {
	case opEq:
		return c == 0
	case opNeq:
		return c != 0
	case opLt:
		return c < 0
	case opLte:
		return c <= 0
	case opGt:
		return c > 0
	default:
		return c >= 0
	}
}

// member reports whether t is in the guard's collection, as
// internal.member_2 decides.
func (g *guard) member(t *ast.Term) bool {
	switch v := t.Value.(type) {
	case ast.Number:
		if i, ok := v.Int64(); ok && g.ints != nil {
			return g.ints[i]
		}
	case ast.String:
		if g.strs != nil {
			return g.strs[string(v)]
		}
	}
	switch c := g.c.(type) {
	case ast.Set:
		return c.Contains(t)
	case *ast.Array:
		return c.Until(t.Equal)
	case ast.Object:
		return c.Until(func(_, v *ast.Term) bool { return t.Equal(v) })
	}
	return false
}

// boolCompare orders booleans as Rego does: false before true.
func boolCompare(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

var opSymbols = [...]string{opEq: "==", opNeq: "!=", opLt: "<", opLte: "<=", opGt: ">", opGte: ">=", opIn: "in", opContains: "contains"}

// String is the guard as Rego would say it: input.a.b >= 20, input.a >=
// 3 * input.b.
func (g *guard) String() string {
	switch g.op {
	case opContains:
		return "contains(" + inputRef(g.path) + ", " + g.c.String() + ")"
	case opAnyIn:
		return "some x in " + inputRef(g.path) + "; x in " + g.c.String()
	case opCall:
		return g.call.text
	case opAnyOf:
		alts := make([]string, len(g.alts))
		for i, gs := range g.alts {
			s := make([]string, len(gs))
			for k := range gs {
				s[k] = gs[k].String()
			}
			alts[i] = "{" + strings.Join(s, "; ") + "}"
		}
		return "any(" + strings.Join(alts, " | ") + ")"
	}
	left := inputRef(g.path) + " " + opSymbols[g.op] + " "
	if r := g.rel; r != nil {
		if r.arith == ast.Multiply.Name {
			return left + r.k.String() + " * " + inputRef(r.path)
		}
		return left + inputRef(r.path) + " + " + r.k.String()
	}
	return left + g.c.String()
}

func inputRef(path []*ast.Term) string {
	return ast.Ref(append([]*ast.Term{ast.InputRootDocument}, path...)).String()
}

// guardsOf returns, for each violation rule of the policy in package pkg,
// the guards its body requires; nil when some rule has none (the policy
// can judge any flow), or when a body cannot be read safely. Only plain
// top-level expressions count: not negated, without `with`, outside
// some/every and comprehensions (which are not walked), a comparison
// builtin or a unification whose one side is an input path (directly, or
// through variables bound to one in the same body) and whose other side
// is a scalar constant, a membership in a constant collection, contains
// with an input path and a constant string, a builtin test of one input
// value (see call), or a reference to a helper rule defined by bodies with
// guards of their own (see anyOf). data resolves data documents (nil:
// none).
func guardsOf(c *ast.Compiler, data func(ast.Ref) (*ast.Term, bool), pkg string) [][]guard {
	rules := c.GetRules(ast.MustParseRef("data." + pkg + "." + RuleName))
	if len(rules) == 0 {
		return nil
	}
	gr := &guardReader{c: c, data: data}
	out := make([][]guard, 0, len(rules))
	for _, r := range rules {
		gs := gr.bodyGuards(r.Body, 0)
		if len(gs) == 0 {
			return nil
		}
		out = append(out, gs)
	}
	return out
}

// guardReader reads guards from compiled rule bodies.
type guardReader struct {
	c    *ast.Compiler
	data func(ast.Ref) (*ast.Term, bool)
}

// maxHelperDepth bounds how deep anyOf follows helper rules into helper
// rules.
const maxHelperDepth = 3

func (gr *guardReader) bodyGuards(body ast.Body, depth int) []guard {
	// Variables bound to an input path (or below another such variable)
	// by a top-level unification: when the body succeeds, the variable
	// holds that value.
	alias := map[ast.Var]ast.Ref{}
	for range len(body) { // bindings may chain in any order
		grew := false
		eachBinding(body, func(v ast.Var, t *ast.Term) {
			if alias[v] != nil {
				return
			}
			if p, ok := inputPath(t, alias); ok {
				alias[v], grew = p, true
			}
		})
		if !grew {
			break
		}
	}
	derived := derivedValues(body, alias)
	elems := elementsOfInput(body, alias)
	defs := gr.readDefs(body, alias)
	var out []guard
	seen := map[string]bool{}
	add := func(g guard) {
		if k := g.String(); !seen[k] {
			seen[k] = true
			out = append(out, g)
		}
	}
	for _, e := range body {
		if t, ok := e.Terms.(*ast.Term); ok && !e.Negated && len(e.With) == 0 {
			if g, ok := gr.anyOf(t, depth); ok {
				add(g)
			} else if g, ok := gr.keyOf(t, alias, elems); ok {
				add(g)
			}
			continue
		}
		if !plainExpr(e) {
			continue
		}
		terms, ok := e.Terms.([]*ast.Term)
		if !ok {
			continue
		}
		if g, ok := simpleGuard(e, terms, alias, elems, derived); ok {
			add(g)
		} else if g, ok := callGuard(e, defs); ok {
			add(g)
		} else if g, ok := keyGuard(e, defs); ok {
			add(g)
		}
	}
	return out
}

// simpleGuard reads a comparison, a membership or a substring.
func simpleGuard(e *ast.Expr, terms []*ast.Term, alias, elems map[ast.Var]ast.Ref, derived map[ast.Var]*relation) (guard, bool) {
	if len(terms) != 3 {
		return guard{}, false
	}
	switch e.Operator().String() {
	case ast.Contains.Name:
		return substring(terms[1], terms[2], alias)
	case ast.Member.Name:
		return membership(terms[1], terms[2], alias, elems)
	}
	op, ok := guardOps[e.Operator().String()]
	if !ok {
		return guard{}, false
	}
	if g, ok := comparison(terms[1], terms[2], op, alias, derived); ok {
		return g, true
	}
	return comparison(terms[2], terms[1], op.flipped(), alias, derived)
}

// anyOf reads t, a reference to a helper rule such as `triggered if …`
// (true when one of its bodies holds, never false: no default, no else,
// no arguments), as a guard holding when the guards of one of its bodies
// do; none when a body has none.
func (gr *guardReader) anyOf(t *ast.Term, depth int) (guard, bool) {
	ref, ok := t.Value.(ast.Ref)
	if !ok || depth >= maxHelperDepth || !ref.HasPrefix(ast.DefaultRootRef) || !ref.IsGround() {
		return guard{}, false
	}
	// In source order (GetRules' order is not stable), so a guard reads
	// the same at every load and checks the bodies as written.
	rules := slices.Clone(gr.c.GetRules(ref))
	if len(rules) == 0 {
		return guard{}, false
	}
	slices.SortStableFunc(rules, func(a, b *ast.Rule) int { return a.Location.Compare(b.Location) })
	g := guard{op: opAnyOf}
	for _, r := range rules {
		if r.Default || r.Else != nil || len(r.Head.Args) > 0 || r.Head.Key != nil || !r.Path().Equal(ref) ||
			r.Head.Value == nil || !r.Head.Value.Equal(ast.BooleanTerm(true)) {
			return guard{}, false
		}
		gs := gr.bodyGuards(r.Body, depth+1)
		if len(gs) == 0 {
			return guard{}, false
		}
		g.alts = append(g.alts, gs)
	}
	return g, true
}

func plainExpr(e *ast.Expr) bool {
	if e.Negated || len(e.With) > 0 {
		return false
	}
	_, ok := e.Terms.([]*ast.Term)
	return ok
}

// derivedValues are the variables a body binds, at top level, to an input
// value times or plus a number (one float64 holds): the compiler turns `x >= 3 * input.b` into
// `mul(3, input.b, __local0__)` and `x >= __local0__`.
func derivedValues(body ast.Body, alias map[ast.Var]ast.Ref) map[ast.Var]*relation {
	out := map[ast.Var]*relation{}
	for _, e := range body {
		if !plainExpr(e) {
			continue
		}
		terms := e.Terms.([]*ast.Term)
		name := e.Operator().String()
		if len(terms) != 4 || (name != ast.Multiply.Name && name != ast.Plus.Name) {
			continue
		}
		v, ok := terms[3].Value.(ast.Var)
		if !ok {
			continue
		}
		for _, pair := range [][2]*ast.Term{{terms[1], terms[2]}, {terms[2], terms[1]}} {
			k, isNum := pair[1].Value.(ast.Number)
			kf, finite := number(pair[1].Value)
			if p, ok := inputPath(pair[0], alias); ok && isNum && finite {
				out[v] = &relation{path: p[1:], arith: name, k: k, kf: kf}
				break
			}
		}
	}
	return out
}

// comparison reads `a op b` as a guard when a is an input path and b a
// scalar constant, or b a derived value and op an ordering.
func comparison(a, b *ast.Term, op guardOp, alias map[ast.Var]ast.Ref, derived map[ast.Var]*relation) (guard, bool) {
	p, ok := inputPath(a, alias)
	if !ok {
		return guard{}, false
	}
	if v, ok := b.Value.(ast.Var); ok {
		if r := derived[v]; r != nil && op >= opLt && op <= opGte {
			return guard{path: p[1:], op: op, rel: r}, true
		}
		return guard{}, false
	}
	switch b.Value.(type) {
	case ast.Number, ast.String, ast.Boolean, ast.Null:
	default:
		return guard{}, false
	}
	return guard{path: p[1:], op: op, c: b.Value}, true
}

// substring reads `contains(a, c)` as a guard when a is an input path and
// c a constant string.
func substring(a, c *ast.Term, alias map[ast.Var]ast.Ref) (guard, bool) {
	p, ok := inputPath(a, alias)
	if !ok {
		return guard{}, false
	}
	if _, ok := c.Value.(ast.String); !ok {
		return guard{}, false
	}
	return guard{path: p[1:], op: opContains, c: c.Value}, true
}

// membership reads `a in c` (internal.member_2) as a guard when a is an
// input path and c a constant set, array or object.
func membership(a, c *ast.Term, alias, elems map[ast.Var]ast.Ref) (guard, bool) {
	op := opIn
	p, ok := inputPath(a, alias)
	if v, isVar := a.Value.(ast.Var); !ok && isVar && elems[v] != nil {
		op, p, ok = opAnyIn, elems[v], true
	}
	if !ok || !c.IsGround() {
		return guard{}, false
	}
	switch c.Value.(type) {
	case ast.Set, *ast.Array, ast.Object:
		return guard{path: p[1:], op: op, c: c.Value, ints: integers(c.Value), strs: stringsOf(c.Value)}, true
	}
	return guard{}, false
}

// keyOf reads t, `data.x[k]` with data.x a data object and k an input
// value or each element of an input collection, as a guard that k (some
// element) is one of the object's keys whose value is not false: what
// makes the expression hold.
func (gr *guardReader) keyOf(t *ast.Term, alias, elems map[ast.Var]ast.Ref) (guard, bool) {
	ref, ok := t.Value.(ast.Ref)
	if !ok || len(ref) < 3 || gr.data == nil || !ref.HasPrefix(ast.DefaultRootRef) {
		return guard{}, false
	}
	head := ref[:len(ref)-1]
	v, isVar := ref[len(ref)-1].Value.(ast.Var)
	if !isVar || !head.IsGround() {
		return guard{}, false
	}
	op, p, found := opIn, alias[v], alias[v] != nil
	if !found && elems[v] != nil {
		op, p, found = opAnyIn, elems[v], true
	}
	coll, ok := gr.data(head)
	if !found || !ok {
		return guard{}, false
	}
	obj, ok := coll.Value.(ast.Object)
	if !ok {
		return guard{}, false
	}
	keys := ast.NewSet()
	obj.Foreach(func(k, val *ast.Term) {
		if !val.Equal(ast.BooleanTerm(false)) {
			keys.Add(k)
		}
	})
	return guard{path: p[1:], op: op, c: keys, ints: integers(keys), strs: stringsOf(keys)}, true
}

// elementsOfInput are the variables a body binds, at top level, to each
// element of an input collection: `some name in input.a.names` is
// `name = input.a.names[k]`, k a variable of its own.
func elementsOfInput(body ast.Body, alias map[ast.Var]ast.Ref) map[ast.Var]ast.Ref {
	out := map[ast.Var]ast.Ref{}
	eachBinding(body, func(v ast.Var, t *ast.Term) {
		ref, isRef := t.Value.(ast.Ref)
		if !isRef || len(ref) < 2 {
			return
		}
		if _, last := ref[len(ref)-1].Value.(ast.Var); !last {
			return
		}
		if p, ok := inputPath(ast.NewTerm(ref[:len(ref)-1]), alias); ok {
			out[v] = p
		}
	})
	return out
}

// eachBinding calls f for each variable a plain top-level unification of
// body binds, with the other side: `v = t` and `t = v` alike.
func eachBinding(body ast.Body, f func(v ast.Var, t *ast.Term)) {
	for _, e := range body {
		if !plainExpr(e) || !e.IsEquality() {
			continue
		}
		terms := e.Terms.([]*ast.Term)
		for _, pair := range [][2]*ast.Term{{terms[1], terms[2]}, {terms[2], terms[1]}} {
			if v, ok := pair[0].Value.(ast.Var); ok {
				f(v, pair[1])
			}
		}
	}
}

// integers are the elements (an object's values) of a collection when
// every one is an integer that int64 holds, else nil.
func integers(v ast.Value) map[int64]bool {
	return elementsAs(v, func(t *ast.Term) (int64, bool) {
		n, isNum := t.Value.(ast.Number)
		i, isInt := n.Int64()
		return i, isNum && isInt
	})
}

// stringsOf are the elements (an object's values) of a collection when
// every one is a string, else nil.
func stringsOf(v ast.Value) map[string]bool {
	return elementsAs(v, func(t *ast.Term) (string, bool) {
		s, ok := t.Value.(ast.String)
		return string(s), ok
	})
}

func elementsAs[K comparable](v ast.Value, as func(*ast.Term) (K, bool)) map[K]bool {
	out := map[K]bool{}
	for _, t := range valuesOf(v) {
		k, ok := as(t)
		if !ok {
			return nil
		}
		out[k] = true
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// valuesOf are the elements of a set or an array, or an object's values,
// as `some x in v` takes them (nil for other values).
func valuesOf(v ast.Value) []*ast.Term {
	var out []*ast.Term
	switch c := v.(type) {
	case ast.Set:
		c.Foreach(func(t *ast.Term) { out = append(out, t) })
	case *ast.Array:
		c.Foreach(func(t *ast.Term) { out = append(out, t) })
	case ast.Object:
		c.Foreach(func(_, t *ast.Term) { out = append(out, t) })
	}
	return out
}

// inputPath resolves t to a constant input path (input.a.b), through
// variables bound to one.
func inputPath(t *ast.Term, alias map[ast.Var]ast.Ref) (ast.Ref, bool) {
	var base, rest ast.Ref
	switch v := t.Value.(type) {
	case ast.Var:
		p, ok := alias[v]
		return p, ok
	case ast.Ref:
		switch h := v[0].Value.(type) {
		case ast.Var:
			if h.Equal(ast.InputRootDocument.Value) {
				base, rest = ast.InputRootRef, v[1:]
			} else if p, ok := alias[h]; ok {
				base, rest = p, v[1:]
			} else {
				return nil, false
			}
		default:
			return nil, false
		}
	default:
		return nil, false
	}
	for _, k := range rest {
		if _, ok := k.Value.(ast.String); !ok {
			return nil, false
		}
	}
	p := make(ast.Ref, 0, len(base)+len(rest))
	p = append(append(p, base...), rest...)
	if len(p) < 2 {
		return nil, false // input itself
	}
	return p, true
}

// guardTable holds every policy's guards once: the distinct guards and the
// distinct paths they read, so that a flow looks each path up and checks
// each comparison at most once, however many policies and groups share
// them (input.l7.type == "REQUEST" guards a dozen policies).
type guardTable struct {
	paths [][]*ast.Term
	// deferred marks the paths within a deferred measurement group (see
	// DeferredPaths).
	deferred []bool
	// slot is each path's slot (see Flow).
	slot   []int
	guards []guard
	pathOf []int // guards[k] reads paths[pathOf[k]] (-1: an opAnyOf)
	relOf  []int // and, with a relation, paths[relOf[k]] (else -1)
	// alts are an opAnyOf's bodies' guards (indexes into guards).
	alts [][][]int
	// rules are, per policy, each violation rule's guards (indexes into
	// guards); nil: the policy can judge any flow.
	rules [][][]int
}

func newGuardTable(perPolicy [][][]guard) *guardTable {
	t := &guardTable{rules: make([][][]int, len(perPolicy))}
	paths, guards := map[string]int{}, map[string]int{}
	pathIndex := func(path []*ast.Term) int {
		p := ast.Ref(path).String()
		pi, ok := paths[p]
		if !ok {
			pi = len(t.paths)
			paths[p] = pi
			t.paths = append(t.paths, path)
		}
		return pi
	}
	var intern func(g guard) int
	intern = func(g guard) int {
		if k, ok := guards[g.String()]; ok {
			return k
		}
		var alts [][]int
		for _, gs := range g.alts {
			ks := make([]int, len(gs))
			for j := range gs {
				ks[j] = intern(gs[j])
			}
			alts = append(alts, ks)
		}
		path, rel := -1, -1
		if g.op != opAnyOf {
			path = pathIndex(g.path)
		}
		if g.rel != nil {
			rel = pathIndex(g.rel.path)
		}
		k := len(t.guards)
		guards[g.String()] = k
		t.guards = append(t.guards, g)
		t.pathOf = append(t.pathOf, path)
		t.relOf = append(t.relOf, rel)
		t.alts = append(t.alts, alts)
		return k
	}
	for i, rules := range perPolicy {
		if rules == nil {
			continue
		}
		t.rules[i] = make([][]int, len(rules))
		for r, gs := range rules {
			for _, g := range gs {
				t.rules[i][r] = append(t.rules[i][r], intern(g))
			}
		}
	}
	for _, path := range t.paths {
		t.deferred = append(t.deferred, covered(append(ast.Ref{ast.InputRootDocument}, path...), deferrable))
	}
	return t
}

// guardMemo is what one flow's guards gave: each path's value and each
// guard's answer, found when first asked. It lives on the evaluating
// goroutine's stack; a table larger than its arrays spills to the heap.
type guardMemo struct {
	t        *guardTable
	flow     Flow
	deferred Deferred // what input was built without (nil: none)
	small    bool
	vbuf     [96]*ast.Term
	lbuf     [96]bool
	sbuf     [128]uint8 // 0: not yet checked, 1: holds, 2: does not
	big      *guardSpill
}

type guardSpill struct {
	vals   []*ast.Term
	looked []bool
	state  []uint8
}

func (m *guardMemo) reset(t *guardTable, fl Flow) {
	m.t, m.flow, m.deferred = t, fl, nil
	m.small = len(t.paths) <= len(m.vbuf) && len(t.guards) <= len(m.sbuf)
	if m.small {
		clear(m.lbuf[:len(t.paths)])
		clear(m.sbuf[:len(t.guards)])
	} else {
		m.big = &guardSpill{vals: make([]*ast.Term, len(t.paths)), looked: make([]bool, len(t.paths)), state: make([]uint8, len(t.guards))}
	}
}

func (m *guardMemo) holds(k int) bool {
	state, looked, vals := m.sbuf[:], m.lbuf[:], m.vbuf[:]
	if !m.small {
		state, looked, vals = m.big.state, m.big.looked, m.big.vals
	}
	switch state[k] {
	case 1:
		return true
	case 2:
		return false
	}
	value := func(p int) *ast.Term { return m.value(p, looked, vals) }
	var ok bool
	switch g := &m.t.guards[k]; {
	case g.op == opAnyOf:
		ok = m.anyHolds(k)
	case g.op == opAnyIn && g.strs != nil && m.stringsHold(g, k, &ok):
	case g.op == opCall && m.deferred != nil && m.t.deferred[m.t.pathOf[k]]:
		ok = true // a measurement: not a call guard's string
	case m.deferred != nil && (m.t.deferred[m.t.pathOf[k]] || g.rel != nil && m.t.deferred[m.t.relOf[k]]):
		ok = m.deferredHolds(g, k, value)
	case g.rel != nil:
		ok = g.relationHolds(value(m.t.pathOf[k]), value(m.t.relOf[k]))
	default:
		ok = g.holdsFor(value(m.t.pathOf[k]))
	}
	state[k] = 2
	if ok {
		state[k] = 1
	}
	return ok
}

// deferredHolds is holds for a guard reading a deferred measurement: from
// the measurement's float when the guard compares it with a number or
// with another input number, the guard failing only when it fails by more
// than the document's rounding to two decimals; from the whole document
// otherwise. value is the light document's value at a path.
func (m *guardMemo) deferredHolds(g *guard, k int, value func(int) *ast.Term) bool {
	float := func(p int) (float64, bool) {
		if m.t.deferred[p] {
			return m.deferred.Float(m.t.paths[p])
		}
		if t := value(p); t != nil {
			return number(t.Value)
		}
		return 0, false
	}
	x, okx := float(m.t.pathOf[k])
	if g.rel != nil {
		y, oky := float(m.t.relOf[k])
		if !okx || !oky {
			whole := m.deferred.Whole()
			return g.relationHolds(lookup(whole, g.path), lookup(whole, g.rel.path))
		}
		return g.relationMayHold(x, y)
	}
	if c, okc := number(g.c); okx && okc && g.op != opIn {
		return g.mayHold(x, c)
	}
	return g.holdsFor(lookup(m.deferred.Whole(), g.path))
}

// rounding bounds how far a document's number is from the measurement it
// was written from (two decimals: 0.005), with room for float64's own.
const rounding = 0.006

// mayHold reports whether the guard may hold for the number a document
// writes from x: false only when it fails for every number within rounding
// of x.
func (g *guard) mayHold(x, c float64) bool {
	tol := rounding + relMargin*max(1, math.Abs(x), math.Abs(c))
	switch g.op {
	case opEq:
		return math.Abs(x-c) <= tol
	case opLt, opLte:
		return x <= c+tol
	case opGt, opGte:
		return x >= c-tol
	}
	return true // opNeq: unknown so close to c
}

// relationMayHold is mayHold for a relation guard: x and y the two
// measurements before rounding.
func (g *guard) relationMayHold(x, y float64) bool {
	a, b := g.rel.of(y-rounding), g.rel.of(y+rounding)
	rlo, rhi := min(a, b), max(a, b)
	if math.IsInf(rlo, 0) || math.IsInf(rhi, 0) || math.IsNaN(rlo) || math.IsNaN(rhi) {
		return true
	}
	tol := relMargin * max(1, math.Abs(x), math.Abs(rlo), math.Abs(rhi))
	switch g.op {
	case opGte, opGt:
		return x+rounding >= rlo-tol
	case opLte, opLt:
		return x-rounding <= rhi+tol
	}
	return true
}

// value is the flow's value at path p (nil: none).
func (m *guardMemo) value(p int, looked []bool, vals []*ast.Term) *ast.Term {
	if !looked[p] {
		vals[p], looked[p] = at(m.flow, m.t.slot[p], m.t.paths[p]), true
	}
	return vals[p]
}

// stringsFlow is a Flow that gives a list of strings' value as the strings
// themselves (input.Lazy: the names and domains it measured), so that a
// guard asking whether one is in a set needs no term of the list: ok is
// false for a path it cannot.
type stringsFlow interface {
	StringsAt(slot int) (list []string, defined, ok bool)
}

// stringsHold checks an opAnyIn guard of strings, k, on the flow's list
// of strings without its term, into held, and reports whether the flow
// could give that list.
func (m *guardMemo) stringsHold(g *guard, k int, held *bool) bool {
	sf, ok := m.flow.(stringsFlow)
	if !ok {
		return false
	}
	list, defined, ok := sf.StringsAt(m.t.slot[m.t.pathOf[k]])
	if !ok {
		return false
	}
	*held = false
	if defined {
		for _, s := range list {
			if g.strs[s] {
				*held = true
				break
			}
		}
	}
	return true
}

// anyHolds reports whether the flow passes every guard of one of an
// opAnyOf guard's bodies.
func (m *guardMemo) anyHolds(k int) bool {
	return m.oneOf(m.t.alts[k])
}

// oneOf reports whether the flow passes every guard of one of the lists.
func (m *guardMemo) oneOf(lists [][]int) bool {
next:
	for _, gs := range lists {
		for _, k := range gs {
			if !m.holds(k) {
				continue next
			}
		}
		return true
	}
	return false
}

// canJudge reports whether the flow passes every guard of one of policy
// i's violation rules.
func (m *guardMemo) canJudge(i int) bool {
	rules := m.t.rules[i]
	if rules == nil {
		return true
	}
	return m.oneOf(rules)
}

// possible is which policies of sub (a bit each, by position; the first
// 64) the flow passes the guards of in at least one violation rule, and
// whether any does.
func (m *guardMemo) possible(sub []int) (bits uint64, any bool) {
	for b, i := range sub {
		if m.canJudge(i) {
			any = true
			if b < 64 {
				bits |= 1 << b
			}
		}
	}
	return bits, any
}
