package app

import (
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/open-policy-agent/opa/v1/ast"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/hubble-sentinel/hubble-sentinel/engine/input"
	"github.com/hubble-sentinel/hubble-sentinel/hubble"
	"github.com/hubble-sentinel/hubble-sentinel/policies"
)

// policyFlowFields returns the top-level Flow fields the policies under
// fsys read from their input (input.l7.http…, object.get(input,
// "node_name", …)), sorted; input.sentinel is the engine's, not the
// flow's. whole reports a policy that reads the input in a way no field
// names (input[x], a function given the whole input): then the policies
// need every field. Test files are not read.
func policyFlowFields(fsys fs.FS) (fields []string, whole string, err error) {
	flow := (&flowpb.Flow{}).ProtoReflect().Descriptor().Fields()
	seen := map[string]bool{}
	err = fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".rego") || strings.HasSuffix(path, "_test.rego") {
			return err
		}
		src, err := fs.ReadFile(fsys, path)
		if err != nil {
			return err
		}
		m, err := ast.ParseModuleWithOpts(path, string(src), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		// object.get(input, "field", default) names a field too.
		named := map[*ast.Term]bool{}
		ast.WalkTerms(m, func(t *ast.Term) bool {
			call, ok := t.Value.(ast.Call)
			if !ok || len(call) < 3 || !call[0].Equal(ast.RefTerm(ast.VarTerm("object"), ast.StringTerm("get"))) || !isInput(call[1]) {
				return false
			}
			key := call[2].Value
			if arr, ok := key.(*ast.Array); ok && arr.Len() > 0 {
				key = arr.Elem(0).Value
			}
			if s, ok := key.(ast.String); ok {
				named[call[1]] = true
				seen[string(s)] = true
			}
			return false
		})
		ast.WalkRefs(m, func(r ast.Ref) bool {
			if !r.HasPrefix(ast.InputRootRef) {
				return false
			}
			if len(r) < 2 {
				return false // the bare input: checked below
			}
			s, ok := r[1].Value.(ast.String)
			if !ok {
				if whole == "" {
					whole = fmt.Sprintf("%s:%d: %s", path, r[0].Location.Row, r)
				}
				return false
			}
			seen[string(s)] = true
			return false
		})
		ast.WalkTerms(m, func(t *ast.Term) bool {
			if isInput(t) && !named[t] && whole == "" {
				if t.Location != nil {
					whole = fmt.Sprintf("%s:%d: the whole input", path, t.Location.Row)
				} else {
					whole = path + ": the whole input"
				}
			}
			return false
		})
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	for f := range seen {
		// A name the flow does not have (a typo, input.sentinel) reads
		// nothing any mask could keep.
		if f != input.SentinelKey && flow.ByName(protoreflect.Name(f)) != nil {
			fields = append(fields, f)
		}
	}
	slices.Sort(fields)
	return fields, whole, nil
}

// isInput reports whether t is the bare input document.
func isInput(t *ast.Term) bool {
	r, ok := t.Value.(ast.Ref)
	return ok && len(r) == 1 && r[0].Equal(ast.InputRootDocument)
}

// fieldMask is the field mask run asks the relay for: the fields the
// engine reads and those the policies under fsys read, or nil (every
// field) when a policy reads the whole input.
func fieldMask(fsys fs.FS) (*fieldmaskpb.FieldMask, string, error) {
	fields, whole, err := policyFlowFields(fsys)
	if err != nil || whole != "" {
		return nil, whole, err
	}
	fm, err := hubble.FieldMask(fields...)
	return fm, "", err
}

// policiesFieldMask is the field mask for the policies run loads
// (--policies.bundle or --policies.dir, else the bundled ones), logged; nil when a policy reads
// the whole input. A reloaded policy that reads a further field sees it
// only after a restart (or with --hubble.field-mask=false).
func policiesFieldMask(o *Options) (*fieldmaskpb.FieldMask, error) {
	var fsys fs.FS = policies.FS
	switch {
	case o.policyFS != nil:
		fsys = o.policyFS
	case o.PoliciesDir != "":
		fsys = os.DirFS(o.PoliciesDir)
	}
	logger := o.Logger.With("component", "hubble")
	fm, whole, err := fieldMask(fsys)
	switch {
	case err != nil:
		return nil, fmt.Errorf("field mask from the policies: %w", err)
	case whole != "":
		logger.Info("a policy reads the whole flow: asking the relay for every field", "where", whole)
		return nil, nil
	}
	logger.Debug("asking the relay for the flow fields the engine and policies read", "fields", fm.GetPaths())
	return fm, nil
}
