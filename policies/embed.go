// Package policies embeds the bundled detective Rego policies and their data, the default of --policies.dir.
package policies

import "embed"

// FS holds this directory as `opa test policies/` sees it: modules, tests,
// data documents. The engine loads it from the root ".".
//
//go:embed *
var FS embed.FS
