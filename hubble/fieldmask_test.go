package hubble

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFieldMask(t *testing.T) {
	fm, err := FieldMask()
	require.NoError(t, err)
	require.Equal(t, FlowFields, fm.GetPaths())

	fm, err = FieldMask("Summary", "time", "Summary")
	require.NoError(t, err)
	require.Equal(t, append(FlowFields[:len(FlowFields):len(FlowFields)], "Summary"), fm.GetPaths(), "each field once")

	_, err = FieldMask("no_such")
	require.EqualError(t, err, `field mask: flow has no field "no_such"`)
}
