package policy

import (
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/types"
)

// checkOutputTypes refuses, before anything runs, a policy whose violation
// rule the type checker knows produces something other than objects
// (violation contains 42). What it cannot know (any) is left to the
// samples (Check) and to Eval, which isolates it.
func (s *Set) checkOutputTypes() error {
	for _, p := range s.policies {
		ref := ast.MustParseRef("data." + p.Package + "." + RuleName)
		t := s.compiler.TypeEnv.GetByRef(ref)
		set, ok := t.(*types.Set)
		if !ok {
			continue
		}
		if name, bad := notObject(set.Of()); bad {
			return fmt.Errorf("%s: package %s: %s produces %s, want objects (build them with sentinel.lib.violation)",
				p.File, p.Package, RuleName, name)
		}
	}
	return nil
}

// notObject reports whether t can never be an object, naming it.
func notObject(t types.Type) (string, bool) {
	switch t := t.(type) {
	case *types.Object:
		return "", false
	case types.Any:
		for _, u := range t {
			if _, bad := notObject(u); !bad {
				return "", false
			}
		}
		if len(t) == 0 {
			return "", false
		}
		return types.Sprint(t), true
	case nil:
		return "", false
	default:
		return types.Sprint(t), true
	}
}
