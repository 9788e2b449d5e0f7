package input

import "slices"

// Fields is a set of input paths: the parts of the document to build, so
// that a flow's document holds what the policies read and nothing they
// never look at. A nil *Fields builds the whole document.
type Fields struct {
	// all: this part is read whole (or is a path's end).
	all bool
	sub map[string]*Fields
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
