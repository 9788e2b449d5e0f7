// Package schema generates the JSON Schema of the policy input document, which OPA type-checks policies against.
package schema

//go:generate go run ./internal/gen ../../policies/schemas/input.jsonschema

import (
	"bytes"
	"encoding/json"
	"maps"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/hubble-sentinel/hubble-sentinel/engine/input"
)

// Draft is the JSON Schema dialect of the schema, the newest one OPA reads.
const Draft = "http://json-schema.org/draft-07/schema#"

// File is where the generated schema ships, relative to the policies
// directory. The extension keeps OPA's loader, which reads every .json and
// .yaml file under a policy directory as data, from loading it; OPA's
// --schema flag reads it whatever its name. Passed as a directory,
// `--schema policies/schemas`, it is schema.input, the name policies' METADATA
// refers to.
const File = "schemas/input.jsonschema"

// Input returns the schema of the policy input document as a JSON value
// (maps, slices, strings, numbers, booleans), ready for ast.SchemaSet. It
// mirrors package input: the Flow message as input converts it (proto field
// names, unset fields absent, enums by name, 64-bit integers as numbers,
// well-known types flattened), plus the facts the engine measures under
// input.SentinelKey. Every object with properties is closed, so OPA's type
// checker refuses a policy that reads a field the input never has, such as
// input.destinaton.namespace.
func Input() map[string]any {
	g := &generator{defs: map[string]any{}}
	root := g.object((&flowpb.Flow{}).ProtoReflect().Descriptor())
	props := root["properties"].(map[string]any)
	props[input.SentinelKey] = sentinel()
	root["required"] = []string{input.SentinelKey}
	root["$schema"] = Draft
	root["title"] = "hubble-sentinel policy input"
	root["description"] = "The input of a hubble-sentinel detective policy: one Hubble flow as " +
		"`hubble observe -o jsonpb` prints it (proto field names, unset fields absent, enums by name, " +
		"64-bit integers as numbers rather than strings) and, under `" + input.SentinelKey +
		"`, what the engine measured about it. Generated from the flow.Flow descriptor by " +
		"engine/schema: run `make schema` after changing engine/input or upgrading Cilium."
	root["definitions"] = g.defs
	return root
}

// JSON returns Input as indented JSON, the content of File.
func JSON() []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(Input()); err != nil {
		panic(err) // the schema holds only strings, numbers, slices and maps
	}
	return b.Bytes()
}

// generator converts message descriptors to schemas, each message once
// under definitions.
type generator struct {
	defs map[string]any
}

// message is the schema of a message-typed value: the flattened form of a
// well-known type, else a reference to the message's definition.
func (g *generator) message(md protoreflect.MessageDescriptor) map[string]any {
	name := md.FullName()
	// The same cases as input.messageValueCached.
	switch name {
	case "google.protobuf.Timestamp":
		return map[string]any{"type": "string", "format": "date-time",
			"description": "A google.protobuf.Timestamp in RFC 3339 form, UTC, with nanoseconds."}
	case "google.protobuf.Duration":
		return map[string]any{"type": "string", "pattern": `^-?[0-9]+(\.[0-9]+)?s$`,
			"description": "A google.protobuf.Duration in seconds with an s suffix (1.5s)."}
	case "google.protobuf.BoolValue", "google.protobuf.StringValue",
		"google.protobuf.Int32Value", "google.protobuf.UInt32Value",
		"google.protobuf.Int64Value", "google.protobuf.UInt64Value",
		"google.protobuf.FloatValue", "google.protobuf.DoubleValue",
		"google.protobuf.BytesValue":
		s := g.scalar(md.Fields().ByNumber(1))
		s["description"] = "A " + string(name) + ": the bare value, present when set even if it is the zero value."
		return s
	case "google.protobuf.Any":
		return map[string]any{
			"type":                 "object",
			"description":          "A google.protobuf.Any: only its type is shown to policies.",
			"properties":           map[string]any{"@type": map[string]any{"type": "string", "description": "The type URL of the packed message."}},
			"required":             []string{"@type"},
			"additionalProperties": false,
		}
	}
	ref := map[string]any{"$ref": "#/definitions/" + string(name)}
	if _, ok := g.defs[string(name)]; !ok {
		g.defs[string(name)] = nil // reserved first: messages may be recursive
		g.defs[string(name)] = g.object(md)
	}
	return ref
}

// object is the schema of a message as an object of its set fields.
func (g *generator) object(md protoreflect.MessageDescriptor) map[string]any {
	props := map[string]any{}
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		s := g.field(fd)
		if fd.Options().(*descriptorpb.FieldOptions).GetDeprecated() {
			s = withDeprecation(s)
		}
		props[string(fd.Name())] = s
	}
	return map[string]any{
		"type":                 "object",
		"description":          "A " + string(md.FullName()) + " message (" + md.ParentFile().Path() + "): unset fields and fields holding their zero value are absent.",
		"properties":           props,
		"additionalProperties": false,
	}
}

// withDeprecation marks a field Cilium deprecated, keeping its schema
// intact (a $ref ignores sibling keywords in draft-07).
func withDeprecation(s map[string]any) map[string]any {
	const note = "Deprecated by Cilium; still sent by older agents."
	if _, isRef := s["$ref"]; isRef {
		return map[string]any{"allOf": []any{s}, "description": note, "deprecated": true}
	}
	s = maps.Clone(s)
	s["description"] = note
	s["deprecated"] = true
	return s
}

func (g *generator) field(fd protoreflect.FieldDescriptor) map[string]any {
	switch {
	case fd.IsList():
		return map[string]any{"type": "array", "items": g.singular(fd)}
	case fd.IsMap():
		return map[string]any{"type": "object", "additionalProperties": g.singular(fd.MapValue()),
			"description": "A map keyed by " + fd.MapKey().Kind().String() + " (as a string)."}
	}
	return g.singular(fd)
}

func (g *generator) singular(fd protoreflect.FieldDescriptor) map[string]any {
	if fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind {
		return g.message(fd.Message())
	}
	return g.scalar(fd)
}

// scalar is the schema of a scalar field, the same cases as
// input.scalarValue.
func (g *generator) scalar(fd protoreflect.FieldDescriptor) map[string]any {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return map[string]any{"type": "boolean"}
	case protoreflect.StringKind:
		return map[string]any{"type": "string"}
	case protoreflect.EnumKind:
		values := fd.Enum().Values()
		names := make([]string, values.Len())
		for i := range names {
			names[i] = string(values.Get(i).Name())
		}
		return map[string]any{
			"description": "A " + string(fd.Enum().FullName()) + " by name; a value this build of Cilium does not know appears as its number.",
			"anyOf": []any{
				map[string]any{"type": "string", "enum": names},
				map[string]any{"type": "integer"},
			},
		}
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return map[string]any{"type": "integer", "minimum": -1 << 31, "maximum": 1<<31 - 1}
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return map[string]any{"type": "integer"}
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return map[string]any{"type": "integer", "minimum": 0, "maximum": 1<<32 - 1}
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return map[string]any{"type": "integer", "minimum": 0}
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return map[string]any{"type": "number"}
	case protoreflect.BytesKind:
		return map[string]any{"type": "string", "contentEncoding": "base64"}
	}
	return map[string]any{"type": "null"}
}
