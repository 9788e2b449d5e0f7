package deploy

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// chartDir is the Helm chart under test.
const chartDir = "helm/hubble-sentinel"

// manifest is one rendered Kubernetes object: where it came from, its kind
// and name, and its YAML.
type manifest struct {
	Source, Kind, Name string
	YAML               []byte
}

func (m manifest) String() string { return m.Source + ": " + m.Kind + "/" + m.Name }

// splitDocuments splits a multi-document YAML stream at its "---" lines,
// leaving out empty documents (a template rendered to nothing).
func splitDocuments(t *testing.T, source string, b []byte) []manifest {
	t.Helper()
	var out []manifest
	var cur bytes.Buffer
	flush := func() {
		doc := bytes.TrimSpace(cur.Bytes())
		cur.Reset()
		if len(doc) == 0 || isComments(doc) {
			return
		}
		var meta struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		require.NoError(t, yaml.Unmarshal(doc, &meta), "%s:\n%s", source, doc)
		require.NotEmpty(t, meta.Kind, "%s: a document without kind:\n%s", source, doc)
		out = append(out, manifest{Source: source, Kind: meta.Kind, Name: meta.Metadata.Name, YAML: append([]byte(nil), doc...)})
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		if line := sc.Text(); strings.TrimRight(line, " ") == "---" {
			flush()
			continue
		}
		cur.Write(sc.Bytes())
		cur.WriteByte('\n')
	}
	require.NoError(t, sc.Err())
	flush()
	return out
}

func isComments(doc []byte) bool {
	for _, l := range strings.Split(string(doc), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			return false
		}
	}
	return true
}

// renderKustomize builds a kustomization directory with kustomize as a
// library, as `kubectl apply -k` does.
func renderKustomize(t *testing.T, dir string) []manifest {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), dir)
	require.NoError(t, err, "kustomize build %s", dir)
	b, err := res.AsYaml()
	require.NoError(t, err)
	return splitDocuments(t, dir, b)
}

// renderHelm renders the chart with Helm as a library, as `helm install
// RELEASE deploy/helm/hubble-sentinel -n NAMESPACE -f values` does: values
// coalesced with the chart's and validated against values.schema.json.
func renderHelm(t *testing.T, release, namespace string, values map[string]any) ([]manifest, error) {
	t.Helper()
	ch, err := loader.Load(chartDir)
	require.NoError(t, err)
	vals, err := chartutil.ToRenderValues(ch, values, common.ReleaseOptions{Name: release, Namespace: namespace, IsInstall: true, Revision: 1}, nil)
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(ch, vals)
	if err != nil {
		return nil, err
	}
	var out []manifest
	for name, content := range files {
		if filepath.Ext(name) != ".yaml" {
			continue // NOTES.txt, helpers
		}
		out = append(out, splitDocuments(t, name, []byte(content))...)
	}
	return out, nil
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// binary is the hubble-sentinel whose flags and metrics the manifests must
// match: $HUBBLE_SENTINEL_BIN (make test-deploy sets it to make build's),
// else built once from the parent module.
func binary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("HUBBLE_SENTINEL_BIN"); bin != "" {
		return bin
	}
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hubble-sentinel-deploy-test")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "hubble-sentinel")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/hubble-sentinel")
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = &buildError{err: err, out: out}
		}
	})
	require.NoError(t, binErr)
	return binPath
}

type buildError struct {
	err error
	out []byte
}

func (e *buildError) Error() string { return e.err.Error() + ": " + string(e.out) }

var helpFlag = regexp.MustCompile(`^\s+-([a-z][a-z0-9.-]*)`)

// runFlags are the flags `hubble-sentinel run` accepts, parsed from its
// usage (-h): the real binary's, not a list kept here.
func runFlags(t *testing.T) map[string]bool {
	t.Helper()
	out, _ := exec.Command(binary(t), "run", "-h").CombinedOutput() // -h exits non-zero
	require.Contains(t, string(out), "Usage of hubble-sentinel run", "%s", out)
	flags := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		if m := helpFlag.FindStringSubmatch(line); m != nil {
			flags[m[1]] = true
		}
	}
	require.Contains(t, flags, "hubble.address", "usage parsed")
	require.Greater(t, len(flags), 30, "usage parsed")
	return flags
}
