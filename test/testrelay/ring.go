package testrelay

import (
	"context"
	"crypto/rand"
	"fmt"
	"sort"
	"sync"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// DefaultRingCapacity is Hubble's default ring buffer size per node.
const DefaultRingCapacity = 4095

// Ring is a Hubble ring buffer: it keeps the newest Cap flows, the oldest
// overwritten as new ones are written, and serves them to GetFlows streams
// with Hubble's semantics (see Server.GetFlows). A Ring outlives the
// Servers that serve it, as an agent's ring outlives a relay restart, so a
// test can kill and restart the relay while flows keep being written.
type Ring struct {
	mu      sync.Mutex
	buf     []*flowpb.Flow
	written uint64 // flows written so far; the next one's position
	// notify is closed and replaced when a flow is written while a
	// follower waits (waiting).
	notify  chan struct{}
	waiting bool
	nodes   map[string]bool
	started time.Time
	// losses are the agents' LostEvents, each at the position of the flow
	// written after it, the newest maxLosses.
	losses []loss
}

// loss is a LostEvent in the ring, served before the flow at pos.
type loss struct {
	pos   uint64
	node  string
	event *flowpb.LostEvent
}

// maxLosses bounds the LostEvents a Ring keeps.
const maxLosses = 64

// NewRing returns an empty ring holding capacity flows (DefaultRingCapacity
// when capacity <= 0).
func NewRing(capacity int) *Ring {
	if capacity <= 0 {
		capacity = DefaultRingCapacity
	}
	return &Ring{buf: make([]*flowpb.Flow, capacity), notify: make(chan struct{}), nodes: map[string]bool{}, started: time.Now()}
}

// Write appends f, overwriting the oldest flow when the ring is full. A
// flow without a UUID gets a random one, as the Cilium agent gives every
// flow. Flows should be written in time order, as an agent does.
func (r *Ring) Write(f *flowpb.Flow) {
	if f.GetUuid() == "" {
		f.Uuid = newUUID()
	}
	r.mu.Lock()
	r.buf[r.written%uint64(len(r.buf))] = f
	r.written++
	if n := f.GetNodeName(); n != "" && !r.nodes[n] && len(r.nodes) < 1024 {
		r.nodes[n] = true
	}
	if r.waiting {
		close(r.notify)
		r.notify = make(chan struct{})
		r.waiting = false
	}
	r.mu.Unlock()
}

// Lose records that node's agent lost n events between first and last, as
// Cilium's agent reports its perf ring overflowing: every stream reading
// past this point gets a LostEvents response from that node, in order
// with the flows.
func (r *Ring) Lose(node string, n uint64, first, last time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.losses = append(r.losses, loss{pos: r.written, node: node, event: &flowpb.LostEvent{
		Source: flowpb.LostEventSource_PERF_EVENT_RING_BUFFER, NumEventsLost: n,
		First: timestamppb.New(first), Last: timestamppb.New(last),
	}})
	if len(r.losses) > maxLosses {
		r.losses = r.losses[len(r.losses)-maxLosses:]
	}
}

// lossesIn returns the losses served before the flows at positions from
// to to-1.
func (r *Ring) lossesIn(from, to uint64) []loss {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []loss
	for _, l := range r.losses {
		if l.pos >= from && l.pos < to {
			out = append(out, l)
		}
	}
	return out
}

// Cap is the ring's capacity.
func (r *Ring) Cap() int { return len(r.buf) }

// Len is the number of flows the ring holds.
func (r *Ring) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return int(min(r.written, uint64(len(r.buf))))
}

// Written is the number of flows written since NewRing.
func (r *Ring) Written() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.written
}

// Nodes returns the names of the nodes whose flows were written, sorted.
func (r *Ring) Nodes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.nodes))
	for n := range r.nodes {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// oldest is the position of the oldest flow held. Callers hold r.mu.
func (r *Ring) oldest() uint64 {
	if r.written > uint64(len(r.buf)) {
		return r.written - uint64(len(r.buf))
	}
	return 0
}

// at returns the flow at position pos, or nil if it is overwritten or not
// written yet. Callers hold r.mu.
func (r *Ring) at(pos uint64) *flowpb.Flow {
	if pos < r.oldest() || pos >= r.written {
		return nil
	}
	return r.buf[pos%uint64(len(r.buf))]
}

// read copies up to len(out) flows from pos on into out. It returns how
// many it copied, and how many flows at pos and after were overwritten
// before they could be read (the reader then continues at the oldest).
func (r *Ring) read(pos uint64, out []*flowpb.Flow) (n int, next uint64, lost uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if old := r.oldest(); pos < old {
		lost, pos = old-pos, old
	}
	for n < len(out) && pos < r.written {
		out[n] = r.buf[pos%uint64(len(r.buf))]
		n++
		pos++
	}
	return n, pos, lost
}

// wait returns a channel closed when a flow is written at or after pos, or
// nil if one already is.
func (r *Ring) wait(pos uint64) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if pos < r.written {
		return nil
	}
	r.waiting = true
	return r.notify
}

// start is where a GetFlows request begins reading, as Hubble's observer
// decides it: the oldest flow for First, the next flow written for a
// Follow without Number or Since, else the newest flows back to Since (the
// flows since then) or back to Number matching flows (the last Number).
// match applies the request's filters.
func (r *Ring) start(first, follow bool, number uint64, since time.Time, match func(*flowpb.Flow) bool) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if first && since.IsZero() {
		return r.oldest()
	}
	if follow && number == 0 && since.IsZero() {
		return r.written
	}
	pos := r.written
	var count uint64
	for pos > r.oldest() {
		f := r.at(pos - 1)
		if !since.IsZero() {
			if t := f.GetTime(); t != nil && t.AsTime().Before(since) {
				break
			}
			pos--
			continue
		}
		pos--
		if !match(f) {
			continue
		}
		count++
		if number > 0 && count == number {
			break
		}
	}
	return pos
}

// flowRate is the rate of flows over the last minute of flow time, or over
// what the ring holds if that is less.
func (r *Ring) flowRate(now time.Time) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	since := now.Add(-time.Minute)
	count := 0
	var oldest time.Time
	for pos := r.written; pos > r.oldest(); pos-- {
		t := r.at(pos - 1).GetTime().AsTime()
		if t.Before(since) {
			oldest = time.Time{}
			break
		}
		oldest = t
		count++
	}
	if !oldest.IsZero() && r.written > uint64(len(r.buf)) {
		since = oldest
	}
	if d := now.Sub(since).Seconds(); d > 0 {
		return float64(count) / d
	}
	return 0
}

// Produce writes n flows made by next into r at rate flows per second of
// wall time (as fast as possible when rate <= 0), until ctx ends. next
// gets the flow's index and its time (now, strictly increasing). It
// returns the number written.
func (r *Ring) Produce(ctx context.Context, n int, rate float64, next func(i int, t time.Time) *flowpb.Flow) int {
	start := time.Now()
	var last time.Time
	// Flows are written in small batches so that a high rate does not
	// need a timer per flow.
	const batch = 64
	for i := 0; n <= 0 || i < n; i++ {
		if i%batch == 0 {
			if rate > 0 {
				due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
				if d := time.Until(due); d > 0 {
					t := time.NewTimer(d)
					select {
					case <-ctx.Done():
						t.Stop()
						return i
					case <-t.C:
					}
				}
			}
			if ctx.Err() != nil {
				return i
			}
		}
		now := time.Now()
		if !now.After(last) {
			now = last.Add(time.Nanosecond)
		}
		last = now
		r.Write(next(i, now))
	}
	return n
}

// newUUID returns a random version-4 UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
