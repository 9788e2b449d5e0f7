package policy

import (
	"github.com/open-policy-agent/opa/v1/ast"
)

// Flow is one flow's input as a Set reads it. Guards, decision caches and
// markers read a few values of every flow (at Paths), and Rego the whole
// document of few: a Flow can answer the former without building the
// latter.
type Flow interface {
	// At is the value at Paths()[i] of the flow's document (nil:
	// undefined), the whole document's at a path no policy reads; for a
	// path read only for being there (see Paths), a term that is only
	// nil, false or not false as that value is. False when the flow
	// cannot say without its document.
	At(i int) (*ast.Term, bool)
	// Document is the flow's input document, with every path the Set's
	// policies read (but those a Deferred gives), built once.
	Document() ast.Value
}

// keyedFlow is a Flow that encodes some of its values for a decision
// cache key more cheaply than the value itself (input.Lazy: the measured
// endpoints): AppendKey appends to b an encoding of the value at slot i
// such that two flows with the same encoding have the same value there,
// beginning with a byte no value's own encoding begins with (a tag of
// encoder.value), or reports false.
type keyedFlow interface {
	AppendKey(i int, b []byte) ([]byte, bool)
}

// document is a Flow of a document already built.
type document struct{ v ast.Value }

func (document) At(int) (*ast.Term, bool) { return nil, false }
func (d document) Document() ast.Value    { return d.v }

// slots are the paths a Set reads of every flow (keys below input): its
// guards', its decision caches' and screens' keys' and the markers. Paths
// lists them; each has its index, its slot.
type slots struct {
	index    map[string]int
	paths    [][]*ast.Term
	presence []bool // read only for being there and not false
}

// add is path's slot (read for its value, or for being there), added
// when new; -1 for a path with a key that is not a string.
func (sl *slots) add(path []*ast.Term, presence bool) int {
	for _, t := range path {
		if _, ok := t.Value.(ast.String); !ok {
			return -1
		}
	}
	k := slotKey(path, presence)
	if i, ok := sl.index[k]; ok {
		return i
	}
	if sl.index == nil {
		sl.index = map[string]int{}
	}
	sl.index[k] = len(sl.paths)
	sl.paths = append(sl.paths, path)
	sl.presence = append(sl.presence, presence)
	return len(sl.paths) - 1
}

// of is path's slot, -1 when it has none.
func (sl *slots) of(path []*ast.Term, presence bool) int {
	if sl == nil {
		return -1
	}
	if i, ok := sl.index[slotKey(path, presence)]; ok {
		return i
	}
	return -1
}

func slotKey(path []*ast.Term, presence bool) string {
	if presence {
		return "?" + ast.Ref(path).String()
	}
	return ast.Ref(path).String()
}

// at is fl's value at path, from slot when fl answers it (-1: no slot).
func at(fl Flow, slot int, path []*ast.Term) *ast.Term {
	if slot >= 0 {
		if t, ok := fl.At(slot); ok {
			return t
		}
	}
	return lookup(fl.Document(), path)
}

// Paths lists the paths (keys below input) whose values the Set reads of
// every flow through Flow.At, by slot, and which of them it reads only
// for being there and not false (presence).
func (s *Set) Paths() (paths [][]string, presence []bool) {
	paths = make([][]string, len(s.slots.paths))
	for i, p := range s.slots.paths {
		paths[i], _ = keysOf(append(ast.Ref{ast.InputRootDocument}, p...)) // strings only: see add
	}
	return paths, s.slots.presence
}
