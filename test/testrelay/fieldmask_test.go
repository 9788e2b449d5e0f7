package testrelay

import (
	"testing"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// TestFieldMaskAsHubble: the demo relay masks flows as Hubble does. Whole
// top-level fields are set or cleared flow by flow; a nested path gives
// every flow its parent message and, through a oneof branch the next flow
// lacks, leaves the previous flow's value in it (Cilium v1.20.2's
// behaviour, which is why hubble.FlowFields names whole fields only).
func TestFieldMaskAsHubble(t *testing.T) {
	httpFlow := &flowpb.Flow{NodeName: "n1", L7: &flowpb.Layer7{Record: &flowpb.Layer7_Http{Http: &flowpb.HTTP{Url: "http://a/secret"}}}}
	tcpFlow := &flowpb.Flow{NodeName: "n2", L4: &flowpb.Layer4{Protocol: &flowpb.Layer4_TCP{TCP: &flowpb.TCP{DestinationPort: 443}}}}
	send := func(m *fieldMask, f *flowpb.Flow) *flowpb.Flow { return proto.Clone(m.apply(f)).(*flowpb.Flow) }

	whole, err := newFieldMask(&fieldmaskpb.FieldMask{Paths: []string{"l7", "l4", "node_name"}})
	require.NoError(t, err)
	require.True(t, proto.Equal(httpFlow, send(whole, httpFlow)))
	require.True(t, proto.Equal(tcpFlow, send(whole, tcpFlow)), "the HTTP record is cleared")

	nested, err := newFieldMask(&fieldmaskpb.FieldMask{Paths: []string{"l7.http.url", "node_name"}})
	require.NoError(t, err)
	require.Equal(t, "http://a/secret", send(nested, httpFlow).GetL7().GetHttp().GetUrl())
	stale := send(nested, tcpFlow)
	require.Equal(t, "n2", stale.GetNodeName())
	require.Equal(t, "http://a/secret", stale.GetL7().GetHttp().GetUrl(), "Hubble leaves the previous flow's HTTP record")

	_, err = newFieldMask(&fieldmaskpb.FieldMask{Paths: []string{"l4.TCP.nope"}})
	require.EqualError(t, err, `field mask path "l4.TCP.nope": no field "nope" in flow.TCP`)
}
