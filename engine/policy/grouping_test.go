package policy

import (
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/engine/alert"
	"github.com/hubble-sentinel/hubble-sentinel/policies"
)

func groupingPolicy(id, custom string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte(`# METADATA
# title: ` + id + `
# custom:
#   id: ` + id + `
#   severity: warning
` + custom + `package sentinel.x.` + id + `

violation contains {"id": "` + id + `"} if false
`)}
}

func TestGroupings(t *testing.T) {
	flow := map[string]string{
		"alertname": "A", "severity": "warning", "policy": "p",
		"source_namespace": "shop", "source_workload": "scanner", "source_ip": "9.9.9.9",
		"destination_namespace": "shop", "destination_workload": "db", "destination_port": "5432", "protocol": "tcp",
	}
	for _, tc := range []struct {
		name    string
		custom  string
		want    []string // identity labels besides the three always there; nil: no grouping declared
		wantErr string
	}{
		{name: "none"},
		{name: "drop", custom: "#   drop_labels: [destination_port]\n",
			want: []string{"source_namespace", "source_workload", "destination_namespace", "destination_workload", "protocol"}},
		{name: "group_by", custom: "#   group_by:\n#     - source_namespace\n#     - source_workload\n",
			want: []string{"source_namespace", "source_workload"}},
		{name: "add", custom: "#   add_labels: [source_ip]\n",
			want: []string{"source_namespace", "source_workload", "source_ip", "destination_namespace", "destination_workload", "destination_port", "protocol"}},
		{name: "not a list", custom: "#   drop_labels: destination_port\n", wantErr: "x/p/p.rego: package sentinel.x.P: METADATA custom: drop_labels: want a list"},
		{name: "unknown label", custom: "#   group_by: [pod]\n", wantErr: `unknown label "pod"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{"x/p/p.rego": groupingPolicy("P", tc.custom)}
			set, err := Load(t.Context(), fsys, ".")
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			g, ok := set.Groupings()["P"]
			require.Equal(t, ok, set.Policies()[0].Grouping != nil)
			if tc.want == nil {
				require.False(t, ok)
				return
			}
			require.True(t, ok)
			id := g.Identity(flow)
			var got []string
			for k := range id {
				if k != alert.LabelAlertname && k != alert.LabelSeverity && k != alert.LabelPolicy {
					got = append(got, k)
				}
			}
			require.ElementsMatch(t, tc.want, got)
		})
	}
}

// TestBundledGroupings: the bundled policies' declarations load, the scans
// grouping by client.
func TestBundledGroupings(t *testing.T) {
	set, err := Load(t.Context(), policies.FS, ".")
	require.NoError(t, err)
	gs := set.Groupings()
	require.Contains(t, gs, "BaselinePortScan")
	require.Contains(t, gs, "LateralSensitivePortCrossNamespace")
	require.NotContains(t, gs, "EgressToCloudMetadata", "declares none: the default")
}
