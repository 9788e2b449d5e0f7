package policy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path"
	"time"

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

// SamplesFile is where a policy directory keeps its sample inputs: every
// testdata/inputs.json under it (written by `policy fixtures`), an object
// of input documents by fixture name.
const SamplesFile = "inputs.json"

// Samples reads the sample input documents under root in fsys: those of
// every testdata/inputs.json, in path and name order. A file that is not
// an object of documents is an error naming it.
func Samples(fsys fs.FS, root string) ([]ast.Value, error) {
	var out []ast.Value
	err := fs.WalkDir(fsys, root, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || d.Name() != SamplesFile || path.Base(path.Dir(name)) != "testdata" {
			return nil
		}
		f, err := fsys.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		v, err := ast.ValueFromReader(f)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		obj, ok := v.(ast.Object)
		if !ok {
			return fmt.Errorf("%s: want an object of input documents by name", name)
		}
		for _, k := range obj.Keys() {
			out = append(out, obj.Get(k).Value)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading sample inputs: %w", err)
	}
	return out, nil
}

// Cost is what one policy costs judging the sample inputs alone.
type Cost struct {
	Policy     Info
	Flows      int
	Mean, Max  time.Duration
	Violations int
	// Failures are the samples it could not judge (timeouts, errors,
	// violations breaking the output contract), the first few of them.
	Failures []Failure
	Failed   int
}

// maxReportedFailures bounds Cost.Failures.
const maxReportedFailures = 3

// Check judges every sample with each policy alone, within the budget, and
// reports what each costs. The error names every policy that failed a
// sample (a wrong output shape, an evaluation error, a timeout) or whose
// mean cost is above maxCost (0: no bound): such a set is refused before
// it judges live traffic. Check does not count towards quarantine.
func (s *Set) Check(ctx context.Context, samples []ast.Value, maxCost time.Duration) ([]Cost, error) {
	probe := &Set{policies: s.policies, budget: s.budget, single: s.single, health: newHealth(len(s.policies))}
	probe.budget.Strikes = math.MaxInt32
	costs := make([]Cost, len(s.policies))
	var errs []error
	for i, p := range s.policies {
		c := &costs[i]
		c.Policy = p
		var total time.Duration
		for _, doc := range samples {
			rs, took, reason, err := probe.runAlone(ctx, i, doc)
			if ctx.Err() != nil {
				return costs, ctx.Err()
			}
			total += took
			c.Max = max(c.Max, took)
			c.Flows++
			var fails Failures
			if err != nil {
				fails = Failures{{Policy: p, Reason: reason, Err: err}}
			} else {
				var vs []Violation
				vs, fails = probe.decodeOne(rs, i, nil, nil)
				c.Violations += len(vs)
			}
			c.Failed += len(fails)
			for _, f := range fails {
				if len(c.Failures) < maxReportedFailures {
					c.Failures = append(c.Failures, f)
				}
			}
		}
		if c.Flows > 0 {
			c.Mean = total / time.Duration(c.Flows)
		}
		switch {
		case c.Failed > 0:
			errs = append(errs, fmt.Errorf("%s: package %s failed on %d of %d sample inputs: %w", p.File, p.Package, c.Failed, c.Flows, c.Failures[0]))
		case maxCost > 0 && c.Mean > maxCost:
			errs = append(errs, fmt.Errorf("%s: package %s costs %s per sample input on average, above the bound of %s", p.File, p.Package, c.Mean, maxCost))
		}
	}
	return costs, errors.Join(errs...)
}
