package hubble

import (
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestResumeState(t *testing.T) {
	a := newFlow(at(1), "a", 80)
	b := newFlow(at(2), "b", 80)
	c := newFlow(at(2), "", 81)     // identified by content
	d := newFlow(at(2), "", 82)     // same time as c, different content
	cCopy := newFlow(at(2), "", 81) // a replayed copy of c
	e := newFlow(at(3), "e", 80)
	early := newFlow(at(1), "early", 80)
	noTime := newFlow(at(0), "t", 80)
	noTime.Time = nil

	type step struct {
		resume bool // open a new, resumed stream before this flow
		flow   *flowpb.Flow
		want   bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{
			name: "first stream delivers everything, even out of order",
			steps: []step{
				{flow: b, want: true}, {flow: a, want: true}, {flow: e, want: true}, {flow: early, want: true},
			},
		},
		{
			name: "resumed stream drops flows before and at the boundary already seen",
			steps: []step{
				{flow: a, want: true}, {flow: b, want: true}, {flow: c, want: true},
				{resume: true, flow: early, want: false},
				{flow: b, want: false}, {flow: cCopy, want: false}, {flow: d, want: true}, {flow: e, want: true},
			},
		},
		{
			name: "a second resume uses the new high-water mark",
			steps: []step{
				{flow: a, want: true}, {flow: b, want: true},
				{resume: true, flow: b, want: false}, {flow: c, want: true},
				{resume: true, flow: b, want: false}, {flow: cCopy, want: false}, {flow: d, want: true},
			},
		},
		{
			name: "resuming before anything was delivered filters nothing",
			steps: []step{
				{resume: true, flow: b, want: true}, {flow: a, want: true},
			},
		},
		{
			name: "flows without time are always delivered",
			steps: []step{
				{flow: b, want: true}, {resume: true, flow: noTime, want: true}, {flow: noTime, want: true},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rs resumeState
			rs.beginStream(false)
			for i, s := range tt.steps {
				if s.resume {
					rs.beginStream(true)
				}
				require.Equal(t, s.want, rs.admit(s.flow), "step %d", i)
			}
		})
	}
}

func TestFlowIdentity(t *testing.T) {
	require.Equal(t, "uuid:x", flowIdentity(newFlow(at(1), "x", 80)))
	require.Equal(t, flowIdentity(newFlow(at(1), "", 80)), flowIdentity(newFlow(at(1), "", 80)))
	require.NotEqual(t, flowIdentity(newFlow(at(1), "", 80)), flowIdentity(newFlow(at(1), "", 81)))
}

// TestResumeStateUnusableTimes: a zero or out-of-range time neither panics
// nor moves the high-water mark; such flows are always delivered.
func TestResumeStateUnusableTimes(t *testing.T) {
	zero := newFlow(at(0), "zero", 80)
	zero.Time = timestamppb.New(time.Time{})
	invalid := newFlow(at(0), "invalid", 80)
	invalid.Time = &timestamppb.Timestamp{Seconds: 1, Nanos: -5}
	for _, first := range []*flowpb.Flow{zero, invalid} {
		var r resumeState
		r.beginStream(false)
		require.True(t, r.admit(first))
		require.True(t, r.admit(first), "delivered again: it cannot be placed in time")
		require.True(t, r.since().IsZero())
		r.beginStream(true)
		require.True(t, r.admit(first))
	}
}

func FuzzResumeAdmit(f *testing.F) {
	f.Add(int64(0), int32(0), "a", int64(-62135596800), int32(0), "b", true)
	f.Add(int64(1), int32(5), "", int64(1), int32(5), "", false)
	f.Fuzz(func(t *testing.T, s1 int64, n1 int32, u1 string, s2 int64, n2 int32, u2 string, resume bool) {
		var r resumeState
		r.beginStream(false)
		a := &flowpb.Flow{Uuid: u1, Time: &timestamppb.Timestamp{Seconds: s1, Nanos: n1}}
		b := &flowpb.Flow{Uuid: u2, Time: &timestamppb.Timestamp{Seconds: s2, Nanos: n2}}
		r.admit(a)
		r.beginStream(resume)
		r.admit(b)
		r.admit(a)
	})
}
