package input

import (
	"encoding/binary"
	"hash/maphash"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"
)

// objectTable shares the small objects of a document whose values are all
// short scalars or other shared objects: a flow's event_type, IP, l4 and
// its TCP flags take a few distinct values across millions of flows, and
// each object built costs OPA's ast.NewObject five allocations. AST values
// are never mutated by evaluation, so one object serves every document.
//
// The table is direct-mapped and bounded (objectSlots entries, each a
// handful of terms); an object is shared only when its content comes a
// second time (seen, as the decision cache does), so objects that never
// repeat (a baseline's live rates) cost a hash and no entry, and churn
// evicts nothing worth keeping.
type objectTable struct {
	seed  maphash.Seed
	slots [objectSlots]atomic.Pointer[sharedObject]
	seen  [objectSlots]atomic.Uint64
	ids   atomic.Uint64
}

// sharedObject is one shared object and the encoding of its content.
type sharedObject struct {
	key string
	obj ast.Object
	id  uint64 // names it inside the encoding of an object holding it
}

const (
	objectSlots = 4096
	// maxSharedItems and maxSharedScalar bound what is shared: small
	// objects of short values.
	maxSharedItems  = 8
	maxSharedScalar = 64
)

func newObjectTable() *objectTable { return &objectTable{seed: maphash.MakeSeed()} }

// Tags of the content encoding.
const (
	objNull = iota
	objFalse
	objTrue
	objNumber
	objString
	objShared
)

// share returns the shared object holding exactly items (keys and values),
// if their content can be shared and came before; c.shared records the
// shared objects of the document being built, so that an object holding
// one can be shared too.
func (t *objectTable) share(c *conv, items [][2]*ast.Term) (ast.Object, bool) {
	if len(items) > maxSharedItems {
		return nil, false
	}
	if c.enc == nil {
		// Room for the largest encoding: no growth, whichever way share
		// returns.
		c.enc = make([]byte, 0, maxSharedItems*(2*(maxSharedScalar+binary.MaxVarintLen64)+1))
	}
	buf := c.enc[:0]
	for _, kv := range items {
		k, ok := kv[0].Value.(ast.String)
		if !ok || len(k) > maxSharedScalar {
			return nil, false
		}
		buf = appendLenString(buf, string(k))
		switch v := kv[1].Value.(type) {
		case ast.Null:
			buf = append(buf, objNull)
		case ast.Boolean:
			if v {
				buf = append(buf, objTrue)
			} else {
				buf = append(buf, objFalse)
			}
		case ast.Number:
			if len(v) > maxSharedScalar {
				return nil, false
			}
			buf = appendLenString(append(buf, objNumber), string(v))
		case ast.String:
			if len(v) > maxSharedScalar {
				return nil, false
			}
			buf = appendLenString(append(buf, objString), string(v))
		case ast.Object:
			id, ok := c.sharedID(v)
			if !ok {
				return nil, false
			}
			buf = binary.AppendUvarint(append(buf, objShared), id)
		default:
			return nil, false
		}
	}
	h := maphash.Bytes(t.seed, buf)
	i := h & (objectSlots - 1)
	if e := t.slots[i].Load(); e != nil && e.key == string(buf) {
		c.shared = append(c.shared, e)
		return e.obj, true
	}
	if t.seen[i].Swap(h) != h {
		return nil, false // first time (lately): built as usual
	}
	// Fresh terms: the document's own come from its blocks, which a
	// shared object must not pin.
	pairs := make([][2]*ast.Term, len(items))
	for j, kv := range items {
		pairs[j] = [2]*ast.Term{ast.NewTerm(kv[0].Value), ast.NewTerm(kv[1].Value)}
	}
	obj := ast.NewObject(pairs...)
	seal(obj)
	e := &sharedObject{key: string(buf), obj: obj, id: t.ids.Add(1)}
	t.slots[i].Store(e)
	c.shared = append(c.shared, e)
	return obj, true
}

// sharedID is the id of v if it is a shared object handed out for the
// document being built.
func (c *conv) sharedID(v ast.Object) (uint64, bool) {
	for _, e := range c.shared {
		if e.obj == v {
			return e.id, true
		}
	}
	return 0, false
}

func appendLenString(buf []byte, s string) []byte {
	return append(binary.AppendUvarint(buf, uint64(len(s))), s...)
}

// numberTable shares the number terms of measured quantities (num's, two
// decimals): a ratio, a latency or a rate takes the same few values on
// flow after flow, and each term built costs two allocations. Like
// objectTable it is direct-mapped and bounded, and admits a number the
// second time it comes, so that numbers that never repeat cost a hash.
type numberTable struct {
	seed  maphash.Seed
	slots [numberSlots]atomic.Pointer[sharedNumber]
	seen  [numberSlots]atomic.Uint64
}

type sharedNumber struct {
	text string
	term *ast.Term
}

const numberSlots = 4096

func newNumberTable() *numberTable { return &numberTable{seed: maphash.MakeSeed()} }

// get is the shared term of the number spelled b, if it came before.
func (t *numberTable) get(b []byte) *ast.Term {
	h := maphash.Bytes(t.seed, b)
	i := h & (numberSlots - 1)
	if e := t.slots[i].Load(); e != nil && e.text == string(b) {
		return e.term
	}
	if t.seen[i].Swap(h) != h {
		return nil // first time (lately): the caller builds its own
	}
	e := &sharedNumber{text: string(b)}
	e.term = ast.NewTerm(ast.Number(e.text))
	t.slots[i].Store(e)
	return e.term
}

// intTable shares the number terms of integers beyond OPA's interned ones
// (0 to 512): ports, identities, counts. A port or an identity comes on
// flow after flow, and each term built costs three allocations. It is
// direct-mapped and bounded; a miss replaces the slot's entry.
type intTable struct {
	slots [intSlots]atomic.Pointer[sharedInt]
}

type sharedInt struct {
	v    int64
	term *ast.Term
}

const intSlots = 4096

// term is v's number term.
func (t *intTable) term(v int64) *ast.Term {
	if v >= -1 && v <= 512 {
		return ast.InternedTerm(v) // OPA's own, no allocation
	}
	i := (uint64(v) * 0x9e3779b97f4a7c15) >> (64 - 12) // Fibonacci hashing onto the slots
	if e := t.slots[i].Load(); e != nil && e.v == v {
		return e.term
	}
	e := &sharedInt{v: v, term: ast.InternedTerm(v)}
	t.slots[i].Store(e)
	return e.term
}
