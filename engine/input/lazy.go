package input

import (
	"encoding/binary"
	"strings"
	"sync"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/open-policy-agent/opa/v1/ast"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hubble-sentinel/hubble-sentinel/engine/facts"
	"github.com/hubble-sentinel/hubble-sentinel/engine/profile"
)

// Paths is a fixed list of paths into the document (keys below input),
// each with a way to find a flow's value there without building the
// document: the policies' guards and decision caches read a few values of
// every flow, and Rego the whole document of few.
type Paths struct {
	paths   [][]string
	getters []getter
	// lists are, by path, the getters of the paths whose value is a list
	// of strings the facts hold as such (see StringsAt); nil for others.
	lists []listGetter
	// sides are, by path, which measured endpoint the path reads whole
	// (see AppendKey).
	sides []side
}

// side is a path reading a measured endpoint whole: the source's, the
// destination's, or neither.
type side uint8

const (
	noSide side = iota
	sourceSide
	destinationSide
)

// getter finds one path's value for l (nil: undefined).
type getter func(l *Lazy) *ast.Term

// listGetter finds a list of strings' path's value for l as the facts
// hold it, and whether it is defined.
type listGetter func(l *Lazy) (list []string, defined bool)

// listGetterOf is path's listGetter, or nil when its value is not such a
// list: the destination's names and domains, the DNS query's domains,
// labels and query types.
func listGetterOf(path []string) listGetter {
	if len(path) != 3 || path[0] != SentinelKey {
		return nil
	}
	switch path[1] + "." + path[2] {
	case "destination.names":
		return func(l *Lazy) ([]string, bool) { return l.fa.Destination.Names, true }
	case "destination.domains":
		return func(l *Lazy) ([]string, bool) { return l.fa.Destination.Domains, true }
	case "dns.domains":
		return dnsList(func(d *facts.DNS) []string { return d.Domains })
	case "dns.labels":
		return dnsList(func(d *facts.DNS) []string { return d.Labels })
	case "dns.qtypes":
		return dnsList(func(d *facts.DNS) []string { return d.Qtypes })
	}
	return nil
}

// dnsList is the listGetter of one of the DNS query's lists: undefined
// for a flow without one.
func dnsList(of func(d *facts.DNS) []string) listGetter {
	return func(l *Lazy) ([]string, bool) {
		if l.fa.DNS == nil {
			return nil, false
		}
		return of(l.fa.DNS), true
	}
}

// NewPaths compiles paths (each a list of keys below input), those
// presence marks read only for being there and not false: for those, At
// answers nil, false or true as the value is undefined, false or anything
// else, without converting it.
func NewPaths(paths [][]string, presence []bool) *Paths {
	ps := &Paths{paths: paths, getters: make([]getter, len(paths)), sides: make([]side, len(paths)), lists: make([]listGetter, len(paths))}
	for i, p := range paths {
		if len(p) == 2 && p[0] == SentinelKey && (i >= len(presence) || !presence[i]) {
			switch p[1] {
			case "source":
				ps.sides[i] = sourceSide
			case "destination":
				ps.sides[i] = destinationSide
			}
		}
		if i < len(presence) && presence[i] {
			ps.getters[i] = presenceOf(p)
		} else {
			ps.getters[i] = getterOf(p)
			ps.lists[i] = listGetterOf(p)
		}
	}
	return ps
}

// there is At's answer for a value that is there and not false.
var there = ast.InternedTerm(true)

// presenceOf compiles a path read for being there: from whether the
// protobuf field is set, or from whether the facts have it, else from
// the value.
func presenceOf(path []string) getter {
	if len(path) == 2 && path[0] == SentinelKey {
		switch path[1] {
		case "source", "destination":
			return func(*Lazy) *ast.Term { return there }
		case "http":
			return func(l *Lazy) *ast.Term { return thereIf(l.fa.HTTP != nil) }
		case "dns":
			return func(l *Lazy) *ast.Term { return thereIf(l.fa.DNS != nil) }
		}
	}
	if len(path) > 0 && path[0] != SentinelKey {
		if g, ok := typedGetters["?"+strings.Join(path, ".")]; ok {
			return g
		}
		if g := flowPresence(path); g != nil {
			return g
		}
	}
	return presenceFrom(getterOf(path))
}

func thereIf(ok bool) *ast.Term {
	if ok {
		return there
	}
	return nil
}

// flowPresence is presenceOf for a path of the flow's own fields down
// plain messages to a field whose value is never false (a message other
// than a wrapper, a list, a map, a string, a number); nil for others.
func flowPresence(path []string) getter {
	fds, rest, ok := flowFields(path)
	switch {
	case fds == nil:
		return func(*Lazy) *ast.Term { return nil } // no such field: never there
	case !ok || rest != nil:
		return nil
	}
	last := fds[len(fds)-1]
	if last.Kind() == protoreflect.BoolKind && !last.IsList() && !last.IsMap() ||
		last.Message() != nil && !last.IsList() && !last.IsMap() && planOf(last.Message()).special == wrapper {
		return nil // may be false
	}
	return func(l *Lazy) *ast.Term {
		m, ok := l.message(fds[:len(fds)-1])
		return thereIf(ok && m.Has(last))
	}
}

// flowFields are the Flow fields path names, down singular message
// fields: all of them, or up to one leading into a message DocumentOf
// converts as a whole (an endpoint, a header, a timestamp), rest then
// being the keys below it. Nil when a key names no field (the path is
// never there); false when the path goes on through a list, a map or a
// scalar.
func flowFields(path []string) (fds []protoreflect.FieldDescriptor, rest []string, ok bool) {
	md := (&flowpb.Flow{}).ProtoReflect().Descriptor()
	fds = make([]protoreflect.FieldDescriptor, 0, len(path))
	for i, k := range path {
		fd := md.Fields().ByName(protoreflect.Name(k))
		if fd == nil {
			return nil, nil, true
		}
		fds = append(fds, fd)
		if i == len(path)-1 {
			break
		}
		if fd.IsList() || fd.IsMap() || fd.Message() == nil {
			return fds, nil, false
		}
		md = fd.Message()
		if s := planOf(md).special; s != plain && s != httpRecord {
			return fds, path[i+1:], true
		}
	}
	return fds, nil, true
}

// Len is how many paths there are.
func (ps *Paths) Len() int {
	if ps == nil {
		return 0
	}
	return len(ps.paths)
}

// Lazy is one flow's document as the policies read it: the value at each
// of a Paths' paths, found when first asked, and the document itself (with
// the parts light names, or whole's), built when first asked. It is what
// the document built from the same flow holds at every path, without the
// document. A Lazy is used by one goroutine; Release returns it.
type Lazy struct {
	b            *Builder
	ps           *Paths
	f            *flowpb.Flow
	fa           *facts.Flow
	p            *profile.Views
	light, whole *Fields
	doc, all     ast.Value
	// c converts the values found, got at the first one.
	c    *conv
	vals []*ast.Term
	got  []bool
	// src and dst are the measured endpoints' values, once found.
	src, dst ast.Value
}

var lazies = sync.Pool{New: func() any { return &Lazy{} }}

// Lazy returns f's document as the paths of ps read it (ps may be nil:
// none), built when asked with the parts light names, or with whole's
// (see DocumentOf).
func (b *Builder) Lazy(ps *Paths, f *flowpb.Flow, fa *facts.Flow, p *profile.Views, light, whole *Fields) *Lazy {
	l := lazies.Get().(*Lazy)
	l.b, l.ps, l.f, l.fa, l.p, l.light, l.whole = b, ps, f, fa, p, light, whole
	n := ps.Len()
	if cap(l.vals) < n {
		l.vals, l.got = make([]*ast.Term, n), make([]bool, n)
	}
	l.vals, l.got = l.vals[:n], l.got[:n]
	return l
}

// Release returns l for reuse: nothing it handed out may be used after.
func (l *Lazy) Release() {
	if l.c != nil {
		l.c.release()
	}
	clear(l.vals)
	clear(l.got)
	*l = Lazy{vals: l.vals[:0], got: l.got[:0]}
	lazies.Put(l)
}

// At is the value at path i of the Paths (nil: undefined), and true; the
// document's own at that path.
func (l *Lazy) At(i int) (*ast.Term, bool) {
	if i < 0 || i >= len(l.vals) {
		return nil, false
	}
	if !l.got[i] {
		if l.c == nil {
			var http *flowpb.HTTP
			if l.fa.HTTP != nil {
				http = l.fa.HTTP.Record()
			}
			l.c = getConv(l.b.endpoints, http, true)
			l.c.facts, l.c.headers, l.c.nodes, l.c.objects, l.c.numbers, l.c.ints = l.b.facts, l.b.headers, l.b.nodes, l.b.objects, l.b.numbers, l.b.ints
		}
		l.vals[i], l.got[i] = l.ps.getters[i](l), true
	}
	return l.vals[i], true
}

// StringsAt is, for a path whose value is a list of strings the facts
// hold (the destination's names and domains, the DNS query's domains,
// labels and query types), that list and whether it is defined, without
// making a term of it: ok is false for other paths. A guard asking
// whether some name is in a list needs no more.
func (l *Lazy) StringsAt(i int) (list []string, defined, ok bool) {
	if i < 0 || i >= len(l.ps.lists) || l.ps.lists[i] == nil {
		return nil, false, false
	}
	list, defined = l.ps.lists[i](l)
	return list, defined, true
}

// KeyMark starts what AppendKey appends: a byte no encoding of a value by
// type tag starts with, so that the two never collide.
const KeyMark = 0xe0

// AppendKey appends to b, for the paths that read a measured endpoint
// whole (sentinel.source, sentinel.destination), an encoding of that
// endpoint's value made from the facts the value is built of, and reports
// whether it did: two flows whose encodings are the same have the same
// value there. A decision cache key reads them on most flows, and this
// saves finding and walking the value. Other paths: b, false.
func (l *Lazy) AppendKey(i int, b []byte) ([]byte, bool) {
	if i < 0 || i >= len(l.ps.sides) {
		return b, false
	}
	var e *facts.Endpoint
	switch l.ps.sides[i] {
	case sourceSide:
		e = &l.fa.Source
	case destinationSide:
		e = &l.fa.Destination
	default:
		return b, false
	}
	b = append(b, KeyMark|byte(l.ps.sides[i]))
	for _, s := range [...]string{e.Kind, e.Namespace, e.Workload, e.Pod, e.IP} {
		b = appendKeyString(b, s)
	}
	b = binary.AppendUvarint(b, uint64(e.Identity))
	if l.ps.sides[i] == destinationSide {
		b = appendKeyString(b, e.FQDN)
		for _, ss := range [...][]string{e.Names, e.Domains} {
			b = binary.AppendUvarint(b, uint64(len(ss)))
			for _, s := range ss {
				b = appendKeyString(b, s)
			}
		}
	}
	return b, true
}

func appendKeyString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// Document is the document with the parts light names, built once.
func (l *Lazy) Document() ast.Value {
	if l.doc == nil {
		l.doc = l.b.DocumentOf(l.f, l.fa, l.p, l.light)
	}
	return l.doc
}

// Whole is the document with the parts whole names, built once.
func (l *Lazy) Whole() ast.Value {
	if l.all == nil {
		l.all = l.b.DocumentOf(l.f, l.fa, l.p, l.whole)
	}
	return l.all
}

// Float is MeasurementFloat of the flow's baseline at path
// (sentinel.baseline.<group>.<field>).
func (l *Lazy) Float(path []*ast.Term) (float64, bool) {
	if len(path) != 4 || l.p == nil {
		return 0, false
	}
	var keys [4]string
	for i, t := range path {
		s, ok := t.Value.(ast.String)
		if !ok {
			return 0, false
		}
		keys[i] = string(s)
	}
	if keys[0] != SentinelKey || keys[1] != "baseline" {
		return 0, false
	}
	return MeasurementFloat(&l.p.Baseline, keys[2], keys[3])
}

// getterOf compiles one path: straight to the value for the flow's
// fields and the common facts, else by building the document of that
// path alone.
func getterOf(path []string) getter {
	if len(path) == 0 {
		return func(l *Lazy) *ast.Term { return ast.NewTerm(l.Document()) }
	}
	if path[0] != SentinelKey {
		if g, ok := typedGetters[strings.Join(path, ".")]; ok {
			return g
		}
		if g := flowGetter(path); g != nil {
			return g
		}
	} else if g := sentinelGetter(path[1:]); g != nil {
		return g
	}
	return alone(path)
}

// alone finds path's value in a document of that path only.
func alone(path []string) getter {
	need := NewFields([][]string{path})
	keys := refOf(path)
	return func(l *Lazy) *ast.Term {
		return l.find(l.b.DocumentOf(l.f, l.fa, l.p, need), keys)
	}
}

// find is the value at keys below v (nil: none).
func (l *Lazy) find(v ast.Value, keys ast.Ref) *ast.Term {
	x, err := v.Find(keys)
	if err != nil {
		return nil
	}
	return l.c.term(x)
}

// refOf is keys as a ref's terms.
func refOf(keys []string) ast.Ref {
	r := make(ast.Ref, len(keys))
	for i, k := range keys {
		r[i] = ast.StringTerm(k)
	}
	return r
}

// flowGetter reads a path of the flow's own fields from the protobuf, as
// DocumentOf converts it: down singular message fields, then the last
// field's value whole. A message converted as a whole (an endpoint, a
// header, a timestamp) is converted and looked into. Nil for a path
// through a list or a map.
func flowGetter(path []string) getter {
	fds, rest, ok := flowFields(path)
	switch {
	case fds == nil:
		return func(*Lazy) *ast.Term { return nil } // no such field: never there
	case !ok:
		return nil
	case rest != nil:
		whole, keys := fds[len(fds)-1], refOf(rest)
		return func(l *Lazy) *ast.Term {
			m, ok := l.message(fds[:len(fds)-1])
			if !ok || !m.Has(whole) {
				return nil
			}
			return l.find(l.c.message(m.Get(whole).Message()), keys)
		}
	}
	last := fds[len(fds)-1]
	fp := fieldPlanOf(last)
	return func(l *Lazy) *ast.Term {
		m, ok := l.message(fds[:len(fds)-1])
		if !ok || !m.Has(last) {
			return nil
		}
		c := l.c
		need := c.need
		c.need = nil
		v := c.term(c.fieldValue(fp, last, m.Get(last)))
		c.need = need
		return v
	}
}

// message is the message the fields lead to from the flow (false: one is
// not set), the flow's HTTP record shown within the bounds, as
// DocumentOf shows it.
func (l *Lazy) message(fds []protoreflect.FieldDescriptor) (protoreflect.Message, bool) {
	m := l.f.ProtoReflect()
	for _, fd := range fds {
		if !m.Has(fd) {
			return nil, false
		}
		m = m.Get(fd).Message()
		if l.c.http != nil && m.Descriptor().FullName() == httpName && m.Interface() != l.c.http {
			m = l.c.http.ProtoReflect()
		}
	}
	return m, true
}

// sentinelGetter reads a path below sentinel straight from the facts and
// profiles, as sentinelValue writes them; nil for the paths it leaves to
// a document of the path alone (the profiles, the baselines' measurements,
// whole objects that are not cached).
func sentinelGetter(path []string) getter {
	if len(path) == 0 {
		return nil
	}
	switch path[0] {
	case "source", "destination":
		dst := path[0] == "destination"
		if len(path) == 1 {
			return func(l *Lazy) *ast.Term { return ast.NewTerm(l.endpoint(dst)) }
		}
		if len(path) == 2 {
			if dst {
				return partGetter(destinationParts, path[1], func(l *Lazy) *facts.Endpoint { return &l.fa.Destination })
			}
			return partGetter(sourceParts, path[1], func(l *Lazy) *facts.Endpoint { return &l.fa.Source })
		}
		keys := refOf(path[1:])
		return func(l *Lazy) *ast.Term { return l.find(l.endpoint(dst), keys) }
	}
	if len(path) == 1 {
		switch path[0] {
		case "protocol":
			return func(l *Lazy) *ast.Term { return l.c.word(l.fa.Protocol) }
		case "destination_port":
			return func(l *Lazy) *ast.Term { return l.c.int(int64(l.fa.DestinationPort)) }
		case "initiated":
			return func(l *Lazy) *ast.Term { return ast.InternedTerm(l.fa.Direction.Initiated) }
		case "direction":
			return func(l *Lazy) *ast.Term { return directionTerm(l.fa.Direction) }
		case "service_port":
			return func(l *Lazy) *ast.Term { return l.c.int(int64(l.fa.ServicePort())) }
		}
		return nil
	}
	if len(path) == 3 && path[0] == "baseline" {
		return measurementGetter(path[1:], func(l *Lazy) *profile.Baseline {
			if l.p == nil {
				return nil
			}
			return &l.p.Baseline
		})
	}
	if len(path) != 2 {
		return nil
	}
	switch path[0] {
	case "http":
		return partGetter(httpParts, path[1], func(l *Lazy) *facts.HTTP { return l.fa.HTTP })
	case "dns":
		return partGetter(dnsParts, path[1], func(l *Lazy) *facts.DNS { return l.fa.DNS })
	case "baseline":
		baseline := func(l *Lazy) *profile.Baseline {
			if l.p == nil {
				return nil
			}
			return &l.p.Baseline
		}
		if _, ok := partNamed(baselineParts, path[1]); ok {
			return partGetter(baselineParts, path[1], baseline)
		}
		return measurementGetter(path[1:], baseline)
	}
	return nil
}

// measurementGetter reads a baseline's measurement group (path: its key)
// or one of its numbers (path: the group's key and the number's) as
// newBaselineValue writes them; nil for a path that names neither.
func measurementGetter(path []string, of func(*Lazy) *profile.Baseline) getter {
	field := ""
	if len(path) > 1 {
		field = path[1]
	}
	m, f, ok := measurementNamed(path[0], field)
	switch {
	case !ok:
		return nil
	case len(path) == 1:
		return func(l *Lazy) *ast.Term {
			b := of(l)
			if b == nil {
				return nil
			}
			var buf [2 * maxMeasures]*ast.Term
			return l.c.group(m.pairs(l.c, b, buf[:0])...)
		}
	case f == nil:
		return func(*Lazy) *ast.Term { return nil } // no such number
	}
	return func(l *Lazy) *ast.Term {
		if b := of(l); b != nil {
			return f.term(l.c, b)
		}
		return nil
	}
}

// partGetter reads key of the part of the facts of (nil: the flow has no
// such part): from parts, or nothing for a key parts lacks.
func partGetter[T any](parts []part[T], key string, of func(*Lazy) *T) getter {
	p, ok := partNamed(parts, key)
	if !ok {
		return func(*Lazy) *ast.Term { return nil } // sentinelValue writes no other
	}
	return func(l *Lazy) *ast.Term {
		if v := of(l); v != nil {
			return p.of(l.c, v)
		}
		return nil
	}
}

// endpoint is the sentinel value of the flow's source or destination.
func (l *Lazy) endpoint(dst bool) ast.Value {
	if dst {
		if l.dst == nil {
			l.dst = l.c.measuredEndpoint(&l.fa.Destination, true)
		}
		return l.dst
	}
	if l.src == nil {
		l.src = l.c.measuredEndpoint(&l.fa.Source, false)
	}
	return l.src
}
