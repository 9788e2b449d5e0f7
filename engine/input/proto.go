package input

import (
	"encoding/base64"
	"strconv"
	"sync"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/open-policy-agent/opa/v1/ast"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hubble-sentinel/hubble-sentinel/engine/facts"
)

// endpointName is the descriptor of flow.Endpoint, whose values repeat
// from flow to flow and are worth caching.
const endpointName = "flow.Endpoint"

// httpName is the descriptor of flow.HTTP, shown within the bounds.
const httpName = "flow.HTTP"

// headerName is the descriptor of flow.HTTPHeader, whose values repeat.
const headerName = "flow.HTTPHeader"

// maxStringBytes bounds every other string of the flow in the document
// (Hubble's summary, Kafka topics, DNS answers, …), as facts bounds the
// request's: what an attacker shapes never reaches Rego unbounded.
const maxStringBytes = facts.MaxURLBytes

// maxListItems bounds every list of the flow in the document.
const maxListItems = 256

// messageValue converts a protobuf message to the value protojson would print
// with UseProtoNames (the shape of `hubble observe -o jsonpb`), except that
// 64-bit integers stay numbers so policies can compare them.
func messageValue(m protoreflect.Message) ast.Value {
	c := getConv(nil, nil, false)
	defer c.release()
	return c.message(m)
}

// special says how a message type converts as a whole rather than field by
// field.
type special uint8

const (
	plain special = iota
	endpoint
	httpRecord
	httpHeader
	timestamp
	duration
	wrapper
	anyMessage
)

// plan is what converting a message type needs, worked out once per type:
// the key term of every field and the value term of every enum value, so
// converting a message never allocates a key or an enum name. Descriptors
// are immutable and shared by every message of a type, which makes them
// safe map keys and a plan safe to share between goroutines.
type plan struct {
	special special
	fields  []fieldPlan // by field index
}

type fieldPlan struct {
	name  string
	key   *ast.Term
	enums map[protoreflect.EnumNumber]*ast.Term // enum fields only
}

var plans sync.Map // protoreflect.MessageDescriptor -> *plan

func planOf(md protoreflect.MessageDescriptor) *plan {
	if p, ok := plans.Load(md); ok {
		return p.(*plan)
	}
	p, _ := plans.LoadOrStore(md, newPlan(md))
	return p.(*plan)
}

func newPlan(md protoreflect.MessageDescriptor) *plan {
	p := &plan{}
	switch md.FullName() {
	case endpointName:
		p.special = endpoint
	case httpName:
		p.special = httpRecord
	case headerName:
		p.special = httpHeader
	case "google.protobuf.Timestamp":
		p.special = timestamp
	case "google.protobuf.Duration":
		p.special = duration
	case "google.protobuf.BoolValue", "google.protobuf.StringValue",
		"google.protobuf.Int32Value", "google.protobuf.UInt32Value",
		"google.protobuf.Int64Value", "google.protobuf.UInt64Value",
		"google.protobuf.FloatValue", "google.protobuf.DoubleValue",
		"google.protobuf.BytesValue":
		p.special = wrapper
	case "google.protobuf.Any":
		p.special = anyMessage
	}
	fields := md.Fields()
	p.fields = make([]fieldPlan, fields.Len())
	for i := range p.fields {
		fd := fields.Get(i)
		p.fields[i].name = string(fd.Name())
		p.fields[i].key = ast.StringTerm(p.fields[i].name)
		if fd.Kind() == protoreflect.EnumKind {
			values := fd.Enum().Values()
			p.fields[i].enums = make(map[protoreflect.EnumNumber]*ast.Term, values.Len())
			for j := range values.Len() {
				ev := values.Get(j)
				if _, dup := p.fields[i].enums[ev.Number()]; !dup { // aliases: ByNumber returns the first
					p.fields[i].enums[ev.Number()] = ast.StringTerm(string(ev.Name()))
				}
			}
		}
	}
	return p
}

// fieldPlanOf is the plan of any field: a map's value field too, and an
// extension (Flow has none), which is no field of its message's plan.
func fieldPlanOf(fd protoreflect.FieldDescriptor) *fieldPlan {
	if fd.IsExtension() {
		return &fieldPlan{name: string(fd.Name()), key: ast.StringTerm(string(fd.Name()))}
	}
	return &planOf(fd.ContainingMessage()).fields[fd.Index()]
}

// conv is one conversion's state: the endpoint cache, the flow's HTTP
// record within the bounds (facts.HTTP.Record), shown in place of the
// record itself, and what it allocates from. Convs are pooled; one is
// used by one goroutine at a time.
type conv struct {
	cache   *endpointCache
	facts   *factsCache // the sentinel values of measured endpoints
	headers *headerCache
	nodes   *nodeCache
	// flow is the flow whose own fields are being ranged over, nil within
	// its messages.
	flow *flowpb.Flow
	http *flowpb.HTTP
	// slab, when set, hands out the document's terms from blocks rather
	// than one allocation each, as OPA's own Object.Copy does. A cached
	// endpoint value is built without, so the cache never pins a block.
	slab  bool
	terms []ast.Term
	// items is a stack of the key/value pairs of the objects being built:
	// an object's pairs are appended, its nested objects' pairs above
	// them, and each becomes an ast.Object in one ast.NewObject call.
	items [][2]*ast.Term
	// current is the plan of the message being ranged over, and addField
	// the Range callback, made once per conv rather than once per message.
	current  *plan
	addField func(protoreflect.FieldDescriptor, protoreflect.Value) bool
	// need is the part of the document wanted below the value being
	// built (nil: all of it); see Fields.
	need *Fields
	// objects shares small objects between documents (nil: none), shared
	// the ones handed out for this document, enc is scratch for their
	// encoding.
	objects *objectTable
	numbers *numberTable // shares num's terms (nil: none)
	ints    *intTable    // shares integers' terms (nil: none)
	shared  []*sharedObject
	enc     []byte
}

var convs = sync.Pool{New: func() any { return &conv{} }}

// termBlock is how many terms a slab block holds: a flow's document takes
// one to three.
const termBlock = 64

func getConv(cache *endpointCache, http *flowpb.HTTP, slab bool) *conv {
	c := convs.Get().(*conv)
	if c.addField == nil {
		c.addField = c.field
	}
	c.cache, c.facts, c.headers, c.nodes, c.http, c.flow, c.slab, c.need = cache, nil, nil, nil, http, nil, slab, nil
	c.objects, c.numbers, c.ints = nil, nil, nil
	return c
}

func (c *conv) release() {
	c.cache, c.facts, c.headers, c.nodes, c.http, c.flow, c.need = nil, nil, nil, nil, nil, nil, nil
	c.objects, c.numbers, c.ints = nil, nil, nil
	clear(c.shared)
	c.shared = c.shared[:0]
	convs.Put(c)
}

// term wraps v in a new term.
func (c *conv) term(v ast.Value) *ast.Term {
	if !c.slab {
		return ast.NewTerm(v)
	}
	if len(c.terms) == 0 {
		c.terms = make([]ast.Term, termBlock)
	}
	t := &c.terms[0]
	c.terms = c.terms[1:]
	t.Value = v
	return t
}

// push adds one pair to the object being built.
func (c *conv) push(k, v *ast.Term) {
	c.items = append(c.items, [2]*ast.Term{k, v})
}

// object makes the pairs pushed since start an object and pops them.
func (c *conv) object(start int) ast.Object {
	if c.objects != nil {
		if obj, ok := c.objects.share(c, c.items[start:]); ok {
			clear(c.items[start:])
			c.items = c.items[:start]
			return obj
		}
	}
	obj := ast.NewObject(c.items[start:]...)
	clear(c.items[start:]) // the pool holds no document
	c.items = c.items[:start]
	return obj
}

func (c *conv) message(m protoreflect.Message) ast.Value {
	md := m.Descriptor()
	p := planOf(md)
	switch p.special {
	case endpoint:
		if c.cache != nil {
			return c.cache.value(m)
		}
	case httpRecord:
		if c.http != nil && m.Interface() != c.http {
			m = c.http.ProtoReflect()
		}
	case httpHeader:
		if h, ok := m.Interface().(*flowpb.HTTPHeader); ok && c.headers != nil {
			if v := c.headers.get(h); v != nil {
				return v
			}
			slab, need := c.slab, c.need
			c.slab = false // a cached value pins no document's block
			c.need = nil   // and is whole, for every set of Fields
			v := c.fields(m, p)
			c.slab, c.need = slab, need
			c.headers.put(h, v)
			return v
		}
	case timestamp:
		return ast.String(formatTimestamp(m))
	case duration:
		return ast.String(formatDuration(m))
	case wrapper:
		fd := md.Fields().ByNumber(1)
		return c.scalarValue(&p.fields[fd.Index()], fd, m.Get(fd))
	case anyMessage:
		// Extensions are opaque to policies; name their type only.
		fd := md.Fields().ByName("type_url")
		return ast.NewObject(ast.Item(ast.InternedTerm("@type"), ast.StringTerm(m.Get(fd).String())))
	}
	return c.fields(m, p)
}

// fields is m's value, field by field.
func (c *conv) fields(m protoreflect.Message, p *plan) ast.Object {
	start, outer, flow := len(c.items), c.current, c.flow
	c.current, c.flow = p, nil
	c.rangeWanted(m)
	c.current, c.flow = outer, flow
	return c.object(start)
}

// rangeWanted adds the populated fields of m that c.need wants (m.Range
// visits the same ones, and every other populated field too).
func (c *conv) rangeWanted(m protoreflect.Message) {
	fds, ok := c.need.fieldsOf(m.Descriptor())
	if !ok {
		m.Range(c.addField)
		return
	}
	for _, fd := range fds {
		if m.Has(fd) {
			c.field(fd, m.Get(fd))
		}
	}
}

// field adds one field of the message of plan c.current.
func (c *conv) field(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
	var fp *fieldPlan
	if fd.IsExtension() {
		fp = fieldPlanOf(fd)
	} else {
		fp = &c.current.fields[fd.Index()]
	}
	need, ok := c.need.child(fp.name)
	if !ok {
		return true // no policy reads it
	}
	if fd == nodeLabelsField && c.flow != nil && c.nodes != nil {
		c.push(fp.key, c.term(c.nodes.value(c.flow, func() ast.Value { return c.unslabbed(fp, fd, v) })))
		return true
	}
	outer := c.need
	c.need = need
	val := c.term(c.fieldValue(fp, fd, v))
	c.need = outer
	c.push(fp.key, val)
	return true
}

// nodeLabelsField is Flow's node_labels, whose values a Builder caches.
var nodeLabelsField = (&flowpb.Flow{}).ProtoReflect().Descriptor().Fields().ByName("node_labels")

// unslabbed is the field's value for a cache: a cached value pins no
// document's block.
func (c *conv) unslabbed(fp *fieldPlan, fd protoreflect.FieldDescriptor, v protoreflect.Value) ast.Value {
	slab, need := c.slab, c.need
	c.slab, c.need = false, nil // whole, for every set of Fields
	defer func() { c.slab, c.need = slab, need }()
	return c.fieldValue(fp, fd, v)
}

func (c *conv) fieldValue(fp *fieldPlan, fd protoreflect.FieldDescriptor, v protoreflect.Value) ast.Value {
	switch {
	case fd.IsList():
		l := v.List()
		terms := make([]*ast.Term, min(l.Len(), maxListItems))
		for i := range terms {
			terms[i] = c.term(c.singularValue(fp, fd, l.Get(i)))
		}
		return ast.NewArray(terms...)
	case fd.IsMap():
		start := len(c.items)
		vd := fd.MapValue()
		vp := fieldPlanOf(vd)
		outer := c.need
		v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
			need, ok := outer.child(k.String())
			if !ok {
				return true
			}
			c.need = need
			val := c.term(c.singularValue(vp, vd, mv))
			c.push(c.term(ast.String(k.String())), val)
			return true
		})
		c.need = outer
		return c.object(start)
	}
	return c.singularValue(fp, fd, v)
}

func (c *conv) singularValue(fp *fieldPlan, fd protoreflect.FieldDescriptor, v protoreflect.Value) ast.Value {
	if fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind {
		return c.message(v.Message())
	}
	return c.scalarValue(fp, fd, v)
}

func (c *conv) scalarValue(fp *fieldPlan, fd protoreflect.FieldDescriptor, v protoreflect.Value) ast.Value {
	switch fd.Kind() {
	case protoreflect.EnumKind:
		if t, ok := fp.enums[v.Enum()]; ok {
			return t.Value
		}
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return c.int(v.Int()).Value
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return c.int(int64(uint32(v.Uint()))).Value
	}
	return scalarValue(fd, v)
}

// int is v's number term, shared when the conversion has an intTable.
func (c *conv) int(v int64) *ast.Term {
	if c.ints != nil {
		return c.ints.term(v)
	}
	return ast.InternedTerm(v)
}

func scalarValue(fd protoreflect.FieldDescriptor, v protoreflect.Value) ast.Value {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return ast.InternedValue(v.Bool())
	case protoreflect.StringKind:
		str, _ := facts.Truncate(v.String(), maxStringBytes, false)
		return ast.String(str)
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return ast.InternedValue(string(ev.Name()))
		}
		return ast.InternedValue(int(v.Enum()))
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return ast.InternedValue(v.Int())
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return ast.InternedValue(uint32(v.Uint()))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		u := v.Uint()
		if u <= 1<<62 {
			return ast.InternedValue(int64(u))
		}
		return ast.Number(strconv.FormatUint(u, 10))
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return ast.Number(strconv.FormatFloat(v.Float(), 'g', -1, 64))
	case protoreflect.BytesKind:
		b := v.Bytes()
		return ast.String(base64.StdEncoding.EncodeToString(b[:min(len(b), maxStringBytes/4*3)]))
	}
	return ast.Null{}
}

func formatTimestamp(m protoreflect.Message) string {
	fields := m.Descriptor().Fields()
	secs := m.Get(fields.ByName("seconds")).Int()
	nanos := m.Get(fields.ByName("nanos")).Int()
	return time.Unix(secs, nanos).UTC().Format(time.RFC3339Nano)
}

func formatDuration(m protoreflect.Message) string {
	fields := m.Descriptor().Fields()
	secs := m.Get(fields.ByName("seconds")).Int()
	nanos := m.Get(fields.ByName("nanos")).Int()
	d := time.Duration(secs)*time.Second + time.Duration(nanos)
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
}
