package policy

import (
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/open-policy-agent/opa/v1/ast"
)

// DefaultCacheSize is how many decisions each cached policy group keeps
// when the Set is loaded without WithCacheSize.
const DefaultCacheSize = 1 << 16

// cacheShards splits each decision cache so that workers rarely wait on
// one another's lock.
const cacheShards = 16

// decisionCache remembers a policy group's violations for the values of
// exactly the input paths the group reads. It is sound because policies
// are sandboxed to deterministic builtins (see Sandbox) and the data is
// fixed for the Set's life: the same values at those paths always yield
// the same violations. A hit is confirmed by comparing the values, never
// by the hash alone, so a collision (OPA's object hash is a sum, which an
// attacker could aim at) costs an evaluation, not a wrong verdict.
//
// A decision is kept only when its key comes a second time: seen remembers
// the hashes of recent keys (direct-mapped, 8 bytes each, no lock), so a
// stream of keys that never repeat (a new pod in every flow, a scan)
// costs no copies and evicts nothing worth keeping.
type decisionCache struct {
	paths  [][]*ast.Term // each path's keys below input
	exists [][]*ast.Term // paths read only for being there and not false
	shards [cacheShards]cacheShard
	seen   []atomic.Uint64
	counts *cacheCounts
}

// cacheCounts counts how a group judged flows: from its decision cache
// (hits), by evaluating Rego (misses: every evaluation of an uncached
// group), or not at all (skipped: the flow's type or the policies' guards
// leave none of the group's policies able to find anything).
type cacheCounts struct{ hits, misses, skipped atomic.Uint64 }

type cacheShard struct {
	mu  sync.Mutex
	lru *simplelru.LRU[uint64, *decision]
}

// decision is one cached verdict: the values it was judged on and the
// violations found (shared, never modified).
type decision struct {
	values     []*ast.Term
	violations []Violation
}

func newDecisionCache(paths, exists []ast.Ref, size int, counts *cacheCounts) *decisionCache {
	c := &decisionCache{counts: counts}
	for _, p := range paths {
		c.paths = append(c.paths, p[1:])
	}
	for _, p := range exists {
		c.exists = append(c.exists, p[1:])
	}
	c.seen = make([]atomic.Uint64, 1<<bits.Len(uint(max(size, 1))-1)) // a power of two >= size
	per := max(size/cacheShards, 1)
	for i := range c.shards {
		c.shards[i].lru, _ = simplelru.NewLRU[uint64, *decision](per, nil) // per > 0: no error
	}
	return c
}

// undefinedHash stands for a path the input does not have.
const undefinedHash = 0x9e3779b97f4a7c15

// key returns the values at the cache's paths in input (nil where
// undefined) and the flow's markers (which decide the policies judging
// it), appended to vals, and their hash.
func (c *decisionCache) key(input ast.Value, mask uint, vals []*ast.Term) ([]*ast.Term, uint64) {
	vals = append(vals, ast.InternedTerm(int(mask)))
	h := (uint64(14695981039346656037) ^ uint64(mask)) * 1099511628211
	for _, p := range c.paths {
		t := lookup(input, p)
		vals = append(vals, t)
		x := uint64(undefinedHash)
		if t != nil {
			x = uint64(t.Value.Hash())
		}
		h = (h ^ x) * 1099511628211
	}
	for _, p := range c.exists {
		t := lookup(input, p)
		there := t != nil && ast.Compare(t.Value, ast.Boolean(false)) != 0
		vals = append(vals, ast.InternedTerm(there))
		h = (h ^ uint64(ast.Boolean(there).Hash())) * 1099511628211
	}
	return vals, h
}

// lookup returns the value at path p below v, or nil.
func lookup(v ast.Value, p []*ast.Term) *ast.Term {
	var t *ast.Term
	for _, k := range p {
		obj, ok := v.(ast.Object)
		if !ok {
			return nil
		}
		if t = obj.Get(k); t == nil {
			return nil
		}
		v = t.Value
	}
	return t
}

func (c *decisionCache) get(h uint64, vals []*ast.Term) ([]Violation, bool) {
	s := &c.shards[h%cacheShards]
	s.mu.Lock()
	d, ok := s.lru.Get(h)
	s.mu.Unlock()
	if !ok || !sameValues(d.values, vals) {
		c.counts.misses.Add(1)
		return nil, false
	}
	c.counts.hits.Add(1)
	return d.violations, true
}

func (c *decisionCache) put(h uint64, vals []*ast.Term, violations []Violation) {
	if slot := &c.seen[h&uint64(len(c.seen)-1)]; slot.Swap(h) != h {
		return // first time (lately): kept when it comes again
	}
	// Copies: a value may sit in a block of terms allocated for the whole
	// input document, which a pointer to it would keep alive.
	values := make([]*ast.Term, len(vals))
	for i, v := range vals {
		if v != nil {
			values[i] = v.Copy()
		}
	}
	d := &decision{values: values, violations: violations}
	s := &c.shards[h%cacheShards]
	s.mu.Lock()
	s.lru.Add(h, d)
	s.mu.Unlock()
}

func sameValues(a, b []*ast.Term) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		switch {
		case a[i] == b[i]:
		case a[i] == nil || b[i] == nil:
			return false
		case ast.Compare(a[i].Value, b[i].Value) != 0:
			return false
		}
	}
	return true
}

// CacheStats counts how a policy group judged flows since the Set was
// loaded.
type CacheStats struct {
	Group    string // edge, wide (cached), volatile (judged on each flow)
	Policies int    // how many policies the group judges
	// Hits are flows judged from the decision cache, Misses flows judged
	// by evaluating Rego, Skipped flows none of the group's policies could
	// judge (by their type and guards), so nothing ran.
	Hits, Misses, Skipped uint64
}

// Cached reports whether the group has a decision cache.
func (c CacheStats) Cached() bool { return c.Group != classNames[classVolatile] }

// CacheStats reports each group's counts.
func (s *Set) CacheStats() []CacheStats {
	var out []CacheStats
	for class := range numClasses {
		n := 0
		for _, c := range s.class {
			if c == class {
				n++
			}
		}
		out = append(out, CacheStats{Group: classNames[class], Policies: n,
			Hits: s.stats[class].hits.Load(), Misses: s.stats[class].misses.Load(), Skipped: s.stats[class].skipped.Load()})
	}
	return out
}

// Uncached lists the policies judged on every flow and why: they read a
// value that changes on every flow, or the whole input.
func (s *Set) Uncached() map[string]string {
	out := map[string]string{}
	for i, p := range s.policies {
		if s.class[i] != classVolatile {
			continue
		}
		why := s.reads[i].whole
		if why == "" {
			for _, r := range s.reads[i].paths {
				if overlaps(r, volatile) {
					why = "reads " + r.String()
					break
				}
			}
		}
		out[p.ID] = why
	}
	return out
}

// InputPaths are the input paths the Set's policies read (each a list of
// keys below input), for building documents that hold only those; nil
// when a policy reads the whole input, or with WithoutShortcuts: then
// every document must be whole.
func (s *Set) InputPaths() [][]string {
	if s.plain || s.reads == nil {
		return nil
	}
	var out [][]string
	for i := range s.policies {
		r := s.reads[i]
		if r.whole != "" {
			return nil
		}
		for _, p := range append(slices.Clone(r.paths), r.exists...) {
			keys := make([]string, 0, len(p)-1)
			for _, t := range p[1:] {
				k, ok := t.Value.(ast.String)
				if !ok {
					return nil // a path the analysis should not give: read it all
				}
				keys = append(keys, string(k))
			}
			if len(keys) == 0 {
				return nil
			}
			out = append(out, keys)
		}
	}
	if out == nil {
		out = [][]string{} // no policy reads anything
	}
	return out
}
