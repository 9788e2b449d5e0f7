// Package captures locates the real Hubble captures (GKE, 2021) that tests replay, read-only, from the workspace's shared folder.
package captures

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	observerpb "github.com/cilium/cilium/api/v1/observer"
	"google.golang.org/protobuf/encoding/protojson"
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

// Flow is one flow of a capture and where it was read.
type Flow struct {
	*flowpb.Flow
	File string // base name of the capture
	Line int
}

// Where is "file:line", for failure messages.
func (f Flow) Where() string { return fmt.Sprintf("%s:%d", f.File, f.Line) }

// Flows reads every flow of every capture (the GetFlowsResponse lines that
// hold one), failing the test on a line that does not parse.
func Flows(t testing.TB) []Flow {
	t.Helper()
	var out []Flow
	for _, path := range Files(t) {
		file, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(file)
		sc.Buffer(make([]byte, 0, 1<<20), 1<<24)
		for line := 1; sc.Scan(); line++ {
			if len(bytes.TrimSpace(sc.Bytes())) == 0 {
				continue
			}
			var resp observerpb.GetFlowsResponse
			if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(sc.Bytes(), &resp); err != nil {
				t.Fatalf("%s:%d: %v", filepath.Base(path), line, err)
			}
			if f := resp.GetFlow(); f != nil {
				out = append(out, Flow{Flow: f, File: filepath.Base(path), Line: line})
			}
		}
		if err := sc.Err(); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		_ = file.Close()
	}
	return out
}
