package hubble

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestReconnectBackoffDefaults(t *testing.T) {
	b := newBackoff(0, 0, func() float64 { return 1 })
	var got []time.Duration
	for range 8 {
		got = append(got, b.Next())
	}
	require.Equal(t, []time.Duration{
		time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second,
		32 * time.Second, time.Minute, time.Minute,
	}, got, "one second to one minute, as Cilium's relay client backs off")
}
