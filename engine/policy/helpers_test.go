package policy

import (
	"io"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

func stringsReader(s string) io.Reader { return strings.NewReader(s) }

func termOf(i int64) *ast.Term { return ast.IntNumberTerm(int(i)) }

func ints(xs []int64) *ast.Term {
	ts := make([]*ast.Term, len(xs))
	for i, x := range xs {
		ts[i] = termOf(x)
	}
	return ast.ArrayTerm(ts...)
}
