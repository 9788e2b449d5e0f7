// Package policies embeds the bundled detective Rego policies and their data, the default of --policies.dir.
package policies

import (
	"embed"
	"io/fs"
	"os"
	"path/filepath"
)

// FS holds this directory as `opa test policies/` sees it: modules, tests,
// data documents. The engine loads it from the root ".".
//
//go:embed *
var FS embed.FS

// WriteTo copies the bundled policies into dir, the starting point of a
// policy directory of one's own.
func WriteTo(dir string) error {
	return fs.WalkDir(FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(FS, p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, p), b, 0o644)
	})
}
