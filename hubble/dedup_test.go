package hubble

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestKeyOf(t *testing.T) {
	u := "6c1d1e9e-1111-4a43-9d0e-000000000001"
	require.Equal(t, keyOf(newFlow(at(1), u, 80)), keyOf(newFlow(at(2), u, 81)), "a UUID identifies a flow whatever else")
	require.NotEqual(t, keyOf(newFlow(at(1), u, 80)), keyOf(newFlow(at(1), "6c1d1e9e-1111-4a43-9d0e-000000000002", 80)))
	require.Equal(t, keyOf(newFlow(at(1), "not-a-uuid", 80)), keyOf(newFlow(at(1), "not-a-uuid", 80)), "any string UUID works")

	// Without a UUID (Cilium < 1.15): node, time, addresses, ports,
	// verdict and event type.
	base := newFlow(at(1), "", 80)
	require.Equal(t, keyOf(base), keyOf(newFlow(at(1), "", 80)), "a replayed copy")
	for name, change := range map[string]func(*flowpb.Flow){
		"time":    func(f *flowpb.Flow) { f.Time = timestamppb.New(at(1).Add(time.Nanosecond)) },
		"node":    func(f *flowpb.Flow) { f.NodeName = "node-2" },
		"port":    func(f *flowpb.Flow) { f.L4.GetTCP().DestinationPort = 81 },
		"address": func(f *flowpb.Flow) { f.IP.Destination = "10.0.0.3" },
		"verdict": func(f *flowpb.Flow) { f.Verdict = flowpb.Verdict_DROPPED },
		"event":   func(f *flowpb.Flow) { f.EventType = &flowpb.CiliumEventType{Type: 129} },
	} {
		f := newFlow(at(1), "", 80)
		change(f)
		require.NotEqual(t, keyOf(base), keyOf(f), name)
	}
}

func TestRecentSet(t *testing.T) {
	admit := func(r *recentSet, f *flowpb.Flow) bool {
		k, node, ts := keyOf(f), nodeID(f.GetNodeName()), flowTime(f)
		if r.admit(f, k, node, ts) != admitNew {
			return false
		}
		r.record(k, node, ts, f.GetNodeName())
		return true
	}
	t.Run("replays are dropped, late new flows kept", func(t *testing.T) {
		r := newRecentSet(make([]slot, 16))
		require.True(t, admit(r, newFlow(at(5), "", 1)))
		require.True(t, admit(r, newFlow(at(6), "", 2)))
		require.False(t, admit(r, newFlow(at(5), "", 1)), "a replay")
		require.True(t, admit(r, newFlow(at(3), "", 3)), "older than the newest, but new: a slow node's")
		require.Equal(t, at(6), r.hw)
	})
	t.Run("beyond the window, a node's replays are dropped by its position", func(t *testing.T) {
		r := newRecentSet(make([]slot, 2))
		for i := range 5 {
			require.True(t, admit(r, newFlow(at(10+i), "", uint32(i))))
		}
		require.Equal(t, at(12), r.horizon, "flows up to 12 s were forgotten")
		require.False(t, admit(r, newFlow(at(11), "", 1)), "forgotten, and older than its node's newest: a replay")
		other := newFlow(at(11), "", 1)
		other.NodeName = "node-2"
		require.True(t, admit(r, other), "another node's flow is new")
	})
	t.Run("flows without a time are always new", func(t *testing.T) {
		r := newRecentSet(make([]slot, 4))
		f := newFlow(at(1), "", 1)
		f.Time = nil
		require.True(t, admit(r, f))
		require.True(t, r.hw.IsZero())
	})
	t.Run("rate from what is remembered", func(t *testing.T) {
		r := newRecentSet(make([]slot, 64))
		for i := range 21 {
			require.True(t, admit(r, newFlow(at(0).Add(time.Duration(i)*100*time.Millisecond), "", uint32(i))))
		}
		require.InDelta(t, 10.0, r.rate(nodeID("node-1"), at(2)), 0.01)
	})
}

func TestPositionFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "position")
	p, err := OpenPosition(path, 8)
	require.NoError(t, err)
	r := newRecentSet(p.slots)
	require.False(t, r.restored())
	for i := range 12 {
		f := newFlow(at(i), "", uint32(i))
		r.record(keyOf(f), nodeID("node-1"), at(i), "node-1")
	}
	// No Close: the mapping is what a SIGKILLed process leaves behind.

	q, err := OpenPosition(path, 8)
	require.NoError(t, err)
	r2 := newRecentSet(q.slots)
	require.True(t, r2.restored())
	require.Equal(t, at(11), r2.hw, "the position survives")
	require.Equal(t, at(4), r2.horizon, "the newest eight are remembered; what was forgotten is unknown, so the oldest remembered bounds it")
	require.Equal(t, dropSeen, r2.admit(newFlow(at(10), "", 10), keyOf(newFlow(at(10), "", 10)), nodeID("node-1"), at(10)))
	require.Equal(t, at(11), r2.nodes[nodeID("node-1")].hw)
	require.NoError(t, q.Close())
	require.NoError(t, p.Close())

	// A different size keeps the newest records.
	s, err := OpenPosition(path, 4)
	require.NoError(t, err)
	r3 := newRecentSet(s.slots)
	require.Equal(t, at(11), r3.hw)
	r3.catchUp()
	require.Len(t, r3.index, 4)
	require.NoError(t, s.Close())

	// Not a position file: moved aside, a fresh one started.
	require.NoError(t, os.WriteFile(path, []byte("garbage"), 0o600))
	f, err := OpenPosition(path, 4)
	require.ErrorIs(t, err, ErrPositionFormat)
	require.NotNil(t, f)
	require.False(t, newRecentSet(f.slots).restored())
	require.NoError(t, f.Close())
	aside, _ := filepath.Glob(path + ".corrupt-*")
	require.Len(t, aside, 1)
}

// TestRecentSetIndexCatchesUp: recording touches no map; admit finds
// every flow the slots remember, however many were recorded since it last
// asked, and the index stays within twice the slots.
func TestRecentSetIndexCatchesUp(t *testing.T) {
	r := newRecentSet(make([]slot, 4))
	flows := make([]*flowpb.Flow, 40)
	for i := range flows {
		flows[i] = newFlow(at(i), "", uint32(i))
	}
	record := func(from, to int) {
		for _, f := range flows[from:to] {
			r.record(keyOf(f), nodeID(f.GetNodeName()), flowTime(f), f.GetNodeName())
		}
	}
	admit := func(i int) verdict {
		f := flows[i]
		return r.admit(f, keyOf(f), nodeID(f.GetNodeName()), flowTime(f))
	}
	record(0, 3)
	require.Nil(t, r.index, "no map while only recording")
	require.Equal(t, dropSeen, admit(1))
	require.Equal(t, admitNew, admit(3))
	record(3, 4)
	require.Equal(t, dropSeen, admit(3), "recorded after the last question")
	for step := 4; step < len(flows); step += 3 {
		record(step, min(step+3, len(flows)))
		for i := max(0, min(step+3, len(flows))-4); i < min(step+3, len(flows)); i++ {
			require.Equal(t, dropSeen, admit(i), "flow %d, in the slots", i)
		}
		require.LessOrEqual(t, len(r.index), 2*len(r.slots))
	}
	require.NotEqual(t, admitNew, admit(0), "long forgotten, older than its node's newest")
}

func FuzzRecentSet(f *testing.F) {
	f.Add(int64(0), int32(0), "a", int64(-62135596800), int32(0), "b")
	f.Add(int64(1), int32(5), "", int64(1), int32(5), "")
	f.Fuzz(func(t *testing.T, s1 int64, n1 int32, u1 string, s2 int64, n2 int32, u2 string) {
		r := newRecentSet(make([]slot, 2))
		for _, fl := range []*flowpb.Flow{
			{Uuid: u1, Time: &timestamppb.Timestamp{Seconds: s1, Nanos: n1}},
			{Uuid: u2, Time: &timestamppb.Timestamp{Seconds: s2, Nanos: n2}},
			{Uuid: u1, Time: &timestamppb.Timestamp{Seconds: s1, Nanos: n1}},
		} {
			k, ts := keyOf(fl), flowTime(fl)
			if r.admit(fl, k, 0, ts) == admitNew {
				r.record(k, 0, ts, "")
			}
		}
	})
}

// TestMayReplay: only a flow no newer than the newest delivered before the
// stream started (or one without a time, or after a stream whose flows had
// none) is looked up in the dedup set; when nothing was delivered before
// the stream started, nothing is, whatever the stream delivered since.
func TestMayReplay(t *testing.T) {
	for _, tc := range []struct {
		name      string
		delivered []time.Time // before the stream started
		during    []time.Time // by the stream, before flow
		flow      time.Time
		want      bool
	}{
		{name: "nothing_delivered", flow: at(5)},
		{name: "delivered_by_this_stream_only", during: []time.Time{at(6), {}}, flow: at(5)},
		{name: "without_time_by_this_stream_only", during: []time.Time{at(6)}},
		{name: "older_than_this_streams", delivered: []time.Time{at(1)}, during: []time.Time{at(6)}, flow: at(5)},
		{name: "newer_than_all", delivered: []time.Time{at(1), at(3)}, flow: at(4)},
		{name: "the_newest", delivered: []time.Time{at(1), at(3)}, flow: at(3), want: true},
		{name: "older", delivered: []time.Time{at(1), at(3)}, flow: at(2), want: true},
		{name: "no_time", delivered: []time.Time{at(1)}, want: true},
		{name: "after_flows_without_time", delivered: []time.Time{{}}, flow: at(9), want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Client{set: newRecentSet(make([]slot, 16))}
			for i, d := range tc.delivered {
				c.set.record(flowKey{byte(i + 1)}, 1, d, "node")
			}
			c.replayUntil, c.replaying = c.set.hw, c.set.restored() // as a stream starting
			for i, d := range tc.during {
				c.set.record(flowKey{byte(i + 101)}, 1, d, "node")
			}
			require.Equal(t, tc.want, c.mayReplay(tc.flow))
		})
	}
}
