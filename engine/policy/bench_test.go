package policy

import (
	"context"
	"encoding/json"
	"io/fs"
	"path"
	"strings"
	"testing"
	"testing/fstest"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hubble-sentinel/hubble-sentinel/engine/facts"
	"github.com/hubble-sentinel/hubble-sentinel/engine/input"
	"github.com/hubble-sentinel/hubble-sentinel/engine/profile"
	"github.com/hubble-sentinel/hubble-sentinel/policies"
	"github.com/hubble-sentinel/hubble-sentinel/test/shopmesh"
)

// benchDocs are input documents of a realistic mix of flows: the simulated
// shop's HTTP, gRPC, DNS, TCP and world egress, with its attacks.
func benchDocs(b *testing.B) []ast.Value {
	b.Helper()
	g := shopmesh.New(shopmesh.Config{Seed: 42, Attacks: true})
	docs := make([]ast.Value, 4096)
	for i := range docs {
		f := g.Next()
		fa := facts.Measure(f)
		docs[i] = input.Document(f, &fa, &profile.Views{})
	}
	return docs
}

// BenchmarkPolicy measures each bundled policy alone (with the shared lib
// and data), so the cost of adding a policy is visible per package.
func BenchmarkPolicy(b *testing.B) {
	all, err := Load(context.Background(), policies.FS, ".")
	if err != nil {
		b.Fatal(err)
	}
	docs := benchDocs(b)
	ctx := context.Background()
	for _, p := range all.Policies() {
		dir := path.Dir(p.File)
		only := fstest.MapFS{}
		err := fs.WalkDir(policies.FS, ".", func(name string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			if strings.HasPrefix(name, dir+"/") || !strings.HasSuffix(name, ".rego") || isSharedModule(name, all) {
				data, err := fs.ReadFile(policies.FS, name)
				only[name] = &fstest.MapFile{Data: data}
				return err
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		set, err := Load(ctx, only, ".")
		if err != nil {
			b.Fatal(err)
		}
		b.Run(p.ID, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, err := set.Eval(ctx, docs[i%len(docs)]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// isSharedModule reports whether a .rego file is not one of the policies
// (a library module).
func isSharedModule(name string, all *Set) bool {
	for _, p := range all.Policies() {
		if strings.HasPrefix(name, path.Dir(p.File)+"/") {
			return false
		}
	}
	return true
}

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
			fa := facts.Measure(f)
			if _, err := set.Eval(ctx, input.Document(f, &fa, &profile.Views{})); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("go_map", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			f := flows[i%len(flows)]
			fa := facts.Measure(f)
			js, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(f)
			if err != nil {
				b.Fatal(err)
			}
			var doc map[string]any
			if err := json.Unmarshal(js, &doc); err != nil {
				b.Fatal(err)
			}
			sentinel, err := ast.JSON(input.Document(&flowpb.Flow{}, &fa, &profile.Views{}))
			if err != nil {
				b.Fatal(err)
			}
			doc[input.SentinelKey] = sentinel.(map[string]any)[input.SentinelKey]
			if _, err := set.eval.Load().query.Eval(ctx, rego.EvalInput(doc)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkGuards measures checking the bundled policies' guards on a
// realistic mix of flows as the engine does before any group: each value
// at the guards' paths found from the flow (an input.Lazy) and each
// comparison made once per flow.
func BenchmarkGuards(b *testing.B) {
	set, err := Load(context.Background(), policies.FS, ".")
	if err != nil {
		b.Fatal(err)
	}
	g := shopmesh.New(shopmesh.Config{Seed: 42, Attacks: true})
	flows := make([]*flowpb.Flow, 4096)
	measured := make([]facts.Flow, len(flows))
	for i := range flows {
		flows[i] = g.Next()
		measured[i] = facts.Measure(flows[i])
	}
	builder, paths := input.NewBuilder(0), input.NewPaths(set.Paths())
	ev := set.eval.Load()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		k := i % len(flows)
		in := builder.Lazy(paths, flows[k], &measured[k], &profile.Views{}, nil, nil)
		var memo guardMemo
		memo.reset(set.guardTable, in)
		mask := set.maskOf(in)
		for gi := range ev.groups {
			if qi := ev.groups[gi].byMask[mask]; qi >= 0 {
				memo.possible(ev.groups[gi].subsets[qi])
			}
		}
		in.Release()
	}
}
