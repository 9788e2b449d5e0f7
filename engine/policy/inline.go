package policy

import (
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
)

// inlineData replaces each ground reference to a data document in the
// policies' rules (data.data.egress.metadata_addresses) with the document's
// value. The data of a Set never changes (a reload compiles a new Set), and
// a literal is what OPA's rule index can use: a rule body leading with
// `input.x in data.data.list` is indexed once the list is written out, so
// flows that cannot match skip the body instead of paying several
// microseconds to enter it. References with variables, and references to
// rules (data.sentinel…), are left as they are. Only the engine inlines;
// `opa test` and policy.Test evaluate the modules as written, so tests can
// still replace data with `with`.
func inlineData(modules map[string]*ast.Module, data map[string]any) error {
	lookup := dataLookup(data)
	for file, m := range modules {
		for _, r := range m.Rules {
			if _, err := ast.TransformRefs(r, func(ref ast.Ref) (ast.Value, error) {
				if !ref.HasPrefix(ast.DefaultRootRef) || len(ref) < 2 || !ref.IsGround() {
					return ref, nil
				}
				if t, ok := lookup(ref); ok {
					return t.Value, nil
				}
				return ref, nil
			}); err != nil {
				return fmt.Errorf("%s: inlining data: %w", file, err)
			}
		}
	}
	return nil
}

// dataLookup returns a function resolving a ground reference to a data
// document (data.data.http.keywords) to its value, remembered per
// reference.
func dataLookup(data map[string]any) func(ast.Ref) (*ast.Term, bool) {
	values := map[string]*ast.Term{}
	return func(ref ast.Ref) (*ast.Term, bool) {
		key := ref.String()
		if t, ok := values[key]; ok {
			return t, t != nil
		}
		var cur any = data
		for _, p := range ref[1:] {
			s, ok := p.Value.(ast.String)
			m, isMap := cur.(map[string]any)
			if !ok || !isMap {
				values[key] = nil
				return nil, false
			}
			if cur, ok = m[string(s)]; !ok {
				values[key] = nil
				return nil, false
			}
		}
		v, err := ast.InterfaceToValue(cur)
		if err != nil {
			values[key] = nil
			return nil, false
		}
		t := ast.NewTerm(v)
		values[key] = t
		return t, true
	}
}
