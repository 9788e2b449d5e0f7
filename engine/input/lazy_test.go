package input

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/engine/facts"
	"github.com/hubble-sentinel/hubble-sentinel/engine/profile"
	"github.com/hubble-sentinel/hubble-sentinel/test/captures"
	"github.com/hubble-sentinel/hubble-sentinel/test/shopmesh"
)

// TestLazyAtIsTheDocuments: at every path any document has (and paths
// none has), a Lazy's value is the whole document's, on the real captures
// and on the simulated shop with its attacks and baselines, the flows'
// profiles observed as the engine observes them.
func TestLazyAtIsTheDocuments(t *testing.T) {
	store, err := profile.NewStore(profile.Config{LearningPeriod: 10 * time.Second}, prometheus.NewRegistry())
	require.NoError(t, err)
	type sample struct {
		f     *flowpb.Flow
		fa    facts.Flow
		views *profile.Views
		where string
	}
	var flows []sample
	add := func(f *flowpb.Flow, where string) {
		fa := facts.Measure(f)
		views := store.Observe(fa.Time, &fa)
		flows = append(flows, sample{f, fa, &views, where})
	}
	for i, f := range captures.Flows(t) {
		if i%4 == 0 {
			add(f.Flow, f.Where())
		}
	}
	g := shopmesh.New(shopmesh.Config{Seed: 5, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Attacks: true, Baseline: true})
	for i := range 8000 {
		add(g.Next(), "shop flow "+strconv.Itoa(i))
	}
	add(&flowpb.Flow{}, "empty flow")
	flows[len(flows)-1].views = nil // no profiles: no profile or baseline

	// Every path of every document, to the fourth key, and some that no
	// document has.
	paths := [][]string{{"nope"}, {"l7", "nope"}, {"sentinel", "http", "nope"}, {"sentinel", "dns", "nope"},
		{"sentinel", "baseline", "nope"}, {"sentinel", "source", "fqdn"}, {"source", "labels", "x"}, {"time", "x"}}
	seen := map[string]bool{}
	for k := range typedGetters { // read whether documents have them or not
		if p := strings.TrimPrefix(k, "?"); !seen[p] {
			seen[p] = true
			paths = append(paths, strings.Split(p, "."))
		}
	}
	b := NewBuilder(64)
	for _, s := range flows {
		paths = append(paths, pathsOf(b.Document(s.f, &s.fa, s.views), seen)...)
	}
	require.Greater(t, len(paths), 100)
	keys := make([]ast.Ref, len(paths))
	for i, p := range paths {
		for _, k := range p {
			keys[i] = append(keys[i], ast.StringTerm(k))
		}
	}
	presence := make([]bool, len(paths))
	for i := range presence {
		presence[i] = true
	}
	for _, presence := range [][]bool{nil, presence} {
		ps := NewPaths(paths, presence)
		for _, s := range flows {
			doc := b.Document(s.f, &s.fa, s.views)
			l := b.Lazy(ps, s.f, &s.fa, s.views, nil, nil)
			for i := range paths {
				got, ok := l.At(i)
				require.True(t, ok)
				var want *ast.Term
				if v, err := doc.Find(keys[i]); err == nil {
					want = ast.NewTerm(v)
				}
				if want != nil && presence != nil && want.Value.Compare(ast.Boolean(false)) != 0 {
					want = there // read for being there and not false
				}
				if want == nil {
					require.Nil(t, got, "%s: %v", s.where, paths[i])
					continue
				}
				require.NotNil(t, got, "%s: %v", s.where, paths[i])
				require.Equal(t, 0, want.Value.Compare(got.Value), "%s: %v: %v, want %v", s.where, paths[i], got, want)
			}
			require.Equal(t, 0, doc.Compare(l.Document()), s.where)
			l.Release()
		}
	}
}

// pathsOf lists the paths of doc's objects to the fourth key, but those in
// seen, and adds them to seen.
func pathsOf(doc ast.Value, seen map[string]bool) [][]string {
	var paths [][]string
	var walk func(v ast.Value, at []string)
	walk = func(v ast.Value, at []string) {
		obj, ok := v.(ast.Object)
		if !ok || len(at) == 4 {
			return
		}
		obj.Foreach(func(k, v *ast.Term) {
			s, ok := k.Value.(ast.String)
			if !ok {
				return
			}
			p := append(slices.Clone(at), string(s))
			if key := strings.Join(p, "."); !seen[key] {
				seen[key] = true
				paths = append(paths, p)
			}
			walk(v.Value, p)
		})
	}
	walk(doc, nil)
	return paths
}

// TestAppendKeyIsTheEndpoint: on the real captures and the shop's flows,
// two flows AppendKey encodes alike at a measured endpoint's path have the
// same value there, and two with the same value are encoded alike (a
// cache keyed by it misses no more than one keyed by the value); other
// paths are left to the value. The endpoint's parts are the fields
// AppendKey encodes: a part added to the document must be added there.
func TestAppendKeyIsTheEndpoint(t *testing.T) {
	var names []string
	for _, p := range destinationParts {
		names = append(names, string(p.key.Value.(ast.String)))
	}
	require.Equal(t, []string{"kind", "namespace", "workload", "pod", "ip", "identity", "fqdn", "names", "domains"}, names,
		"the destination's parts: AppendKey encodes exactly these (and the source's, the first six)")
	require.Len(t, sourceParts, 6)

	flows := realAndShopFlows(t, 9, 6000)
	ps := NewPaths([][]string{{"sentinel", "source"}, {"sentinel", "destination"}, {"sentinel", "source", "namespace"}, {"sentinel", "destination"}},
		[]bool{false, false, false, true})
	b := NewBuilder(64)
	byKey := [2]map[string]ast.Value{{}, {}}
	byValue := [2]map[string]string{{}, {}}
	for i, f := range flows {
		fa := facts.Measure(f)
		l := b.Lazy(ps, f, &fa, nil, nil, nil)
		for side := range 2 {
			key, ok := l.AppendKey(side, nil)
			require.True(t, ok)
			require.Equal(t, byte(KeyMark|byte(side+1)), key[0])
			v, _ := l.At(side)
			require.NotNil(t, v)
			if w, seen := byKey[side][string(key)]; seen {
				require.Zero(t, ast.Compare(w, v.Value), "flow %d: the same key, another value", i)
			}
			byKey[side][string(key)] = v.Value
			if k, seen := byValue[side][v.String()]; seen {
				require.Equal(t, k, string(key), "flow %d: the same value, another key", i)
			}
			byValue[side][v.String()] = string(key)
		}
		for _, other := range []int{2, 3, -1, 4} {
			_, ok := l.AppendKey(other, nil)
			require.False(t, ok, "path %d is not a measured endpoint read whole", other)
		}
		l.Release()
	}
	require.Greater(t, len(byKey[0]), 20)
	require.Greater(t, len(byKey[1]), 20)
}

// realAndShopFlows are the real captures' flows, then n of the simulated
// shop's (attacks included, from seed).
func realAndShopFlows(t *testing.T, seed int64, n int) []*flowpb.Flow {
	t.Helper()
	var flows []*flowpb.Flow
	for _, f := range captures.Flows(t) {
		flows = append(flows, f.Flow)
	}
	g := shopmesh.New(shopmesh.Config{Seed: seed, Attacks: true})
	for range n {
		flows = append(flows, g.Next())
	}
	return flows
}

// TestStringsAtIsTheValue: for the paths whose value is a list of strings
// the facts hold, StringsAt gives that list as At's value holds it (the
// same strings in order, undefined where it is), on the captures and the
// shop; for any other path it declines.
func TestStringsAtIsTheValue(t *testing.T) {
	lists := [][]string{{"sentinel", "destination", "names"}, {"sentinel", "destination", "domains"},
		{"sentinel", "dns", "domains"}, {"sentinel", "dns", "labels"}, {"sentinel", "dns", "qtypes"}}
	others := [][]string{{"sentinel", "source", "namespace"}, {"destination_names"}, {"sentinel", "http", "query"}, {"sentinel", "destination"}}
	ps := NewPaths(append(slices.Clone(lists), others...), nil)
	b := NewBuilder(64)
	defined := 0
	for i, f := range realAndShopFlows(t, 11, 6000) {
		fa := facts.Measure(f)
		l := b.Lazy(ps, f, &fa, nil, nil, nil)
		for p := range lists {
			list, ok, handled := l.StringsAt(p)
			require.True(t, handled)
			v, _ := l.At(p)
			if !ok {
				require.Nil(t, v, "flow %d, %v: undefined", i, lists[p])
				continue
			}
			defined++
			arr, isArray := v.Value.(*ast.Array)
			require.True(t, isArray, "flow %d, %v", i, lists[p])
			require.Equal(t, arr.Len(), len(list), "flow %d, %v", i, lists[p])
			for j, s := range list {
				require.Equal(t, ast.String(s), arr.Elem(j).Value, "flow %d, %v", i, lists[p])
			}
		}
		for p := range others {
			_, _, handled := l.StringsAt(len(lists) + p)
			require.False(t, handled, "%v", others[p])
		}
		l.Release()
	}
	require.Positive(t, defined)
}
