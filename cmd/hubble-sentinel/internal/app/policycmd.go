package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hubble-sentinel/hubble-sentinel/cmd/hubble-sentinel/internal/config"
	"github.com/hubble-sentinel/hubble-sentinel/engine/policy"
)

// DefaultPolicyMaxCost is --policies.max-cost's default: about a hundred
// times what a bundled policy costs alone.
const DefaultPolicyMaxCost = config.DefaultPolicyMaxCost

// PolicyCheck compiles the policies in dir as the daemon would (sandbox,
// input schema, output types, metadata and exceptions checks), judges the
// sample inputs (dir's testdata/inputs.json, else the bundled ones) with
// each policy alone, and lists each policy's cost: the `policy check`
// command. It fails when a policy breaks the output contract or fails on a
// sample, or costs more than o.PolicyLimits.MaxCost.
func PolicyCheck(ctx context.Context, o Options, dir string) error {
	o.defaults()
	fsys, dir, err := policyFiles(ctx, o, dir)
	if err != nil {
		return fmt.Errorf("policy check: %w", err)
	}
	set, err := policy.Load(ctx, fsys, ".", policy.WithBudget(o.PolicyLimits.Budget))
	if err != nil {
		return fmt.Errorf("policy check %s: %w", dir, err)
	}
	samples, err := sampleInputs(fsys, dir)
	if err != nil {
		return fmt.Errorf("policy check: %w", err)
	}
	costs, checkErr := set.Check(ctx, samples, o.PolicyLimits.MaxCost)
	if errors.Is(checkErr, ctx.Err()) && ctx.Err() != nil {
		return checkErr
	}
	tw := tabwriter.NewWriter(o.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSEVERITY\tMEAN\tMAX\tFLAGGED\tFAILED\tPACKAGE\tFILE")
	for _, c := range costs {
		p := c.Policy
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", p.ID, p.Severity, micros(c.Mean), micros(c.Max), c.Violations, c.Failed, p.Package, p.File)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, e := range set.Exceptions() {
		applies := "every policy"
		if len(e.Policies) > 0 {
			applies = strings.Join(e.Policies, ", ")
		}
		fmt.Fprintf(o.Stdout, "exception %q (%s): %s\n", e.Name, applies, e.Reason)
	}
	if checkErr != nil {
		return fmt.Errorf("policy check %s on %d sample inputs: %w", dir, len(samples), checkErr)
	}
	fmt.Fprintf(o.Stdout, "%d policies, %d exceptions, %d sample inputs judged: OK\n", len(set.Policies()), len(set.Exceptions()), len(samples))
	return nil
}

// policyFiles are the policies a policy command reads: the directory dir,
// or the bundle of --policies.bundle fetched once (then dir must be
// empty), and their name for messages.
func policyFiles(ctx context.Context, o Options, dir string) (fs.FS, string, error) {
	if o.PolicyBundle.Source == "" {
		if _, err := os.Stat(dir); err != nil {
			return nil, "", err
		}
		return os.DirFS(dir), dir, nil
	}
	if dir != "" {
		return nil, "", fmt.Errorf("give a policy directory or --policies.bundle, not both")
	}
	b, err := newBundleSource(o.PolicyBundle, o.Logger)
	if err != nil {
		return nil, "", err
	}
	read, err := b.fetch(ctx, true)
	if err != nil {
		return nil, "", err
	}
	return read.FS, b.String(), nil
}

// micros prints a duration in microseconds, the unit policies cost in.
func micros(d time.Duration) string {
	return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
}

// PolicyTestOptions are the settings of the `policy test` command.
type PolicyTestOptions struct {
	policy.TestOptions
	Verbose bool
	// MinCoverage fails the run when a policy file's line coverage is
	// below this percentage (0: no check). It implies Coverage.
	MinCoverage float64
}

// PolicyTest runs the Rego tests in dir as `opa test` does, with the
// engine's sandbox, and reports like it: the `policy test` command.
func PolicyTest(ctx context.Context, o Options, dir string, to PolicyTestOptions) error {
	o.defaults()
	fsys, dir, err := policyFiles(ctx, o, dir)
	if err != nil {
		return fmt.Errorf("policy test: %w", err)
	}
	to.Coverage = to.Coverage || to.MinCoverage > 0
	report, err := policy.Test(ctx, fsys, ".", to.TestOptions)
	if err != nil {
		return fmt.Errorf("policy test %s: %w", dir, err)
	}
	if len(report.Results) == 0 {
		return fmt.Errorf("policy test %s: no tests found", dir)
	}
	for _, r := range report.Results {
		status := "PASS"
		switch {
		case r.Err != nil:
			status = "ERROR: " + r.Err.Error()
		case r.Fail:
			status = "FAIL"
		case r.Skip:
			status = "SKIPPED"
		}
		if to.Verbose || !r.Passed() {
			fmt.Fprintf(o.Stdout, "%s: %s: %s (%s)\n", r.Location, r.Name, status, r.Duration)
			if r.Output != "" && !r.Passed() {
				fmt.Fprint(o.Stdout, indent(r.Output))
			}
		}
	}
	failed := len(report.Failed())
	if failed > 0 {
		fmt.Fprintf(o.Stdout, "FAIL: %d/%d\n", failed, len(report.Results))
	} else {
		fmt.Fprintf(o.Stdout, "PASS: %d/%d\n", len(report.Results), len(report.Results))
	}
	if report.Coverage != nil {
		if to.Verbose || to.MinCoverage == 0 {
			for _, file := range slices.Sorted(maps.Keys(report.Coverage.Files)) {
				fmt.Fprintf(o.Stdout, "coverage %s: %.1f%%\n", file, report.Coverage.Files[file].Coverage)
			}
		}
		fmt.Fprintf(o.Stdout, "coverage: %.1f%%\n", report.Coverage.Coverage)
	}
	if failed > 0 {
		return fmt.Errorf("policy test %s: %d of %d tests failed", dir, failed, len(report.Results))
	}
	if to.MinCoverage > 0 {
		if gaps := policy.CoverageGaps(*report.Coverage, to.MinCoverage); len(gaps) > 0 {
			for _, g := range gaps {
				fmt.Fprintln(o.Stdout, g)
			}
			return fmt.Errorf("policy test %s: %d policy files below %.0f%% line coverage", dir, len(gaps), to.MinCoverage)
		}
	}
	return nil
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return "    " + strings.Join(lines, "\n    ") + "\n"
}
