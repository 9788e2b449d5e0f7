package hubble

import (
	"time"

	"github.com/hubble-sentinel/hubble-sentinel/hubble/backoff"
)

// Default reconnect delays: quick enough to recover from a relay restart,
// slow enough not to hammer a relay that is down for good.
const (
	DefaultBackoffMin = time.Second
	DefaultBackoffMax = time.Minute
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
