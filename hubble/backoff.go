package hubble

import "time"

// Default reconnect delays: quick enough to recover from a relay restart,
// slow enough not to hammer a relay that is down for good.
const (
	DefaultBackoffMin = time.Second
	DefaultBackoffMax = time.Minute
)

// backoff computes reconnect delays: exponential growth from min, capped at
// max, with full jitter so that many sentinels do not reconnect in lockstep.
// It is not safe for concurrent use; each Run owns one.
type backoff struct {
	min, max time.Duration
	// rand returns a float in [0, 1); injected so tests are deterministic.
	rand    func() float64
	attempt int
}

func newBackoff(lo, hi time.Duration, rand func() float64) *backoff {
	if lo <= 0 {
		lo = DefaultBackoffMin
	}
	if hi <= 0 {
		hi = DefaultBackoffMax
	}
	if hi < lo {
		hi = lo
	}
	return &backoff{min: lo, max: hi, rand: rand}
}

// ceiling is the upper bound of the delay for the current attempt:
// min·2^attempt, capped at max without overflowing.
func (b *backoff) ceiling() time.Duration {
	c := b.min
	for range b.attempt {
		if c >= b.max/2 {
			return b.max
		}
		c *= 2
	}
	return min(c, b.max)
}

// Next returns the delay before the next attempt, uniformly drawn from
// [min, ceiling], and advances the attempt counter. The floor at min keeps a
// failing relay from being retried in a tight loop when the jitter draws 0.
func (b *backoff) Next() time.Duration {
	c := b.ceiling()
	b.attempt++
	return b.min + time.Duration(b.rand()*float64(c-b.min))
}

// Reset starts over from min; called once a stream has delivered something,
// so a relay that was healthy for a while is retried quickly.
func (b *backoff) Reset() { b.attempt = 0 }
