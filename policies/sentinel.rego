# METADATA
# title: Detective policies
# description: >-
#   The root package of every detective policy (sentinel.<category>.<name>)
#   and of their shared library. Its schemas annotation gives `input` in all
#   of them the type of the engine's input document, described by
#   schemas/input.jsonschema: `opa check --strict --schema policies/schemas
#   policies` then refuses a reference to a field the input never has
#   (input.destinaton.namespace) or a value used as the wrong type, as the
#   engine does when it loads the policies. Without --schema, OPA ignores the
#   annotation. Regenerate the schema with `make schema`.
# scope: subpackages
# schemas:
#   - input: schema.input
package sentinel
