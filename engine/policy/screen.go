package policy

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math/bits"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// A group's screen asks, before its full query, whether the body of any
// violation rule of its policies holds for a flow. The body is the
// condition; the head builds the violation: its summary names the pods
// and addresses of the flow (lib.endpoint), which makes every pod's flows
// a key of their own in the decision cache although the condition reads
// only the request, the ports or the namespaces. Nearly every flow
// matches no body, and that verdict depends only on what the bodies read:
// the screen's cache is keyed by that, and a flow whose bodies all fail
// gets no violation without the full query. A flow for which some body
// holds is judged by the full query as before (the head may still be
// undefined, or the cache hold its verdict), so the screen changes no
// verdict: a violation needs its rule's body to hold.

// screenRule is the rule a policy's screen module defines: true when the
// body of one of the policy's violation rules holds.
const screenRule = "__hubble_sentinel_fires"

// screenModules returns, for every module defining violation rules in a
// policy package, a module of the same package and imports whose
// screenRule has each violation rule's body. A policy whose rule bodies
// call rego.metadata (which would read the screen rule's metadata, not
// the violation rule's) gets none and is in unscreened.
func screenModules(modules map[string]*ast.Module) (out []*ast.Module, unscreened map[string]bool) {
	unscreened = map[string]bool{}
	for _, file := range slices.Sorted(maps.Keys(modules)) {
		m := modules[file]
		pkg := strings.TrimPrefix(m.Package.Path.String(), "data.")
		if !strings.HasPrefix(pkg, RootPackage+".") || !slices.ContainsFunc(m.Rules, isViolationRule) {
			continue
		}
		sm := &ast.Module{Package: m.Package.Copy()}
		// rego.ParsedModule keys modules by their package's file: the
		// screen module needs a file of its own not to replace m.
		loc := ast.Location{File: "hubble-sentinel/screen/" + file}
		if m.Package.Location != nil {
			loc = *m.Package.Location
			loc.File = "hubble-sentinel/screen/" + loc.File
		}
		sm.Package.Location = &loc
		for _, imp := range m.Imports {
			sm.Imports = append(sm.Imports, imp.Copy())
		}
		for _, r := range m.Rules {
			if !isViolationRule(r) {
				continue
			}
			if readsMetadata(r.Body) {
				unscreened[pkg] = true
			}
			head := ast.NewHead(ast.Var(screenRule), nil, ast.BooleanTerm(true))
			head.Location = r.Head.Location
			head.Reference[0].Location = r.Head.Location
			head.Value.Location = r.Head.Location
			sm.Rules = append(sm.Rules, &ast.Rule{Head: head, Body: r.Body.Copy(), Location: r.Location, Module: sm})
		}
		out = append(out, sm)
	}
	if len(unscreened) > 0 {
		out = slices.DeleteFunc(out, func(m *ast.Module) bool {
			return unscreened[strings.TrimPrefix(m.Package.Path.String(), "data.")]
		})
	}
	return out, unscreened
}

var regoMetadata = ast.MustParseRef("rego.metadata")

// readsMetadata reports whether body calls rego.metadata.chain or
// rego.metadata.rule.
func readsMetadata(body ast.Body) bool {
	found := false
	ast.WalkRefs(body, func(r ast.Ref) bool {
		if r.HasPrefix(regoMetadata) {
			found = true
		}
		return found
	})
	return found
}

// screenRules writes the aggregate's screen rules of one subset of a
// class: screen_<class>_<k> holds the index of every policy whose guards
// and one of whose violation rule bodies hold. An unscreened policy is in
// it whenever its guards pass.
func screenRules(b *strings.Builder, ps []Info, class, k int, sub []int, guards [][][]guard, unscreened map[string]bool) {
	for _, i := range sub {
		body := "data." + ps[i].Package + "." + screenRule
		if unscreened[ps[i].Package] {
			body = "true"
		}
		guardedRules(b, fmt.Sprintf("screen_%s_%d contains %d", classNames[class], k, i), body, guardsAt(guards, i))
	}
}

// screen is a group's queries of which policies' violation rule bodies
// hold (one per subset, as the group's queries), and its cache of their
// verdicts: fired or not.
//
// The cache is keyed by everything the possible policies' bodies read, so
// a flow misses when any of it is new: a new user agent misses for the
// injection policies too. Before Rego runs, each possible policy's own
// verdict is looked up in its unit: the policies of the group whose bodies
// read the same paths share a cache of which of them held, keyed by those
// values (and the flow's markers) alone. Only when some unit has not seen
// its values does Rego run, and then only for the policies of the units
// that missed whose guards the flow passes, each with its own screen query
// (see judgeMissed): a signed URL, new on every request, is judged by the
// few policies whose guards its query passes, not by every policy that
// reads a query.
type screen struct {
	queries []rego.PreparedEvalQuery
	cache   *decisionCache
	// units are the caches of the policies reading the same paths; unitOf
	// and member give each policy's unit and its bit there (by index in
	// the Set; -1: not in the group). Nil when there would be more than
	// maxUnits units, or a unit of more than 64 policies.
	units  []*decisionCache
	unitOf []int
	member []uint64
	// single are, with units, each policy's own screen query (by index in
	// the Set), and always the policies without one (unscreened: their
	// bodies count as holding).
	single []rego.PreparedEvalQuery
	always []bool
}

// minUnitCache is the least a unit's cache holds.
const minUnitCache = 1024

// maxUnits bounds a screen's units: a flow touches each at most once,
// tracked in a uint64.
const maxUnits = 64

// fired is the screen cache's verdict that some body held: the full query
// decides.
var fired = []Violation{{}}

// unitsOf sorts the policies in (see in) into units by the paths their
// bodies read (reads, by policy), each with its cache.
func (s *Set) unitsOf(sc *screen, reads []reads, in func(int) bool) {
	byPaths := map[string]int{}
	var members [][]int
	sc.unitOf = make([]int, len(s.policies))
	sc.member = make([]uint64, len(s.policies))
	for i := range s.policies {
		sc.unitOf[i] = -1
		if !in(i) {
			continue
		}
		k := pathsKey(reads[i].paths) + "|" + pathsKey(reads[i].exists)
		u, ok := byPaths[k]
		if !ok {
			u = len(members)
			byPaths[k] = u
			members = append(members, nil)
		}
		sc.unitOf[i] = u
		sc.member[i] = 1 << len(members[u])
		members[u] = append(members[u], i)
	}
	if len(members) > maxUnits || slices.ContainsFunc(members, func(m []int) bool { return len(m) > 64 }) {
		sc.unitOf, sc.member = nil, nil
		return
	}
	// The units share one cache's bound: their keys repeat more than
	// the screen's, which has one of its own.
	size := max(cmp.Or(s.cacheSize, DefaultCacheSize)/len(members), minUnitCache)
	for _, m := range members {
		c := s.cacheSized(reads, func(i int) bool { return slices.Contains(m, i) }, size)
		// A unit's keys are few and repeat (a user agent, a path): kept
		// from their first flow, each a second Rego evaluation saved.
		c.eager = true
		sc.units = append(sc.units, c)
	}
}

// pathsKey is the set of refs as one string.
func pathsKey(refs []ast.Ref) string {
	out := make([]string, len(refs))
	for i, r := range refs {
		out[i] = r.String()
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

// unitMisses are the units a flow's values were new to, with their keys.
type unitMisses struct {
	n     int
	units [maxUnits]int
	keys  [maxUnits]cacheKey
}

// fromUnits looks up the verdicts of the possible policies of sub (bits
// of possible, by position in sub) in their units, into held (by unit,
// the members whose bodies held), and reports whether every unit
// answered. The units that had no answer are added to miss.
func (sc *screen) fromUnits(fl Flow, mask uint, sub []int, possible uint64, miss *unitMisses, held *[maxUnits]uint64) bool {
	var touched uint64
	for b, i := range sub {
		if possible&(1<<b) == 0 || b >= 64 {
			continue
		}
		touched |= 1 << sc.unitOf[i]
	}
	for touched != 0 {
		u := bits.TrailingZeros64(touched)
		touched &^= 1 << u
		c := sc.units[u]
		k := c.key(fl, mask, 0, ^uint64(0))
		h, ok := c.getBits(k)
		if !ok {
			miss.units[miss.n], miss.keys[miss.n] = u, k
			miss.n++
			continue
		}
		held[u] = h
	}
	return miss.n == 0
}

// quiet reports whether no violation rule body of the policies the flow
// may match holds (input, mask, subset qi, possible as in Eval), and
// whether Rego ran to find out. When the units answered, fired are the
// policies whose bodies held (nil: quiet, or not known).
func (sc *screen) quiet(ctx context.Context, s *Set, fl Flow, mask uint, sub []int, qi int, possible uint64) (quiet, ran bool, fired []int, err error) {
	key := sc.cache.key(fl, mask, possible, sc.cache.needs(sub, possible))
	if v, ok := sc.cache.get(key); ok {
		return len(v) == 0, false, nil, nil
	}
	if sc.units != nil && len(sub) <= 64 {
		var (
			miss unitMisses
			held [maxUnits]uint64
		)
		if !sc.fromUnits(fl, mask, sub, possible, &miss, &held) {
			if err := sc.judgeMissed(ctx, s, fl, sub, possible, &miss, &held); err != nil {
				return false, true, nil, err
			}
			ran = true
		}
		for b, i := range sub {
			if b < 64 && possible&(1<<b) != 0 && held[sc.unitOf[i]]&sc.member[i] != 0 {
				fired = append(fired, i)
			}
		}
		sc.cache.put(key, verdict(len(fired) == 0))
		return len(fired) == 0, ran, fired, nil
	}
	// Without units: the subset's screen query.
	rs, err := s.run(ctx, sc.queries[qi], fl.Document())
	if err != nil {
		return false, true, nil, err
	}
	quiet = len(rs) == 0 || len(rs[0].Expressions) == 0
	if !quiet {
		set, ok := rs[0].Expressions[0].Value.([]any)
		quiet = ok && len(set) == 0
	}
	sc.cache.put(key, verdict(quiet))
	return quiet, true, nil, nil
}

// judgeMissed evaluates the screen of each possible policy (of sub, bits
// of possible) in the units that missed, alone, and caches and adds to
// held each unit's answer. A possible policy of a unit that
// answered is not evaluated again, nor is one whose guards the flow fails
// (the screen query of the whole subset would evaluate it unless its
// guards are written in Rego): a guard fails only where the policy's
// bodies fail, and the unit's key holds every value the guards read, so
// the unit caches it as not holding.
func (sc *screen) judgeMissed(ctx context.Context, s *Set, fl Flow, sub []int, possible uint64, miss *unitMisses, held *[maxUnits]uint64) error {
	var (
		doc  ast.Value
		want [maxUnits]bool
	)
	for j := range miss.n {
		want[miss.units[j]] = true
	}
	for b, i := range sub {
		if b >= 64 || possible&(1<<b) == 0 || !want[sc.unitOf[i]] {
			continue
		}
		u := sc.unitOf[i]
		if sc.always[i] {
			held[u] |= sc.member[i]
			continue
		}
		if doc == nil {
			doc = fl.Document()
		}
		rs, err := s.run(ctx, sc.single[i], doc)
		if err != nil {
			return err
		}
		if len(rs) > 0 && len(rs[0].Expressions) > 0 && rs[0].Expressions[0].Value == true {
			held[u] |= sc.member[i]
		}
	}
	for j := range miss.n {
		u := miss.units[j]
		sc.units[u].putBits(miss.keys[j], held[u])
	}
	return nil
}

// verdict is the screen cache's value of quiet.
func verdict(quiet bool) []Violation {
	if quiet {
		return nil
	}
	return fired
}
