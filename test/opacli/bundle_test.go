package opacli

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/engine/policy"
)

// Bundles written by the OPA CLI, as README's "Shipping policies" builds
// them (opa build, then opa build -b --signing-key over its files), load
// with their tests passing, and their signature verifies.
func TestOPABuildBundleLoads(t *testing.T) {
	tool := opaTool(t)
	opa := func(args ...string) {
		t.Helper()
		out, err := tool(args...)
		require.NoError(t, err, "opa %v: %s", args, out)
	}
	dir := t.TempDir()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	require.NoError(t, err)
	priv, pub := filepath.Join(dir, "priv.pem"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	require.NoError(t, os.WriteFile(priv, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}), 0o600))

	plain, signed, files := filepath.Join(dir, "plain.tar.gz"), filepath.Join(dir, "signed.tar.gz"), filepath.Join(dir, "files")
	opa("build", "--revision", "v1", "-o", plain, "policies") // in the module's directory
	require.NoError(t, os.MkdirAll(files, 0o755))
	cmd := exec.Command("tar", "xzf", plain, "-C", files, "--exclude", ".manifest")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	opa("build", "-b", "--revision", "v2", "--signing-key", priv, "--signing-alg", "RS256", "-o", signed, files)

	for _, tc := range []struct {
		file, revision string
		key            *policy.BundleKey
	}{{plain, "v1", nil}, {signed, "v2", &policy.BundleKey{Key: pub}}} {
		f, err := os.Open(tc.file)
		require.NoError(t, err)
		b, err := policy.ReadBundle(f, policy.BundleLimits{}, tc.key)
		require.NoError(t, f.Close())
		require.NoError(t, err, tc.file)
		require.Equal(t, tc.revision, b.Revision)
		require.Equal(t, tc.key != nil, b.Signed)
		set, err := policy.Load(context.Background(), b.FS, ".")
		require.NoError(t, err)
		require.NotEmpty(t, set.Policies())
		data, err := fs.ReadFile(b.FS, "data.json")
		require.NoError(t, err)
		require.Contains(t, string(data), `"exceptions"`, "the data (policies/data/*.yaml) is in the bundle")
		report, err := policy.Test(context.Background(), b.FS, ".", policy.TestOptions{})
		require.NoError(t, err)
		require.NoError(t, report.Err())
		require.NotEmpty(t, report.Results)
	}
	// The signed bundle without its key is refused.
	f, err := os.Open(signed)
	require.NoError(t, err)
	defer f.Close()
	_, err = policy.ReadBundle(f, policy.BundleLimits{}, nil)
	require.ErrorContains(t, err, "no verification key")
}
