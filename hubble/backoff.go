package hubble

import (
	"time"

	"github.com/hubble-sentinel/hubble-sentinel/hubble/backoff"
)

// Default reconnect delays. A retry against a relay that is down costs one
// refused TCP connection, so the ceiling is low: the stream reopens within
// a second of the relay accepting connections again, and a blind spot is
// no longer than it must be.
const (
	DefaultBackoffMin = 100 * time.Millisecond
	DefaultBackoffMax = time.Second
)

// newBackoff returns the reconnect backoff, with the defaults for unset
// bounds.
func newBackoff(lo, hi time.Duration, rand func() float64) *backoff.Backoff {
	if lo <= 0 {
		lo = DefaultBackoffMin
	}
	if hi <= 0 {
		hi = DefaultBackoffMax
	}
	return backoff.New(lo, hi, rand)
}
