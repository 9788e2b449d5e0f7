package config

import (
	"os"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzConfig: any input is parsed or refused with an error, never a
// panic; what parses is valid, and writing it out and parsing it again
// gives it back.
func FuzzConfig(f *testing.F) {
	if example, err := os.ReadFile(examplePath); err == nil {
		f.Add(example)
	}
	f.Add([]byte("alerts:\n  resolve_after: 1m\n"))
	f.Add([]byte("hubble:\n  sources:\n    - {name: a, address: x:1}\n  allow_filters:\n    - {source_pod: [\"shop/\"]}\n"))
	f.Add([]byte("alertmanagers:\n  urls: [http://am:9093]\n  spool_max_bytes: 1GiB\n"))
	f.Add([]byte("redact: {headers: [a], query_keys: [b]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an empty error")
			}
			return
		}
		out, err := yaml.Marshal(cfg)
		if err != nil {
			t.Fatalf("marshalling a parsed config: %v", err)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("a parsed config, written out, does not parse: %v\n%s", err, out)
		}
		if !equal(cfg, again) {
			t.Fatalf("round trip changed the config:\n%s", out)
		}
	})
}

// equal compares two configs, filters by their protobuf content.
func equal(a, b File) bool {
	fa, fb := a.Hubble.AllowFilters, b.Hubble.AllowFilters
	da, db := a.Hubble.DenyFilters, b.Hubble.DenyFilters
	if len(fa) != len(fb) || len(da) != len(db) {
		return false
	}
	for i := range fa {
		if !fa[i].Equal(fb[i]) {
			return false
		}
	}
	for i := range da {
		if !da[i].Equal(db[i]) {
			return false
		}
	}
	a.Hubble.AllowFilters, b.Hubble.AllowFilters, a.Hubble.DenyFilters, b.Hubble.DenyFilters = nil, nil, nil, nil
	ya, _ := yaml.Marshal(a)
	yb, _ := yaml.Marshal(b)
	return string(ya) == string(yb)
}
