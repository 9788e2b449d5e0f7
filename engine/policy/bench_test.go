package policy

import (
	"context"
	"encoding/json"
	"testing"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hubble-sentinel/hubble-sentinel/engine/input"
	"github.com/hubble-sentinel/hubble-sentinel/hubble/shopmesh"
	"github.com/hubble-sentinel/hubble-sentinel/policies"
)

// BenchmarkEval compares the two ways of handing OPA the input document
// of the same flows: an ast.Value built straight from the protobuf (what
// the engine does) and a Go map decoded from protojson, which OPA converts
// to an ast.Value again on every call (rego.EvalInput).
func BenchmarkEval(b *testing.B) {
	set, err := Load(context.Background(), policies.FS, ".")
	if err != nil {
		b.Fatal(err)
	}
	g := shopmesh.New(shopmesh.Config{Seed: 42, Attacks: true})
	flows := make([]*flowpb.Flow, 4096)
	for i := range flows {
		flows[i] = g.Next()
	}
	ctx := context.Background()

	b.Run("ast_value", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			f := flows[i%len(flows)]
			fa := input.Measure(f)
			if _, err := set.Eval(ctx, input.Document(f, &fa, &input.Profiles{})); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("go_map", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			f := flows[i%len(flows)]
			fa := input.Measure(f)
			js, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(f)
			if err != nil {
				b.Fatal(err)
			}
			var doc map[string]any
			if err := json.Unmarshal(js, &doc); err != nil {
				b.Fatal(err)
			}
			facts, err := ast.JSON(input.Document(&flowpb.Flow{}, &fa, &input.Profiles{}))
			if err != nil {
				b.Fatal(err)
			}
			doc[input.SentinelKey] = facts.(map[string]any)[input.SentinelKey]
			if _, err := set.query.Eval(ctx, rego.EvalInput(doc)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
