package testrelay

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	observerpb "github.com/cilium/cilium/api/v1/observer"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// honoured lists the FlowFilter fields the test relay evaluates, with
// Hubble's semantics; any other field is refused with InvalidArgument.
var honoured = map[protoreflect.Name]bool{
	"uuid":                 true,
	"source_pod":           true,
	"destination_pod":      true,
	"source_ip":            true,
	"destination_ip":       true,
	"source_fqdn":          true,
	"destination_fqdn":     true,
	"source_label":         true,
	"destination_label":    true,
	"source_service":       true,
	"destination_service":  true,
	"source_identity":      true,
	"destination_identity": true,
	"verdict":              true,
	"event_type":           true,
	"http_status_code":     true,
	"http_method":          true,
	"http_path":            true,
	"http_url":             true,
	"protocol":             true,
	"source_port":          true,
	"destination_port":     true,
	"reply":                true,
	"dns_query":            true,
	"traffic_direction":    true,
	"node_name":            true,
	"ip_version":           true,
}

// requestFilter decides which flows of a feed a GetFlows request gets.
type requestFilter struct {
	allow, deny  []flowMatcher
	since, until time.Time
	// limit is req.Number for non-follow requests, 0 for no limit.
	limit uint64
}

// newRequestFilter compiles req's filters, time window and limit, as
// documented on Server.GetFlows.
func newRequestFilter(req *observerpb.GetFlowsRequest) (*requestFilter, error) {
	allow, err := compileFilters(req.GetWhitelist())
	if err != nil {
		return nil, fmt.Errorf("whitelist: %w", err)
	}
	deny, err := compileFilters(req.GetBlacklist())
	if err != nil {
		return nil, fmt.Errorf("blacklist: %w", err)
	}
	rf := &requestFilter{allow: allow, deny: deny}
	if req.GetSince() != nil {
		rf.since = req.GetSince().AsTime()
	}
	if req.GetUntil() != nil {
		rf.until = req.GetUntil().AsTime()
	}
	if !req.GetFollow() {
		rf.limit = req.GetNumber()
	}
	return rf, nil
}

// admit reports whether f is to be sent.
func (rf *requestFilter) admit(f *flowpb.Flow) bool {
	if t := f.GetTime(); t != nil {
		ft := t.AsTime()
		if !rf.since.IsZero() && ft.Before(rf.since) {
			return false
		}
		if !rf.until.IsZero() && ft.After(rf.until) {
			return false
		}
	}
	return match(f, rf.allow, rf.deny)
}

// match reports whether f passes a whitelist (any matcher, or empty) and a
// blacklist (no matcher).
func match(f *flowpb.Flow, allow, deny []flowMatcher) bool {
	if len(allow) > 0 && !slices.ContainsFunc(allow, func(m flowMatcher) bool { return m(f) }) {
		return false
	}
	return !slices.ContainsFunc(deny, func(m flowMatcher) bool { return m(f) })
}

// flowMatcher reports whether a flow matches one FlowFilter.
type flowMatcher func(*flowpb.Flow) bool

func compileFilters(ffs []*flowpb.FlowFilter) ([]flowMatcher, error) {
	ms := make([]flowMatcher, 0, len(ffs))
	for i, ff := range ffs {
		m, err := compileFilter(ff)
		if err != nil {
			return nil, fmt.Errorf("filter %d: %w", i, err)
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// compileFilter turns one FlowFilter into a matcher: the AND of its set
// fields, each the OR of its values.
func compileFilter(ff *flowpb.FlowFilter) (flowMatcher, error) {
	var unsupported []string
	ff.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		if !honoured[fd.Name()] {
			unsupported = append(unsupported, string(fd.Name()))
		}
		return true
	})
	if len(unsupported) > 0 {
		return nil, fmt.Errorf("fields not supported by the test relay: %s", strings.Join(unsupported, ", "))
	}

	var parts []flowMatcher
	add := func(m flowMatcher, err error) error {
		if err != nil {
			return err
		}
		parts = append(parts, m)
		return nil
	}
	if v := ff.GetSourcePod(); len(v) > 0 {
		if err := add(podMatcher(v, (*flowpb.Flow).GetSource)); err != nil {
			return nil, fmt.Errorf("source_pod: %w", err)
		}
	}
	if v := ff.GetDestinationPod(); len(v) > 0 {
		if err := add(podMatcher(v, (*flowpb.Flow).GetDestination)); err != nil {
			return nil, fmt.Errorf("destination_pod: %w", err)
		}
	}
	if v := ff.GetSourceIp(); len(v) > 0 {
		if err := add(ipMatcher(v, func(f *flowpb.Flow) string { return f.GetIP().GetSource() })); err != nil {
			return nil, fmt.Errorf("source_ip: %w", err)
		}
	}
	if v := ff.GetDestinationIp(); len(v) > 0 {
		if err := add(ipMatcher(v, func(f *flowpb.Flow) string { return f.GetIP().GetDestination() })); err != nil {
			return nil, fmt.Errorf("destination_ip: %w", err)
		}
	}
	if v := ff.GetVerdict(); len(v) > 0 {
		parts = append(parts, func(f *flowpb.Flow) bool { return slices.Contains(v, f.GetVerdict()) })
	}
	if v := ff.GetDestinationPort(); len(v) > 0 {
		if err := add(portMatcher(v)); err != nil {
			return nil, fmt.Errorf("destination_port: %w", err)
		}
	}
	if v := ff.GetSourceLabel(); len(v) > 0 {
		if err := add(labelMatcher(v, (*flowpb.Flow).GetSource)); err != nil {
			return nil, fmt.Errorf("source_label: %w", err)
		}
	}
	if v := ff.GetDestinationLabel(); len(v) > 0 {
		if err := add(labelMatcher(v, (*flowpb.Flow).GetDestination)); err != nil {
			return nil, fmt.Errorf("destination_label: %w", err)
		}
	}
	if v := ff.GetProtocol(); len(v) > 0 {
		if err := add(protocolMatcher(v)); err != nil {
			return nil, fmt.Errorf("protocol: %w", err)
		}
	}
	if err := compileMore(ff, add, &parts); err != nil {
		return nil, err
	}
	return func(f *flowpb.Flow) bool {
		for _, p := range parts {
			if !p(f) {
				return false
			}
		}
		return true
	}, nil
}

func podMatcher(values []string, endpoint func(*flowpb.Flow) *flowpb.Endpoint) (flowMatcher, error) {
	type nsPrefix struct{ ns, prefix string }
	var sels []nsPrefix
	for _, v := range values {
		if v == "" {
			return nil, fmt.Errorf("empty pod filter")
		}
		ns, prefix, found := strings.Cut(v, "/")
		if !found {
			ns, prefix = "default", v
		}
		sels = append(sels, nsPrefix{ns, prefix})
	}
	return func(f *flowpb.Flow) bool {
		ep := endpoint(f)
		ns, pod := ep.GetNamespace(), ep.GetPodName()
		if ns == "" && pod == "" {
			return false
		}
		return slices.ContainsFunc(sels, func(s nsPrefix) bool {
			return (s.ns == "" || s.ns == ns) && strings.HasPrefix(pod, s.prefix)
		})
	}, nil
}

func ipMatcher(values []string, addr func(*flowpb.Flow) string) (flowMatcher, error) {
	var prefixes []netip.Prefix
	for _, v := range values {
		if strings.Contains(v, "/") {
			p, err := netip.ParsePrefix(v)
			if err != nil {
				return nil, err
			}
			prefixes = append(prefixes, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(v)
		if err != nil {
			return nil, err
		}
		prefixes = append(prefixes, netip.PrefixFrom(a, a.BitLen()))
	}
	return func(f *flowpb.Flow) bool {
		a, err := netip.ParseAddr(addr(f))
		if err != nil {
			return false
		}
		return slices.ContainsFunc(prefixes, func(p netip.Prefix) bool { return p.Contains(a) })
	}, nil
}

func portMatcher(values []string) (flowMatcher, error) {
	return portMatcherOf(values, func(f *flowpb.Flow) (uint32, bool) {
		_, dst, ok := l4Ports(f)
		return dst, ok
	})
}

// l4Ports returns f's transport ports, if it has TCP, UDP or SCTP.
func l4Ports(f *flowpb.Flow) (src, dst uint32, ok bool) {
	l4 := f.GetL4()
	switch {
	case l4.GetTCP() != nil:
		return l4.GetTCP().GetSourcePort(), l4.GetTCP().GetDestinationPort(), true
	case l4.GetUDP() != nil:
		return l4.GetUDP().GetSourcePort(), l4.GetUDP().GetDestinationPort(), true
	case l4.GetSCTP() != nil:
		return l4.GetSCTP().GetSourcePort(), l4.GetSCTP().GetDestinationPort(), true
	}
	return 0, 0, false
}

func portMatcherOf(values []string, port func(*flowpb.Flow) (uint32, bool)) (flowMatcher, error) {
	var ports []uint32
	for _, v := range values {
		p, err := strconv.ParseUint(v, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("invalid port %q: %w", v, err)
		}
		ports = append(ports, uint32(p))
	}
	return func(f *flowpb.Flow) bool {
		p, ok := port(f)
		return ok && slices.Contains(ports, p)
	}, nil
}

// label is a Cilium label: "source:key=value", source and value optional.
type label struct{ source, key, value string }

// parseLabel splits a Cilium label string. Keys may contain colons only
// after the source prefix, which Cilium keeps free of them.
func parseLabel(s string) label {
	var l label
	if src, rest, ok := strings.Cut(s, ":"); ok && !strings.Contains(src, "=") {
		l.source, s = src, rest
	}
	l.key, l.value, _ = strings.Cut(s, "=")
	return l
}

// labelTerm is one term of an equality selector; hasValue false means
// "key present".
type labelTerm struct {
	label
	hasValue bool
}

func labelMatcher(values []string, endpoint func(*flowpb.Flow) *flowpb.Endpoint) (flowMatcher, error) {
	var selectors [][]labelTerm
	for _, v := range values {
		var terms []labelTerm
		for t := range strings.SplitSeq(v, ",") {
			t = strings.TrimSpace(t)
			if t == "" || strings.ContainsAny(t, "!()") || strings.Contains(t, " in ") || strings.Contains(t, "==") {
				return nil, fmt.Errorf("unsupported label selector %q: only key=value and key terms are supported", v)
			}
			l := parseLabel(t)
			if l.source == "any" {
				l.source = ""
			}
			terms = append(terms, labelTerm{label: l, hasValue: strings.Contains(t, "=")})
		}
		selectors = append(selectors, terms)
	}
	return func(f *flowpb.Flow) bool {
		labels := make([]label, 0, len(endpoint(f).GetLabels()))
		for _, s := range endpoint(f).GetLabels() {
			labels = append(labels, parseLabel(s))
		}
		return slices.ContainsFunc(selectors, func(terms []labelTerm) bool {
			for _, t := range terms {
				if !slices.ContainsFunc(labels, func(l label) bool {
					return (t.source == "" || t.source == l.source) && t.key == l.key && (!t.hasValue || t.value == l.value)
				}) {
					return false
				}
			}
			return true
		})
	}, nil
}

func protocolMatcher(values []string) (flowMatcher, error) {
	var checks []flowMatcher
	for _, v := range values {
		var m flowMatcher
		switch strings.ToLower(v) {
		case "tcp":
			m = func(f *flowpb.Flow) bool { return f.GetL4().GetTCP() != nil }
		case "udp":
			m = func(f *flowpb.Flow) bool { return f.GetL4().GetUDP() != nil }
		case "sctp":
			m = func(f *flowpb.Flow) bool { return f.GetL4().GetSCTP() != nil }
		case "icmp":
			m = func(f *flowpb.Flow) bool { return f.GetL4().GetICMPv4() != nil || f.GetL4().GetICMPv6() != nil }
		case "icmpv4":
			m = func(f *flowpb.Flow) bool { return f.GetL4().GetICMPv4() != nil }
		case "icmpv6":
			m = func(f *flowpb.Flow) bool { return f.GetL4().GetICMPv6() != nil }
		case "http":
			m = func(f *flowpb.Flow) bool { return f.GetL7().GetHttp() != nil }
		case "dns":
			m = func(f *flowpb.Flow) bool { return f.GetL7().GetDns() != nil }
		default:
			return nil, fmt.Errorf("unknown protocol %q", v)
		}
		checks = append(checks, m)
	}
	return func(f *flowpb.Flow) bool {
		return slices.ContainsFunc(checks, func(m flowMatcher) bool { return m(f) })
	}, nil
}
