package policy

import (
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/cover"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"
)

// TestOptions tune Test.
type TestOptions struct {
	// Coverage records which lines of the policies the tests evaluated.
	Coverage bool
	// Run keeps only tests whose package-qualified name matches this
	// regular expression, as `opa test --run` does.
	Run string
	// Timeout bounds each test; 0 is OPA's default (5 s).
	Timeout time.Duration
}

// TestResult is the outcome of one Rego test.
type TestResult struct {
	Name     string // data.<package>.test_…
	Location string // file:line of the test rule
	Fail     bool
	Err      error // the test errored rather than failed
	Skip     bool  // todo_test_…
	Duration time.Duration
	Output   string // what the test printed
}

// Passed reports whether the test neither failed nor errored.
func (r TestResult) Passed() bool { return !r.Fail && r.Err == nil }

// TestReport is the outcome of a Test run.
type TestReport struct {
	Results []TestResult // sorted by name
	// Coverage is per-file line coverage when TestOptions.Coverage is set.
	Coverage *cover.Report
}

// Failed lists the tests that failed or errored.
func (r TestReport) Failed() []TestResult {
	var out []TestResult
	for _, t := range r.Results {
		if !t.Passed() {
			out = append(out, t)
		}
	}
	return out
}

// Err summarises the failures as one error naming each test and its
// location, or nil when every test passed.
func (r TestReport) Err() error {
	failed := r.Failed()
	if len(failed) == 0 {
		return nil
	}
	lines := make([]string, 0, len(failed))
	for _, t := range failed {
		what := "failed"
		if t.Err != nil {
			what = "error: " + t.Err.Error()
		}
		lines = append(lines, fmt.Sprintf("%s: %s %s", t.Location, t.Name, what))
	}
	return fmt.Errorf("%d of %d policy tests failed:\n%s", len(failed), len(r.Results), strings.Join(lines, "\n"))
}

// Test runs the Rego tests under root in fsys (test_ rules, usually in
// _test.rego files beside each policy) the way `opa test root` does, but
// compiled with the engine's sandbox and input schema: a test relying on a
// builtin the engine refuses, or misspelling an input field, fails here too.
func Test(ctx context.Context, fsys fs.FS, root string, opts TestOptions) (TestReport, error) {
	res, err := readDir(fsys, root, true)
	if err != nil {
		return TestReport{}, err
	}
	modules := res.ParsedModules()
	store := inmem.NewFromObject(res.Documents)
	compiler := ast.NewCompiler().
		WithCapabilities(Sandbox()).
		WithEnablePrintStatements(true).
		WithDefaultRegoVersion(ast.RegoV1).
		WithSchemas(inputSchemas()).
		WithUseTypeCheckAnnotations(true)
	runner := tester.NewRunner().
		SetCompiler(compiler).
		SetStore(store).
		SetModules(modules).
		CapturePrintOutput(true).
		RaiseBuiltinErrors(false). // as the engine evaluates: a builtin error makes the expression undefined
		Filter(opts.Run).
		SetTimeout(cmp.Or(opts.Timeout, 5*time.Second))
	var cov *cover.Cover
	if opts.Coverage {
		cov = cover.New()
		runner.SetCoverageQueryTracer(cov)
	}
	ch, err := runner.RunTests(ctx, nil)
	if err != nil {
		return TestReport{}, fmt.Errorf("compiling policy tests: %w", err)
	}
	var report TestReport
	for r := range ch {
		t := TestResult{
			Name:     r.Package + "." + r.Name,
			Fail:     r.Fail,
			Err:      r.Error,
			Skip:     r.Skip,
			Duration: r.Duration,
			Output:   string(r.Output),
		}
		if r.Location != nil {
			t.Location = fmt.Sprintf("%s:%d", r.Location.File, r.Location.Row)
		}
		report.Results = append(report.Results, t)
	}
	if err := ctx.Err(); err != nil {
		return report, err
	}
	slices.SortFunc(report.Results, func(a, b TestResult) int { return strings.Compare(a.Name, b.Name) })
	if cov != nil {
		rep := cov.Report(modules)
		report.Coverage = &rep
	}
	return report, nil
}

// CoverageGaps lists, sorted, the policy files (tests excluded) whose line
// coverage in rep is below min percent, each as "file: N% < min%". Each
// policy package is one file, so this is the per-package check.
func CoverageGaps(rep cover.Report, min float64) []string {
	var gaps []string
	for _, file := range slices.Sorted(maps.Keys(rep.Files)) {
		fr := rep.Files[file]
		if strings.HasSuffix(file, "_test.rego") || fr == nil || fr.CoveredLines+fr.NotCoveredLines == 0 {
			continue
		}
		if fr.Coverage < min {
			gaps = append(gaps, fmt.Sprintf("%s: %.1f%% < %.0f%% (not covered: %s)", file, fr.Coverage, min, ranges(fr.NotCovered)))
		}
	}
	return gaps
}

// ranges lists the rows rs cover as "line 4, lines 9-12", merging the
// overlapping and adjacent ranges OPA reports per expression.
func ranges(rs []cover.Range) string {
	rows := map[int]bool{}
	for _, r := range rs {
		for row := r.Start.Row; row <= r.End.Row; row++ {
			rows[row] = true
		}
	}
	sorted := slices.Sorted(maps.Keys(rows))
	var out []string
	for i := 0; i < len(sorted); {
		j := i
		for j+1 < len(sorted) && sorted[j+1] == sorted[j]+1 {
			j++
		}
		if i == j {
			out = append(out, fmt.Sprintf("line %d", sorted[i]))
		} else {
			out = append(out, fmt.Sprintf("lines %d-%d", sorted[i], sorted[j]))
		}
		i = j + 1
	}
	return strings.Join(out, ", ")
}
