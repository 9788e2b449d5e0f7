// Package opacli checks that the OPA CLI, pinned in go.mod and run with go
// tool, sees the bundled policies and their input schema as the engine does.
package opacli

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/engine/schema"
	"github.com/hubble-sentinel/hubble-sentinel/policies"
)

// The OPA CLI refuses the same mistakes as the engine when given the
// schema directory, `opa check --strict --schema policies/schemas policies`
// (make policy-test), and accepts the bundled policies.
func TestOPACheckCatchesTypos(t *testing.T) {
	opa := opaTool(t)
	check := func(dir string) (string, error) {
		return opa("check", "--strict", "--schema", filepath.Join(dir, filepath.Dir(schema.File)), dir)
	}

	dir := t.TempDir()
	require.NoError(t, policies.WriteTo(dir))
	out, err := check(dir)
	require.NoError(t, err, out)

	policy := filepath.Join(dir, "test", "typo", "typo.rego")
	require.NoError(t, os.MkdirAll(filepath.Dir(policy), 0o755))
	require.NoError(t, os.WriteFile(policy, []byte(`package sentinel.test.typo

violation contains "x" if input.destinaton.namespace == "kube-system"

violation contains "y" if input.sentinel.http.pathh == "/admin"
`), 0o644))
	out, err = check(dir)
	require.Error(t, err)
	for _, want := range []string{
		policy + ":3: rego_type_error: undefined ref: input.destinaton.namespace",
		policy + ":5: rego_type_error: undefined ref: input.sentinel.http.pathh",
	} {
		require.Contains(t, out, want)
	}
	require.Contains(t, out, `want (one of): ["headers_plain" "host" "method" "normalized_path" "path" "plain" "query" "raw_path" "specials" "text" "truncated" "user_agent"]`)
}

// opaTool runs the OPA CLI pinned in go.mod (go tool opa) in the module's
// directory; it skips t in -short mode or without a go command.
func opaTool(t *testing.T) func(args ...string) (string, error) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs go tool opa")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to run the OPA CLI with")
	}
	return func(args ...string) (string, error) {
		cmd := exec.Command(gobin, append([]string{"tool", "opa"}, args...)...)
		if path := os.Getenv("HUBBLE_SENTINEL_OPA"); path != "" {
			// The CLI the Makefile built: a test built with other flags
			// (-race needs cgo) would compile it again.
			cmd = exec.Command(path, args...)
		}
		cmd.Dir = filepath.Join("..", "..") // the module, whose go.mod pins OPA
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
}
