// Package backoff computes the exponential, jittered retry delays shared by the Hubble stream and the Alertmanager sender.
package backoff

import "time"

// Delay returns the wait before retry number attempt (counting from 0): a
// point chosen by jitter in [0, 1] between min and the ceiling
// min·2^attempt, capped at max. Full jitter spreads many sentinels that
// failed together; the floor at min keeps a draw of 0 from retrying in a
// tight loop.
func Delay(attempt int, minD, maxD time.Duration, jitter float64) time.Duration {
	maxD = max(maxD, minD)
	return minD + time.Duration(jitter*float64(ceiling(attempt, minD, maxD)-minD))
}

// ceiling is min·2^attempt, capped at max without overflowing.
func ceiling(attempt int, minD, maxD time.Duration) time.Duration {
	c := minD
	for range attempt {
		if c >= maxD/2 {
			return maxD
		}
		c *= 2
	}
	return min(c, maxD)
}

// Backoff counts attempts and hands out their delays. It is not safe for
// concurrent use; each retry loop owns one.
type Backoff struct {
	minD, maxD time.Duration
	rand       func() float64
	attempt    int
}

// New returns a Backoff from min to max (max below min is raised to min),
// drawing jitter from rand, which returns values in [0, 1) and is injected
// so tests are deterministic.
func New(minD, maxD time.Duration, rand func() float64) *Backoff {
	return &Backoff{minD: minD, maxD: max(maxD, minD), rand: rand}
}

// Next returns the delay before the next attempt and counts it.
func (b *Backoff) Next() time.Duration {
	d := Delay(b.attempt, b.minD, b.maxD, b.rand())
	b.attempt++
	return d
}

// Reset starts over from min, for a peer that was healthy again for a
// while.
func (b *Backoff) Reset() { b.attempt = 0 }
