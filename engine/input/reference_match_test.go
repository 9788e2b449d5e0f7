package input

import (
	"fmt"
	"math"
	"strconv"
	"sync"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/engine/facts"
	"github.com/hubble-sentinel/hubble-sentinel/engine/profile"
	"github.com/hubble-sentinel/hubble-sentinel/test/captures"
	"github.com/hubble-sentinel/hubble-sentinel/test/shopmesh"
)

// TestDocumentMatchesReference: on every real flow and on the simulated
// shop's flows (attacks included), with no profile, an empty one and
// learned ones, Document and a Builder build exactly the document the
// reference conversion builds: same keys, values, types and number
// spellings.
func TestDocumentMatchesReference(t *testing.T) {
	var flows []*flowpb.Flow
	var where []string
	for _, f := range captures.Flows(t) {
		flows = append(flows, f.Flow)
		where = append(where, f.Where())
	}
	require.Greater(t, len(flows), 1000)
	g := shopmesh.New(shopmesh.Config{Seed: 42, Attacks: true})
	for i := range 4096 {
		flows = append(flows, g.Next())
		where = append(where, "shopmesh #"+strconv.Itoa(i))
	}
	b := NewBuilder(8) // small, so entries are evicted and refilled
	for pass := range 2 {
		for i, f := range flows {
			fa := facts.Measure(f)
			p := testViews(i + pass)
			want := refDocument(f, &fa, p)
			at := fmt.Sprintf("%s (views %d)", where[i], (i+pass)%4)
			requireSameValue(t, want, Document(f, &fa, p), at)
			requireSameValue(t, want, b.Document(f, &fa, p), at+", cached")
		}
	}
}

// testViews is no profile, an empty one, or learned ones with quantities
// that round, are absurd or are not numbers at all.
func testViews(i int) *profile.Views {
	switch i % 4 {
	case 0:
		return nil
	case 1:
		return &profile.Views{}
	}
	x := float64(i%97) * 1.37
	return &profile.Views{
		Source:      profile.View{Flows: uint64(i) << (i % 64), FirstSeen: time.Unix(int64(i), int64(i)*7919), Peers: i % 600, NewPeer: i%2 == 0},
		Destination: profile.View{Flows: uint64(i), NewPort: i%3 == 0},
		Baseline: profile.Baseline{
			Learning: i%5 == 0, KnownEdge: i%2 == 0, LearnedEdge: i%3 == 0, NewPeer: i%7 == 0, NewPort: i%11 == 0,
			NewEndpoint: i%13 == 0, NewDomain: i%17 == 0, Peer: "shop/cart", Endpoint: "POST /cart" + strconv.Itoa(i%3),
			LatencyMs: x, BaselineLatencyMs: x / 3, LatencyRatio: 3, LatencyDeviations: -x, LatencySamples: uint32(i),
			ErrorRatio: 0.004, BaselineErrorRatio: 0.005, ClientErrorRatio: math.NaN(), BaselineClientErrorRatio: 1e16,
			Responses: x * 1000, RatePerMin: x, BaselineRatePerMin: -1e16, FanoutIPs: 1, DroppedRatio: math.Inf(1),
			AuthFailuresPerMin: x, DropsPerMin: 2, NXDomainRatio: 0.125,
		},
	}
}

// requireSameValue requires got to be want exactly: ast.Compare, and
// beyond it the same types and the same spelling of every number
// (Compare finds 1 and 1.00 equal; a policy printing them does not).
func requireSameValue(t *testing.T, want, got ast.Value, at string) {
	t.Helper()
	require.Equal(t, 0, ast.Compare(want, got), at)
	if path, ok := sameValue(want, got, ""); !ok {
		t.Fatalf("%s: documents differ at %s", at, path)
	}
}

func sameValue(want, got ast.Value, path string) (string, bool) {
	switch w := want.(type) {
	case ast.Object:
		g, ok := got.(ast.Object)
		if !ok || g.Len() != w.Len() {
			return path, false
		}
		for _, k := range w.Keys() {
			gv := g.Get(k)
			if gv == nil {
				return path + "." + k.String(), false
			}
			if p, ok := sameValue(w.Get(k).Value, gv.Value, path+"."+k.String()); !ok {
				return p, false
			}
		}
		return path, true
	case *ast.Array:
		g, ok := got.(*ast.Array)
		if !ok || g.Len() != w.Len() {
			return path, false
		}
		for i := range w.Len() {
			if p, ok := sameValue(w.Elem(i).Value, g.Elem(i).Value, path+"["+strconv.Itoa(i)+"]"); !ok {
				return p, false
			}
		}
		return path, true
	case ast.Number, ast.String, ast.Boolean, ast.Null:
		return path, want == got
	}
	return path + fmt.Sprintf(" (unexpected %T)", want), false
}

// The sentinel facts are added to the flow's fields, never in place of
// one.
func TestNoFlowFieldIsSentinel(t *testing.T) {
	require.Nil(t, (&flowpb.Flow{}).ProtoReflect().Descriptor().Fields().ByName(SentinelKey))
}

// TestBuilderConcurrent: workers sharing one Builder, as the engine's do,
// each get exactly the reference document, and may copy and compare it
// while others do (run with -race).
func TestBuilderConcurrent(t *testing.T) {
	g := shopmesh.New(shopmesh.Config{Seed: 7, Attacks: true})
	flows := make([]*flowpb.Flow, 512)
	for i := range flows {
		flows[i] = g.Next()
	}
	b := NewBuilder(4)
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for w := range 4 {
		wg.Go(func() {
			for i := range flows {
				f := flows[(i+w*131)%len(flows)]
				fa := facts.Measure(f)
				p := testViews(i)
				doc := b.Document(f, &fa, p)
				// The decision cache copies what it keeps while other
				// workers compare the same shared values.
				cp := ast.NewTerm(doc).Copy().Value
				if ast.Compare(refDocument(f, &fa, p), doc) != 0 || ast.Compare(doc, cp) != 0 {
					errs <- fmt.Sprintf("worker %d, flow %d", w, i)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
