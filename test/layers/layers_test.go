// Package layers pins the dependency rules of the tree, so that they stay
// true as it grows: hubble produces flows, engine measures and judges
// them, the alert packages deliver, and only the command wires them.
package layers

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/hubble-sentinel/hubble-sentinel/"

// goCommand is the go command the tests run under: go test puts its GOROOT's
// bin first on PATH (runtime.GOROOT is empty in a -trimpath build).
func goCommand(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("go")
	require.NoError(t, err, "no go command on PATH")
	return path
}

// deps returns, for each package matching pattern, the packages it links
// (go list -deps: transitively, without tests).
func deps(t *testing.T, patterns ...string) map[string][]string {
	t.Helper()
	args := append([]string{"list", "-deps", "-json=ImportPath,Deps,Standard"}, patterns...)
	cmd := exec.Command(goCommand(t), args...)
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.Output()
	require.NoError(t, err, "go list: %s", errOutput(err))
	// go list prints the packages and all their dependencies; keep the
	// ones the patterns name.
	roots := map[string]bool{}
	cmd = exec.Command(goCommand(t), append([]string{"list"}, patterns...)...)
	cmd.Dir = filepath.Join("..", "..")
	names, err := cmd.Output()
	require.NoError(t, err, "go list: %s", errOutput(err))
	for _, n := range strings.Fields(string(names)) {
		roots[n] = true
	}
	result := map[string][]string{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p struct {
			ImportPath string
			Deps       []string
		}
		require.NoError(t, dec.Decode(&p))
		if roots[p.ImportPath] {
			result[strings.TrimPrefix(p.ImportPath, module)] = p.Deps
		}
	}
	require.Len(t, result, len(roots))
	return result
}

func errOutput(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

func TestDependencyRules(t *testing.T) {
	for _, rule := range []struct {
		name     string
		packages []string
		// forbidden are import path prefixes none of packages may link.
		forbidden []string
		// allowed are exceptions to forbidden.
		allowed []string
	}{
		{
			name:      "OPA is linked only where Rego runs",
			packages:  []string{"./engine/facts", "./engine/profile", "./engine/alert", "./engine/alertmanager", "./engine/redact", "./hubble/..."},
			forbidden: []string{"github.com/open-policy-agent/"},
		},
		{
			name:      "hubble produces flows and knows nothing downstream",
			packages:  []string{"./hubble/..."},
			forbidden: []string{module + "engine", module + "cmd", module + "policies"},
		},
		{
			name:      "engine does not consume the stream itself; only its leaf backoff is shared",
			packages:  []string{"./engine/..."},
			forbidden: []string{module + "hubble", module + "cmd"},
			allowed:   []string{module + "hubble/backoff"},
		},
		{
			name:      "delivering alerts does not link judging them",
			packages:  []string{"./engine/alert", "./engine/alertmanager"},
			forbidden: []string{module + "engine/policy", module + "engine/input", module + "engine/schema", module + "policies"},
		},
	} {
		t.Run(rule.name, func(t *testing.T) {
			for pkg, ds := range deps(t, rule.packages...) {
				for _, d := range ds {
					for _, f := range rule.forbidden {
						if strings.HasPrefix(d, f) && !allowed(d, rule.allowed) {
							t.Errorf("%s links %s", pkg, d)
						}
					}
				}
			}
		})
	}
}

func allowed(pkg string, prefixes []string) bool {
	for _, p := range prefixes {
		if pkg == p || strings.HasPrefix(pkg, p+"/") {
			return true
		}
	}
	return false
}

// TestOnlyTheCommandWiresTheDemo: the simulator and the demo relay serve
// the demo and the tests; the only product package that imports them is
// the command, for `hubble-sentinel demo` and `simulate`.
func TestOnlyTheCommandWiresTheDemo(t *testing.T) {
	for pkg, ds := range deps(t, "./...") {
		if strings.HasPrefix(pkg, "test/") || strings.HasPrefix(pkg, "cmd/") {
			continue
		}
		for _, d := range ds {
			require.False(t, strings.HasPrefix(d, module+"test/"), "%s links %s", pkg, d)
		}
	}
}
