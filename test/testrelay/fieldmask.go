package testrelay

import (
	"fmt"
	"strings"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// fieldMask keeps only some paths of a flow, as Hubble applies
// GetFlowsRequest.field_mask.
type fieldMask struct {
	paths [][]protoreflect.FieldDescriptor
}

// newFieldMask checks fm's paths against Flow; nil for no mask.
func newFieldMask(fm *fieldmaskpb.FieldMask) (*fieldMask, error) {
	if len(fm.GetPaths()) == 0 {
		return nil, nil
	}
	m := &fieldMask{}
	root := (&flowpb.Flow{}).ProtoReflect().Descriptor()
	for _, p := range fm.GetPaths() {
		md := root
		var path []protoreflect.FieldDescriptor
		for i, name := range strings.Split(p, ".") {
			if md == nil {
				return nil, fmt.Errorf("field mask path %q: %s is not a message", p, strings.Join(strings.Split(p, ".")[:i], "."))
			}
			fd := md.Fields().ByName(protoreflect.Name(name))
			if fd == nil {
				return nil, fmt.Errorf("field mask path %q: no field %q in %s", p, name, md.FullName())
			}
			path = append(path, fd)
			md = nil
			if fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap() {
				md = fd.Message()
			}
		}
		m.paths = append(m.paths, path)
	}
	return m, nil
}

// apply returns a new flow with only the mask's paths of f.
func (m *fieldMask) apply(f *flowpb.Flow) *flowpb.Flow {
	out := &flowpb.Flow{}
	for _, path := range m.paths {
		copyPath(f.ProtoReflect(), out.ProtoReflect(), path)
	}
	return out
}

func copyPath(src, dst protoreflect.Message, path []protoreflect.FieldDescriptor) {
	fd := path[0]
	if !src.Has(fd) {
		return
	}
	if len(path) == 1 {
		dst.Set(fd, src.Get(fd))
		return
	}
	copyPath(src.Get(fd).Message(), dst.Mutable(fd).Message(), path[1:])
}
