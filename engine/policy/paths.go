package policy

import (
	"fmt"
	"slices"

	"github.com/open-policy-agent/opa/v1/ast"
)

// reads is what one policy reads of its input: the paths (input.a.b,
// truncated where a ref turns dynamic), found by walking its violation
// rules and every rule and function they reach through the compiler. A
// policy whose value depends on more than those paths (the whole input
// passed around, input replaced with `with`) has whole set to where.
//
// A ref that is a whole expression (`input.l7.http` as a guard) reads
// only whether the value is there and not false: it is in exists, not in
// paths, so that a policy checking a flow's type does not depend on every
// value below it.
type reads struct {
	paths  []ast.Ref
	exists []ast.Ref
	whole  string
}

// all is every path r reads, its value or only whether it is there.
func (r reads) all() []ast.Ref {
	return append(slices.Clone(r.paths), r.exists...)
}

// inputReads returns what the policy in package pkg reads of its input
// through its rules named rule (RuleName, or screenRule for what the
// bodies of its violation rules read).
func inputReads(c *ast.Compiler, pkg, rule string) reads {
	var (
		out     reads
		seen    = map[string]bool{}
		visited = map[*ast.Rule]bool{}
	)
	add := func(r ast.Ref) {
		r = stringPrefix(r)
		if k := r.String(); !seen[k] {
			seen[k] = true
			out.paths = append(out.paths, r)
		}
	}
	addExists := func(r ast.Ref) {
		if k := "?" + r.String(); !seen[k] {
			seen[k] = true
			out.exists = append(out.exists, r.Copy())
		}
	}
	setWhole := func(n ast.Node, what string) {
		if out.whole != "" {
			return
		}
		out.whole = what
		if loc := n.Loc(); loc != nil {
			out.whole = fmt.Sprintf("%s:%d: %s", loc.File, loc.Row, what)
		}
	}
	var visit func(r *ast.Rule)
	visit = func(rule *ast.Rule) {
		if visited[rule] {
			return
		}
		visited[rule] = true
		// object.get(input, "field", default) reads input.field, as a
		// call term or (once compiled) a call expression.
		named := map[*ast.Term]bool{}
		objectGetInput := func(call []*ast.Term) {
			if len(call) < 3 || !call[0].Equal(objectGet) || !isInputTerm(call[1]) {
				return
			}
			if p, ok := keyPath(call[2].Value); ok {
				named[call[1]] = true
				add(append(ast.Ref{ast.InputRootDocument}, p...))
			}
		}
		ast.WalkTerms(rule, func(t *ast.Term) bool {
			if call, ok := t.Value.(ast.Call); ok {
				objectGetInput(call)
			}
			return false
		})
		// A guard: an expression that is only a constant input ref.
		guard := map[*ast.Term]bool{}
		ast.WalkExprs(rule, func(e *ast.Expr) bool {
			if terms, ok := e.Terms.([]*ast.Term); ok {
				objectGetInput(terms)
			}
			if t, ok := e.Terms.(*ast.Term); ok && len(e.With) == 0 {
				if r, ok := t.Value.(ast.Ref); ok && len(r) > 1 && r.HasPrefix(ast.InputRootRef) && stringPrefix(r).Equal(r) {
					guard[t] = true
					addExists(r)
				}
			}
			return false
		})
		// The input, or a value in it, bound to a variable and read only
		// through its fields (directly, with object.get or in the
		// functions it is passed to) reads those fields, and whether the
		// value is there. (Compiled, object.get(input, …) binds the input
		// to a variable first.)
		fields := map[*ast.Term][]ast.Ref{}
		ast.WalkExprs(rule, func(e *ast.Expr) bool {
			if !e.IsEquality() {
				return false
			}
			terms := e.Terms.([]*ast.Term)
			for _, pair := range [][2]*ast.Term{{terms[1], terms[2]}, {terms[2], terms[1]}} {
				v, isVar := pair[0].Value.(ast.Var)
				r, isRef := pair[1].Value.(ast.Ref)
				if !isVar || !isRef || !r.HasPrefix(ast.InputRootRef) || !stringPrefix(r).Equal(r) {
					continue
				}
				if rel, ok := varReads(c, rule, v, 1, 0); ok {
					fields[pair[1]] = rel
				}
			}
			return false
		})
		ast.WalkTerms(rule, func(t *ast.Term) bool {
			if isInputTerm(t) && !named[t] && fields[t] == nil {
				setWhole(t, "reads the whole input")
			}
			return false
		})
		ast.WalkExprs(rule, func(e *ast.Expr) bool {
			for _, w := range e.With {
				if r, ok := w.Target.Value.(ast.Ref); ok && r.HasPrefix(ast.InputRootRef) {
					setWhole(e, "replaces the input with `with`")
				}
			}
			return false
		})
		ast.WalkTerms(rule, func(t *ast.Term) bool {
			r, ok := t.Value.(ast.Ref)
			switch {
			case !ok || guard[t]:
			case fields[t] != nil:
				if len(r) > 1 { // the input itself is always there
					addExists(r)
				}
				for _, rel := range fields[t] {
					add(r.Concat(rel))
				}
			case r.HasPrefix(ast.InputRootRef) && len(r) > 1:
				add(r)
			case r.HasPrefix(ast.DefaultRootRef):
				for _, next := range c.GetRules(r.ConstantPrefix()) {
					visit(next)
				}
			}
			return false
		})
	}
	for _, r := range c.GetRules(ast.MustParseRef("data." + pkg + "." + rule)) {
		visit(r)
	}
	out.paths = minimalPaths(out.paths)
	// What is read whole is read for being there too. (Exists paths are
	// not reduced to their prefixes: input.a.b being there says more than
	// input.a being there.)
	exists := uniquePaths(out.exists)
	out.exists = nil
	for _, e := range exists {
		if !covered(e, out.paths) {
			out.exists = append(out.exists, e)
		}
	}
	return out
}

// maxCallDepth bounds how deep varReads follows a value into functions.
const maxCallDepth = 8

// varReads returns the paths below the value of v that rule reads (v
// occurs defs times where it is bound: in a binding, or as a function's
// parameter): true when every other occurrence of v is a ref into it with
// string keys, object.get's object, or a parameter of a function that, in
// each of its definitions, reads it so too. An empty result means v is not
// read; false means it may be read whole (compared, passed to a builtin,
// returned, iterated).
func varReads(c *ast.Compiler, rule *ast.Rule, v ast.Var, defs, depth int) ([]ast.Ref, bool) {
	if depth > maxCallDepth {
		return nil, false
	}
	total := 0
	ast.WalkVars(rule, func(x ast.Var) bool {
		if x.Equal(v) {
			total++
		}
		return false
	})
	var (
		rel       = []ast.Ref{}
		accounted = defs
		ok        = true
	)
	ast.WalkRefs(rule, func(r ast.Ref) bool {
		if x, isVar := r[0].Value.(ast.Var); !isVar || !x.Equal(v) || len(r) < 2 {
			return false
		}
		accounted++
		p := stringPrefix(append(ast.Ref{ast.InputRootDocument}, r[1:]...))[1:]
		if len(p) == 0 {
			ok = false // a dynamic key: read whole
		}
		rel = append(rel, p)
		return false
	})
	call := func(terms []*ast.Term) {
		op, isRef := terms[0].Value.(ast.Ref)
		if !isRef {
			return
		}
		for j, arg := range terms[1:] {
			if x, isVar := arg.Value.(ast.Var); !isVar || !x.Equal(v) {
				continue
			}
			switch {
			case terms[0].Equal(objectGet) && j == 0 && len(terms) >= 4:
				p, isPath := keyPath(terms[2].Value)
				if !isPath {
					return
				}
				accounted++
				rel = append(rel, p)
			case op.HasPrefix(ast.DefaultRootRef):
				defs := c.GetRules(op)
				if len(defs) == 0 {
					return
				}
				for _, def := range defs {
					if j >= len(def.Head.Args) {
						return // the call's output
					}
					param, isVar := def.Head.Args[j].Value.(ast.Var)
					if !isVar {
						return
					}
					sub, subOK := varReads(c, def, param, paramDefs(def, param), depth+1)
					if !subOK {
						ok = false
						return
					}
					rel = append(rel, sub...)
				}
				accounted++
			}
		}
	}
	ast.WalkExprs(rule, func(e *ast.Expr) bool {
		if terms, isCall := e.Terms.([]*ast.Term); isCall && e.IsCall() {
			call(terms)
		}
		return false
	})
	ast.WalkTerms(rule, func(t *ast.Term) bool {
		if c, isCall := t.Value.(ast.Call); isCall {
			call(c)
		}
		return false
	})
	return rel, ok && accounted == total
}

// paramDefs counts v among the parameters of rule and of its else rules.
func paramDefs(rule *ast.Rule, v ast.Var) int {
	n := 0
	for r := rule; r != nil; r = r.Else {
		for _, a := range r.Head.Args {
			if x, isVar := a.Value.(ast.Var); isVar && x.Equal(v) {
				n++
			}
		}
	}
	return n
}

// covered reports whether p is within one of ps.
func covered(p ast.Ref, ps []ast.Ref) bool {
	for _, q := range ps {
		if p.HasPrefix(q) {
			return true
		}
	}
	return false
}

var objectGet = ast.RefTerm(ast.VarTerm("object"), ast.StringTerm("get"))

// isInputTerm reports whether t is the bare input document.
func isInputTerm(t *ast.Term) bool {
	r, ok := t.Value.(ast.Ref)
	return ok && len(r) == 1 && r[0].Equal(ast.InputRootDocument)
}

// keyPath is object.get's key argument as path terms: a string, or an
// array of strings (its leading strings: what follows is read whole).
func keyPath(v ast.Value) (ast.Ref, bool) {
	switch k := v.(type) {
	case ast.String:
		return ast.Ref{ast.NewTerm(k)}, true
	case *ast.Array:
		var p ast.Ref
		for i := range k.Len() {
			s, ok := k.Elem(i).Value.(ast.String)
			if !ok {
				break
			}
			p = append(p, ast.NewTerm(s))
		}
		return p, len(p) > 0
	}
	return nil, false
}

// stringPrefix truncates r (rooted at input) before its first term that is
// not a string: input.a[x].b and input.a[0] read input.a.
func stringPrefix(r ast.Ref) ast.Ref {
	for i := 1; i < len(r); i++ {
		if _, ok := r[i].Value.(ast.String); !ok {
			return r[:i].Copy()
		}
	}
	return r.Copy()
}

// uniquePaths sorts ps and drops repeats.
func uniquePaths(ps []ast.Ref) []ast.Ref {
	slices.SortFunc(ps, func(a, b ast.Ref) int { return a.Compare(b) })
	return slices.CompactFunc(ps, func(a, b ast.Ref) bool { return a.Equal(b) })
}

// minimalPaths sorts ps and drops every path another one is a prefix of.
func minimalPaths(ps []ast.Ref) []ast.Ref {
	slices.SortFunc(ps, func(a, b ast.Ref) int { return a.Compare(b) })
	out := ps[:0]
	for _, p := range ps {
		if len(out) > 0 && p.HasPrefix(out[len(out)-1]) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// Classes of policy by what they read, each judged with its own query
// and, but for classVolatile, its own decision cache: a policy reading a
// value that changes on every flow would make every decision of its
// group miss, so policies are grouped by the widest value they read.
const (
	// classEdge reads only what stays the same between flows of one edge
	// (endpoints, ports, verdict, flags, learned-or-not): L3/L4 policies,
	// whose decisions hit the cache nearly always.
	classEdge = iota
	// classWide reads URLs, DNS names and other L7 values: many distinct
	// values, repeated still (the same endpoints called again).
	classWide
	// classVolatile reads values that differ on every flow (time, source
	// ports, request headers, the baselines' measurements): not cached.
	classVolatile
	numClasses
)

var classNames = [numClasses]string{"edge", "wide", "volatile"}

// volatile are the input paths whose values change from one flow of an
// edge to the next: the flow's identity and time, source ports, L7
// latency and headers (request ids, traces), the profiles' counters and
// the baselines' measurements (rates, ratios, latencies).
var volatile = append(refs(
	"input.time", "input.uuid",
	"input.l4.TCP.source_port", "input.l4.UDP.source_port", "input.l4.SCTP.source_port",
	"input.l7.latency_ns", "input.l7.http.headers",
	"input.sentinel.profile",
), deferrable...)

// deferrable are the baselines' measurement groups: read only by volatile
// policies, and left out of a flow's document until one of those is
// judged (see Deferred).
var deferrable = refs(
	"input.sentinel.baseline.latency", "input.sentinel.baseline.errors", "input.sentinel.baseline.rate",
	"input.sentinel.baseline.fanout", "input.sentinel.baseline.auth_failures", "input.sentinel.baseline.drops",
	"input.sentinel.baseline.dns",
)

// wide are the input paths with many distinct but recurring values.
var wide = refs("input.l7", "input.sentinel.http", "input.sentinel.dns")

func refs(ss ...string) []ast.Ref {
	out := make([]ast.Ref, len(ss))
	for i, s := range ss {
		out[i] = ast.MustParseRef(s)
	}
	return out
}

// classOf is the class of a policy reading r.
func classOf(r reads) int {
	if r.whole != "" {
		return classVolatile
	}
	class := classEdge
	// A guard reads a flow's type, whatever the class of what it guards.
	for _, p := range r.paths {
		switch {
		case overlaps(p, volatile):
			return classVolatile
		case overlaps(p, wide):
			class = classWide
		}
	}
	return class
}

// overlaps reports whether reading p reads any of vs (p is within one, or
// one within p).
func overlaps(p ast.Ref, vs []ast.Ref) bool {
	for _, v := range vs {
		if p.HasPrefix(v) || v.HasPrefix(p) {
			return true
		}
	}
	return false
}

// markers are the input paths that tell a flow's type: a policy that
// needs one of them (see gateOf) is not evaluated for a flow without it.
var markers = refs("input.l7", "input.l7.http", "input.l7.dns", "input.l7.kafka", "input.sentinel.http", "input.sentinel.dns")

// numMasks is how many combinations of markers a flow can have.
const numMasks = 1 << 6

// gateOf is the set of markers (a bit each, in markers' order) the policy
// in package pkg needs: every one of its violation rules has a top-level
// expression that is undefined without it (input.l7.http as a guard,
// input.l7.dns.rcode == 3, a call or an assignment reading below it), so
// for a flow that lacks it the policy can find nothing. Rego gives this
// for free: a body is a conjunction, and an expression reading an
// undefined ref is undefined, except under not, inside a comprehension,
// in every, or with `with`, which are not counted.
func gateOf(c *ast.Compiler, pkg string) uint {
	rules := c.GetRules(ast.MustParseRef("data." + pkg + "." + RuleName))
	if len(rules) == 0 {
		return 0
	}
	gate := uint(numMasks - 1)
	for _, r := range rules {
		gate &= ruleGate(r)
	}
	return gate
}

func ruleGate(r *ast.Rule) uint {
	var gate uint
	for _, e := range r.Body {
		if e.Negated || len(e.With) > 0 {
			continue
		}
		var terms []*ast.Term
		switch t := e.Terms.(type) {
		case *ast.Term:
			terms = []*ast.Term{t}
		case []*ast.Term:
			terms = t
		default: // some, every
			continue
		}
		for _, t := range terms {
			gate |= needs(t)
		}
	}
	return gate
}

// needs is the markers term t cannot be evaluated without: those its
// input refs lie within, comprehensions (always defined) aside.
func needs(t *ast.Term) uint {
	var gate uint
	vis := ast.NewGenericVisitor(func(x any) bool {
		switch v := x.(type) {
		case *ast.ArrayComprehension, *ast.SetComprehension, *ast.ObjectComprehension:
			return true
		case ast.Ref:
			if v.HasPrefix(ast.InputRootRef) {
				p := stringPrefix(v)
				for i, m := range markers {
					if p.HasPrefix(m) {
						gate |= 1 << i
					}
				}
			}
		}
		return false
	})
	vis.Walk(t)
	return gate
}

// maskOf is the markers fl has.
func (s *Set) maskOf(fl Flow) uint {
	var mask uint
	for i, m := range markerKeys {
		slot := -1
		if i < len(s.markerSlots) {
			slot = s.markerSlots[i]
		}
		if at(fl, slot, m) != nil {
			mask |= 1 << i
		}
	}
	return mask
}

var markerKeys = func() [][]*ast.Term {
	out := make([][]*ast.Term, len(markers))
	for i, m := range markers {
		out[i] = m[1:]
	}
	return out
}()
