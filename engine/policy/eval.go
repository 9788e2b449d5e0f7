package policy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// Budget bounds what judging one flow may cost. A policy is a user's
// program run on attacker-shaped input: without a bound one rule could
// stall every flow, and with it the other policies.
type Budget struct {
	// Timeout bounds one evaluation of the policy set for one flow, and
	// again each policy's own evaluation when the set's failed.
	Timeout time.Duration
	// Strikes is how many flows a policy may fail (time out or error) before
	// it is quarantined: left out of evaluation until the set is reloaded.
	Strikes int
}

// DefaultBudget is the budget of a Set loaded without WithBudget: a normal
// flow costs about 0.2 ms for the whole bundled set, so 100 ms is 500
// times that.
var DefaultBudget = Budget{Timeout: 100 * time.Millisecond, Strikes: 3}

func (b Budget) withDefaults() Budget {
	if b.Timeout <= 0 {
		b.Timeout = DefaultBudget.Timeout
	}
	if b.Strikes <= 0 {
		b.Strikes = DefaultBudget.Strikes
	}
	return b
}

// Failure reasons: why a policy could not judge a flow.
const (
	// ReasonTimeout: the policy did not finish within Budget.Timeout.
	ReasonTimeout = "timeout"
	// ReasonError: its evaluation failed (a conflict, a halting builtin
	// error, a sandbox bound).
	ReasonError = "error"
	// ReasonOutput: it produced a violation that breaks the output
	// contract (not an object, no id, wrong id).
	ReasonOutput = "output"
)

// Failure is one policy that could not judge one flow. The other
// policies' verdicts on that flow stand.
type Failure struct {
	Policy Info
	Reason string
	Err    error
}

func (f Failure) Error() string {
	return fmt.Sprintf("%s (%s): %s: %v", f.Policy.ID, f.Policy.File, f.Reason, f.Err)
}

// Failures is the error Eval returns when policies failed; the violations
// it returns alongside are the other policies'.
type Failures []Failure

func (fs Failures) Error() string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = f.Error()
	}
	return strings.Join(parts, "; ")
}

// evaluator is the combined query over every policy not skipped, and
// the same policies split by class (see groups), which Eval runs.
type evaluator struct {
	compiler *ast.Compiler
	query    rego.PreparedEvalQuery
	skip     []bool
	groups   []group
}

// group is the query over one class of policies and its decision cache
// (nil: judged on every flow).
type group struct {
	class int
	// queries evaluate the class's policies a flow's markers let through,
	// chosen by byMask (-1: none).
	queries []rego.PreparedEvalQuery
	byMask  [numMasks]int
	// subsets are the policies (indexes) each query evaluates. A flow
	// that passes the guards (see guard) of none of them is not judged by
	// the class at all; the query itself evaluates only the policies whose
	// guards pass (see aggregateModule).
	subsets [][]int
	cache   *decisionCache
	// screen, when set, runs before the full query (see screenModules).
	screen *screen
	// readsDeferred: a policy of the group reads a deferred path (see
	// DeferredPaths), so the group judges the whole document.
	readsDeferred bool
}

func (ev *evaluator) skips(i int) bool { return i < len(ev.skip) && ev.skip[i] }

// health counts each policy's failures and which are quarantined.
type health struct {
	strikes     []atomic.Int64
	failures    []atomic.Int64
	quarantined []atomic.Bool
	// rebuilding is set while a combined query without the newly
	// quarantined policies is being compiled.
	rebuilding atomic.Bool
	mu         sync.Mutex // serialises rebuilds
}

func newHealth(n int) *health {
	return &health{
		strikes:     make([]atomic.Int64, n),
		failures:    make([]atomic.Int64, n),
		quarantined: make([]atomic.Bool, n),
	}
}

// PolicyHealth is how one policy has fared in this Set.
type PolicyHealth struct {
	Policy      Info
	Failures    int64 // flows it could not judge
	Quarantined bool
}

// Health lists the policies that failed at least once, in package order.
func (s *Set) Health() []PolicyHealth {
	var out []PolicyHealth
	for i, p := range s.policies {
		n := s.health.failures[i].Load()
		if n == 0 && !s.health.quarantined[i].Load() {
			continue
		}
		out = append(out, PolicyHealth{Policy: p, Failures: n, Quarantined: s.health.quarantined[i].Load()})
	}
	return out
}

// Eval returns the violations the flow input commits. The input must be an
// ast.Value (see package input) so OPA does not convert it again.
//
// Every policy judges within the Set's Budget and apart from the others:
// when a policy times out, fails or breaks the output contract, the error
// is a Failures naming it, and the violations returned are every other
// policy's. A policy that fails Budget.Strikes times is quarantined.
// Only a cancelled ctx fails the whole evaluation.
func (s *Set) Eval(ctx context.Context, input ast.Value) ([]Violation, error) {
	return s.EvalDeferred(ctx, input, nil)
}

// Deferred gives what a flow's document was built without (see
// DeferredPaths): the baselines' measurement groups, which only the
// volatile policies read and whose guards most flows fail.
type Deferred interface {
	// Float is the number at path (keys below input, within a deferred
	// group) before the document writes it with two decimals: within
	// 0.005 of the document's. False when there is none, or when the
	// document would hold another value (one not finite, say).
	Float(path []*ast.Term) (float64, bool)
	// Whole is the whole document, built once however often asked.
	Whole() ast.Value
}

// EvalDeferred is Eval of a document built without the deferred paths
// (see DeferredPaths), d giving them: a guard comparing a measurement with
// a number reads d.Float and lets the flow through unless the comparison
// fails by more than the document's rounding, and a group reading a
// measurement judges d.Whole(). With a nil d, input is whole.
func (s *Set) EvalDeferred(ctx context.Context, input ast.Value, d Deferred) ([]Violation, error) {
	return s.EvalFlow(ctx, document{input}, d)
}

// EvalFlow is EvalDeferred of a flow whose document is built only when
// Rego evaluates it: guards, the markers and the decision caches read its
// values through Flow.At.
func (s *Set) EvalFlow(ctx context.Context, fl Flow, d Deferred) ([]Violation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	whole := func() ast.Value {
		if d == nil {
			return fl.Document()
		}
		return d.Whole()
	}
	ev := s.eval.Load()
	if s.health.rebuilding.Load() {
		// A policy was just quarantined and the combined query still
		// holds it: judge with each policy alone until it is rebuilt.
		return s.evalEach(ctx, whole())
	}
	if s.plain {
		in := whole()
		rs, err := s.run(ctx, ev.query, in)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return s.evalEach(ctx, in)
		}
		out, fails := s.decodeTagged(rs)
		return out, fails.orNil()
	}
	var (
		out   []Violation
		fails Failures
		memo  guardMemo
	)
	memo.reset(s.guardTable, fl)
	memo.deferred = d
	mask := s.maskOf(fl)
	for gi := range ev.groups {
		g := &ev.groups[gi]
		qi := g.byMask[mask]
		if qi < 0 {
			s.stats[g.class].skipped.Add(1)
			continue // no policy of the class can judge this type of flow
		}
		possible, any := memo.possible(g.subsets[qi])
		if !any {
			s.stats[g.class].skipped.Add(1)
			continue
		}
		in := fl
		if g.readsDeferred && d != nil {
			in = document{d.Whole()} // only for a flow some guards let through
		}
		ran := false
		var fired []int
		if g.screen != nil {
			quiet, r, f, err := g.screen.quiet(ctx, s, in, mask, g.subsets[qi], qi, possible)
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				return s.evalEach(ctx, whole())
			}
			if quiet {
				s.stats[g.class].judged(r)
				continue
			}
			ran, fired = r, f
		}
		var key cacheKey
		if g.cache != nil {
			key = g.cache.key(in, mask, possible, g.cache.needs(g.subsets[qi], possible))
			if v, ok := g.cache.get(key); ok {
				s.stats[g.class].judged(ran)
				out = append(out, v...)
				continue
			}
		}
		s.stats[g.class].misses.Add(1)
		v, f, err := s.judge(ctx, g.queries[qi], fired, in.Document())
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			// A policy failed its group's query; find which by judging
			// each alone, so the others' verdicts still count.
			return s.evalEach(ctx, whole())
		}
		if g.cache != nil && len(f) == 0 {
			g.cache.put(key, v)
		}
		out = append(out, v...)
		fails = append(fails, f...)
	}
	if len(ev.groups) > 1 && len(out) > 1 {
		// In policy order, as one combined query returns them.
		slices.SortStableFunc(out, func(a, b Violation) int { return cmp.Compare(s.order[a.ID], s.order[b.ID]) })
	}
	return out, fails.orNil()
}

// judge finds a group's violations: with q, its query, or when the screen
// said which policies' bodies held (fired), with each of those alone:
// only they can find any, and a flow that fires one injection policy need
// not pay for every other policy of its group.
func (s *Set) judge(ctx context.Context, q rego.PreparedEvalQuery, fired []int, input ast.Value) ([]Violation, Failures, error) {
	if fired == nil {
		rs, err := s.run(ctx, q, input)
		if err != nil {
			return nil, nil, err
		}
		v, f := s.decodeTagged(rs)
		return v, f, nil
	}
	var (
		out   []Violation
		fails Failures
	)
	for _, i := range fired {
		rs, err := s.run(ctx, s.single[i], input)
		if err != nil {
			return nil, nil, err
		}
		out, fails = s.decodeOne(rs, i, out, fails)
	}
	return out, fails, nil
}

// run evaluates q on input under the budget's timeout. OPA checks the
// cancellation between evaluation steps.
func (s *Set) run(ctx context.Context, q rego.PreparedEvalQuery, input ast.Value) (rego.ResultSet, error) {
	c := topdown.NewCancel()
	t := time.AfterFunc(s.budget.Timeout, c.Cancel)
	// No metrics: OPA would otherwise make a metrics object and a timer
	// per evaluation that nobody reads.
	rs, err := q.Eval(ctx, rego.EvalParsedInput(input), rego.EvalExternalCancel(c), rego.EvalMetrics(metrics.NoOp()))
	if !t.Stop() && err != nil && topdown.IsCancel(err) {
		err = fmt.Errorf("%w: evaluation exceeded %s", errBudget, s.budget.Timeout)
	}
	return rs, err
}

var errBudget = errors.New("over budget")

// boundError is a sandbox bound a policy hit (see MaxRange); its message
// quotes no value.
type boundError struct{ msg string }

func (e boundError) Error() string { return e.msg }

// withoutValues keeps of an evaluation error what names the failure (code,
// file and line, a bound) and drops what may quote the flow: a conflict
// error lists the conflicting values, a builtin error its operands, and a
// flow may carry secrets.
func withoutValues(err error) error {
	if errors.Is(err, errBudget) {
		return err
	}
	var te *topdown.Error
	if errors.As(err, &te) {
		what := te.Code
		// Only the bounded builtins halt, with a boundError's message.
		if h := (*rego.HaltError)(nil); errors.As(err, &h) {
			what = h.Error()
		}
		if te.Location != nil {
			return fmt.Errorf("%s:%d: %s", te.Location.File, te.Location.Row, what)
		}
		return errors.New(what)
	}
	return errors.New("evaluation failed")
}

// evalEach judges input with every healthy policy alone.
func (s *Set) evalEach(ctx context.Context, input ast.Value) ([]Violation, error) {
	var (
		out   []Violation
		fails Failures
	)
	for i := range s.policies {
		if s.health.quarantined[i].Load() {
			continue
		}
		rs, _, reason, err := s.runAlone(ctx, i, input)
		if err != nil {
			if ctx.Err() != nil {
				return out, ctx.Err()
			}
			fails = append(fails, s.fail(ctx, i, reason, err))
			continue
		}
		out, fails = s.decodeOne(rs, i, out, fails)
	}
	return out, fails.orNil()
}

// runAlone evaluates policy i alone on input, and how long the counted
// attempt took. A pause of the machine (GC, a busy neighbour) is not the
// policy's doing: it times out only if it does so twice. A failure comes
// with its reason and without values (see withoutValues).
func (s *Set) runAlone(ctx context.Context, i int, input ast.Value) (rego.ResultSet, time.Duration, string, error) {
	start := time.Now()
	rs, err := s.run(ctx, s.single[i], input)
	if errors.Is(err, errBudget) {
		start = time.Now()
		rs, err = s.run(ctx, s.single[i], input)
	}
	took := time.Since(start)
	switch {
	case err == nil:
		return rs, took, "", nil
	case errors.Is(err, errBudget):
		return nil, took, ReasonTimeout, err
	}
	return nil, took, ReasonError, withoutValues(err)
}

func (fs Failures) orNil() error {
	if len(fs) == 0 {
		return nil
	}
	return fs
}

// fail counts a failure of policy i. Timeouts and errors are strikes: at
// Budget.Strikes the policy is quarantined and the combined query rebuilt
// without it.
func (s *Set) fail(ctx context.Context, i int, reason string, err error) Failure {
	h := s.health
	h.failures[i].Add(1)
	if reason != ReasonOutput && h.strikes[i].Add(1) >= int64(s.budget.Strikes) && h.quarantined[i].CompareAndSwap(false, true) {
		h.rebuilding.Store(true)
		go s.rebuild(context.WithoutCancel(ctx))
	}
	return Failure{Policy: s.policies[i], Reason: reason, Err: err}
}

// rebuild compiles the combined query without the quarantined policies.
// Until it is swapped in, Eval judges with each policy alone.
func (s *Set) rebuild(ctx context.Context) {
	h := s.health
	h.mu.Lock()
	defer h.mu.Unlock()
	skip := make([]bool, len(s.policies))
	for i := range skip {
		skip[i] = h.quarantined[i].Load()
	}
	ev, err := s.prepare(ctx, skip)
	if err != nil {
		// The same modules compiled at load; keep judging each alone.
		return
	}
	s.eval.Store(ev)
	for i := range skip {
		if h.quarantined[i].Load() != skip[i] {
			return // quarantined meanwhile: its own rebuild follows
		}
	}
	h.rebuilding.Store(false)
}

// decodeTagged reads the combined query's [policy index, violation] pairs.
func (s *Set) decodeTagged(rs rego.ResultSet) ([]Violation, Failures) {
	set := resultSet(rs)
	if len(set) == 0 {
		return nil, nil
	}
	out := make([]Violation, 0, len(set))
	var fails Failures
	for _, e := range set {
		pair, ok := e.([]any)
		if !ok || len(pair) != 2 {
			continue
		}
		i, ok := index(pair[0], len(s.policies))
		if !ok {
			continue
		}
		out, fails = s.decode(i, pair[1], out, fails)
	}
	return out, fails
}

// decodeOne reads the violations of policy i evaluated alone.
func (s *Set) decodeOne(rs rego.ResultSet, i int, out []Violation, fails Failures) ([]Violation, Failures) {
	for _, e := range resultSet(rs) {
		out, fails = s.decode(i, e, out, fails)
	}
	return out, fails
}

func resultSet(rs rego.ResultSet) []any {
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return nil
	}
	set, _ := rs[0].Expressions[0].Value.([]any)
	return set
}

func index(v any, n int) (int, bool) {
	num, ok := v.(interface{ Int64() (int64, error) })
	if !ok {
		return 0, false
	}
	i, err := num.Int64()
	return int(i), err == nil && i >= 0 && int(i) < n
}

// decode checks one violation of policy i against the output contract.
// The error names the shape, never the value: a violation may quote the
// flow, and the flow may carry secrets.
func (s *Set) decode(i int, e any, out []Violation, fails Failures) ([]Violation, Failures) {
	p := s.policies[i]
	m, ok := e.(map[string]any)
	if !ok {
		return out, append(fails, s.fail(context.Background(), i, ReasonOutput,
			fmt.Errorf("violation is %s, want an object", typeName(e))))
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
	switch {
	case v.ID == "" || v.Policy == "":
		return out, append(fails, s.fail(context.Background(), i, ReasonOutput,
			errors.New("violation has no id or policy (build it with sentinel.lib.violation)")))
	case v.ID != p.ID:
		return out, append(fails, s.fail(context.Background(), i, ReasonOutput,
			fmt.Errorf("violation id %q is not the policy's METADATA custom.id %q", v.ID, p.ID)))
	}
	if v.Severity == "" {
		v.Severity = p.Severity
	}
	return append(out, v), fails
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	default:
		return "a number"
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
