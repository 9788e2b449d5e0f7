// Package captures locates the real Hubble captures (GKE, 2021) that tests replay, read-only, from the workspace's shared folder.
package captures

import (
	"os"
	"path/filepath"
	"testing"
)

// EnvDir overrides where the captures are looked for.
const EnvDir = "HUBBLE_SENTINEL_CAPTURES"

// Dir returns the directory holding the gke-2021 captures: $HUBBLE_SENTINEL_CAPTURES,
// else ../shared/captures/gke-2021 beside the repository. Tests that need
// them are skipped, saying why, when they are absent.
func Dir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv(EnvDir); d != "" {
		if _, err := os.Stat(d); err != nil {
			t.Skipf("real captures not found at %s=%s: %v", EnvDir, d, err)
		}
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			c := filepath.Join(filepath.Dir(d), "shared", "captures", "gke-2021")
			if _, err := os.Stat(c); err != nil {
				t.Skipf("real captures not found at %s (set %s)", c, EnvDir)
			}
			return c
		}
		if filepath.Dir(d) == d {
			t.Skipf("no go.mod above %s; cannot locate the captures", wd)
		}
	}
}

// Files returns the paths of every capture.
func Files(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(Dir(t), "*.json"))
	if err != nil || len(files) == 0 {
		t.Skipf("no captures in %s", Dir(t))
	}
	return files
}
