package input

import (
	"strings"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/open-policy-agent/opa/v1/ast"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// typedGetters read the flow fields the bundled policies' guards, keys
// and markers read of every flow through the generated Go getters rather
// than protobuf reflection, as flowGetter (their value) and flowPresence
// (their presence, keyed with a leading "?") read them: a proto3 scalar
// is there when it is not zero, a message when it is set.
// TestLazyAtIsTheDocuments holds them to the document.
var typedGetters = func() map[string]getter {
	m := map[string]getter{}
	enum := func(path string, of func(f *flowpb.Flow) protoreflect.EnumNumber) {
		fd, fp := fieldAt(path)
		m[path] = func(l *Lazy) *ast.Term {
			n := of(l.f)
			if n == 0 {
				return nil
			}
			if t, ok := fp.enums[n]; ok {
				return t
			}
			return l.c.term(l.c.scalarValue(fp, fd, protoreflect.ValueOfEnum(n)))
		}
	}
	enum("verdict", func(f *flowpb.Flow) protoreflect.EnumNumber { return protoreflect.EnumNumber(f.GetVerdict()) })
	enum("traffic_direction", func(f *flowpb.Flow) protoreflect.EnumNumber {
		return protoreflect.EnumNumber(f.GetTrafficDirection())
	})
	enum("drop_reason_desc", func(f *flowpb.Flow) protoreflect.EnumNumber { return protoreflect.EnumNumber(f.GetDropReasonDesc()) })
	enum("auth_type", func(f *flowpb.Flow) protoreflect.EnumNumber { return protoreflect.EnumNumber(f.GetAuthType()) })
	enum("trace_observation_point", func(f *flowpb.Flow) protoreflect.EnumNumber {
		return protoreflect.EnumNumber(f.GetTraceObservationPoint())
	})
	enum("l7.type", func(f *flowpb.Flow) protoreflect.EnumNumber { return protoreflect.EnumNumber(f.GetL7().GetType()) })

	flag := func(path string, of func(f *flowpb.Flow) bool) {
		m[path] = func(l *Lazy) *ast.Term {
			if !of(l.f) {
				return nil // false is not there
			}
			return there
		}
	}
	for _, name := range []string{"SYN", "ACK", "FIN", "RST", "PSH", "URG"} {
		flag("l4.TCP.flags."+name, func(f *flowpb.Flow) bool {
			fl := f.GetL4().GetTCP().GetFlags()
			switch name {
			case "SYN":
				return fl.GetSYN()
			case "ACK":
				return fl.GetACK()
			case "FIN":
				return fl.GetFIN()
			case "RST":
				return fl.GetRST()
			case "PSH":
				return fl.GetPSH()
			}
			return fl.GetURG()
		})
	}
	flag("IP.encrypted", func(f *flowpb.Flow) bool { return f.GetIP().GetEncrypted() })

	m["node_name"] = func(l *Lazy) *ast.Term {
		if l.f.GetNodeName() == "" {
			return nil
		}
		return l.c.term(scalarValue(nodeNameField, protoreflect.ValueOfString(l.f.GetNodeName())))
	}
	m["event_type.type"] = func(l *Lazy) *ast.Term {
		if t := l.f.GetEventType().GetType(); t != 0 {
			return l.c.int(int64(t))
		}
		return nil
	}
	m["l7.dns.rcode"] = func(l *Lazy) *ast.Term {
		if r := l.f.GetL7().GetDns().GetRcode(); r != 0 {
			return l.c.int(int64(r))
		}
		return nil
	}
	m["is_reply"] = func(l *Lazy) *ast.Term {
		if r := l.f.GetIsReply(); r != nil {
			return ast.InternedTerm(r.GetValue())
		}
		return nil
	}

	present := func(path string, of func(f *flowpb.Flow) bool) {
		m["?"+path] = func(l *Lazy) *ast.Term { return thereIf(of(l.f)) }
	}
	present("l7", func(f *flowpb.Flow) bool { return f.GetL7() != nil })
	present("l7.http", func(f *flowpb.Flow) bool { return f.GetL7().GetHttp() != nil })
	present("l7.dns", func(f *flowpb.Flow) bool { return f.GetL7().GetDns() != nil })
	present("l7.kafka", func(f *flowpb.Flow) bool { return f.GetL7().GetKafka() != nil })
	for path, g := range m {
		if !strings.HasPrefix(path, "?") {
			if _, ok := m["?"+path]; !ok {
				m["?"+path] = presenceFrom(g)
			}
		}
	}
	return m
}()

var nodeNameField, _ = fieldAt("node_name")

// fieldAt is the descriptor and plan of the Flow field at path (dotted
// names, down plain messages); it panics on a path that is none, a
// mistake in the table above.
func fieldAt(path string) (protoreflect.FieldDescriptor, *fieldPlan) {
	fds, rest, ok := flowFields(strings.Split(path, "."))
	if fds == nil || !ok || rest != nil {
		panic("input: no flow field " + path)
	}
	return fds[len(fds)-1], fieldPlanOf(fds[len(fds)-1])
}

// presenceFrom is the presence getter of a value getter: nil, false or
// there as the value is undefined, false or anything else.
func presenceFrom(value getter) getter {
	return func(l *Lazy) *ast.Term {
		t := value(l)
		if t == nil || t.Value.Compare(ast.Boolean(false)) == 0 {
			return t
		}
		return there
	}
}
