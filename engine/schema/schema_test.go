package schema_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown/cache"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hubble-sentinel/hubble-sentinel/engine/facts"
	"github.com/hubble-sentinel/hubble-sentinel/engine/input"
	"github.com/hubble-sentinel/hubble-sentinel/engine/profile"
	"github.com/hubble-sentinel/hubble-sentinel/engine/schema"
	"github.com/hubble-sentinel/hubble-sentinel/policies"
	"github.com/hubble-sentinel/hubble-sentinel/test/captures"
	"github.com/hubble-sentinel/hubble-sentinel/test/shopmesh"
)

func TestShippedSchemaIsCurrent(t *testing.T) {
	shipped, err := fs.ReadFile(policies.FS, schema.File)
	require.NoError(t, err)
	want := strings.Split(string(schema.JSON()), "\n")
	got := strings.Split(string(shipped), "\n")
	for i := range max(len(want), len(got)) {
		if i >= len(want) || i >= len(got) || want[i] != got[i] {
			t.Fatalf("policies/%s is stale from line %d (%q, generated %q): run `make schema` and commit it",
				schema.File, i+1, line(got, i), line(want, i))
		}
	}
}

func line(lines []string, i int) string {
	if i < len(lines) {
		return strings.TrimSpace(lines[i])
	}
	return "end of file"
}

// validator checks documents against the schema with OPA's own JSON Schema
// validator, the json.match_schema builtin.
type validator struct {
	query rego.PreparedEvalQuery
	cache cache.InterQueryValueCache // compiles the schema once, not for every document
}

func newValidator(t testing.TB) *validator {
	t.Helper()
	ctx := context.Background()
	var s any
	require.NoError(t, json.Unmarshal(schema.JSON(), &s))
	config, err := cache.ParseCachingConfig(nil)
	require.NoError(t, err)
	q, err := rego.New(
		rego.Query("x := json.match_schema(input, data.schema)"),
		rego.Store(inmem.NewFromObjectWithOpts(map[string]any{"schema": s}, inmem.OptReturnASTValuesOnRead(true))),
		rego.StoreReadAST(true),
	).PrepareForEval(ctx)
	require.NoError(t, err)
	return &validator{query: q, cache: cache.NewInterQueryValueCache(ctx, config)}
}

// errors returns what the schema has against doc, nothing when it matches.
func (v *validator) errors(t testing.TB, doc ast.Value) []string {
	t.Helper()
	rs, err := v.query.Eval(context.Background(), rego.EvalParsedInput(doc),
		rego.EvalInterQueryBuiltinValueCache(v.cache))
	require.NoError(t, err)
	require.Len(t, rs, 1)
	res := rs[0].Bindings["x"].([]any)
	if res[0].(bool) {
		return nil
	}
	var out []string
	for _, e := range res[1].([]any) {
		out = append(out, e.(map[string]any)["error"].(string))
	}
	return out
}

// check fails the test when doc does not match the schema, showing both.
func (v *validator) check(t testing.TB, doc ast.Value, where string) {
	t.Helper()
	if errs := v.errors(t, doc); len(errs) > 0 {
		t.Fatalf("%s: the input document does not match the schema:\n  %s\ndocument: %v", where, strings.Join(errs, "\n  "), doc)
	}
}

// The validator is not vacuous: an unknown field, a wrong type and a missing
// sentinel fact are all mismatches.
func TestValidatorRejectsMismatches(t *testing.T) {
	v := newValidator(t)
	f := shopmesh.New(shopmesh.Config{Seed: 1}).Next()
	fa := facts.Measure(f)
	good := input.Document(f, &fa, &profile.Views{})
	v.check(t, good, "a shopmesh flow")
	for _, tc := range []struct {
		name, path string
		value      *ast.Term
		want       string
	}{
		{"unknown flow field", "destinaton", ast.StringTerm("x"), "Additional property destinaton is not allowed"},
		{"unknown sentinel field", "sentinel.destination.fqdns", ast.StringTerm("x"), "Additional property fqdns is not allowed"},
		{"wrong type", "sentinel.destination_port", ast.StringTerm("80"), "Invalid type. Expected: integer, given: string"},
		{"enum out of range", "sentinel.source.kind", ast.StringTerm("robot"), "must be one of the following"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := good.(ast.Object).Copy()
			ref := strings.Split(tc.path, ".")
			obj := doc
			for _, k := range ref[:len(ref)-1] {
				obj = obj.Get(ast.StringTerm(k)).Value.(ast.Object)
			}
			obj.Insert(ast.StringTerm(ref[len(ref)-1]), tc.value)
			errs := v.errors(t, doc)
			require.NotEmpty(t, errs)
			require.Contains(t, strings.Join(errs, "\n"), tc.want)
		})
	}
	t.Run("missing sentinel fact", func(t *testing.T) {
		doc := good.(ast.Object).Copy()
		sent := doc.Get(ast.StringTerm(input.SentinelKey)).Value.(ast.Object)
		doc.Insert(ast.StringTerm(input.SentinelKey), ast.NewTerm(removeKey(sent, "protocol")))
		require.Contains(t, strings.Join(v.errors(t, doc), "\n"), "protocol is required")
	})
}

func removeKey(o ast.Object, key string) ast.Object {
	out := ast.NewObject()
	o.Foreach(func(k, v *ast.Term) {
		if !k.Equal(ast.StringTerm(key)) {
			out.Insert(k, v)
		}
	})
	return out
}

// TestEveryFieldMatches builds flows with every field set (each option of
// each oneof in turn, enum numbers Cilium does not know, 64-bit values
// beyond 2^62), with HTTP, DNS and profile facts, and requires that their
// documents match the schema and that they use every property the schema
// declares: the schema describes neither more nor less than package input
// builds.
func TestEveryFieldMatches(t *testing.T) {
	v := newValidator(t)
	seen := map[string]bool{}
	first := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	for variant := range 8 {
		f := &flowpb.Flow{}
		populate(f.ProtoReflect(), variant, 0)
		fa := facts.Measure(f)
		profiles := &profile.Views{
			Source:      profile.View{Flows: 1 << 63, FirstSeen: first, Peers: 3, NewPeer: true, NewPort: true},
			Destination: profile.View{},
		}
		doc := input.NewBuilder(0).Document(f, &fa, profiles)
		v.check(t, doc, fmt.Sprintf("variant %d", variant))
		paths(doc, "", seen)
	}
	var unused []string
	for _, p := range schemaPaths(t) {
		if !seen[p] {
			unused = append(unused, p)
		}
	}
	require.Empty(t, unused, "the schema declares properties no input document has")
}

// populate sets every field of m to a value that is not the zero value. In
// each oneof it sets the option variant selects; odd variants use an enum
// number no enum defines and 64-bit values beyond what an int64 holds.
func populate(m protoreflect.Message, variant, depth int) {
	if depth > 8 {
		return
	}
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if o := fd.ContainingOneof(); o != nil && o.Fields().Get(variant%o.Fields().Len()) != fd {
			continue
		}
		switch {
		case fd.IsList():
			l := m.Mutable(fd).List()
			for range 2 {
				if fd.Message() != nil {
					e := l.NewElement()
					populate(e.Message(), variant, depth+1)
					l.Append(e)
				} else {
					l.Append(scalar(fd, variant))
				}
			}
		case fd.IsMap():
			mv := m.Mutable(fd).Map()
			k := scalar(fd.MapKey(), variant).MapKey()
			if fd.MapValue().Message() != nil {
				populate(mv.Mutable(k).Message(), variant, depth+1)
			} else {
				mv.Set(k, scalar(fd.MapValue(), variant))
			}
		case fd.Message() != nil:
			populate(m.Mutable(fd).Message(), variant, depth+1)
		default:
			m.Set(fd, scalar(fd, variant))
		}
	}
}

func scalar(fd protoreflect.FieldDescriptor, variant int) protoreflect.Value {
	odd := variant%2 == 1
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(true)
	case protoreflect.StringKind:
		switch fd.Name() {
		case "url":
			return protoreflect.ValueOfString("http://api.example.com:8080/a%20b/c?x=1")
		case "query":
			return protoreflect.ValueOfString("kq3v9x2zq7w8r5t1y6u4i0o.tunnel.example.com.")
		case "key":
			return protoreflect.ValueOfString("User-Agent")
		}
		return protoreflect.ValueOfString("x-" + string(fd.Name()))
	case protoreflect.EnumKind:
		if odd {
			return protoreflect.ValueOfEnum(12345)
		}
		vs := fd.Enum().Values()
		return protoreflect.ValueOfEnum(vs.Get(vs.Len() - 1).Number())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(-7)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		if fd.ContainingMessage().FullName() == "google.protobuf.Timestamp" {
			return protoreflect.ValueOfInt64(1767225600)
		}
		return protoreflect.ValueOfInt64(-7)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		if odd {
			return protoreflect.ValueOfUint32(1<<32 - 1)
		}
		return protoreflect.ValueOfUint32(443)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		if odd {
			return protoreflect.ValueOfUint64(1<<64 - 1)
		}
		return protoreflect.ValueOfUint64(7)
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(1.5)
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(1.5)
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte{0, 1, 2})
	}
	panic("unexpected kind " + fd.Kind().String())
}

// paths records the key paths of a document: a.b for objects, a[] for
// array elements.
func paths(v ast.Value, prefix string, seen map[string]bool) {
	switch x := v.(type) {
	case ast.Object:
		x.Foreach(func(k, v *ast.Term) {
			p := strings.TrimPrefix(prefix+"."+string(k.Value.(ast.String)), ".")
			seen[p] = true
			paths(v.Value, p, seen)
		})
	case *ast.Array:
		x.Foreach(func(e *ast.Term) { paths(e.Value, prefix+"[]", seen) })
	}
}

// schemaPaths lists the property paths the schema declares, in the same
// form as paths. Maps (objects without properties) end a path.
func schemaPaths(t *testing.T) []string {
	var root map[string]any
	require.NoError(t, json.Unmarshal(schema.JSON(), &root))
	defs := root["definitions"].(map[string]any)
	var out []string
	var walk func(s map[string]any, prefix string)
	walk = func(s map[string]any, prefix string) {
		if ref, ok := s["$ref"].(string); ok {
			walk(defs[strings.TrimPrefix(ref, "#/definitions/")].(map[string]any), prefix)
			return
		}
		allOf, _ := s["allOf"].([]any)
		for _, sub := range allOf {
			walk(sub.(map[string]any), prefix)
		}
		if items, ok := s["items"].(map[string]any); ok {
			walk(items, prefix+"[]")
		}
		props, _ := s["properties"].(map[string]any)
		for k, p := range props {
			path := strings.TrimPrefix(prefix+"."+k, ".")
			out = append(out, path)
			walk(p.(map[string]any), path)
		}
	}
	walk(root, "")
	sort.Strings(out)
	return out
}

// documents feeds the input documents of flows through the engine's path:
// facts measured, profiles observed, the document built with a cache.
type documents struct {
	profiles *profile.Store
	builder  *input.Builder
}

func newDocuments(t testing.TB) *documents {
	t.Helper()
	s, err := profile.NewStore(profile.Config{}, nil)
	require.NoError(t, err)
	return &documents{profiles: s, builder: input.NewBuilder(0)}
}

func (d *documents) of(f *flowpb.Flow) ast.Value {
	fa := facts.Measure(f)
	p := d.profiles.Observe(f.GetTime().AsTime(), &fa)
	return d.builder.Document(f, &fa, &p)
}

// Every flow of the real GKE captures matches the schema.
func TestCapturesMatch(t *testing.T) {
	v := newValidator(t)
	docs := newDocuments(t)
	flows := captures.Flows(t)
	for _, f := range flows {
		v.check(t, docs.of(f.Flow), f.Where())
	}
	require.Greater(t, len(flows), 1000)
}

// Every flow of the simulated shop, attacks included, matches the schema.
func TestShopmeshMatches(t *testing.T) {
	v := newValidator(t)
	docs := newDocuments(t)
	g := shopmesh.New(shopmesh.Config{Seed: 1, Attacks: true})
	for i := range 3000 {
		v.check(t, docs.of(g.Next()), fmt.Sprintf("shopmesh flow %d", i))
	}
}
