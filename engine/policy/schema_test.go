package policy

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/policies"
)

// typoPolicy is a valid detective policy but for its one condition.
func typoPolicy(condition string) string {
	return `# METADATA
# title: Typo
# description: A policy with a mistake in its condition.
# custom:
#   id: Typo
#   severity: info
package sentinel.test.typo

violation contains {"id": "Typo", "policy": "sentinel.test.typo"} if {
	` + condition + `
}
`
}

// A policy reading a field the input never has, or using a value as the
// wrong type, is refused at load (and so at hot reload), naming file and
// line: with the bundled policies, whose sentinel.rego names the input
// schema in METADATA, and without them, in a directory of one's own.
func TestLoadTypeChecksInput(t *testing.T) {
	for _, tc := range []struct {
		name, condition, want string
	}{
		{"misspelt flow field", `input.destinaton.namespace == "kube-system"`, "undefined ref: input.destinaton.namespace"},
		{"misspelt sentinel field", `input.sentinel.http.pathh == "/admin"`, "undefined ref: input.sentinel.http.pathh"},
		{"destination-only field on the source", `input.sentinel.source.fqdn == "x"`, "undefined ref: input.sentinel.source.fqdn"},
		{"field of an array element", `input.l7.http.headers[_].kee == "Host"`, "undefined ref: input.l7.http.headers[_].kee"},
		{"wrong type", `startswith(input.sentinel.destination_port, "80")`, "startswith: invalid argument(s)"},
	} {
		for _, bundled := range []bool{true, false} {
			name := tc.name + "/own directory"
			if bundled {
				name = tc.name + "/with bundled policies"
			}
			t.Run(name, func(t *testing.T) {
				dir := t.TempDir()
				if bundled {
					require.NoError(t, policies.WriteTo(dir))
				}
				file := filepath.Join("test", "typo", "typo.rego")
				require.NoError(t, os.MkdirAll(filepath.Join(dir, "test", "typo"), 0o755))
				require.NoError(t, os.WriteFile(filepath.Join(dir, file), []byte(typoPolicy(tc.condition)), 0o644))

				_, err := Load(context.Background(), os.DirFS(dir), ".")
				require.Error(t, err)
				require.Contains(t, err.Error(), file+":10: rego_type_error: "+tc.want)
			})
		}
	}
}

// Fields the input does have, in every part of the schema, type-check.
func TestLoadAcceptsInputFields(t *testing.T) {
	for _, condition := range []string{
		`input.verdict == "DROPPED"`,
		`input.l7.kafka.topic == "orders"`,     // deprecated in Cilium, still in the schema
		`input.extensions["@type"] != ""`,      // google.protobuf.Any
		`input.is_reply == false`,              // google.protobuf.BoolValue, unwrapped
		`input.time > "2026-01-01T00:00:00Z"`,  // google.protobuf.Timestamp, a string
		`input.l4.TCP.flags.SYN`,               // a oneof option
		`input.l7.latency_ns > 1000000`,        // uint64, a number
		`lower(input.traffic_direction) == ""`, // an enum is a string
		`input.sentinel.profile.destination.new_peer`,
		`input.sentinel.dns.max_label_entropy > 4.5`,
		`some d in input.sentinel.destination.domains; d == "example.com"`,
	} {
		t.Run(condition, func(t *testing.T) {
			files := base()
			files["test/typo/typo.rego"] = typoPolicy(condition)
			_, err := Load(context.Background(), fsWith(files), ".")
			require.NoError(t, err)
		})
	}
}

// BenchmarkLoad measures loading and compiling the bundled policies, type
// checking against the input schema included: the cost of a hot reload.
func BenchmarkLoad(b *testing.B) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(ctx, policies.FS, "."); err != nil {
			b.Fatal(err)
		}
	}
}
