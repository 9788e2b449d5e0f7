package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// stage is one FROM section of a Dockerfile.
type stage struct {
	From, Name   string
	Instructions [][2]string // instruction, arguments (continuations joined)
}

// parseDockerfile reads the instructions of a Dockerfile, by stage.
func parseDockerfile(t *testing.T, path string) []stage {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var stages []stage
	var logical string
	for _, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if logical == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, `\`) {
			logical += strings.TrimSuffix(trimmed, `\`) + " "
			continue
		}
		logical += trimmed
		ins, rest, _ := strings.Cut(logical, " ")
		logical = ""
		ins = strings.ToUpper(ins)
		if ins == "FROM" {
			f := strings.Fields(rest)
			s := stage{From: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.Name = f[2]
			}
			stages = append(stages, s)
			continue
		}
		require.NotEmpty(t, stages, "%s: %s before FROM", path, ins)
		stages[len(stages)-1].Instructions = append(stages[len(stages)-1].Instructions, [2]string{ins, strings.TrimSpace(rest)})
	}
	return stages
}

// TestDockerfile: a multi-stage build whose final stage is distroless
// static, non-root, with the binary and the bundled policies; the build
// stage's `go build` command is run here (no container engine needed) so
// it is known to build a static binary.
func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t, filepath.Join("..", "Dockerfile"))
	require.Len(t, stages, 2)
	build, final := stages[0], stages[1]
	require.True(t, strings.HasPrefix(build.From, "golang:1.26"), build.From)
	require.Equal(t, "gcr.io/distroless/static-debian12:nonroot", final.From)

	var goBuild string
	for _, in := range build.Instructions {
		if in[0] == "RUN" && strings.Contains(in[1], "go build") {
			goBuild = in[1]
		}
	}
	require.Contains(t, goBuild, "CGO_ENABLED=0")
	require.Contains(t, goBuild, "-trimpath")

	copies := map[string]string{}
	var user, entrypoint string
	for _, in := range final.Instructions {
		switch in[0] {
		case "COPY":
			f := strings.Fields(in[1])
			require.Equal(t, "--from="+build.Name, f[0], "the final stage copies only from the build stage")
			copies[f[1]] = f[2]
		case "USER":
			user = in[1]
		case "ENTRYPOINT":
			entrypoint = in[1]
		}
	}
	require.Equal(t, "nonroot:nonroot", user)
	out := filepath.Join(t.TempDir(), "out")
	// The binary the build stage writes is the one the final stage copies
	// and runs.
	var binIn string
	for src, dst := range copies {
		if strings.HasPrefix(src, "/out/") {
			binIn = src
			require.Equal(t, `["`+dst+`"]`, entrypoint)
		}
	}
	require.NotEmpty(t, binIn, "the binary is copied")
	require.Equal(t, "/usr/share/hubble-sentinel/policies", copies["/src/policies"], "the bundled policies are in the image")

	// Run the build stage's command, with its output moved under a temp
	// dir, from the repository root (the stage's WORKDIR /src holds it).
	cmdline := strings.ReplaceAll(goBuild, "/out/", out+"/")
	cmd := exec.Command("sh", "-c", cmdline)
	cmd.Dir = ".."
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s: %s", cmdline, b)
	bin := filepath.Join(out, filepath.Base(binIn))
	v, err := exec.Command(bin, "version").CombinedOutput()
	require.NoError(t, err, "%s", v)
	require.Contains(t, string(v), "hubble-sentinel")
	// Static: no dynamic loader requested (distroless static has none).
	elf, err := os.ReadFile(bin)
	require.NoError(t, err)
	require.NotContains(t, string(elf[:min(len(elf), 4096)]), "ld-linux", "a static binary")
}
