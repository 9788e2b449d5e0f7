package profile

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// endpointWindows returns frontend's windows of GET /product/{num} on
// catalog.
func endpointWindows(t *testing.T, s *Store) *endpoint {
	t.Helper()
	p, ok := s.cache.Peek(frontend.Key())
	require.True(t, ok)
	for _, e := range p.state.out.Edges.All() {
		if ep, ok := e.Endpoints.Get("GET /product/{num}"); ok {
			return ep
		}
	}
	t.Fatal("no endpoint GET /product/{num}")
	return nil
}

// TestBlindMinutesTeachNoRate feeds the same traffic (a request and a
// response a second for an hour) three times: whole; with the flows of
// 09:30:20–09:34:40 missing, as a relay gap leaves them; and missing with
// that span reported to Blind. Missing flows drag the rate baseline down;
// reported, they teach nothing: the baseline is the one of the whole
// traffic, and exactly the five minutes overlapping the span are not
// learned.
func TestBlindMinutesTeachNoRate(t *testing.T) {
	gapFrom, gapTo := t0.Add(30*time.Minute+20*time.Second), t0.Add(34*time.Minute+40*time.Second)
	feed := func(s *Store, gap bool) {
		for at := t0; at.Before(t0.Add(time.Hour)); at = at.Add(time.Second) {
			if gap && !at.Before(gapFrom) && !at.After(gapTo) {
				continue
			}
			s.Observe(at, request(frontend, catalog, "GET", "/product/1"))
			s.Observe(at, response(frontend, catalog, "GET", "/product/1", 200, 20*time.Millisecond))
		}
	}
	cfg := Config{LearningPeriod: 20 * time.Minute}

	whole := newStore(t, cfg)
	feed(whole, false)
	missing := newStore(t, cfg)
	feed(missing, true)
	blind := newStore(t, cfg)
	blind.Blind(gapFrom, gapTo)
	feed(blind, true)

	w, m, b := endpointWindows(t, whole), endpointWindows(t, missing), endpointWindows(t, blind)
	require.InDelta(t, 60, w.Requests.Baseline, 1e-9, "a request a second")
	require.Less(t, m.Requests.Baseline, 58.0, "unreported, the blind minutes look quiet and drag the baseline down (still, 25 minutes later)")
	require.InDelta(t, w.Requests.Baseline, b.Requests.Baseline, 1e-9, "reported, the gap leaves the rate baseline unchanged")
	require.Equal(t, w.Requests.Minutes-5, b.Requests.Minutes, "minutes 09:30 to 09:34 overlap the gap: none of them learned")
	require.Equal(t, w.Requests.Minutes, m.Requests.Minutes)
	require.Equal(t, w.Errors.Minutes-5, b.Errors.Minutes, "nor the error share")
	require.Equal(t, 1.0, testutil.ToFloat64(blind.metrics.blind))

	v := blind.Observe(t0.Add(time.Hour), request(frontend, catalog, "GET", "/product/2"))
	require.InDelta(t, 60, v.Baseline.BaselineRatePerMin, 1e-9)
}

// TestBlindOpenSpan: a span reported open (a node unavailable) covers
// every minute from its start until Blind is called again with the same
// start, which closes it.
func TestBlindOpenSpan(t *testing.T) {
	s := newStore(t, Config{})
	from := t0.Add(10*time.Minute + 30*time.Second)
	s.Blind(from, time.Time{})
	for _, m := range []int64{minuteOf(from), minuteOf(from) + 1000} {
		require.True(t, s.blind.covers(m))
	}
	require.False(t, s.blind.covers(minuteOf(from)-1))

	s.Blind(from, from.Add(2*time.Minute))
	require.True(t, s.blind.covers(minuteOf(from)+2))
	require.False(t, s.blind.covers(minuteOf(from)+3), "closed")

	// Only the newest spans are kept; an open one outlives closed ones.
	open := t0.Add(1000 * time.Hour)
	s.Blind(open, time.Time{})
	for i := range 2 * maxBlindSpans {
		at := t0.Add(time.Duration(100+i) * time.Hour)
		s.Blind(at, at)
	}
	require.Len(t, *s.blind.spans.Load(), maxBlindSpans)
	require.True(t, s.blind.covers(minuteOf(open)))
	require.False(t, s.blind.covers(minuteOf(t0.Add(100*time.Hour))), "the oldest closed span was dropped")
	require.True(t, s.blind.covers(minuteOf(t0.Add(time.Duration(100+2*maxBlindSpans-1)*time.Hour))))
}
