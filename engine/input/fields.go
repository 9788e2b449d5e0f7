package input

import (
	"cmp"
	"slices"
	"sync/atomic"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Fields is a set of input paths: the parts of the document to build, so
// that a flow's document holds what the policies read and nothing they
// never look at. A nil *Fields builds the whole document.
type Fields struct {
	// all: this part is read whole (or is a path's end).
	all bool
	sub map[string]*Fields
	// wanted is the fields of sub in a message of the type this part is
	// (the last one met), so that building the part visits those
	// fields and not every field the message has.
	wanted atomic.Pointer[wantedFields]
}

// wantedFields are the fields of messages of type md that a Fields wants,
// in field order.
type wantedFields struct {
	md  protoreflect.MessageDescriptor
	fds []protoreflect.FieldDescriptor
}

// fieldsOf is the fields of messages of type md that f names, or false
// when f wants every field or md has extensions (which only ranging over
// a message finds).
func (f *Fields) fieldsOf(md protoreflect.MessageDescriptor) ([]protoreflect.FieldDescriptor, bool) {
	if f == nil || f.all || md.ExtensionRanges().Len() > 0 {
		return nil, false
	}
	if w := f.wanted.Load(); w != nil && w.md == md {
		return w.fds, true
	}
	w := &wantedFields{md: md}
	for name := range f.sub {
		if fd := md.Fields().ByName(protoreflect.Name(name)); fd != nil {
			w.fds = append(w.fds, fd)
		}
	}
	slices.SortFunc(w.fds, func(a, b protoreflect.FieldDescriptor) int { return cmp.Compare(a.Index(), b.Index()) })
	f.wanted.Store(w)
	return w.fds, true
}

// NewFields is the set of paths (each a list of keys below input, as
// ["sentinel", "http", "path"]); a path reads everything below it. No
// paths, or an empty path, read the whole document: nil.
func NewFields(paths [][]string) *Fields {
	if len(paths) == 0 {
		return nil
	}
	root := &Fields{}
	for _, p := range paths {
		if len(p) == 0 {
			return nil
		}
		n := root
		for _, k := range p {
			if n.all {
				break
			}
			if n.sub == nil {
				n.sub = map[string]*Fields{}
			}
			next := n.sub[k]
			if next == nil {
				next = &Fields{}
				n.sub[k] = next
			}
			n = next
		}
		n.all, n.sub = true, nil
	}
	return root
}

// child is the part of f below key, and whether any of it is wanted. A
// nil child wants everything below key.
func (f *Fields) child(key string) (*Fields, bool) {
	if f == nil || f.all {
		return nil, true
	}
	c, ok := f.sub[key]
	if c != nil && c.all {
		c = nil
	}
	return c, ok
}

// Paths lists f's paths, sorted (for tests and logs).
func (f *Fields) Paths() [][]string {
	var out [][]string
	var walk func(n *Fields, at []string)
	walk = func(n *Fields, at []string) {
		if n.all {
			out = append(out, slices.Clone(at))
			return
		}
		for k, c := range n.sub {
			walk(c, append(at, k))
		}
	}
	if f != nil {
		walk(f, nil)
	}
	slices.SortFunc(out, slices.Compare)
	return out
}
