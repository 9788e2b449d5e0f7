package input

import (
	"encoding/base64"

	flowpb "github.com/cilium/cilium/api/v1/flow"

	"github.com/hubble-sentinel/hubble-sentinel/engine/facts"
	"strconv"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// keyTerms caches one interned key term per field descriptor, so building an
// object never allocates its keys. Descriptors are immutable and shared by all
// messages of a type, which makes them safe map keys.
var keyTerms sync.Map // protoreflect.FieldDescriptor -> *ast.Term

func keyTerm(fd protoreflect.FieldDescriptor) *ast.Term {
	if t, ok := keyTerms.Load(fd); ok {
		return t.(*ast.Term)
	}
	t := ast.StringTerm(string(fd.Name()))
	keyTerms.Store(fd, t)
	return t
}

// endpointName is the descriptor of flow.Endpoint, whose values repeat
// from flow to flow and are worth caching.
const endpointName = "flow.Endpoint"

// httpName is the descriptor of flow.HTTP, shown within the bounds.
const httpName = "flow.HTTP"

// messageValue converts a protobuf message to the value protojson would print
// with UseProtoNames (the shape of `hubble observe -o jsonpb`), except that
// 64-bit integers stay numbers so policies can compare them.
func messageValue(m protoreflect.Message) ast.Value {
	return messageValueCached(m, nil)
}

// maxStringBytes bounds every other string of the flow in the document
// (Hubble's summary, Kafka topics, DNS answers, …), as facts bounds the
// request's: what an attacker shapes never reaches Rego unbounded.
const maxStringBytes = facts.MaxURLBytes

// maxListItems bounds every list of the flow in the document.
const maxListItems = 256

// conv is what a conversion reuses: the endpoint cache, and the flow's
// HTTP record within the bounds (facts.HTTP.Record), shown in place of
// the record itself.
type conv struct {
	cache *endpointCache
	http  *flowpb.HTTP
}

func messageValueCached(m protoreflect.Message, c *conv) ast.Value {
	switch m.Descriptor().FullName() {
	case endpointName:
		if c != nil && c.cache != nil {
			return c.cache.value(m)
		}
	case httpName:
		if c != nil && c.http != nil && m.Interface() != c.http {
			m = c.http.ProtoReflect()
		}
	case "google.protobuf.Timestamp":
		return ast.String(formatTimestamp(m))
	case "google.protobuf.Duration":
		return ast.String(formatDuration(m))
	case "google.protobuf.BoolValue", "google.protobuf.StringValue",
		"google.protobuf.Int32Value", "google.protobuf.UInt32Value",
		"google.protobuf.Int64Value", "google.protobuf.UInt64Value",
		"google.protobuf.FloatValue", "google.protobuf.DoubleValue",
		"google.protobuf.BytesValue":
		fd := m.Descriptor().Fields().ByNumber(1)
		return scalarValue(fd, m.Get(fd))
	case "google.protobuf.Any":
		// Extensions are opaque to policies; name their type only.
		fd := m.Descriptor().Fields().ByName("type_url")
		return ast.NewObject(ast.Item(ast.InternedTerm("@type"), ast.StringTerm(m.Get(fd).String())))
	}
	obj := ast.NewObjectWithCapacity(m.Descriptor().Fields().Len())
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		obj.Insert(keyTerm(fd), ast.NewTerm(fieldValue(fd, v, c)))
		return true
	})
	return obj
}

func fieldValue(fd protoreflect.FieldDescriptor, v protoreflect.Value, c *conv) ast.Value {
	switch {
	case fd.IsList():
		l := v.List()
		terms := make([]*ast.Term, min(l.Len(), maxListItems))
		for i := range terms {
			terms[i] = ast.NewTerm(singularValue(fd, l.Get(i), c))
		}
		return ast.NewArray(terms...)
	case fd.IsMap():
		obj := ast.NewObject()
		v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
			obj.Insert(ast.StringTerm(k.String()), ast.NewTerm(singularValue(fd.MapValue(), mv, c)))
			return true
		})
		return obj
	}
	return singularValue(fd, v, c)
}

func singularValue(fd protoreflect.FieldDescriptor, v protoreflect.Value, c *conv) ast.Value {
	if fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind {
		return messageValueCached(v.Message(), c)
	}
	return scalarValue(fd, v)
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
