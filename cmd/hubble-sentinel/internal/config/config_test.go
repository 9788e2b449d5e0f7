package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

var examplePath = filepath.Join("..", "..", "..", "..", "deploy", "config.example.yaml")

// TestExampleIsTheDefaults: deploy/config.example.yaml parses strictly to
// exactly the defaults, so it cannot drift from them.
func TestExampleIsTheDefaults(t *testing.T) {
	f, err := Load(examplePath)
	require.NoError(t, err)
	require.Equal(t, Default(), f)
	empty, err := Parse(nil)
	require.NoError(t, err)
	require.Equal(t, Default(), empty, "an empty file is the defaults")
}

// TestExampleHasEveryKey: every key of the schema is written out in the
// example, and nothing else is.
func TestExampleHasEveryKey(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	require.NoError(t, err)
	var root yaml.Node
	require.NoError(t, yaml.Unmarshal(data, &root))
	var inExample []string
	var walk func(prefix string, n *yaml.Node)
	walk = func(prefix string, n *yaml.Node) {
		switch n.Kind {
		case yaml.DocumentNode:
			walk(prefix, n.Content[0])
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := prefix + n.Content[i].Value
				inExample = append(inExample, k)
				walk(k+".", n.Content[i+1])
			}
		case yaml.SequenceNode:
			for _, c := range n.Content {
				walk(prefix, c)
			}
		}
	}
	walk("", &root)
	slices.Sort(inExample)
	inExample = slices.Compact(inExample)
	require.Equal(t, schemaKeys("", reflect.TypeFor[File]()), inExample)
}

// schemaKeys are the dotted yaml keys of t, list items' keys under the
// list's key.
func schemaKeys(prefix string, t reflect.Type) []string {
	var out []string
	for f := range t.Fields() {
		name := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if name == "" || name == "-" {
			continue
		}
		k := prefix + name
		out = append(out, k)
		ft := f.Type
		if ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[FlowFilter]() {
			out = append(out, schemaKeys(k+".", ft)...)
		}
	}
	slices.Sort(out)
	return out
}

func TestParse(t *testing.T) {
	f, err := Parse([]byte(`
hubble:
  sources:
    - {name: prod, address: relay-prod:4245}
    - {name: stage, address: relay-stage:4245}
  filters: [namespace=shop]
  allow_filters:
    - {source_pod: ["shop/"], verdict: [DROPPED]}
alertmanagers:
  urls: [http://am-0:9093, https://am-1:9093/prefix]
  timeout: 3s
  spool_max_bytes: 1GiB
alerts:
  resolve_after: 90s
  max_incidents_per_policy: -1
redact:
  headers: [X-Tenant-Token]
`))
	require.NoError(t, err)
	require.Equal(t, []Source{{"prod", "relay-prod:4245"}, {"stage", "relay-stage:4245"}}, f.Hubble.Sources)
	require.Len(t, f.Hubble.AllowFilters, 1)
	require.Equal(t, []string{"shop/"}, f.Hubble.AllowFilters[0].GetSourcePod())
	require.Equal(t, "DROPPED", f.Hubble.AllowFilters[0].GetVerdict()[0].String())
	require.Equal(t, Duration(3*time.Second), f.Alertmanagers.Timeout)
	require.Equal(t, ByteSize(1<<30), f.Alertmanagers.SpoolMaxBytes)
	require.Equal(t, Duration(90*time.Second), f.Alerts.ResolveAfter)
	require.Equal(t, Default().Alerts.ResendInterval, f.Alerts.ResendInterval, "a key left out keeps its default")
	require.Equal(t, -1, f.Alerts.MaxIncidentsPerPolicy)
	require.Equal(t, []string{"X-Tenant-Token"}, f.Redact.Headers)
}

// TestParseErrors: each bad file is refused with what is wrong and where.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"unknown top-level key", "alertmanager:\n  urls: []\n", []string{"line 1", `unknown key "alertmanager"`}},
		{"unknown nested key", "alerts:\n  resolve_after: 1m\n  resolve_afterr: 2m\n", []string{"line 3", `unknown key "resolve_afterr"`}},
		{"bad duration", "alerts:\n  resend_interval: 5 minutes\n", []string{"line 2", `want a duration such as 5m, got "5 minutes"`}},
		{"wrong type", "baseline:\n  profiles_max: many\n", []string{"line 2", "many"}},
		{"bad size", "alertmanagers:\n  spool_max_bytes: 12XB\n", []string{"line 2", `got "12XB"`}},
		{"bad url", "alertmanagers:\n  urls:\n    - http://am:9093\n    - am-1:9093\n", []string{"line 4: alertmanagers.urls[1]", "http:// or https://"}},
		{"negative duration", "alerts:\n  resolve_after: -1m\n", []string{"line 2: alerts.resolve_after", "positive"}},
		{"zero incidents", "alerts:\n  max_incidents_per_policy: 0\n", []string{"line 2: alerts.max_incidents_per_policy"}},
		{"unnamed sources", "hubble:\n  sources:\n    - address: a:4245\n    - address: b:4245\n", []string{"hubble.sources[0].name", "distinct cluster name"}},
		{"duplicate names", "hubble:\n  sources:\n    - {name: a, address: a:4245}\n    - {name: a, address: b:4245}\n", []string{"line 4: hubble.sources[1].name", `"a" given twice`}},
		{"no sources", "hubble:\n  sources: []\n", []string{"line 2: hubble.sources", "at least one"}},
		{"empty address", "hubble:\n  sources:\n    - name: x\n", []string{"hubble.sources[0].address", "empty address"}},
		{"bad observe filter", "hubble:\n  filters: [colour=blue]\n", []string{"line 2: hubble.filters"}},
		{"bad flow filter field", "hubble:\n  allow_filters:\n    - {source_pods: [x]}\n", []string{"line 3", "not a FlowFilter"}},
		{"flow filter not an object", "hubble:\n  deny_filters: [namespace=shop]\n", []string{"line 2", "want a FlowFilter object"}},
		{"dir and bundle", "policies:\n  dir: /p\n  bundle:\n    source: /b.tar.gz\n", []string{"line 4: policies.bundle.source", "exclusive"}},
		{"half a client certificate", "alertmanagers:\n  tls:\n    cert_file: /c.pem\n", []string{"line 3: alertmanagers.tls", "cert_file and key_file go together"}},
		{"username without password", "alertmanagers:\n  basic_auth:\n    username: u\n", []string{"alertmanagers.basic_auth", "go together"}},
		{"header with a comma", "redact:\n  headers: [\"a,b\"]\n", []string{"line 2: redact.headers[0]"}},
		{"two documents", "alerts: {}\n---\nalerts: {}\n", []string{"more than one YAML document"}},
		{"not a mapping", "- a\n- b\n", []string{"line 1"}},
		{"several errors at once", "alerts:\n  resolve_after: 0s\nbaseline:\n  profiles_max: 0\n", []string{"line 2: alerts.resolve_after", "line 4: baseline.profiles_max"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			require.Error(t, err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
			require.NotContains(t, err.Error(), "config.", "no Go type names")
		})
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	require.NoError(t, os.WriteFile(path, []byte("nope: 1\n"), 0o600))
	_, err := Load(path)
	require.ErrorContains(t, err, path+": line 1: ")
	_, err = Load(filepath.Join(t.TempDir(), "missing.yaml"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"4096": 4096, "1KiB": 1024, "256MiB": 256 << 20, "1GB": 1e9, "10B": 10} {
		got, err := ParseSize(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "0", "-1MiB", "MiB", "1TB", "99999999999GiB"} {
		_, err := ParseSize(in)
		require.Error(t, err, in)
	}
}
