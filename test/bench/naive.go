package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"strings"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/loader"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hubble-sentinel/hubble-sentinel/engine"
	"github.com/hubble-sentinel/hubble-sentinel/engine/alert"
	"github.com/hubble-sentinel/hubble-sentinel/engine/policy"
	"github.com/hubble-sentinel/hubble-sentinel/engine/profile"
	"github.com/hubble-sentinel/hubble-sentinel/policies"
)

// naiveFigures are the naive evaluation's.
type naiveFigures struct {
	rate       float64
	flows      int
	policies   int
	violations int
}

// measureNaive evaluates sample flows of t the way a newcomer would: one
// rego.PreparedEvalQuery per bundled policy (data.<package>.violation),
// each given the flow as a map[string]any made by protojson.Marshal and
// json.Unmarshal, one flow after the other on one goroutine.
//
// The policies read the engine's measurements under input.sentinel, so
// the naive side gets them too, for free: an engine fed every flow of t
// in order (so baselines are learned as in the engine run) builds each
// sample flow's document outside the timing, and its sentinel object,
// as JSON, joins the flow's map. The timing covers protojson, the map
// and the evaluations.
func measureNaive(ctx context.Context, t *traffic, samples int, learning time.Duration) (naiveFigures, error) {
	set, err := policy.Load(ctx, policies.FS, ".")
	if err != nil {
		return naiveFigures{}, fmt.Errorf("naive: %w", err)
	}
	queries, err := naiveQueries(ctx, set.Policies())
	if err != nil {
		return naiveFigures{}, err
	}
	flows, sentinels, err := naiveInputs(t, samples, set, learning)
	if err != nil {
		return naiveFigures{}, err
	}

	marshal := protojson.MarshalOptions{UseProtoNames: true}
	violations := 0
	start := time.Now()
	for i, f := range flows {
		b, err := marshal.Marshal(f)
		if err != nil {
			return naiveFigures{}, err
		}
		var in map[string]any
		if err := json.Unmarshal(b, &in); err != nil {
			return naiveFigures{}, err
		}
		in["sentinel"] = sentinels[i]
		for _, q := range queries {
			rs, err := q.Eval(ctx, rego.EvalInput(in))
			if err != nil {
				return naiveFigures{}, fmt.Errorf("naive: %w", err)
			}
			for _, r := range rs {
				for _, e := range r.Expressions {
					if vs, ok := e.Value.([]any); ok {
						violations += len(vs)
					}
				}
			}
		}
	}
	elapsed := time.Since(start)
	return naiveFigures{rate: float64(len(flows)) / elapsed.Seconds(), flows: len(flows), policies: len(queries), violations: violations}, nil
}

// naiveQueries prepares data.<package>.violation for every policy, over
// the bundled modules and data, compiled once.
func naiveQueries(ctx context.Context, ps []policy.Info) ([]rego.PreparedEvalQuery, error) {
	res, err := loader.NewFileLoader().
		WithFS(policies.FS).
		WithProcessAnnotation(true).
		WithRegoVersion(ast.RegoV1).
		Filtered([]string{"."}, func(_ string, info fs.FileInfo, depth int) bool {
			if info.IsDir() {
				return depth > 0 && info.Name() == "testdata"
			}
			switch path.Ext(info.Name()) {
			case ".rego":
				return strings.HasSuffix(info.Name(), "_test.rego")
			case ".json", ".yaml", ".yml":
				return false
			}
			return true
		})
	if err != nil {
		return nil, fmt.Errorf("naive: loading the bundled policies: %w", err)
	}
	compiler := ast.NewCompiler()
	if compiler.Compile(res.ParsedModules()); compiler.Failed() {
		return nil, fmt.Errorf("naive: compiling: %w", compiler.Errors)
	}
	store := inmem.NewFromObject(res.Documents)
	var qs []rego.PreparedEvalQuery
	for _, p := range ps {
		q, err := rego.New(rego.Query("data."+p.Package+".violation"), rego.Compiler(compiler), rego.Store(store)).PrepareForEval(ctx)
		if err != nil {
			return nil, fmt.Errorf("naive: preparing %s: %w", p.Package, err)
		}
		qs = append(qs, q)
	}
	return qs, nil
}

// naiveInputs decodes samples flows spread evenly over t, with the
// sentinel object of each one's input document as JSON.
func naiveInputs(t *traffic, samples int, set *policy.Set, learning time.Duration) ([]*flowpb.Flow, []any, error) {
	agg := alert.NewAggregator(alert.DefaultAggregatorConfig, alert.Notifiers{}, slog.New(slog.DiscardHandler), nil)
	eng, err := engine.New(engine.Config{Profiles: profile.Config{LearningPeriod: learning}}, set, agg, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		return nil, nil, err
	}
	samples = min(samples, len(t.frames))
	every := len(t.frames) / max(samples, 1)
	var flows []*flowpb.Flow
	var sentinels []any
	for i, b := range t.frames {
		f, err := decode(b)
		if err != nil {
			return nil, nil, err
		}
		_, doc := eng.Input(f, time.Now())
		if i%every != 0 || len(flows) == samples {
			continue
		}
		s, err := sentinelJSON(doc)
		if err != nil {
			return nil, nil, err
		}
		flows, sentinels = append(flows, f), append(sentinels, s)
	}
	return flows, sentinels, nil
}

// sentinelJSON is input.sentinel of a document, as JSON values.
func sentinelJSON(doc ast.Value) (any, error) {
	obj, ok := doc.(ast.Object)
	if !ok {
		return nil, fmt.Errorf("naive: the input document is a %T, not an object", doc)
	}
	v := obj.Get(ast.InternedTerm("sentinel"))
	if v == nil {
		return nil, fmt.Errorf("naive: the input document has no sentinel")
	}
	return ast.JSON(v.Value)
}
