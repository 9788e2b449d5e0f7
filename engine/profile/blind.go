package profile

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// maxBlindSpans bounds the blind spans remembered; the oldest go first. A
// span matters only until the minutes it covers have completed, which is
// within minutes of event time of its report.
const maxBlindSpans = 64

// blindSpans are the event-time minutes in which flows are known to be
// missing (a relay gap, lost events, a node unavailable): a minute that
// overlaps one teaches no rate baseline, because a blind minute looks
// quiet and a replayed backlog looks like a spike. Reads are lock-free
// (they happen when a minute completes, on the flow path); writes copy.
type blindSpans struct {
	mu    sync.Mutex
	spans atomic.Pointer[[]blindSpan]
}

// blindSpan covers minutes from..to inclusive; to is math.MaxInt64 while
// the span is open. start is the reported start, which identifies the span.
type blindSpan struct {
	start    time.Time
	from, to int64
}

// Blind marks the event-time minutes from from to to (inclusive, whole
// minutes) as blind: no request-rate, error-share, drop, fan-out or
// authentication-failure baseline learns a minute that overlaps them.
// Learning of peers, ports, endpoints and domains goes on: a flow seen is
// seen. A zero to leaves the span open (a node unavailable from from on);
// calling Blind again with the same from sets its end. Spans are for every
// workload: which nodes or clusters were blind is not tracked.
func (s *Store) Blind(from, to time.Time) {
	if from.IsZero() && to.IsZero() {
		return
	}
	if from.IsZero() {
		from = to
	}
	sp := blindSpan{start: from, from: minuteOf(from), to: math.MaxInt64}
	if !to.IsZero() {
		sp.to = minuteOf(to)
		if sp.to < sp.from {
			sp.from, sp.to = sp.to, sp.from
		}
	}
	b := &s.blind
	b.mu.Lock()
	defer b.mu.Unlock()
	var spans []blindSpan
	if p := b.spans.Load(); p != nil {
		spans = slices.Clone(*p)
	}
	if i := slices.IndexFunc(spans, func(x blindSpan) bool { return x.start.Equal(from) }); i >= 0 {
		spans[i] = sp
	} else {
		spans = append(spans, sp)
	}
	if len(spans) > maxBlindSpans {
		// Drop the span that ended first; an open one ends last.
		i := 0
		for j, x := range spans {
			if x.to < spans[i].to {
				i = j
			}
		}
		spans = slices.Delete(spans, i, i+1)
	}
	b.spans.Store(&spans)
	s.metrics.blind.Inc()
}

// covers reports whether minute m overlaps a blind span. A nil receiver
// covers nothing.
func (b *blindSpans) covers(m int64) bool {
	if b == nil {
		return false
	}
	p := b.spans.Load()
	if p == nil {
		return false
	}
	for _, x := range *p {
		if m >= x.from && m <= x.to {
			return true
		}
	}
	return false
}

// lesson is how a completed minute may teach a baseline: while the client
// learns, without the anomaly guard; never in a blind minute.
type lesson struct {
	learning bool
	blind    *blindSpans
}

// teaches reports whether completed minute m may teach a baseline.
func (l lesson) teaches(m int64) bool { return !l.blind.covers(m) }
