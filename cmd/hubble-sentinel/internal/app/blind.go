package app

import (
	"sync"
	"time"

	"github.com/hubble-sentinel/hubble-sentinel/hubble"
)

// blindBaselines keeps baselines from learning rates over a visibility
// gap (profile.Store.Blind): a blind minute looks quiet, a replayed
// backlog like a spike. A gap with a span is blind over it; Hubble's
// LostEvents without one, around the stream's position; a node
// unavailable, from the position when it was reported until the position
// when it is back. An oversized flow is one flow: no rate notices it.
type blindBaselines struct {
	blind    func(from, to time.Time)
	position func() time.Time // event time of the newest flow seen
	next     hubble.GapObserver

	mu    sync.Mutex
	nodes map[string]time.Time // unavailable node -> start of its open span
}

var _ hubble.GapObserver = (*blindBaselines)(nil)

func (b *blindBaselines) Gap(g hubble.Gap) {
	switch g.Kind {
	case hubble.GapOversized:
	case hubble.GapNodeStatus:
		if g.Reason != "NODE_GONE" {
			b.openNode(g.Source + "/" + g.Node)
		}
	default:
		from, to := g.Start, g.End
		if from.IsZero() && to.IsZero() {
			from = b.position()
			to = from
		}
		if !from.IsZero() || !to.IsZero() {
			b.blind(from, to)
		}
	}
	if b.next != nil {
		b.next.Gap(g)
	}
}

func (b *blindBaselines) NodeRecovered(source, cluster, node string) {
	b.mu.Lock()
	start, ok := b.nodes[source+"/"+node]
	delete(b.nodes, source+"/"+node)
	b.mu.Unlock()
	if ok {
		end := b.position()
		if end.Before(start) {
			end = start
		}
		b.blind(start, end)
	}
	if b.next != nil {
		b.next.NodeRecovered(source, cluster, node)
	}
}

// openNode starts the open span of an unavailable node, once. Each open
// span has its own start (Blind identifies a span by it).
func (b *blindBaselines) openNode(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, open := b.nodes[key]; open {
		return
	}
	start := b.position()
	if start.IsZero() {
		return // nothing seen yet: nothing learned yet
	}
	for taken := true; taken; {
		taken = false
		for _, s := range b.nodes {
			if s.Equal(start) {
				start, taken = start.Add(time.Nanosecond), true
			}
		}
	}
	if b.nodes == nil {
		b.nodes = map[string]time.Time{}
	}
	b.nodes[key] = start
	b.blind(start, time.Time{})
}
