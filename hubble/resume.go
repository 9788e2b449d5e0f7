package hubble

import (
	"crypto/sha256"
	"fmt"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"google.golang.org/protobuf/proto"
)

// resumeState lets a reconnecting Client ask the relay for the flows it
// missed without delivering any flow twice. The relay's Since is inclusive,
// so a resumed stream starts with flows the Client has already seen at the
// boundary timestamp; resumeState remembers which ones.
type resumeState struct {
	// last is the newest flow time delivered so far (the high-water mark).
	last time.Time
	// atLast holds the identities of the flows delivered at exactly last.
	atLast map[string]struct{}

	// Boundary of the current stream, copied from last/atLast when a
	// resumed stream is opened. Zero boundary means "first stream, no
	// filtering": flows of a live stream are not dropped for arriving out of
	// order.
	boundary     time.Time
	atBoundary   map[string]struct{}
	filterStream bool
}

// since returns the time to resume from, or the zero time if nothing has been
// delivered yet.
func (r *resumeState) since() time.Time { return r.last }

// beginStream prepares for a new stream. When resuming, flows before the
// high-water mark, and flows at it that were already delivered, are dropped.
func (r *resumeState) beginStream(resuming bool) {
	r.filterStream = resuming && !r.last.IsZero()
	if !r.filterStream {
		r.boundary, r.atBoundary = time.Time{}, nil
		return
	}
	r.boundary = r.last
	r.atBoundary = make(map[string]struct{}, len(r.atLast))
	for id := range r.atLast {
		r.atBoundary[id] = struct{}{}
	}
}

// admit reports whether f should be delivered and, if so, records it.
// Flows without a usable timestamp (none, out of range, or the zero time
// 0001-01-01T00:00:00Z) cannot be placed in time and are always delivered;
// they never move the high-water mark.
func (r *resumeState) admit(f *flowpb.Flow) bool {
	ts := f.GetTime()
	if ts == nil || ts.CheckValid() != nil || ts.AsTime().IsZero() {
		return true
	}
	t := ts.AsTime()
	var id string
	if r.filterStream {
		if t.Before(r.boundary) {
			return false
		}
		if t.Equal(r.boundary) {
			id = flowIdentity(f)
			if _, dup := r.atBoundary[id]; dup {
				return false
			}
		}
	}
	switch {
	case t.After(r.last):
		if id == "" {
			id = flowIdentity(f)
		}
		r.last = t
		clear(r.atLast)
		if r.atLast == nil {
			r.atLast = make(map[string]struct{})
		}
		r.atLast[id] = struct{}{}
	case t.Equal(r.last):
		if id == "" {
			id = flowIdentity(f)
		}
		if r.atLast == nil {
			r.atLast = make(map[string]struct{})
		}
		r.atLast[id] = struct{}{}
	}
	return true
}

// flowIdentity names a flow uniquely: its UUID when the agent set one
// (Cilium ≥ 1.15), else a hash of its deterministic wire encoding, which is
// stable for identical flows within one process.
func flowIdentity(f *flowpb.Flow) string {
	if u := f.GetUuid(); u != "" {
		return "uuid:" + u
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(f)
	if err != nil {
		// Only invalid UTF-8 in a string field makes this fail. An identity
		// that no replayed copy can match errs on the side of delivering a
		// flow twice rather than losing it.
		return fmt.Sprintf("unmarshalable:%p", f)
	}
	sum := sha256.Sum256(b)
	return "sha256:" + string(sum[:])
}
