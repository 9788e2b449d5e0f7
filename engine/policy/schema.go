package policy

import (
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/hubble-sentinel/hubble-sentinel/engine/schema"
)

// InputSchemaRef is the name policies give the input schema in METADATA
// (schemas: - input: schema.input), as `opa check --schema policies/schemas`
// names the file schemas/input.jsonschema.
var InputSchemaRef = ast.MustParseRef("schema.input")

// inputSchemas are the schemas policies compile against: the engine's input
// schema as the type of input in every module, whether or not its package
// carries the annotation, and under InputSchemaRef for those that do. The
// type checker then refuses a reference to a field the input never has
// (input.destinaton) or a value of the wrong type, naming file and line.
var inputSchemas = sync.OnceValue(func() *ast.SchemaSet {
	s := schema.Input()
	ss := ast.NewSchemaSet()
	ss.Put(ast.SchemaRootRef, s)
	ss.Put(InputSchemaRef, s)
	return ss
})

// typeCheckInput makes a compilation type-check input against inputSchemas.
func typeCheckInput() func(*rego.Rego) { return rego.Schemas(inputSchemas()) }
