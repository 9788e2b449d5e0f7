package testrelay

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	flowpb "github.com/cilium/cilium/api/v1/flow"
)

// compileMore adds the matchers of the fields `hubble observe` sends beyond
// pods, addresses, labels, verdicts and protocols, with Hubble's semantics.
func compileMore(ff *flowpb.FlowFilter, add func(flowMatcher, error) error, parts *[]flowMatcher) error {
	type field struct {
		name string
		set  bool
		m    func() (flowMatcher, error)
	}
	fields := []field{
		{"uuid", len(ff.GetUuid()) > 0, func() (flowMatcher, error) {
			v := ff.GetUuid()
			return func(f *flowpb.Flow) bool { return slices.Contains(v, f.GetUuid()) }, nil
		}},
		{"source_fqdn", len(ff.GetSourceFqdn()) > 0, func() (flowMatcher, error) {
			return fqdnMatcher(ff.GetSourceFqdn(), (*flowpb.Flow).GetSourceNames)
		}},
		{"destination_fqdn", len(ff.GetDestinationFqdn()) > 0, func() (flowMatcher, error) {
			return fqdnMatcher(ff.GetDestinationFqdn(), (*flowpb.Flow).GetDestinationNames)
		}},
		{"source_service", len(ff.GetSourceService()) > 0, func() (flowMatcher, error) {
			return serviceMatcher(ff.GetSourceService(), (*flowpb.Flow).GetSourceService)
		}},
		{"destination_service", len(ff.GetDestinationService()) > 0, func() (flowMatcher, error) {
			return serviceMatcher(ff.GetDestinationService(), (*flowpb.Flow).GetDestinationService)
		}},
		{"source_identity", len(ff.GetSourceIdentity()) > 0, func() (flowMatcher, error) {
			v := ff.GetSourceIdentity()
			return func(f *flowpb.Flow) bool { return slices.Contains(v, f.GetSource().GetIdentity()) }, nil
		}},
		{"destination_identity", len(ff.GetDestinationIdentity()) > 0, func() (flowMatcher, error) {
			v := ff.GetDestinationIdentity()
			return func(f *flowpb.Flow) bool { return slices.Contains(v, f.GetDestination().GetIdentity()) }, nil
		}},
		{"event_type", len(ff.GetEventType()) > 0, func() (flowMatcher, error) {
			types := ff.GetEventType()
			return func(f *flowpb.Flow) bool {
				et := f.GetEventType()
				if et == nil {
					return false
				}
				return slices.ContainsFunc(types, func(tf *flowpb.EventTypeFilter) bool {
					return (tf.GetType() == 0 || tf.GetType() == et.GetType()) &&
						(!tf.GetMatchSubType() || tf.GetSubType() == et.GetSubType())
				})
			}, nil
		}},
		{"http_status_code", len(ff.GetHttpStatusCode()) > 0, func() (flowMatcher, error) {
			return statusMatcher(ff.GetHttpStatusCode())
		}},
		{"http_method", len(ff.GetHttpMethod()) > 0, func() (flowMatcher, error) {
			v := ff.GetHttpMethod()
			return func(f *flowpb.Flow) bool {
				m := f.GetL7().GetHttp().GetMethod()
				return m != "" && slices.ContainsFunc(v, func(x string) bool { return strings.EqualFold(x, m) })
			}, nil
		}},
		{"http_path", len(ff.GetHttpPath()) > 0, func() (flowMatcher, error) {
			return regexpMatcher(ff.GetHttpPath(), func(f *flowpb.Flow) (string, bool) {
				u := f.GetL7().GetHttp().GetUrl()
				if u == "" {
					return "", false
				}
				p, err := url.ParseRequestURI(u)
				if err != nil {
					return "", false
				}
				return p.Path, true
			})
		}},
		{"http_url", len(ff.GetHttpUrl()) > 0, func() (flowMatcher, error) {
			return regexpMatcher(ff.GetHttpUrl(), func(f *flowpb.Flow) (string, bool) {
				u := f.GetL7().GetHttp().GetUrl()
				return u, u != ""
			})
		}},
		{"dns_query", len(ff.GetDnsQuery()) > 0, func() (flowMatcher, error) {
			return regexpMatcher(ff.GetDnsQuery(), func(f *flowpb.Flow) (string, bool) {
				d := f.GetL7().GetDns()
				return d.GetQuery(), d != nil
			})
		}},
		{"source_port", len(ff.GetSourcePort()) > 0, func() (flowMatcher, error) {
			return portMatcherOf(ff.GetSourcePort(), func(f *flowpb.Flow) (uint32, bool) {
				src, _, ok := l4Ports(f)
				return src, ok
			})
		}},
		{"reply", len(ff.GetReply()) > 0, func() (flowMatcher, error) {
			v := ff.GetReply()
			return func(f *flowpb.Flow) bool {
				// As Hubble: an unknown direction matches nothing, except
				// that a drop counts as not a reply (older clients).
				if f.GetIsReply() == nil && f.GetVerdict() != flowpb.Verdict_DROPPED {
					return false
				}
				return slices.Contains(v, f.GetIsReply().GetValue())
			}, nil
		}},
		{"traffic_direction", len(ff.GetTrafficDirection()) > 0, func() (flowMatcher, error) {
			v := ff.GetTrafficDirection()
			return func(f *flowpb.Flow) bool { return slices.Contains(v, f.GetTrafficDirection()) }, nil
		}},
		{"node_name", len(ff.GetNodeName()) > 0, func() (flowMatcher, error) {
			return fqdnMatcher(ff.GetNodeName(), func(f *flowpb.Flow) []string {
				n := f.GetNodeName()
				if _, node, ok := strings.Cut(n, "/"); ok {
					return []string{node, n}
				}
				return []string{n}
			})
		}},
		{"ip_version", len(ff.GetIpVersion()) > 0, func() (flowMatcher, error) {
			v := ff.GetIpVersion()
			return func(f *flowpb.Flow) bool { return f.GetIP() != nil && slices.Contains(v, f.GetIP().GetIpVersion()) }, nil
		}},
	}
	for _, fl := range fields {
		if !fl.set {
			continue
		}
		if err := add(fl.m()); err != nil {
			return fmt.Errorf("%s: %w", fl.name, err)
		}
	}
	return nil
}

// fqdnMatcher matches names against Hubble FQDN patterns: case-insensitive,
// one trailing dot ignored, "*" for any run of name characters.
func fqdnMatcher(patterns []string, names func(*flowpb.Flow) []string) (flowMatcher, error) {
	var alts []string
	for _, p := range patterns {
		p = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(p), "."))
		if p == "" {
			return nil, fmt.Errorf("empty pattern")
		}
		var b strings.Builder
		for _, r := range p {
			switch {
			case r == '.':
				b.WriteString(`\.`)
			case r == '*':
				b.WriteString(`[-.0-9a-z]*`)
			case r == '-' || r == '_' || ('0' <= r && r <= '9') || ('a' <= r && r <= 'z'):
				b.WriteRune(r)
			default:
				return nil, fmt.Errorf("%q: invalid rune in pattern", r)
			}
		}
		alts = append(alts, b.String())
	}
	re := regexp.MustCompile(`^(?:` + strings.Join(alts, "|") + `)$`)
	return func(f *flowpb.Flow) bool {
		return slices.ContainsFunc(names(f), func(n string) bool {
			return re.MatchString(strings.ToLower(strings.TrimSuffix(n, ".")))
		})
	}, nil
}

// serviceMatcher matches "namespace/name-prefix" (or "name-prefix" in any
// namespace) against a flow's service.
func serviceMatcher(values []string, svc func(*flowpb.Flow) *flowpb.Service) (flowMatcher, error) {
	type sel struct{ ns, prefix string }
	var sels []sel
	for _, v := range values {
		ns, name, ok := strings.Cut(v, "/")
		if !ok {
			ns, name = "", v
		}
		sels = append(sels, sel{ns, name})
	}
	return func(f *flowpb.Flow) bool {
		s := svc(f)
		if s.GetName() == "" {
			return false
		}
		return slices.ContainsFunc(sels, func(x sel) bool {
			return (x.ns == "" || x.ns == s.GetNamespace()) && strings.HasPrefix(s.GetName(), x.prefix)
		})
	}, nil
}

var (
	statusFull   = regexp.MustCompile(`^[1-5][0-9]{2}$`)
	statusPrefix = regexp.MustCompile(`^[1-5][0-9]?\+$`)
)

// statusMatcher matches HTTP response codes: "404", or a prefix such as
// "5+" (5xx) or "40+" (40x).
func statusMatcher(values []string) (flowMatcher, error) {
	var full, prefix []string
	for _, v := range values {
		switch {
		case statusFull.MatchString(v):
			full = append(full, v)
		case statusPrefix.MatchString(v):
			prefix = append(prefix, strings.TrimSuffix(v, "+"))
		default:
			return nil, fmt.Errorf("invalid status code prefix: %q", v)
		}
	}
	return func(f *flowpb.Flow) bool {
		code := f.GetL7().GetHttp().GetCode()
		if code == 0 {
			return false
		}
		c := fmt.Sprintf("%03d", code)
		return slices.Contains(full, c) || slices.ContainsFunc(prefix, func(p string) bool { return strings.HasPrefix(c, p) })
	}, nil
}

func regexpMatcher(exprs []string, value func(*flowpb.Flow) (string, bool)) (flowMatcher, error) {
	var res []*regexp.Regexp
	for _, e := range exprs {
		re, err := regexp.Compile(e)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e, err)
		}
		res = append(res, re)
	}
	return func(f *flowpb.Flow) bool {
		v, ok := value(f)
		return ok && slices.ContainsFunc(res, func(re *regexp.Regexp) bool { return re.MatchString(v) })
	}, nil
}
