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
		100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond,
		time.Second, time.Second, time.Second, time.Second,
	}, got, "a retry costs one refused connection: a second at most, so the stream is back within a second of the relay")
}
