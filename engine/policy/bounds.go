package policy

import (
	"fmt"
	"math/big"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/types"
)

// MaxRange bounds the arrays numbers.range and numbers.range_step may build
// in the engine. OPA builds the whole array inside one builtin call, where
// no deadline reaches it: numbers.range(1, 1e8) asks for gigabytes at once.
// A policy asking for more halts with an error naming the bound.
const MaxRange = 100_000

// The bounded builtins the engine's modules call instead of OPA's. `opa
// test` and policy.Test run the modules as written.
var (
	boundedRange = &rego.Function{
		Name: "hubble_sentinel.numbers_range",
		Decl: types.NewFunction(types.Args(types.N, types.N), types.NewArray(nil, types.N)),
	}
	boundedRangeStep = &rego.Function{
		Name: "hubble_sentinel.numbers_range_step",
		Decl: types.NewFunction(types.Args(types.N, types.N, types.N), types.NewArray(nil, types.N)),
	}
	boundedBuiltins = []func(*rego.Rego){
		rego.Function2(boundedRange, func(_ rego.BuiltinContext, a, b *ast.Term) (*ast.Term, error) {
			return rangeTerm("numbers.range", a, b, ast.InternedTerm(1))
		}),
		rego.Function3(boundedRangeStep, func(_ rego.BuiltinContext, a, b, step *ast.Term) (*ast.Term, error) {
			return rangeTerm("numbers.range_step", a, b, step)
		}),
	}
	boundedNames = map[string]ast.Ref{
		"numbers.range":      ast.MustParseRef(boundedRange.Name),
		"numbers.range_step": ast.MustParseRef(boundedRangeStep.Name),
	}
)

// rangeTerm is numbers.range_step within MaxRange; like OPA's it counts
// down when a > b.
func rangeTerm(name string, a, b, step *ast.Term) (*ast.Term, error) {
	ints := make([]*big.Int, 3)
	for i, t := range []*ast.Term{a, b, step} {
		n, ok := t.Value.(ast.Number)
		if !ok {
			return nil, fmt.Errorf("%s: operand %d must be a number", name, i+1)
		}
		bi, ok := new(big.Int).SetString(string(n), 10)
		if !ok {
			return nil, fmt.Errorf("%s: operand %d must be an integer", name, i+1)
		}
		ints[i] = bi
	}
	x, y, st := ints[0], ints[1], ints[2]
	if st.Sign() <= 0 {
		return nil, fmt.Errorf("%s: step must be a positive integer", name)
	}
	span := new(big.Int).Sub(y, x)
	span.Abs(span)
	count := span.Div(span, st)
	if !count.IsInt64() || count.Int64() >= MaxRange {
		return nil, rego.NewHaltError(boundError{fmt.Sprintf("%s would build more than %d elements, the engine's bound", name, MaxRange)})
	}
	n := int(count.Int64()) + 1
	lo, s := x.Int64(), st.Int64()
	if !x.IsInt64() {
		return nil, rego.NewHaltError(boundError{name + ": bounds out of range"})
	}
	if x.Cmp(y) > 0 {
		s = -s
	}
	terms := make([]*ast.Term, n)
	for i := range terms {
		terms[i] = ast.InternedTerm(lo + int64(i)*s)
	}
	return ast.ArrayTerm(terms...), nil
}

// boundBuiltins makes the modules call the bounded builtins instead of
// OPA's unbounded ones.
func boundBuiltins(modules map[string]*ast.Module) {
	swap := func(t *ast.Term) {
		ref, ok := t.Value.(ast.Ref)
		if !ok {
			return
		}
		if b, ok := boundedNames[ref.String()]; ok {
			t.Value = b
		}
	}
	for _, m := range modules {
		ast.WalkExprs(m, func(e *ast.Expr) bool {
			if e.IsCall() {
				swap(e.OperatorTerm())
			}
			return false
		})
		ast.WalkTerms(m, func(t *ast.Term) bool {
			if c, ok := t.Value.(ast.Call); ok && len(c) > 0 {
				swap(c[0])
			}
			return false
		})
	}
}
