package policy

import (
	"github.com/open-policy-agent/opa/v1/ast"
)

// forbidden are builtins a detective policy must not call even where OPA
// does not flag them non-deterministic: they reach outside the flow and the
// data, or leak what the engine sees.
var forbidden = map[string]bool{
	"http.send":          true,
	"net.lookup_ip_addr": true,
	"opa.runtime":        true,
}

// Sandbox returns the capabilities policies compile against: this OPA's
// builtins minus every non-deterministic one (http.send, time.now_ns,
// rand.intn, uuid.rfc4122, net.lookup_ip_addr, opa.runtime, …) and minus
// network access. Policies are thus pure functions of input and data, which
// lets the engine cache decisions and replay captures faithfully.
func Sandbox() *ast.Capabilities {
	caps := ast.CapabilitiesForThisVersion()
	kept := caps.Builtins[:0]
	for _, b := range caps.Builtins {
		if b.Nondeterministic || forbidden[b.Name] {
			continue
		}
		kept = append(kept, b)
	}
	caps.Builtins = kept
	caps.AllowNet = []string{}
	return caps
}
