package hubble

import (
	"testing"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"
)

func TestObserveFilters(t *testing.T) {
	js := func(ffs []*flowpb.FlowFilter) []string {
		var out []string
		for _, f := range ffs {
			out = append(out, protojson.MarshalOptions{UseProtoNames: true}.Format(f))
		}
		return out
	}
	tests := []struct {
		name       string
		terms      []string
		allow      []string
		deny       []string
		wantErrStr string
	}{
		{name: "nothing", terms: nil},
		{name: "a namespace on either side", terms: []string{"namespace=shop"},
			allow: []string{`{"source_pod":["shop/"]}`, `{"destination_pod":["shop/"]}`}},
		{name: "from a pod in a namespace to an fqdn", terms: []string{"from-namespace=shop", "from-pod=cart", "to-fqdn=*.example.com"},
			allow: []string{`{"source_pod":["shop/cart"], "destination_fqdn":["*.example.com"]}`}},
		{name: "values of one flag are alternatives", terms: []string{"verdict=DROPPED", "verdict=error", "type=l7"},
			allow: []string{`{"verdict":["DROPPED", "ERROR"], "event_type":[{"type":129}]}`}},
		{name: "either side with a common term", terms: []string{"ip=10.0.0.1", "http-status=5+"},
			allow: []string{`{"source_ip":["10.0.0.1"], "http_status_code":["5+"]}`, `{"destination_ip":["10.0.0.1"], "http_status_code":["5+"]}`}},
		{name: "negated terms deny", terms: []string{"protocol=TCP", "not-to-port=53", "not-type=trace:to-endpoint"},
			allow: []string{`{"protocol":["tcp"]}`},
			deny:  []string{`{"destination_port":["53"], "event_type":[{"type":4, "match_sub_type":true}]}`}},
		{name: "http and dns", terms: []string{"http-method=GET", "http-path=^/api", "dns-query=example", "reply=false", "traffic-direction=egress", "ipv4"},
			allow: []string{`{"reply":[false], "dns_query":["example"], "http_method":["GET"], "http_path":["^/api"], "traffic_direction":["EGRESS"], "ip_version":["IPv4"]}`}},
		{name: "unknown flag", terms: []string{"colour=red"}, wantErrStr: `unknown filter "colour"`},
		{name: "no value", terms: []string{"namespace"}, wantErrStr: "want NAME=VALUE"},
		{name: "bad verdict", terms: []string{"verdict=maybe"}, wantErrStr: "unknown verdict"},
		{name: "bad port", terms: []string{"to-port=http"}, wantErrStr: "port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			allow, deny, err := ObserveFilters(tt.terms)
			if tt.wantErrStr != "" {
				require.ErrorContains(t, err, tt.wantErrStr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, len(tt.allow), len(allow), "%v", js(allow))
			for i := range tt.allow {
				require.JSONEq(t, tt.allow[i], js(allow)[i])
			}
			require.Equal(t, len(tt.deny), len(deny), "%v", js(deny))
			for i := range tt.deny {
				require.JSONEq(t, tt.deny[i], js(deny)[i])
			}
		})
	}
}
