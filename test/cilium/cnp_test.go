// Package cilium checks hubble-sentinel's output against Cilium's own
// code. It is a module of its own, so that the product module does not
// link Cilium's agent packages: `make test-cilium` (part of `make test`)
// runs it against the binary built by `make build`.
package cilium

import (
	"bytes"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	ciliumv2 "github.com/cilium/cilium/pkg/k8s/apis/cilium.io/v2"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// binary is the hubble-sentinel under test: $HUBBLE_SENTINEL_BIN, else
// built from the parent module.
func binary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("HUBBLE_SENTINEL_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "hubble-sentinel")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/hubble-sentinel")
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

func run(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "%s %v: %s", bin, args, stderr.String())
	return stdout.Bytes()
}

// TestExportedPoliciesAreCiliumPolicies: `baseline export` of a learned
// simulated shop decodes strictly into Cilium's CiliumNetworkPolicy type
// and parses into rules the way the Cilium agent parses them.
func TestExportedPoliciesAreCiliumPolicies(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	capture := filepath.Join(dir, "shop.json")
	require.NoError(t, os.WriteFile(capture, run(t, bin, "simulate", "--simulate.flows", "5000"), 0o600))
	snap := filepath.Join(dir, "shop.snap")
	run(t, bin, "replay", "--baseline.path", snap, capture)
	out := run(t, bin, "baseline", "export", "--baseline.path", snap, "--namespace", "shop")

	docs := strings.Split(string(out), "---\n")[1:]
	require.GreaterOrEqual(t, len(docs), 5, "one policy per workload of the shop")
	for _, doc := range docs {
		var cnp ciliumv2.CiliumNetworkPolicy
		require.NoError(t, yaml.UnmarshalStrict([]byte(doc), &cnp), doc)
		rules, err := cnp.Parse(slog.New(slog.DiscardHandler), "default")
		require.NoError(t, err, doc)
		require.Len(t, rules, 1)
		require.NotEmpty(t, rules[0].Egress, "%s allows what it learned", cnp.Name)
		require.Equal(t, "shop", cnp.Namespace)
	}
}
