package hubble

import (
	"encoding/binary"
	"encoding/hex"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	flowpb "github.com/cilium/cilium/api/v1/flow"
)

// DefaultDedupSize is how many recent flows the Client remembers to drop
// replays. It must hold every flow of the resume overlap: 262,144 covers
// five seconds at 50,000 flows/s, in 10 MiB.
const DefaultDedupSize = 1 << 18

// flowKey identifies a flow for deduplication: the 16 bytes of its UUID,
// or, for a flow without one (Cilium < 1.15), a hash of what tells two
// flows apart, with the last byte marking it as a hash.
type flowKey [16]byte

const hashKeyMark = 0xff

// keyOf returns f's key. The hash covers node, time, addresses, ports,
// verdict, event type and the L7 record type: a replayed copy of a flow
// without a UUID has all of them equal, and two distinct flows rarely do.
func keyOf(f *flowpb.Flow) flowKey {
	var k flowKey
	if u := f.GetUuid(); u != "" {
		if parseUUID(u, &k) {
			return k
		}
		h := xxhash.Sum64String(u)
		binary.LittleEndian.PutUint64(k[:8], h)
		binary.LittleEndian.PutUint64(k[8:], h^0x9e3779b97f4a7c15)
		k[15] = hashKeyMark - 1
		return k
	}
	d := xxhash.New()
	var buf [8]byte
	put := func(v uint64) {
		binary.LittleEndian.PutUint64(buf[:], v)
		_, _ = d.Write(buf[:])
	}
	str := func(s string) {
		put(uint64(len(s)))
		_, _ = d.WriteString(s)
	}
	str(f.GetNodeName())
	put(uint64(f.GetTime().GetSeconds()))
	put(uint64(f.GetTime().GetNanos()))
	str(f.GetIP().GetSource())
	str(f.GetIP().GetDestination())
	sp, dp := ports(f)
	put(uint64(sp)<<32 | uint64(dp))
	put(uint64(f.GetVerdict()))
	put(uint64(f.GetEventType().GetType())<<32 | uint64(uint32(f.GetEventType().GetSubType())))
	put(uint64(f.GetType())<<32 | uint64(f.GetL7().GetType()))
	put(uint64(f.GetTrafficDirection())<<8 | boolBit(f.GetIsReply().GetValue()))
	h := d.Sum64()
	binary.LittleEndian.PutUint64(k[:8], h)
	// A second, independent word makes an accidental collision within the
	// set negligible (64 bits over a few hundred thousand keys).
	str(f.GetSource().GetPodName())
	str(f.GetDestination().GetPodName())
	binary.LittleEndian.PutUint64(k[8:], d.Sum64())
	k[15] = hashKeyMark
	return k
}

func boolBit(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func ports(f *flowpb.Flow) (src, dst uint32) {
	l4 := f.GetL4()
	switch {
	case l4.GetTCP() != nil:
		return l4.GetTCP().GetSourcePort(), l4.GetTCP().GetDestinationPort()
	case l4.GetUDP() != nil:
		return l4.GetUDP().GetSourcePort(), l4.GetUDP().GetDestinationPort()
	case l4.GetSCTP() != nil:
		return l4.GetSCTP().GetSourcePort(), l4.GetSCTP().GetDestinationPort()
	case l4.GetICMPv4() != nil:
		return l4.GetICMPv4().GetType(), l4.GetICMPv4().GetCode()
	case l4.GetICMPv6() != nil:
		return l4.GetICMPv6().GetType(), l4.GetICMPv6().GetCode()
	}
	return 0, 0
}

// parseUUID decodes a canonical 36-character UUID into k.
func parseUUID(s string, k *flowKey) bool {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return false
	}
	var hexDigits [32]byte
	n := 0
	for i := 0; i < len(s); i++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			continue
		}
		hexDigits[n] = s[i]
		n++
	}
	// A hash key equals a UUID key only if all 16 bytes do, which is as
	// unlikely as any other collision.
	_, err := hex.Decode(k[:], hexDigits[:])
	return err == nil
}

// slot is one remembered flow. Its layout is the position file's record
// format (little-endian, 40 bytes): seq is written last, so a record with a
// non-zero seq is whole even if the process died while writing the next.
type slot struct {
	seq  uint64
	nano int64 // flow time, Unix nanoseconds; 0 when the flow had none
	node uint64
	key  flowKey
}

const slotSize = 40

// nodeState is what the Client knows of one node's flows.
type nodeState struct {
	name string
	// hw is the newest flow time delivered from the node.
	hw time.Time
	// rate is the node's flow rate in flows per second of event time, an
	// exponentially weighted average, to estimate what a gap lost.
	rate   float64
	n      int
	rateAt time.Time
}

// maxNodes bounds the per-node state: far above any cluster's node count,
// and the state is tiny.
const maxNodes = 1 << 16

// recentSet remembers the most recent flows delivered, to drop the copies a
// resumed stream replays, and each node's newest flow time, to resume and
// to measure gaps. It is a ring of slots, in memory or in a memory-mapped
// position file, indexed by a map; it is not safe for concurrent use.
type recentSet struct {
	slots []slot
	// index holds the keys of the records up to seq indexed, and may hold
	// some since overwritten (flows delivered all the same), up to twice
	// as many as the slots. It is brought up to date when admit asks, not
	// by record: a stream asks only about flows that may be replays of an
	// earlier stream's, so a stream that has caught up pays no map
	// operation per flow.
	index   map[flowKey]struct{}
	indexed uint64
	next    uint64 // seq of the next record, from 1
	// hw is the newest flow time delivered.
	hw time.Time
	// horizon is the newest time among forgotten (evicted) flows: a flow
	// at or before it cannot be checked against the set.
	horizon time.Time
	nodes   map[uint64]*nodeState
}

// newRecentSet returns a set over slots, which may hold records from an
// earlier run (a restored position file).
func newRecentSet(slots []slot) *recentSet {
	r := &recentSet{slots: slots, next: 1, nodes: map[uint64]*nodeState{}}
	var oldest time.Time
	full := true
	type nodeSpan struct {
		first time.Time
		n     int
	}
	spans := map[uint64]*nodeSpan{}
	for i := range slots {
		s := &slots[i]
		seq := atomic.LoadUint64(&s.seq)
		if seq == 0 {
			full = false
			continue
		}
		r.next = max(r.next, seq+1)
		if s.nano == 0 {
			continue
		}
		t := time.Unix(0, s.nano).UTC()
		if oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
		if t.After(r.hw) {
			r.hw = t
		}
		ns := r.node(s.node, "")
		if t.After(ns.hw) {
			ns.hw = t
		}
		sp := spans[s.node]
		if sp == nil {
			sp = &nodeSpan{first: t}
			spans[s.node] = sp
		}
		sp.n++
		if t.Before(sp.first) {
			sp.first = t
		}
	}
	for id, sp := range spans {
		ns := r.nodes[id]
		if d := ns.hw.Sub(sp.first).Seconds(); d > 0 {
			ns.rate = float64(sp.n) / d
		}
		ns.rateAt = ns.hw
	}
	if full && len(slots) > 0 && r.next > 1 {
		// Older records than those kept were overwritten.
		r.horizon = oldest
	}
	return r
}

// restored reports whether the set holds records from an earlier run.
func (r *recentSet) restored() bool { return r.next > 1 }

func (r *recentSet) node(id uint64, name string) *nodeState {
	ns := r.nodes[id]
	if ns == nil {
		if len(r.nodes) >= maxNodes {
			clear(r.nodes)
		}
		ns = &nodeState{}
		r.nodes[id] = ns
	}
	if ns.name == "" {
		ns.name = name
	}
	return ns
}

// verdict says what admit decided.
type verdict int

const (
	admitNew verdict = iota
	// dropSeen: the flow is in the set.
	dropSeen
	// dropStale: the flow is older than what the set remembers, and its
	// node has delivered newer flows: a replay from beyond the window.
	dropStale
)

// admit decides whether f is new; record it once handed on. Flows are not
// dropped for arriving late or out of order: only their key decides, so a
// slow node's flow older than the resume point is kept when it is new.
func (r *recentSet) admit(f *flowpb.Flow, k flowKey, node uint64, t time.Time) verdict {
	r.catchUp()
	if _, seen := r.index[k]; seen {
		return dropSeen
	}
	if !t.IsZero() && !r.horizon.IsZero() && !t.After(r.horizon) {
		if ns := r.nodes[node]; ns != nil && !t.After(ns.hw) {
			return dropStale
		}
	}
	return admitNew
}

// catchUp adds the records made since the index was last brought up to
// date, or rebuilds it from the slots when that is as cheap or it holds
// too many overwritten keys.
func (r *recentSet) catchUp() {
	n := uint64(len(r.slots))
	last := r.next - 1
	if n == 0 || r.indexed == last {
		return
	}
	if r.index != nil && last-r.indexed < n {
		for seq := r.indexed + 1; seq <= last; seq++ {
			if s := r.slotOf(seq); atomic.LoadUint64(&s.seq) == seq {
				r.index[s.key] = struct{}{}
			}
		}
		r.indexed = last
		if uint64(len(r.index)) <= 2*n {
			return
		}
	}
	r.index = make(map[flowKey]struct{}, n)
	for i := range r.slots {
		if s := &r.slots[i]; atomic.LoadUint64(&s.seq) != 0 {
			r.index[s.key] = struct{}{}
		}
	}
	r.indexed = last
}

// slotOf is the slot record seq is written to (slots must not be empty).
func (r *recentSet) slotOf(seq uint64) *slot {
	return &r.slots[(seq-1)%uint64(len(r.slots))]
}

// record remembers a delivered flow, evicting the oldest record when full.
func (r *recentSet) record(k flowKey, node uint64, t time.Time, name string) {
	if len(r.slots) > 0 {
		s := r.slotOf(r.next)
		if old := atomic.LoadUint64(&s.seq); old != 0 {
			if s.nano != 0 {
				if ot := time.Unix(0, s.nano).UTC(); ot.After(r.horizon) {
					r.horizon = ot
				}
			}
		}
		// Invalidate, fill, then validate: a process killed in between
		// leaves a record that a restart ignores, never a torn one.
		atomic.StoreUint64(&s.seq, 0)
		s.key, s.node = k, node
		s.nano = 0
		if !t.IsZero() {
			s.nano = t.UnixNano()
		}
		atomic.StoreUint64(&s.seq, r.next)
	}
	r.next++
	if t.IsZero() {
		return
	}
	if t.After(r.hw) {
		r.hw = t
	}
	ns := r.node(node, name)
	if t.After(ns.hw) {
		ns.hw = t
	}
	ns.n++
	if ns.rateAt.IsZero() {
		ns.rateAt = t
	} else if d := t.Sub(ns.rateAt); d >= time.Second {
		inst := float64(ns.n) / d.Seconds()
		if ns.rate == 0 {
			ns.rate = inst
		} else {
			ns.rate = 0.7*ns.rate + 0.3*inst
		}
		ns.n, ns.rateAt = 0, t
	}
}

// rate estimates a node's flow rate (flows per second of event time) just
// before t from the flows the set remembers, over at most ten seconds: the
// rate of the moment, which the flows missed right after most likely kept.
// A scan of the set, for the rare moment a gap is found.
func (r *recentSet) rate(node uint64, t time.Time) float64 {
	from := t.Add(-10 * time.Second)
	oldest := t
	n := 0
	for i := range r.slots {
		s := &r.slots[i]
		if atomic.LoadUint64(&s.seq) == 0 || s.node != node || s.nano == 0 {
			continue
		}
		st := time.Unix(0, s.nano)
		if st.Before(from) || st.After(t) {
			continue
		}
		n++
		if st.Before(oldest) {
			oldest = st
		}
	}
	if span := t.Sub(oldest).Seconds(); n > 1 && span > 0 {
		return float64(n-1) / span
	}
	if ns := r.nodes[node]; ns != nil {
		return ns.rate
	}
	return 0
}

// nodeID names a node compactly for the set.
func nodeID(name string) uint64 { return xxhash.Sum64String(name) }

// flowTime returns f's time, or the zero time when it has none usable (no
// time, out of range, or 0001-01-01): such a flow cannot be placed in time.
func flowTime(f *flowpb.Flow) time.Time {
	ts := f.GetTime()
	if ts == nil || ts.CheckValid() != nil {
		return time.Time{}
	}
	t := ts.AsTime()
	if t.IsZero() || t.Unix() <= 0 {
		return time.Time{}
	}
	return t
}
