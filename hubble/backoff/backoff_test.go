package backoff

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fixedRand returns the same draw every time.
func fixedRand(v float64) func() float64 { return func() float64 { return v } }

func TestBackoff(t *testing.T) {
	tests := []struct {
		name     string
		min, max time.Duration
		rand     float64
		want     []time.Duration
	}{
		{
			name: "zero jitter stays at min",
			min:  time.Second, max: time.Minute, rand: 0,
			want: []time.Duration{time.Second, time.Second, time.Second, time.Second},
		},
		{
			name: "full draw follows the doubling ceiling up to max",
			min:  time.Second, max: 10 * time.Second, rand: 1,
			want: []time.Duration{
				time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second,
				10 * time.Second, 10 * time.Second,
			},
		},
		{
			name: "half draw lies halfway between min and the ceiling",
			min:  time.Second, max: time.Minute, rand: 0.5,
			want: []time.Duration{
				time.Second, 1500 * time.Millisecond, 2500 * time.Millisecond, 4500 * time.Millisecond,
			},
		},
		{
			name: "max below min is raised to min",
			min:  time.Second, max: time.Millisecond, rand: 1,
			want: []time.Duration{time.Second, time.Second},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New(tt.min, tt.max, fixedRand(tt.rand))
			var got []time.Duration
			for range tt.want {
				got = append(got, b.Next())
			}
			require.Equal(t, tt.want, got)
		})
	}
}

func TestBackoffStaysWithinBoundsAndResets(t *testing.T) {
	draws := []float64{0.9, 0.1, 0.99, 0, 0.5, 0.75}
	i := 0
	b := New(10*time.Millisecond, time.Second, func() float64 {
		v := draws[i%len(draws)]
		i++
		return v
	})
	for range 200 { // far past the point where min·2^n overflows
		d := b.Next()
		require.GreaterOrEqual(t, d, 10*time.Millisecond)
		require.LessOrEqual(t, d, time.Second)
	}
	b.Reset()
	require.Equal(t, 10*time.Millisecond, b.Next(), "the first delay after a reset is min")
}

func TestDelay(t *testing.T) {
	const (
		minD = 500 * time.Millisecond
		maxD = 30 * time.Second
	)
	for _, tc := range []struct {
		name       string
		attempt    int
		minD, maxD time.Duration
		jitter     float64
		want       time.Duration
	}{
		{name: "first retry is min", attempt: 0, minD: minD, maxD: maxD, jitter: 0.99, want: minD},
		{name: "zero draw stays at min", attempt: 3, minD: minD, maxD: maxD, jitter: 0, want: minD},
		{name: "doubles, jittered", attempt: 3, minD: minD, maxD: maxD, jitter: 0.5, want: 2250 * time.Millisecond},
		{name: "doubles, top", attempt: 3, minD: minD, maxD: maxD, jitter: 1, want: 4 * time.Second},
		{name: "capped, top", attempt: 6, minD: minD, maxD: maxD, jitter: 1, want: maxD},
		{name: "huge attempt does not overflow", attempt: 1 << 20, minD: minD, maxD: maxD, jitter: 1, want: maxD},
		{name: "min equals max", attempt: 5, minD: time.Second, maxD: time.Second, jitter: 0.7, want: time.Second},
		{name: "max below min is min", attempt: 5, minD: time.Second, maxD: time.Millisecond, jitter: 1, want: time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, Delay(tc.attempt, tc.minD, tc.maxD, tc.jitter))
		})
	}
}
