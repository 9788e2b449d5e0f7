package policy

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
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
