package testrelay

import (
	"fmt"
	"strings"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	ciliummask "github.com/cilium/cilium/pkg/hubble/parser/fieldmask"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// fieldMask keeps only some paths of a flow with Hubble's own code
// (Cilium v1.20.2, pkg/hubble/parser/fieldmask), used as Hubble's local
// observer uses it: one flow per stream, reused for every flow sent, its
// nested messages allocated in advance. So a client sees what Hubble would
// send, quirks included: a nested path gives every flow its (empty)
// parent messages, and a oneof branch a flow lacks keeps the previous
// flow's value.
type fieldMask struct {
	mask ciliummask.FieldMask
	flow *flowpb.Flow
}

// newFieldMask checks fm's paths against Flow, saying which is wrong;
// nil for no mask.
func newFieldMask(fm *fieldmaskpb.FieldMask) (*fieldMask, error) {
	if len(fm.GetPaths()) == 0 {
		return nil, nil
	}
	root := (&flowpb.Flow{}).ProtoReflect().Descriptor()
	for _, p := range fm.GetPaths() {
		md := root
		for i, name := range strings.Split(p, ".") {
			if md == nil {
				return nil, fmt.Errorf("field mask path %q: %s is not a message", p, strings.Join(strings.Split(p, ".")[:i], "."))
			}
			fd := md.Fields().ByName(protoreflect.Name(name))
			if fd == nil {
				return nil, fmt.Errorf("field mask path %q: no field %q in %s", p, name, md.FullName())
			}
			md = nil
			if fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap() {
				md = fd.Message()
			}
		}
	}
	mask, err := ciliummask.New(fm)
	if err != nil {
		return nil, fmt.Errorf("field mask %v: %w", fm.GetPaths(), err)
	}
	m := &fieldMask{mask: mask, flow: &flowpb.Flow{}}
	mask.Alloc(m.flow.ProtoReflect())
	return m, nil
}

// apply returns the stream's flow holding the mask's paths of f. It is
// valid until the next apply: send it before.
func (m *fieldMask) apply(f *flowpb.Flow) *flowpb.Flow {
	m.mask.Copy(m.flow.ProtoReflect(), f.ProtoReflect())
	return m.flow
}
