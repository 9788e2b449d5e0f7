// Package policy loads, sandboxes, compiles and evaluates hubble-sentinel's detective Rego policies.
package policy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/loader"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/hubble-sentinel/hubble-sentinel/engine/alert"
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
	// Grouping is the alert grouping the policy declares in its METADATA
	// (group_by, drop_labels, add_labels under custom:); nil when it
	// declares none and groups by alert.DefaultGrouping.
	Grouping *alert.Grouping
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

// Set is a compiled, ready-to-evaluate set of policies and their data. It
// is safe for concurrent use. What it judges never changes; only its
// health does: a policy that keeps failing (timeouts, errors) is
// quarantined, taken out of evaluation until the set is reloaded (see
// Eval and Health).
type Set struct {
	policies   []Info
	learnable  map[string]bool
	exceptions []Exception
	budget     Budget

	modules map[string]*ast.Module
	// dataAt resolves a reference to the data documents (see dataLookup).
	dataAt   func(ast.Ref) (*ast.Term, bool)
	store    storage.Store
	compiler *ast.Compiler
	// single judges one policy alone: the fallback when the combined
	// query fails, and the unit of Check's cost.
	single []rego.PreparedEvalQuery

	// eval is the combined query over every policy not quarantined.
	eval   atomic.Pointer[evaluator]
	health *health

	// order is each policy's index by id; reads and class what each
	// reads of its input (see classify).
	order map[string]int
	reads []reads
	// screens are the screen modules (see screenModules), made once from
	// modules; unscreened the policies without a screen rule, by package;
	// screenReads what the bodies of each policy's violation rules read.
	screens     []*ast.Module
	unscreened  map[string]bool
	screenReads []reads
	class       []int
	gate        []uint // the markers each policy needs (see gateOf)
	// guards are, per policy and violation rule, the comparisons the rule
	// requires (see guardsOf); nil: the policy can judge any flow.
	guards [][][]guard
	// guardTable is guards as the engine checks them.
	guardTable *guardTable
	// slots are the paths guards, caches and markers read (see Flow);
	// markerSlots the markers', in markers' order.
	slots       slots
	markerSlots []int
	// cacheSize bounds each group's decision cache (see WithCacheSize);
	// stats count its lookups across rebuilds, by class.
	cacheSize int
	stats     [numClasses]cacheCounts
	plain     bool // see WithoutShortcuts
}

// Policies lists the loaded policies sorted by package.
func (s *Set) Policies() []Info { return s.policies }

// Learnable reports whether the policy with this id is learnable (see
// Info.Learnable). A nil set has none.
func (s *Set) Learnable(id string) bool { return s != nil && s.learnable[id] }

// Groupings are the alert groupings the policies declare in their
// METADATA, by policy id; a policy that declares none is absent and groups
// by alert.DefaultGrouping. The alert side reads them as plain data,
// without linking OPA.
func (s *Set) Groupings() alert.Groupings {
	out := alert.Groupings{}
	for _, p := range s.policies {
		if p.Grouping != nil {
			out[p.ID] = *p.Grouping
		}
	}
	return out
}

// Exceptions lists the exceptions of data.data.exceptions in their order.
func (s *Set) Exceptions() []Exception { return s.exceptions }

// Severities accepted in policy metadata. They become the alert's severity
// label, which routes depend on.
var Severities = []string{"critical", "warning", "info"}

// Load reads the .rego modules (test files excluded) and the JSON/YAML data
// documents under root in fsys, exactly as `opa test root` would see them,
// checks them against the sandbox and compiles them into one prepared query.
// Errors name the file and line.
func Load(ctx context.Context, fsys fs.FS, root string, opts ...Option) (*Set, error) {
	res, err := readDir(fsys, root, false)
	if err != nil {
		return nil, err
	}
	return compile(ctx, res.ParsedModules(), res.Documents, opts...)
}

// Option tunes a loaded Set.
type Option func(*Set)

// WithCacheSize sets how many decisions each cached policy group keeps
// (0: DefaultCacheSize; negative: no decision cache, every flow judged).
func WithCacheSize(n int) Option {
	return func(s *Set) { s.cacheSize = n }
}

// WithoutShortcuts makes Eval judge every flow with one query over every
// policy, as written: no decision cache, no gating by flow type. It is the
// reference the shortcuts are tested against.
func WithoutShortcuts() Option {
	return func(s *Set) { s.plain = true }
}

// WithBudget sets the evaluation budget (zero fields keep DefaultBudget's).
func WithBudget(b Budget) Option {
	return func(s *Set) { s.budget = b.withDefaults() }
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

func compile(ctx context.Context, modules map[string]*ast.Module, data map[string]any, opts ...Option) (*Set, error) {
	s := &Set{budget: DefaultBudget}
	for _, o := range opts {
		o(s)
	}
	for file, m := range modules {
		info, ok, err := describe(file, m)
		if err != nil {
			return nil, err
		}
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

	s.dataAt = dataLookup(data)
	if err := inlineData(modules, data); err != nil {
		return nil, err
	}
	boundBuiltins(modules)
	s.modules = modules
	s.screens, s.unscreened = screenModules(modules)
	s.store = inmem.NewFromObjectWithOpts(data, inmem.OptReturnASTValuesOnRead(true))
	s.health = newHealth(len(s.policies))
	s.order = make(map[string]int, len(s.policies))
	for i, p := range s.policies {
		s.order[p.ID] = i
	}
	ev, err := s.prepare(ctx, nil)
	if err != nil {
		return nil, err
	}
	if err := s.checkOutputTypes(); err != nil {
		return nil, err
	}
	s.single = make([]rego.PreparedEvalQuery, len(s.policies))
	for i, p := range s.policies {
		if s.single[i], err = s.prepareQuery(ctx, "data."+p.Package+"."+RuleName); err != nil {
			return nil, fmt.Errorf("%s: compiling the query of %s: %w", p.File, p.Package, err)
		}
	}
	s.eval.Store(ev)
	return s, nil
}

// prepare compiles the modules with an aggregate over every policy not in
// skip, and prepares the query evaluating it. The first call builds the
// Set's compiler; later calls (quarantine) build a new one.
func (s *Set) prepare(ctx context.Context, skip []bool) (*evaluator, error) {
	if s.class == nil {
		// What each policy reads decides its class, and the classes the
		// aggregate's rules: read it from a first compilation.
		ev, err := s.compileAggregate(ctx, skip, true)
		if err != nil {
			// The screen modules repeat the violation rules' bodies, and
			// so their errors: compiled without them, each error is
			// reported once.
			if _, plainErr := s.compileAggregate(ctx, skip, false); plainErr != nil {
				return nil, plainErr
			}
			return nil, fmt.Errorf("screening the policies' violation rules: %w", err)
		}
		s.classify(ev.compiler)
	}
	return s.compileAggregate(ctx, skip, true)
}

// compileAggregate compiles the modules with the aggregate over the
// policies not in skip, and with the screen modules when screens is set.
func (s *Set) compileAggregate(ctx context.Context, skip []bool, screens bool) (*evaluator, error) {
	var lay *layout
	if s.class != nil {
		lay = s.layout(skip)
	}
	agg, err := ast.ParseModuleWithOpts("hubble-sentinel/aggregate.rego", aggregateModule(s.policies, lay, skip, s.guards, s.screened, s.unscreened),
		ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		return nil, fmt.Errorf("generating aggregate module: %w", err)
	}
	var compiler *ast.Compiler
	opts := []func(*rego.Rego){
		rego.Query("data." + aggregatePackage + ".violations"),
		// Data is read on nearly every evaluation: keep it as AST values so
		// reads do not convert Go maps each time.
		rego.Store(s.store),
		rego.StoreReadAST(true),
		rego.Capabilities(Sandbox()),
		typeCheckInput(),
		rego.SetRegoVersion(ast.RegoV1),
		rego.ParsedModule(agg),
		rego.CompilerHook(func(c *ast.Compiler) { compiler = c }),
	}
	opts = append(opts, boundedBuiltins...)
	for _, m := range s.modules {
		opts = append(opts, rego.ParsedModule(m))
	}
	if screens {
		for _, m := range s.screens {
			opts = append(opts, rego.ParsedModule(m))
		}
	}
	q, err := rego.New(opts...).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("compiling policies: %w", err)
	}
	ev := &evaluator{query: q, skip: skip, compiler: compiler}
	if s.class == nil {
		return ev, nil
	}
	if s.compiler == nil {
		s.compiler = compiler
	}
	if ev.groups, err = s.groups(ctx, compiler, lay, skip); err != nil {
		return nil, err
	}
	return ev, nil
}

// classify reads what every policy reads of its input (see inputReads)
// and sorts it into its class.
func (s *Set) classify(c *ast.Compiler) {
	s.reads = make([]reads, len(s.policies))
	s.screenReads = make([]reads, len(s.policies))
	s.class = make([]int, len(s.policies))
	s.gate = make([]uint, len(s.policies))
	s.guards = make([][][]guard, len(s.policies))
	for i, p := range s.policies {
		s.reads[i] = inputReads(c, p.Package, RuleName)
		s.screenReads[i] = s.reads[i]
		if !s.unscreened[p.Package] {
			s.screenReads[i] = inputReads(c, p.Package, screenRule)
		}
		s.class[i] = classOf(s.reads[i])
		s.gate[i] = gateOf(c, p.Package)
		if s.reads[i].whole == "" {
			s.guards[i] = guardsOf(c, s.dataAt, p.Package)
		}
	}
	s.guardTable = newGuardTable(s.guards)
	for i := range s.policies {
		for _, r := range []reads{s.reads[i], s.screenReads[i]} {
			for _, p := range r.paths {
				s.slots.add(p[1:], false)
			}
			for _, p := range r.exists {
				s.slots.add(p[1:], true)
			}
		}
	}
	t := s.guardTable
	t.slot = make([]int, len(t.paths))
	for p, path := range t.paths {
		t.slot[p] = s.slots.add(path, false)
	}
	s.markerSlots = make([]int, len(markerKeys))
	for i, m := range markerKeys {
		s.markerSlots[i] = s.slots.add(m, true)
	}
}

// layout is how the policies not skipped are evaluated: by class and,
// within a class, only those whose gate the flow's markers open.
type layout struct {
	// subsets are the distinct lists of policies (indexes) a class
	// evaluates; byMask picks one for a flow's markers (-1: none).
	subsets [numClasses][][]int
	byMask  [numClasses][numMasks]int
}

func (s *Set) layout(skip []bool) *layout {
	l := &layout{}
	for class := range numClasses {
		seen := map[string]int{}
		for mask := range uint(numMasks) {
			var sub []int
			for i := range s.policies {
				if s.class[i] == class && !(i < len(skip) && skip[i]) && s.gate[i]&^mask == 0 {
					sub = append(sub, i)
				}
			}
			if len(sub) == 0 {
				l.byMask[class][mask] = -1
				continue
			}
			key := fmt.Sprint(sub)
			k, ok := seen[key]
			if !ok {
				k = len(l.subsets[class])
				seen[key] = k
				l.subsets[class] = append(l.subsets[class], sub)
			}
			l.byMask[class][mask] = k
		}
	}
	return l
}

// groups prepares one query per class over the policies not in skip, each
// with a decision cache keyed by what its policies read (none for
// classVolatile, or when the cache is off).
func (s *Set) groups(ctx context.Context, compiler *ast.Compiler, lay *layout, skip []bool) ([]group, error) {
	var out []group
	for class := range numClasses {
		if len(lay.subsets[class]) == 0 {
			continue
		}
		in := func(i int) bool { return s.class[i] == class && (i >= len(skip) || !skip[i]) }
		if !anyOf(len(s.policies), in) {
			continue
		}
		g := group{class: class, byMask: lay.byMask[class], subsets: lay.subsets[class]}
		for i := range s.policies {
			if in(i) && slices.ContainsFunc(s.reads[i].all(), func(p ast.Ref) bool { return overlaps(p, deferrable) }) {
				g.readsDeferred = true
			}
		}
		for k := range lay.subsets[class] {
			q, err := s.prepareQueryWith(ctx, compiler, fmt.Sprintf("data.%s.violations_%s_%d", aggregatePackage, classNames[class], k))
			if err != nil {
				return nil, fmt.Errorf("compiling the %s policies' query: %w", classNames[class], err)
			}
			g.queries = append(g.queries, q)
		}
		if class != classVolatile && s.cacheSize >= 0 {
			g.cache = s.cacheOf(s.reads, in)
			if s.screened(class) {
				var err error
				if g.screen, err = s.screen(ctx, compiler, class, lay, in); err != nil {
					return nil, err
				}
			}
		}
		out = append(out, g)
	}
	return out, nil
}

// screened reports whether a class's groups have a screen: the cached
// classes, when no policy's violation rule bodies read the whole input.
func (s *Set) screened(class int) bool {
	if s.class == nil || class == classVolatile || s.cacheSize < 0 || s.plain {
		return false
	}
	for i := range s.policies {
		if s.class[i] == class && s.screenReads[i].whole != "" {
			return false
		}
	}
	return true
}

// screen prepares a class's screen queries (see screenModules) and their
// cache, keyed by what the bodies of the policies in (see in) read.
func (s *Set) screen(ctx context.Context, compiler *ast.Compiler, class int, lay *layout, in func(int) bool) (*screen, error) {
	sc := &screen{}
	for k := range lay.subsets[class] {
		q, err := s.prepareQueryWith(ctx, compiler, fmt.Sprintf("data.%s.screen_%s_%d", aggregatePackage, classNames[class], k))
		if err != nil {
			return nil, fmt.Errorf("compiling the %s policies' screen: %w", classNames[class], err)
		}
		sc.queries = append(sc.queries, q)
	}
	sc.cache = s.cacheOf(s.screenReads, in)
	s.unitsOf(sc, s.screenReads, in)
	if sc.units != nil {
		sc.single = make([]rego.PreparedEvalQuery, len(s.policies))
		sc.always = make([]bool, len(s.policies))
		for i, p := range s.policies {
			switch {
			case !in(i):
			case s.unscreened[p.Package]:
				sc.always[i] = true
			default:
				q, err := s.prepareQueryWith(ctx, compiler, "data."+p.Package+"."+screenRule)
				if err != nil {
					return nil, fmt.Errorf("%s: compiling the screen of %s: %w", p.File, p.Package, err)
				}
				sc.single[i] = q
			}
		}
	}
	return sc, nil
}

// anyOf reports whether in holds for one of 0..n-1.
func anyOf(n int, in func(int) bool) bool {
	for i := range n {
		if in(i) {
			return true
		}
	}
	return false
}

// cacheOf makes a decision cache keyed by what the policies in (see in)
// read (reads, by policy), narrowed to each policy's reads.
func (s *Set) cacheOf(reads []reads, in func(int) bool) *decisionCache {
	return s.cacheSized(reads, in, cmp.Or(s.cacheSize, DefaultCacheSize))
}

// cacheSized is cacheOf holding up to size decisions.
func (s *Set) cacheSized(reads []reads, in func(int) bool, size int) *decisionCache {
	var paths, exists []ast.Ref
	for i := range s.policies {
		if in(i) {
			paths = append(paths, reads[i].paths...)
			exists = append(exists, reads[i].exists...)
		}
	}
	paths = minimalPaths(paths)
	var guards []ast.Ref
	for _, e := range uniquePaths(exists) {
		if !covered(e, paths) {
			guards = append(guards, e)
		}
	}
	c := newDecisionCache(paths, guards, size, &s.slots)
	c.narrowBy(reads, in)
	return c
}

// prepareQuery prepares query against the Set's compiled modules.
func (s *Set) prepareQuery(ctx context.Context, query string) (rego.PreparedEvalQuery, error) {
	return s.prepareQueryWith(ctx, s.compiler, query)
}

func (s *Set) prepareQueryWith(ctx context.Context, compiler *ast.Compiler, query string) (rego.PreparedEvalQuery, error) {
	opts := []func(*rego.Rego){
		rego.Compiler(compiler),
		rego.Store(s.store),
		rego.StoreReadAST(true),
		rego.Query(query),
	}
	opts = append(opts, boundedBuiltins...)
	return rego.New(opts...).PrepareForEval(ctx)
}

// aggregateModule unions the violations of every policy not skipped, each
// tagged with the policy's index so a result is attributed to its policy.
// With classes, each class's policies are also unioned in
// violations_<class>.
//
// Each class's rules for a policy with guards (see guardsOf) lead with
// them, one rule per violation rule's guards: OPA's rule index then skips,
// for a flow, every policy whose equality guards it fails, and the other
// guards are a comparison each; only the policies a flow could match are
// evaluated. The guards are conditions of the policy's own rules, so the
// violations found are the same.
func aggregateModule(ps []Info, lay *layout, skip []bool, guards [][][]guard, screened func(class int) bool, unscreened map[string]bool) string {
	var b strings.Builder
	b.WriteString("package " + aggregatePackage + "\n\n")
	// Never true: the set is defined even when every policy is skipped.
	b.WriteString("violations contains [-1, {}] if false\n")
	for i, p := range ps {
		if i < len(skip) && skip[i] {
			continue
		}
		fmt.Fprintf(&b, "violations contains [%d, v] if some v in data.%s.%s\n", i, p.Package, RuleName)
	}
	if lay == nil {
		return b.String()
	}
	for class, subsets := range lay.subsets {
		if screened(class) {
			for k, sub := range subsets {
				screenRules(&b, ps, class, k, sub, guards, unscreened)
			}
		}
		for k, sub := range subsets {
			for _, i := range sub {
				head := fmt.Sprintf("violations_%s_%d contains [%d, v]", classNames[class], k, i)
				guardedRules(&b, head, "some v in data."+ps[i].Package+"."+RuleName, guardsAt(guards, i))
			}
		}
	}
	return b.String()
}

// guardsAt is policy i's guards (nil: none).
func guardsAt(guards [][][]guard, i int) [][]guard {
	if i < len(guards) {
		return guards[i]
	}
	return nil
}

// guardedRules writes `head if body`, or with guards (one list per
// violation rule) one rule per list, leading with its guards: OPA's rule
// index skips the rules whose equality guards a flow fails. Relation,
// call and any-of guards are checked in Go only: the body decides.
func guardedRules(b *strings.Builder, head, body string, guards [][]guard) {
	if guards == nil {
		fmt.Fprintf(b, "%s if %s\n", head, body)
		return
	}
	for _, gs := range guards {
		fmt.Fprintf(b, "%s if {\n", head)
		for g := range gs {
			if gs[g].inRego() {
				fmt.Fprintf(b, "\t%s\n", gs[g].String())
			}
		}
		fmt.Fprintf(b, "\t%s\n}\n", body)
	}
}

// describe reports whether m is a detective policy and reads its metadata.
func describe(file string, m *ast.Module) (Info, bool, error) {
	pkg := strings.TrimPrefix(m.Package.Path.String(), "data.")
	if !strings.HasPrefix(pkg, RootPackage+".") {
		return Info{}, false, nil
	}
	if !slices.ContainsFunc(m.Rules, isViolationRule) {
		return Info{}, false, nil
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
		g, ok, err := groupingOf(a.Custom)
		if err != nil {
			return Info{}, false, fmt.Errorf("%s: package %s: METADATA custom: %w", file, pkg, err)
		}
		if ok {
			info.Grouping = &g
		}
	}
	return info, true, nil
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
