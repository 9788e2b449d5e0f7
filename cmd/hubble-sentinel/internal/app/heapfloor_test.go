package app

import (
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// TestHeapFloorYieldsToGOGC: the heap floor runs when it is set, not when
// it is 0, and not when the operator set GOGC (theirs wins).
func TestHeapFloorYieldsToGOGC(t *testing.T) {
	for _, tc := range []struct {
		name  string
		floor int64
		gogc  string
		runs  bool
	}{
		{name: "set", floor: DefaultHeapFloor, runs: true},
		{name: "off", floor: 0},
		{name: "GOGC set", floor: DefaultHeapFloor, gogc: "150"},
		{name: "GOGC off", floor: DefaultHeapFloor, gogc: "off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOGC", tc.gogc)
			o := Options{HeapFloor: tc.floor, Logger: slog.New(slog.DiscardHandler)}
			require.Equal(t, tc.runs, heapFloor(&o, prometheus.NewRegistry()) != nil)
		})
	}
}
