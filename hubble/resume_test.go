package hubble

import (
	"testing"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/stretchr/testify/require"
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
