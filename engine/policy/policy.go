// Package policy loads, sandboxes, compiles and evaluates hubble-sentinel's detective Rego policies.
package policy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/loader"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

// RootPackage is the package prefix of every detective policy:
// sentinel.<category>.<name>.
const RootPackage = "sentinel"

// RuleName is the partial set rule every policy contributes violations to.
const RuleName = "violation"

// aggregatePackage is generated at load time; it unions every policy's
// violation set so one prepared query evaluates them all.
const aggregatePackage = "hubble_sentinel_engine"

// ErrNoPolicies is returned when a directory holds no detective policy.
var ErrNoPolicies = errors.New("no detective policies found")

// Info describes one loaded policy, read from its package metadata.
type Info struct {
	ID       string
	Severity string
	Title    string
	Package  string // e.g. sentinel.egress.cloud_metadata
	File     string
	// Learnable policies judge behaviour a team may legitimately have
	// (METADATA custom.learnable: true): while the client learns, their
	// violations are recorded, not alerted, and afterwards an edge the
	// baseline learned does not alert.
	Learnable bool
}

// Violation is one violation a policy found in a flow.
type Violation struct {
	ID          string
	Severity    string
	Title       string
	Policy      string
	Summary     string
	Description string
	MITRE       string
}

// Set is a compiled, ready-to-evaluate set of policies and their data. It is
// immutable and safe for concurrent use.
type Set struct {
	query      rego.PreparedEvalQuery
	policies   []Info
	learnable  map[string]bool
	exceptions []Exception
}

// Policies lists the loaded policies sorted by package.
func (s *Set) Policies() []Info { return s.policies }

// Learnable reports whether the policy with this id is learnable (see
// Info.Learnable). A nil set has none.
func (s *Set) Learnable(id string) bool { return s != nil && s.learnable[id] }

// Exceptions lists the exceptions of data.data.exceptions in their order.
func (s *Set) Exceptions() []Exception { return s.exceptions }

// Severities accepted in policy metadata. They become the alert's severity
// label, which routes depend on.
var Severities = []string{"critical", "warning", "info"}

// Load reads the .rego modules (test files excluded) and the JSON/YAML data
// documents under root in fsys, exactly as `opa test root` would see them,
// checks them against the sandbox and compiles them into one prepared query.
// Errors name the file and line.
func Load(ctx context.Context, fsys fs.FS, root string) (*Set, error) {
	res, err := readDir(fsys, root, false)
	if err != nil {
		return nil, err
	}
	return compile(ctx, res.ParsedModules(), res.Documents)
}

// readDir parses the modules (with their _test.rego files when tests is
// set) and data documents under root in fsys, as `opa test root` does.
func readDir(fsys fs.FS, root string, tests bool) (*loader.Result, error) {
	res, err := loader.NewFileLoader().
		WithFS(fsys).
		WithProcessAnnotation(true).
		WithRegoVersion(ast.RegoV1).
		Filtered([]string{root}, skipFiles(tests))
	if err != nil {
		return nil, fmt.Errorf("loading policies from %s: %w", root, err)
	}
	return res, nil
}

// skipFiles keeps .rego modules, with or without tests, and data documents,
// and skips hidden directories. Without tests it skips testdata directories
// too: their documents are the tests' fixtures, not policy data.
func skipFiles(tests bool) loader.Filter {
	return func(_ string, info fs.FileInfo, depth int) bool {
		if info.IsDir() {
			return depth > 0 && (strings.HasPrefix(info.Name(), ".") || !tests && info.Name() == "testdata")
		}
		name := info.Name()
		switch path.Ext(name) {
		case ".rego":
			return !tests && strings.HasSuffix(name, "_test.rego")
		case ".json", ".yaml", ".yml":
			return false
		}
		return true
	}
}

func compile(ctx context.Context, modules map[string]*ast.Module, data map[string]any) (*Set, error) {
	s := &Set{}
	for file, m := range modules {
		info, ok := describe(file, m)
		if !ok {
			continue
		}
		if err := validate(info); err != nil {
			return nil, err
		}
		s.policies = append(s.policies, info)
		if info.Learnable {
			if s.learnable == nil {
				s.learnable = map[string]bool{}
			}
			s.learnable[info.ID] = true
		}
	}
	if len(s.policies) == 0 {
		return nil, ErrNoPolicies
	}
	slices.SortFunc(s.policies, func(a, b Info) int { return strings.Compare(a.Package, b.Package) })
	if err := uniqueIDs(s.policies); err != nil {
		return nil, err
	}
	var err error
	if s.exceptions, err = exceptions(data, s.policies); err != nil {
		return nil, err
	}

	if err := inlineData(modules, data); err != nil {
		return nil, err
	}
	agg, err := ast.ParseModuleWithOpts("hubble-sentinel/aggregate.rego", aggregateModule(s.policies),
		ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		return nil, fmt.Errorf("generating aggregate module: %w", err)
	}
	opts := []func(*rego.Rego){
		rego.Query("data." + aggregatePackage + ".violations"),
		// Data is read on nearly every evaluation: keep it as AST values so
		// reads do not convert Go maps each time.
		rego.Store(inmem.NewFromObjectWithOpts(data, inmem.OptReturnASTValuesOnRead(true))),
		rego.StoreReadAST(true),
		rego.Capabilities(Sandbox()),
		typeCheckInput(),
		rego.SetRegoVersion(ast.RegoV1),
		rego.ParsedModule(agg),
	}
	for _, m := range modules {
		opts = append(opts, rego.ParsedModule(m))
	}
	q, err := rego.New(opts...).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("compiling policies: %w", err)
	}
	s.query = q
	return s, nil
}

func aggregateModule(ps []Info) string {
	var b strings.Builder
	b.WriteString("package " + aggregatePackage + "\n\n")
	for _, p := range ps {
		fmt.Fprintf(&b, "violations contains v if some v in data.%s.%s\n", p.Package, RuleName)
	}
	return b.String()
}

// describe reports whether m is a detective policy and reads its metadata.
func describe(file string, m *ast.Module) (Info, bool) {
	pkg := strings.TrimPrefix(m.Package.Path.String(), "data.")
	if !strings.HasPrefix(pkg, RootPackage+".") {
		return Info{}, false
	}
	if !slices.ContainsFunc(m.Rules, isViolationRule) {
		return Info{}, false
	}
	info := Info{Package: pkg, File: file}
	for _, a := range m.Annotations {
		if a.Scope != "package" {
			continue
		}
		info.Title = a.Title
		if id, ok := a.Custom["id"].(string); ok {
			info.ID = id
		}
		if sev, ok := a.Custom["severity"].(string); ok {
			info.Severity = sev
		}
		if l, ok := a.Custom["learnable"].(bool); ok {
			info.Learnable = l
		}
	}
	return info, true
}

// isViolationRule matches `violation contains …` rules, not helper
// functions that happen to share the name.
func isViolationRule(r *ast.Rule) bool {
	return len(r.Head.Args) == 0 && r.Head.Ref().String() == RuleName
}

func validate(p Info) error {
	switch {
	case p.ID == "":
		return fmt.Errorf("%s: package %s: METADATA custom.id is missing", p.File, p.Package)
	case !isPascalCase(p.ID):
		return fmt.Errorf("%s: package %s: METADATA custom.id %q must be PascalCase (it becomes the alertname)", p.File, p.Package, p.ID)
	case !slices.Contains(Severities, p.Severity):
		return fmt.Errorf("%s: package %s: METADATA custom.severity %q must be one of %s", p.File, p.Package, p.Severity, strings.Join(Severities, ", "))
	}
	return nil
}

func uniqueIDs(ps []Info) error {
	seen := map[string]string{}
	for _, p := range ps {
		if other, ok := seen[p.ID]; ok {
			return fmt.Errorf("policy id %s is used by both %s and %s", p.ID, other, p.Package)
		}
		seen[p.ID] = p.Package
	}
	return nil
}

func isPascalCase(s string) bool {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// Eval returns the violations the flow input commits. The input must be an
// ast.Value (see package input) so OPA does not convert it again.
func (s *Set) Eval(ctx context.Context, input ast.Value) ([]Violation, error) {
	rs, err := s.query.Eval(ctx, rego.EvalParsedInput(input))
	if err != nil {
		return nil, fmt.Errorf("evaluating policies: %w", err)
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return nil, nil
	}
	set, ok := rs[0].Expressions[0].Value.([]any)
	if !ok || len(set) == 0 {
		return nil, nil
	}
	out := make([]Violation, 0, len(set))
	for _, e := range set {
		m, ok := e.(map[string]any)
		if !ok {
			return out, fmt.Errorf("policy produced a violation that is not an object: %v", e)
		}
		v := Violation{
			ID:          str(m["id"]),
			Severity:    str(m["severity"]),
			Title:       str(m["title"]),
			Policy:      str(m["policy"]),
			Summary:     str(m["summary"]),
			Description: str(m["description"]),
			MITRE:       str(m["mitre"]),
		}
		if v.ID == "" || v.Policy == "" {
			return out, fmt.Errorf("policy produced a violation without id or policy: %v", e)
		}
		out = append(out, v)
	}
	return out, nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
