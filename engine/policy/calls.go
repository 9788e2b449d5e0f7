package policy

import (
	"regexp"
	"regexp/syntax"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// A call guard is a builtin test a rule body requires of one input value,
// checked in Go with OPA's own builtin: `regex.match("[;|$]",
// request.specials)`, or `strings.any_prefix_match(split(lower(q), "&"),
// [...])` once `q := input.sentinel.http.query`. The test's arguments are
// constants, that one input value, the results of pure string builtins
// applied to them (lower, split, …) and, for one variable the body takes
// from a constant collection (`some keyword in data.data.http.keywords`),
// each of its elements: the guard holds when the test holds for one.
//
// The value may also come from a library rule that reads an input string
// and computes it when the input lacks it (request.text: the measured
// input.sentinel.http.text, or the same thing computed in Rego). The guard
// then tests the input string, and lets through a flow without one.
//
// A guard only ever lets through what the rule body might accept: where
// the Go side cannot tell (a builtin error, a value of another type), it
// holds, and Rego decides.
type call struct {
	steps []callStep // the last is the test
	// each are the constant elements a variable of the body ranges over
	// (nil: the test reads none).
	each []*ast.Term
	// lenient: the value comes from a library rule with a fallback, so an
	// absent or non-string value tells nothing.
	lenient bool
	text    string // the test as Rego, for the table and tests
	// native: the steps run on Go strings (see holdsNative), with each's
	// elements as eachNative.
	native     bool
	eachNative []nv
}

type callStep struct {
	fn topdown.BuiltinFunc
	re *regexp.Regexp // regex.match of a constant pattern, compiled once
	// reEach: regex.match of each element of call.each, compiled once.
	reEach []*regexp.Regexp
	// lits are, for a regex.match of re (of each of reEach), substrings
	// every match holds one of (nil: none known), checked first: a regular
	// expression starting with \b has no literal prefix for the regexp
	// package to skip to, and scans its input at a few ns a byte.
	lits     []string
	litsEach [][]string
	// keys, when set, make the step a test that its one argument is one
	// of them: a data object's keys, as `v := data.x[k]` binds only then.
	keys ast.Set
	args []callArg
	// native is the step on Go values (nNone: none), consts its constant
	// arguments as such (by position), replacer a replace of constants,
	// made once.
	native   nativeOp
	consts   []nv
	replacer *strings.Replacer
	// perEach: the step reads the element ranged over, itself or
	// through another step.
	perEach bool
	// affixes index a constant list of strings.any_prefix_match or
	// any_suffix_match (see affixIndex).
	affixes *affixIndex
}

type callArgKind uint8

const (
	argConst callArgKind = iota
	argInput
	argEach
	argStep
)

type callArg struct {
	kind callArgKind
	c    *ast.Term // argConst
	step int       // argStep: that step's result
}

// callTests are the builtins a call guard may end with; callMaps the pure
// string functions its arguments may go through. All are deterministic,
// read nothing but their operands, and cost at most linear time in them.
var (
	callTests = map[string]bool{
		ast.Contains.Name: true, ast.StartsWith.Name: true, ast.EndsWith.Name: true,
		ast.RegexMatch.Name: true, ast.AnyPrefixMatch.Name: true, ast.AnySuffixMatch.Name: true,
		ast.Equal.Name: true, ast.NotEqual.Name: true,
	}
	callMaps = map[string]bool{
		ast.Lower.Name: true, ast.Upper.Name: true, ast.Split.Name: true,
		ast.TrimSpace.Name: true, ast.Replace.Name: true, ast.FormatInt.Name: true,
	}
)

// maxEach bounds the constant collection a call guard ranges over.
const maxEach = 4096

// holdsFor reports whether the test may hold for t, the input value (nil:
// undefined).
func (c *call) holdsFor(t *ast.Term) bool {
	if t == nil {
		return c.lenient
	}
	s, isString := t.Value.(ast.String)
	switch {
	case !isString && (c.lenient || c.native):
		return true // a fallback's, or OPA's error: not ours to decide
	case c.native:
		return c.holdsNative(string(s))
	}
	return c.holdsBuiltin(t)
}

// holdsBuiltin is holdsFor with OPA's builtins, for t.
func (c *call) holdsBuiltin(t *ast.Term) bool {
	for i := range max(len(c.each), 1) {
		each := i
		if c.each == nil {
			each = -1
		}
		if c.eval(t, each) {
			return true
		}
	}
	return false
}

// maxSteps bounds a call guard's builtin calls, so their results fit on
// the stack.
const maxSteps = 4

// eval runs the steps on in, the variable ranging over the constants
// taking c.each[each].
func (c *call) eval(in *ast.Term, each int) bool {
	var (
		outs [maxSteps]*ast.Term
		buf  [4]*ast.Term
	)
	for i := range c.steps {
		st := &c.steps[i]
		args := buf[:0]
		for _, a := range st.args {
			switch a.kind {
			case argConst:
				args = append(args, a.c)
			case argInput:
				args = append(args, in)
			case argEach:
				args = append(args, c.each[each])
			default:
				args = append(args, outs[a.step])
			}
		}
		if st.keys != nil {
			outs[i] = ast.InternedTerm(st.keys.Contains(args[0]))
			continue
		}
		if re := st.regexp(each); re != nil {
			s, ok := args[1].Value.(ast.String)
			if !ok {
				return true // Rego's error: not ours to decide
			}
			outs[i] = ast.InternedTerm(re.MatchString(string(s)))
			continue
		}
		var out *ast.Term
		if err := st.fn(topdown.BuiltinContext{}, args, func(t *ast.Term) error { out = t; return nil }); err != nil {
			return true
		}
		if out == nil {
			return false // undefined: so is the body
		}
		outs[i] = out
	}
	b, ok := outs[len(c.steps)-1].Value.(ast.Boolean)
	return !ok || bool(b) // an expression holds unless false
}

// regexp is the step's compiled pattern, if it is a regex.match of a
// constant or of the constants ranged over.
func (st *callStep) regexp(each int) *regexp.Regexp {
	if st.reEach != nil {
		return st.reEach[each]
	}
	return st.re
}

// bodyDefs are what a body's variables hold, as far as guards can tell.
type bodyDefs struct {
	alias   map[ast.Var]ast.Ref     // an input path (strict)
	lenient map[ast.Var]ast.Ref     // an input string, or a library rule's fallback
	each    map[ast.Var][]*ast.Term // each element of a constant collection
	mapped  map[ast.Var]*ast.Expr   // the result of a pure function
	consts  map[ast.Var]*ast.Term   // a constant
	data    func(ast.Ref) (*ast.Term, bool)
}

// readDefs finds, among the body's plain top-level unifications and calls,
// the variables bound to a library rule with fallback, to each element of
// a constant collection, to a pure string function's result, to a
// constant, or to another such variable.
func (gr *guardReader) readDefs(body ast.Body, alias map[ast.Var]ast.Ref) *bodyDefs {
	d := &bodyDefs{alias: alias, lenient: map[ast.Var]ast.Ref{}, each: map[ast.Var][]*ast.Term{},
		mapped: map[ast.Var]*ast.Expr{}, consts: map[ast.Var]*ast.Term{}, data: gr.data}
	known := func(v ast.Var) bool {
		_, a := d.lenient[v]
		_, b := d.each[v]
		_, c := d.mapped[v]
		_, e := d.consts[v]
		_, f := alias[v]
		return a || b || c || e || f
	}
	for range len(body) { // bindings may chain in any order
		grew := false
		for _, e := range body {
			if !plainExpr(e) || e.IsEquality() {
				continue
			}
			terms := e.Terms.([]*ast.Term)
			name := e.Operator().String()
			b := ast.BuiltinMap[name]
			if !callMaps[name] || b == nil || len(terms) != len(b.Decl.FuncArgs().Args)+2 {
				continue
			}
			if v, ok := terms[len(terms)-1].Value.(ast.Var); ok && !known(v) {
				d.mapped[v], grew = e, true
			}
		}
		eachBinding(body, func(v ast.Var, t *ast.Term) {
			if known(v) {
				return
			}
			if w, ok := t.Value.(ast.Var); ok {
				// One variable unified with another: the same value.
				if p, ok := d.lenient[w]; ok {
					d.lenient[v], grew = p, true
				} else if els, ok := d.each[w]; ok {
					d.each[v], grew = els, true
				} else if m, ok := d.mapped[w]; ok {
					d.mapped[v], grew = m, true
				} else if c, ok := d.consts[w]; ok {
					d.consts[v], grew = c, true
				}
				return
			}
			if _, isRef := t.Value.(ast.Ref); !isRef && t.IsGround() {
				d.consts[v], grew = t, true
			} else if p, ok := gr.fallbackRule(t); ok {
				d.lenient[v], grew = p, true
			} else if els, ok := gr.elements(t, d.consts); ok {
				d.each[v], grew = els, true
			}
		})
		if !grew {
			break
		}
	}
	return d
}

// fallbackRule resolves t, a reference to a rule, to the input path that
// rule returns when it is a string: `specials := s if { s :=
// input.sentinel.http.specials; is_string(s) } else := …`.
func (gr *guardReader) fallbackRule(t *ast.Term) (ast.Ref, bool) {
	ref, ok := t.Value.(ast.Ref)
	if !ok || !ref.HasPrefix(ast.DefaultRootRef) || !ref.IsGround() {
		return nil, false
	}
	rules := gr.c.GetRules(ref)
	if len(rules) != 1 {
		return nil, false
	}
	r := rules[0]
	if r.Default || len(r.Head.Args) > 0 || r.Head.Value == nil || len(r.Body) != 2 || !r.Path().Equal(ref) {
		return nil, false
	}
	v, ok := r.Head.Value.Value.(ast.Var)
	if !ok || !plainExpr(r.Body[0]) || !r.Body[0].IsEquality() || !plainExpr(r.Body[1]) {
		return nil, false
	}
	check := r.Body[1].Terms.([]*ast.Term)
	if r.Body[1].Operator().String() != ast.IsString.Name || len(check) != 2 || check[1].Value.Compare(v) != 0 {
		return nil, false
	}
	terms := r.Body[0].Terms.([]*ast.Term)
	for _, pair := range [][2]*ast.Term{{terms[1], terms[2]}, {terms[2], terms[1]}} {
		if w, ok := pair[0].Value.(ast.Var); ok && w.Equal(v) {
			if p, ok := inputPath(pair[1], nil); ok {
				return p, true
			}
		}
	}
	return nil, false
}

// elements resolves t, `coll[k]` with k a variable and coll a constant (or
// a variable bound to one) or a data document, to coll's elements (an
// object's values).
func (gr *guardReader) elements(t *ast.Term, consts map[ast.Var]*ast.Term) ([]*ast.Term, bool) {
	ref, ok := t.Value.(ast.Ref)
	if !ok || len(ref) < 2 {
		return nil, false
	}
	if _, ok := ref[len(ref)-1].Value.(ast.Var); !ok {
		return nil, false
	}
	head := ref[:len(ref)-1]
	var coll *ast.Term
	switch {
	case len(head) == 1 && head[0].IsGround():
		coll = head[0]
	case len(head) == 1 && constOf(head[0], consts) != nil:
		coll = constOf(head[0], consts)
	case head.HasPrefix(ast.DefaultRootRef) && head.IsGround() && gr.data != nil:
		if coll, ok = gr.data(head); !ok {
			return nil, false
		}
	default:
		return nil, false
	}
	out := valuesOf(coll.Value)
	if len(out) == 0 || len(out) > maxEach {
		return nil, false
	}
	return out, true
}

// constOf is the constant variable t is bound to (nil: none).
func constOf(t *ast.Term, consts map[ast.Var]*ast.Term) *ast.Term {
	if v, ok := t.Value.(ast.Var); ok {
		return consts[v]
	}
	return nil
}

// callGuard reads e as a call guard: a test of callTests whose arguments
// resolve (see call) to one input value.
func callGuard(e *ast.Expr, d *bodyDefs) (guard, bool) {
	terms, _ := e.Terms.([]*ast.Term)
	name := e.Operator().String()
	b := ast.BuiltinMap[name]
	if !callTests[name] || b == nil || len(terms) != len(b.Decl.FuncArgs().Args)+1 {
		return guard{}, false
	}
	cb := callBuilder{d: d}
	if _, ok := cb.step(e, 0); !ok || cb.path == nil {
		return guard{}, false
	}
	c := &call{steps: cb.steps, each: cb.each, lenient: cb.lenient}
	c.text = cb.render(len(cb.steps)-1, e)
	names := make([]string, len(cb.exprs))
	for i, x := range cb.exprs {
		names[i] = x.Operator().String()
	}
	c.makeNative(names)
	return guard{path: cb.path[1:], op: opCall, call: c}, true
}

// keyGuard reads e, `v = data.x[k]` with data.x a data object and k one
// input value through pure functions (`format_int(input.port, 10)`), as a
// call guard that k is one of the object's keys: the binding holds only
// then, whatever the value.
func keyGuard(e *ast.Expr, d *bodyDefs) (guard, bool) {
	if !e.IsEquality() || d.data == nil {
		return guard{}, false
	}
	terms := e.Terms.([]*ast.Term)
	for _, pair := range [][2]*ast.Term{{terms[1], terms[2]}, {terms[2], terms[1]}} {
		if _, ok := pair[0].Value.(ast.Var); !ok {
			continue
		}
		ref, ok := pair[1].Value.(ast.Ref)
		if !ok || len(ref) < 3 || !ref.HasPrefix(ast.DefaultRootRef) || !ref[:len(ref)-1].IsGround() {
			continue
		}
		obj, ok := d.data(ref[:len(ref)-1])
		if !ok {
			continue
		}
		o, ok := obj.Value.(ast.Object)
		if !ok {
			continue
		}
		cb := callBuilder{d: d}
		arg, ok := cb.arg(ref[len(ref)-1], 0)
		if !ok || cb.path == nil || arg.kind == argEach || arg.kind == argConst || len(cb.steps) >= maxSteps {
			continue
		}
		keys := ast.NewSet(o.Keys()...)
		cb.steps = append(cb.steps, callStep{keys: keys, args: []callArg{arg}})
		c := &call{steps: cb.steps, each: cb.each, lenient: cb.lenient}
		c.text = ref[:len(ref)-1].String() + "[" + cb.renderArg(arg) + "]"
		return guard{path: cb.path[1:], op: opCall, call: c}, true
	}
	return guard{}, false
}

type callBuilder struct {
	d       *bodyDefs
	path    ast.Ref
	lenient bool
	eachVar ast.Var
	each    []*ast.Term
	steps   []callStep
	exprs   []*ast.Expr
}

// step appends the call e (its arguments first) and returns its index.
func (cb *callBuilder) step(e *ast.Expr, depth int) (int, bool) {
	if depth > maxSteps || len(cb.steps) >= maxSteps {
		return 0, false
	}
	terms := e.Terms.([]*ast.Term)
	name := e.Operator().String()
	n := len(ast.BuiltinMap[name].Decl.FuncArgs().Args)
	st := callStep{fn: topdown.GetBuiltin(name)}
	if st.fn == nil || n > 3 {
		return 0, false
	}
	for _, t := range terms[1 : 1+n] {
		a, ok := cb.arg(t, depth)
		if !ok {
			return 0, false
		}
		st.args = append(st.args, a)
	}
	if name == ast.RegexMatch.Name {
		// Patterns are compiled here, as OPA compiles them: one that
		// does not compile is no guard.
		switch st.args[0].kind {
		case argConst:
			re, ok := compilePattern(st.args[0].c)
			if !ok {
				return 0, false
			}
			st.re, st.lits = re, requiredLiterals(re)
		case argEach:
			for _, p := range cb.each {
				re, ok := compilePattern(p)
				if !ok {
					return 0, false
				}
				st.reEach = append(st.reEach, re)
				st.litsEach = append(st.litsEach, requiredLiterals(re))
			}
		default:
			return 0, false
		}
	}
	cb.steps = append(cb.steps, st)
	cb.exprs = append(cb.exprs, e)
	return len(cb.steps) - 1, true
}

// requiredLiterals are substrings one of which every match of re holds
// (case-sensitive), found from its syntax: a literal, one of each
// alternative's, the longest-guaranteed of a concatenation's parts, a
// group's or a repetition's of at least one; nil when none is known.
func requiredLiterals(re *regexp.Regexp) []string {
	parsed, err := syntax.Parse(re.String(), syntax.Perl)
	if err != nil {
		return nil
	}
	return literalsOf(parsed)
}

func literalsOf(re *syntax.Regexp) []string {
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 || len(re.Rune) == 0 {
			return nil
		}
		return []string{string(re.Rune)}
	case syntax.OpCapture, syntax.OpPlus:
		return literalsOf(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return literalsOf(re.Sub[0])
		}
	case syntax.OpConcat:
		var best []string
		for _, sub := range re.Sub {
			if l := literalsOf(sub); l != nil && (best == nil || shortest(l) > shortest(best)) {
				best = l
			}
		}
		return best
	case syntax.OpAlternate:
		var out []string
		for _, sub := range re.Sub {
			l := literalsOf(sub)
			if l == nil {
				return nil
			}
			out = append(out, l...)
		}
		return out
	}
	return nil
}

func shortest(ss []string) int {
	n := len(ss[0])
	for _, s := range ss[1:] {
		n = min(n, len(s))
	}
	return n
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func compilePattern(t *ast.Term) (*regexp.Regexp, bool) {
	s, ok := t.Value.(ast.String)
	if !ok {
		return nil, false
	}
	re, err := regexp.Compile(string(s))
	return re, err == nil
}

func (cb *callBuilder) arg(t *ast.Term, depth int) (callArg, bool) {
	if _, isRef := t.Value.(ast.Ref); !isRef && t.IsGround() {
		return callArg{kind: argConst, c: t}, true
	}
	input := func(p ast.Ref, lenient bool) (callArg, bool) {
		if cb.path != nil && (!cb.path.Equal(p) || cb.lenient != lenient) {
			return callArg{}, false
		}
		cb.path, cb.lenient = p, lenient
		return callArg{kind: argInput}, true
	}
	if p, ok := inputPath(t, cb.d.alias); ok {
		return input(p, false)
	}
	v, ok := t.Value.(ast.Var)
	if !ok {
		return callArg{}, false
	}
	if p, ok := cb.d.lenient[v]; ok {
		return input(p, true)
	}
	if els, ok := cb.d.each[v]; ok {
		if cb.each != nil && !cb.eachVar.Equal(v) {
			return callArg{}, false
		}
		cb.eachVar, cb.each = v, els
		return callArg{kind: argEach}, true
	}
	if e, ok := cb.d.mapped[v]; ok {
		i, ok := cb.step(e, depth+1)
		return callArg{kind: argStep, step: i}, ok
	}
	return callArg{}, false
}

// render writes step i as Rego: the input by its path (~ before a
// fallback's), the ranged-over variable as `each`.
func (cb *callBuilder) render(i int, e *ast.Expr) string {
	terms := e.Terms.([]*ast.Term)
	var args []string
	for _, a := range cb.steps[i].args {
		args = append(args, cb.renderArg(a))
	}
	return terms[0].String() + "(" + strings.Join(args, ", ") + ")"
}

// renderArg writes one argument as render does.
func (cb *callBuilder) renderArg(a callArg) string {
	switch a.kind {
	case argConst:
		return a.c.String()
	case argInput:
		s := inputRef(cb.path[1:])
		if cb.lenient {
			s = "~" + s
		}
		return s
	case argEach:
		return "each " + ast.NewArray(cb.each...).String()
	}
	return cb.render(a.step, cb.exprs[a.step])
}

// The steps of a call guard run natively, on Go strings, when every
// constant it compares with is a string or a collection of strings (the
// bundled tests' are): the same functions OPA's builtins call
// (strings.ToLower, strings.Split, regexp, …), without making a term of
// each result. FuzzCallGuardNative holds the two paths equal. Anything else (a value of another type) tells
// nothing, and the guard holds.

// nv is a native value: a string, a list of strings or a boolean.
type nv struct {
	kind nvKind
	s    string
	list []string
	b    bool
}

type nvKind uint8

const (
	nvString nvKind = iota + 1
	nvList
	nvBool
)

// nativeOps are the builtins with a native form (see callStep.run).
var nativeOps = map[string]nativeOp{
	ast.Lower.Name: nLower, ast.Upper.Name: nUpper, ast.TrimSpace.Name: nTrimSpace,
	ast.Split.Name: nSplit, ast.Replace.Name: nReplace,
	ast.Contains.Name: nContains, ast.StartsWith.Name: nStartsWith, ast.EndsWith.Name: nEndsWith,
	ast.Equal.Name: nEqual, ast.NotEqual.Name: nNotEqual,
	ast.AnyPrefixMatch.Name: nAnyPrefix, ast.AnySuffixMatch.Name: nAnySuffix,
	ast.RegexMatch.Name: nRegex,
}

type nativeOp uint8

const (
	nNone nativeOp = iota
	nLower
	nUpper
	nTrimSpace
	nSplit
	nReplace
	nContains
	nStartsWith
	nEndsWith
	nEqual
	nNotEqual
	nAnyPrefix
	nAnySuffix
	nRegex
)

// run is the step on a, its arguments: false when they are not of the
// types the builtin takes (OPA's error: not ours to decide).
func (st *callStep) run(a *[3]nv, each int) (nv, bool) {
	str := func(v nv) bool { return v.kind == nvString }
	switch st.native {
	case nLower, nUpper, nTrimSpace:
		if !str(a[0]) {
			return nv{}, false
		}
		f := strings.ToLower
		if st.native == nUpper {
			f = strings.ToUpper
		} else if st.native == nTrimSpace {
			f = strings.TrimSpace
		}
		return nv{kind: nvString, s: f(a[0].s)}, true
	case nSplit:
		if !str(a[0]) || !str(a[1]) {
			return nv{}, false
		}
		return nv{kind: nvList, list: strings.Split(a[0].s, a[1].s)}, true
	case nReplace:
		if !str(a[0]) || !str(a[1]) || !str(a[2]) {
			return nv{}, false
		}
		r := st.replacer
		if r == nil {
			r = strings.NewReplacer(a[1].s, a[2].s)
		}
		return nv{kind: nvString, s: r.Replace(a[0].s)}, true
	case nRegex:
		if !str(a[1]) {
			return nv{}, false
		}
		lits := st.lits
		if st.litsEach != nil {
			lits = st.litsEach[each]
		}
		if lits != nil && !containsAny(a[1].s, lits) {
			return nv{kind: nvBool, b: false}, true
		}
		return nv{kind: nvBool, b: st.regexp(each).MatchString(a[1].s)}, true
	case nAnyPrefix, nAnySuffix:
		suffix := st.native == nAnySuffix
		if st.affixes != nil {
			return anyString(a[0], func(s string) bool { return st.affixes.match(s, suffix) })
		}
		match := strings.HasPrefix
		if suffix {
			match = strings.HasSuffix
		}
		b := a[1]
		if b.kind != nvString && b.kind != nvList {
			return nv{}, false
		}
		return anyString(a[0], func(s string) bool {
			hit, ok := anyString(b, func(affix string) bool { return match(s, affix) })
			return ok && hit.b
		})
	}
	if !str(a[0]) || !str(a[1]) {
		return nv{}, false
	}
	var b bool
	switch st.native {
	case nContains:
		b = strings.Contains(a[0].s, a[1].s)
	case nStartsWith:
		b = strings.HasPrefix(a[0].s, a[1].s)
	case nEndsWith:
		b = strings.HasSuffix(a[0].s, a[1].s)
	case nEqual:
		b = a[0].s == a[1].s
	default:
		b = a[0].s != a[1].s
	}
	return nv{kind: nvBool, b: b}, true
}

// anyString reports whether pred holds for v, a string, or for one string
// of v, a list; false (OPA's type error) when v is neither. It is
// strings.any_prefix_match and any_suffix_match on either operand.
func anyString(v nv, pred func(string) bool) (nv, bool) {
	switch v.kind {
	case nvString:
		return nv{kind: nvBool, b: pred(v.s)}, true
	case nvList:
		for _, s := range v.list {
			if pred(s) {
				return nv{kind: nvBool, b: true}, true
			}
		}
		return nv{kind: nvBool, b: false}, true
	}
	return nv{}, false
}

// nativeOf is t as a native value: false for other types.
func nativeOf(t *ast.Term) (nv, bool) {
	switch v := t.Value.(type) {
	case ast.String:
		return nv{kind: nvString, s: string(v)}, true
	case *ast.Array, ast.Set:
		var list []string
		ok := true
		add := func(e *ast.Term) {
			s, isString := e.Value.(ast.String)
			ok = ok && isString
			list = append(list, string(s))
		}
		if a, isArray := v.(*ast.Array); isArray {
			a.Foreach(add)
		} else {
			v.(ast.Set).Foreach(add)
		}
		return nv{kind: nvList, list: list}, ok
	}
	return nv{}, false
}

// makeNative prepares c's native steps, if every step has a native form
// and every constant (and ranged-over element) a native value.
func (c *call) makeNative(names []string) {
	for _, e := range c.each {
		v, ok := nativeOf(e)
		if !ok || v.kind != nvString {
			return
		}
		c.eachNative = append(c.eachNative, v)
	}
	for i := range c.steps {
		st := &c.steps[i]
		op := nativeOps[names[i]]
		if op == nNone || op == nRegex && st.re == nil && st.reEach == nil {
			return
		}
		st.native = op
		st.consts = make([]nv, len(st.args))
		for j, a := range st.args {
			if a.kind != argConst {
				continue
			}
			v, ok := nativeOf(a.c)
			if !ok {
				return
			}
			st.consts[j] = v
		}
		if names[i] == ast.Replace.Name && st.args[1].kind == argConst && st.args[2].kind == argConst {
			st.replacer = strings.NewReplacer(st.consts[1].s, st.consts[2].s)
		}
		if (op == nAnyPrefix || op == nAnySuffix) && st.args[1].kind == argConst {
			st.affixes = newAffixIndex(st.consts[1], op == nAnySuffix)
		}
		for _, a := range st.args {
			st.perEach = st.perEach || a.kind == argEach || a.kind == argStep && c.steps[a.step].perEach
		}
	}
	c.native = true
}

// affixIndex is a list of prefixes (suffixes) by their first (last) k
// bytes, k the shortest one's length (at most maxAffixKey): a string is
// compared only with those sharing its own first (last) k bytes.
type affixIndex struct {
	empty bool // "" is one: every string matches
	k     int
	by    map[string][]string
}

const maxAffixKey = 8

func newAffixIndex(list nv, suffix bool) *affixIndex {
	if list.kind != nvList {
		return nil
	}
	x := &affixIndex{k: maxAffixKey, by: map[string][]string{}}
	for _, a := range list.list {
		if a == "" {
			x.empty = true
			continue
		}
		x.k = min(x.k, len(a))
	}
	for _, a := range list.list {
		if a != "" {
			key := x.key(a, suffix)
			x.by[key] = append(x.by[key], a)
		}
	}
	return x
}

// key is s's first (last) k bytes; s holds at least k.
func (x *affixIndex) key(s string, suffix bool) string {
	if suffix {
		return s[len(s)-x.k:]
	}
	return s[:x.k]
}

// match reports whether s starts (ends) with one of the affixes.
func (x *affixIndex) match(s string, suffix bool) bool {
	if x.empty {
		return true
	}
	if len(s) < x.k {
		return false // shorter than every affix
	}
	for _, a := range x.by[x.key(s, suffix)] {
		if suffix && strings.HasSuffix(s, a) || !suffix && strings.HasPrefix(s, a) {
			return true
		}
	}
	return false
}

// holdsNative is holdsFor on Go strings, in the input string: the steps
// that do not read the element ranged over run once, the others for each
// element until the test holds.
func (c *call) holdsNative(in string) bool {
	var outs [maxSteps]nv
	for i := range c.steps {
		if !c.steps[i].perEach && !c.runNative(i, in, -1, &outs) {
			return true // OPA's error: not ours to decide
		}
	}
	last := len(c.steps) - 1
	if !c.steps[last].perEach {
		return outs[last].kind != nvBool || outs[last].b
	}
	for e := range c.eachNative {
		for i := range c.steps {
			if c.steps[i].perEach && !c.runNative(i, in, e, &outs) {
				return true
			}
		}
		if outs[last].kind != nvBool || outs[last].b {
			return true
		}
	}
	return false
}

// runNative runs step i into outs (each: the element's index, -1: none),
// and reports false when the operands are not of the builtin's types.
func (c *call) runNative(i int, in string, each int, outs *[maxSteps]nv) bool {
	st := &c.steps[i]
	var a [3]nv
	for j, arg := range st.args {
		switch arg.kind {
		case argConst:
			a[j] = st.consts[j]
		case argInput:
			a[j] = nv{kind: nvString, s: in}
		case argEach:
			a[j] = c.eachNative[each]
		default:
			a[j] = outs[arg.step]
		}
	}
	out, ok := st.run(&a, each)
	outs[i] = out
	return ok
}
