package policy

import (
	"encoding/binary"
	"hash/maphash"
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
// the same violations.
//
// A decision is found by a fingerprint of those values: an unambiguous
// encoding of them (see encodeValue), hashed twice with maphash under two
// seeds drawn when the cache is made: one hash picks the entry, the other
// confirms it. Values that differ encode differently, so only a collision
// of both secret-seeded hashes (about 2^-128 per lookup, and unaimable:
// an attacker never sees the seeds, unlike OPA's own object hash, a sum)
// could give one flow another's verdict. Keeping the fingerprint, not the
// values, keeps each decision small and spares copying documents.
//
// A decision is kept only when its key comes a second time: seen remembers
// the hashes of recent keys (direct-mapped, 8 bytes each, no lock), so a
// stream of keys that never repeat (a new pod in every flow, a scan)
// costs nothing and evicts nothing worth keeping.
type decisionCache struct {
	paths  [][]*ast.Term // each path's keys below input
	exists [][]*ast.Term // paths read only for being there and not false
	// slots and existSlots are the paths' and exists paths' slots (see
	// Flow; -1: none).
	slots, existSlots []int
	// eager keeps a decision the first time its key comes (a screen
	// unit's: small, its keys repeat), not the second.
	eager        bool
	seed, second maphash.Seed
	shards       [cacheShards]cacheShard
	seen         []atomic.Uint64
	// uses are, per policy (by its index in the Set), the paths and then
	// the exists paths it reads, a bit each; nil when there are more than
	// 64 of them (every key then holds every path).
	uses []uint64
}

// cacheCounts counts how a group judged flows: from its decision cache
// (hits), by evaluating Rego (misses: every evaluation of an uncached
// group), or not at all (skipped: the flow's type or the policies' guards
// leave none of the group's policies able to find anything).
type cacheCounts struct{ hits, misses, skipped atomic.Uint64 }

// judged counts a flow the group judged from a cache: a miss if Rego ran
// for it all the same (its screen), else a hit.
func (c *cacheCounts) judged(ran bool) {
	if ran {
		c.misses.Add(1)
	} else {
		c.hits.Add(1)
	}
}

type cacheShard struct {
	mu  sync.Mutex
	lru *simplelru.LRU[uint64, decision]
}

// decision is one cached verdict: the confirming hash of the values it was
// judged on and the violations found (shared, never modified).
type decision struct {
	check      uint64
	violations []Violation
	held       uint64 // a screen unit's: which of its policies' bodies held
}

// cacheKey is a fingerprint of the values a group reads.
type cacheKey struct{ hash, check uint64 }

func newDecisionCache(paths, exists []ast.Ref, size int, sl *slots) *decisionCache {
	c := &decisionCache{seed: maphash.MakeSeed(), second: maphash.MakeSeed()}
	for _, p := range paths {
		c.paths = append(c.paths, p[1:])
		c.slots = append(c.slots, sl.of(p[1:], false))
	}
	for _, p := range exists {
		c.exists = append(c.exists, p[1:])
		c.existSlots = append(c.existSlots, sl.of(p[1:], true))
	}
	c.seen = make([]atomic.Uint64, 1<<bits.Len(uint(max(size, 1))-1)) // a power of two >= size
	per := max(size/cacheShards, 1)
	for i := range c.shards {
		c.shards[i].lru, _ = simplelru.NewLRU[uint64, decision](per, nil) // per > 0: no error
	}
	return c
}

// narrowBy records, for every policy of the group (in reports whether
// policy i is), which of the cache's paths it reads.
func (c *decisionCache) narrowBy(reads []reads, in func(i int) bool) {
	if len(c.paths)+len(c.exists) > 64 {
		return
	}
	c.uses = make([]uint64, len(reads))
	for i, r := range reads {
		if !in(i) {
			continue
		}
		for _, p := range r.paths {
			c.uses[i] |= c.bitOf(p)
		}
		for _, p := range r.exists {
			c.uses[i] |= c.bitOf(p)
		}
	}
}

// bitOf is the bit of the cache path that holds p: a path p lies within,
// or p itself among the exists paths; all bits if neither (never: the
// cache's paths are made from the same reads).
func (c *decisionCache) bitOf(p ast.Ref) uint64 {
	for j, q := range c.paths {
		if p[1:].HasPrefix(q) {
			return 1 << j
		}
	}
	for j, q := range c.exists {
		if ast.Ref(q).Equal(p[1:]) {
			return 1 << (len(c.paths) + j)
		}
	}
	return ^uint64(0)
}

// needs is which of the cache's paths the policies (indexes in the Set) of
// sub whose bit is set in possible read: a policy whose guards the flow
// fails finds nothing whatever the values it reads, so they need not be
// in the key. All paths when the cache does not narrow.
func (c *decisionCache) needs(sub []int, possible uint64) uint64 {
	if c.uses == nil || len(sub) > 64 {
		return ^uint64(0)
	}
	var need uint64
	for b, i := range sub {
		if possible&(1<<b) != 0 {
			need |= c.uses[i]
		}
	}
	return need
}

// key fingerprints the flow's markers (which decide the policies judging
// it), which of those policies the flow passes the guards of (possible, a
// bit per policy of the group's query), and the values at the cache's
// paths in input that they read (need, from needs). Two flows with the
// same key get the same verdict from every policy: the same policies are
// possible, each reading the same values, and the others find nothing.
func (c *decisionCache) key(fl Flow, mask uint, possible, need uint64) cacheKey {
	e := encoders.Get().(*encoder)
	e.buf = binary.AppendUvarint(e.buf[:0], uint64(mask))
	e.buf = binary.AppendUvarint(e.buf, possible)
	kf, keyed := fl.(keyedFlow)
	for j, p := range c.paths {
		if need&(1<<j) == 0 {
			continue
		}
		if keyed && c.slots[j] >= 0 {
			var ok bool
			if e.buf, ok = kf.AppendKey(c.slots[j], e.buf); ok {
				continue
			}
		}
		var v ast.Value
		if t := at(fl, c.slots[j], p); t != nil {
			v = t.Value
		}
		e.value(v)
	}
	for j, p := range c.exists {
		if need&(1<<(len(c.paths)+j)) == 0 {
			continue
		}
		t := at(fl, c.existSlots[j], p)
		there := t != nil && ast.Compare(t.Value, ast.Boolean(false)) != 0
		e.value(ast.Boolean(there))
	}
	k := cacheKey{hash: maphash.Bytes(c.seed, e.buf), check: maphash.Bytes(c.second, e.buf)}
	if cap(e.buf) <= maxPooledEncoding {
		encoders.Put(e)
	}
	return k
}

// Tags of encoder.value: each value starts with its type. A keyedFlow's
// own encodings start with a byte above them all.
const (
	tagUndefined = iota
	tagNull
	tagFalse
	tagTrue
	tagNumber
	tagString
	tagArray
	tagObject
	tagSet
	tagOther
)

// encoder encodes values for fingerprints; its callbacks are made once,
// so that encoding objects and sets allocates nothing.
type encoder struct {
	buf    []byte
	member func(k, v *ast.Term)
	elem   func(*ast.Term)
}

// maxPooledEncoding: a buffer that grew past this (a huge URL) is left to
// the collector rather than kept in the pool.
const maxPooledEncoding = 64 << 10

var encoders = sync.Pool{New: func() any {
	e := &encoder{buf: make([]byte, 0, 1024)}
	e.member = func(k, v *ast.Term) {
		e.value(k.Value)
		e.value(v.Value)
	}
	e.elem = func(t *ast.Term) { e.value(t.Value) }
	return e
}}

// value appends an unambiguous encoding of v (nil: undefined): a type
// tag, then lengths before strings and before elements, so that no two
// different values (as spelled: 20 and 20.0 differ, which costs a miss,
// never a wrong hit) share an encoding. Objects are encoded in key order,
// sets in their iteration order.
func (e *encoder) value(v ast.Value) {
	switch x := v.(type) {
	case nil:
		e.buf = append(e.buf, tagUndefined)
	case ast.Null:
		e.buf = append(e.buf, tagNull)
	case ast.Boolean:
		if x {
			e.buf = append(e.buf, tagTrue)
		} else {
			e.buf = append(e.buf, tagFalse)
		}
	case ast.Number:
		e.str(tagNumber, string(x))
	case ast.String:
		e.str(tagString, string(x))
	case *ast.Array:
		e.buf = binary.AppendUvarint(append(e.buf, tagArray), uint64(x.Len()))
		x.Foreach(e.elem)
	case ast.Object:
		e.buf = binary.AppendUvarint(append(e.buf, tagObject), uint64(x.Len()))
		x.Foreach(e.member)
	case ast.Set:
		e.buf = binary.AppendUvarint(append(e.buf, tagSet), uint64(x.Len()))
		x.Foreach(e.elem)
	default: // not in a document built from a flow
		e.str(tagOther, v.String())
	}
}

func (e *encoder) str(tag byte, s string) {
	e.buf = append(binary.AppendUvarint(append(e.buf, tag), uint64(len(s))), s...)
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

func (c *decisionCache) get(k cacheKey) ([]Violation, bool) {
	d, ok := c.find(k)
	return d.violations, ok
}

func (c *decisionCache) find(k cacheKey) (decision, bool) {
	s := &c.shards[k.hash%cacheShards]
	s.mu.Lock()
	d, ok := s.lru.Get(k.hash)
	s.mu.Unlock()
	if !ok || d.check != k.check {
		return decision{}, false
	}
	return d, true
}

func (c *decisionCache) put(k cacheKey, violations []Violation) {
	c.add(k, decision{check: k.check, violations: violations})
}

// getBits and putBits are get and put of a screen unit's verdicts.
func (c *decisionCache) getBits(k cacheKey) (uint64, bool) {
	d, ok := c.find(k)
	return d.held, ok
}

func (c *decisionCache) putBits(k cacheKey, held uint64) {
	c.add(k, decision{check: k.check, held: held})
}

func (c *decisionCache) add(k cacheKey, d decision) {
	if slot := &c.seen[k.hash&uint64(len(c.seen)-1)]; slot.Swap(k.hash) != k.hash && !c.eager {
		return // first time (lately): kept when it comes again
	}
	s := &c.shards[k.hash%cacheShards]
	s.mu.Lock()
	s.lru.Add(k.hash, d)
	s.mu.Unlock()
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

// DeferredPaths splits InputPaths: paths are those a flow's document is
// built with, and deferred the baselines' measurement groups the Set's
// policies read, left out of it (each a list of keys below input). Then
// EvalDeferred judges that document with a Deferred that gives the rest.
// Both are nil when nothing is left out: with WithoutShortcuts, when a
// policy reads the whole input or all of a measurement group's parent
// (input.sentinel.baseline), or when no policy reads a measurement.
func (s *Set) DeferredPaths() (paths, deferred [][]string) {
	all := s.InputPaths()
	if all == nil {
		return nil, nil
	}
	seen := map[int]bool{}
	for _, p := range all {
		r := ast.Ref{ast.InputRootDocument}
		for _, k := range p {
			r = append(r, ast.StringTerm(k))
		}
		switch i := slices.IndexFunc(deferrable, r.HasPrefix); {
		case i >= 0:
			if !seen[i] {
				seen[i] = true
				keys, _ := keysOf(deferrable[i]) // strings only
				deferred = append(deferred, keys)
			}
		case overlaps(r, deferrable):
			return nil, nil // reads a measurement group's parent whole
		default:
			paths = append(paths, p)
		}
	}
	if deferred == nil || paths == nil {
		return nil, nil // nothing to leave out, or nothing else to build
	}
	return paths, deferred
}

// keysOf is r's keys below input, false when one is not a string.
func keysOf(r ast.Ref) ([]string, bool) {
	keys := make([]string, 0, len(r)-1)
	for _, t := range r[1:] {
		k, ok := t.Value.(ast.String)
		if !ok {
			return nil, false
		}
		keys = append(keys, string(k))
	}
	return keys, true
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
		for _, p := range r.all() {
			keys, ok := keysOf(p)
			if !ok || len(keys) == 0 {
				return nil // a path the analysis should not give: read it all
			}
			out = append(out, keys)
		}
	}
	if out == nil {
		out = [][]string{} // no policy reads anything
	}
	return out
}
