package hubble

import (
	"fmt"
	"slices"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// FlowFields are the Flow fields hubble-sentinel reads: what the engine
// measures (engine/facts: time, sides, names, L4, direction, verdict, drop
// reason, L7), what the bundled policies read of the flow itself
// (node_name, auth_type, IP.encrypted, traffic_direction,
// trace_observation_point, event_type), and what the Client reads to drop
// replays and to sample (uuid and, without one, node_name, time, IP, l4,
// verdict and event_type; Type, l7). A test in
// cmd/hubble-sentinel/internal/app proves the list complete: every flow of
// the real captures and of the simulated shop measures, profiles, judges
// and alerts the same masked as whole.
//
// Every path is a whole top-level field, on purpose: Hubble (Cilium
// v1.20.2, pkg/hubble/parser/fieldmask) copies a masked flow into one
// reused Flow, allocates every message on a nested path in advance, and
// skips a oneof branch the flow does not have, so a nested path such as
// l7.http.url would give every flow an empty l7 and leave the previous
// flow's HTTP record in a flow without one. A whole field is set or
// cleared on every flow.
//
// What is left out: Summary, source_names, the policies that allowed or
// denied the flow (egress_allowed_by, …), node_labels, ethernet,
// interface, services, trace_context, socket and cgroup ids, file,
// aggregate, extensions and the rest Hubble adds (see README, The flow
// stream, for the bytes saved).
var FlowFields = []string{
	"time", "uuid", "verdict", "drop_reason_desc", "auth_type",
	"IP", "l4", "source", "destination", "Type", "node_name",
	"destination_names", "l7", "reply", "is_reply",
	"event_type", "traffic_direction", "trace_observation_point",
}

// FieldMask returns the field mask of FlowFields and extra, more top-level
// Flow fields (those custom policies read), each once. An unknown field is
// an error naming it.
func FieldMask(extra ...string) (*fieldmaskpb.FieldMask, error) {
	paths := slices.Clone(FlowFields)
	fields := (&flowpb.Flow{}).ProtoReflect().Descriptor().Fields()
	for _, f := range extra {
		if fields.ByName(protoreflect.Name(f)) == nil {
			return nil, fmt.Errorf("field mask: flow has no field %q", f)
		}
		if !slices.Contains(paths, f) {
			paths = append(paths, f)
		}
	}
	fm := &fieldmaskpb.FieldMask{Paths: paths}
	if !fm.IsValid(&flowpb.Flow{}) {
		return nil, fmt.Errorf("field mask %v is not valid for flow.Flow", paths)
	}
	return fm, nil
}
