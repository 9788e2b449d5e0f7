package hubble

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"google.golang.org/protobuf/proto"
)

// ObserveFilters translates filters written in the vocabulary of `hubble
// observe` flags ("namespace=shop", "to-fqdn=*.example.com",
// "not-verdict=DROPPED") into the server-side FlowFilters hubble observe
// would send, so that what a user tried on the command line can be given to
// hubble-sentinel unchanged. Each term is NAME=VALUE, NAME one of the flags
// below without its dashes; "not-NAME" negates the term, as `--not --NAME`
// does.
//
// As in hubble observe: values of one flag are alternatives; different flags
// must all match; a flag without from-/to- (namespace, pod, ip, label, fqdn,
// port, service, identity, workload) matches either side, which becomes two
// filters, source and destination; negated terms form the deny list.
//
// Flags: namespace, pod, ip, label, fqdn, port, service, identity (each also
// as from-… and to-…); verdict, type (trace, drop, l7, policy-verdict,
// capture, debug, trace-sock, or type:subtype for trace and drop), protocol,
// http-status, http-method, http-path, http-url, dns-query, node-name,
// traffic-direction (ingress, egress), reply (true, false), ipv4, ipv6,
// uuid.
func ObserveFilters(terms []string) (allow, deny []*flowpb.FlowFilter, err error) {
	var pos, neg filterBuilder
	for _, t := range terms {
		name, value, ok := strings.Cut(strings.TrimSpace(t), "=")
		name = strings.TrimPrefix(strings.TrimSpace(name), "--")
		if !ok && name != "ipv4" && name != "ipv6" {
			return nil, nil, fmt.Errorf("filter %q: want NAME=VALUE, e.g. namespace=shop or not-verdict=DROPPED", t)
		}
		b := &pos
		if n, found := strings.CutPrefix(name, "not-"); found {
			name, b = n, &neg
		}
		if err := b.add(name, strings.TrimSpace(value)); err != nil {
			return nil, nil, fmt.Errorf("filter %q: %w", t, err)
		}
	}
	return pos.build(), neg.build(), nil
}

// filterBuilder collects terms for one list. Either-side terms go to
// both, which become a source filter and a destination filter.
type filterBuilder struct {
	used bool
	// src and dst hold the terms pinned to a side (from-…, to-…); either
	// holds the terms of either side, by name.
	src, dst, either map[string][]string
	common           *flowpb.FlowFilter
}

func (b *filterBuilder) side(m *map[string][]string, name, value string) {
	if *m == nil {
		*m = map[string][]string{}
	}
	(*m)[name] = append((*m)[name], value)
}

// sided are the flags that name one side or either.
var sided = map[string]bool{"namespace": true, "pod": true, "ip": true, "label": true, "fqdn": true,
	"port": true, "service": true, "identity": true, "workload": true}

// eventTypes are Cilium's monitor message types, and the trace and drop
// subtypes hubble observe accepts.
var eventTypes = map[string]int32{"drop": 1, "debug": 2, "capture": 3, "trace": 4, "policy-verdict": 5,
	"recorder": 6, "trace-sock": 7, "l7": 129, "agent": 130}

var traceSubtypes = map[string]int32{"to-endpoint": 0, "to-proxy": 1, "to-host": 2, "to-stack": 3, "to-overlay": 4,
	"from-endpoint": 5, "from-proxy": 6, "from-host": 7, "from-stack": 8, "from-overlay": 9, "from-network": 10,
	"to-network": 11, "from-crypto": 12, "to-crypto": 13}

func (b *filterBuilder) add(name, value string) error {
	b.used = true
	if b.common == nil {
		b.common = &flowpb.FlowFilter{}
	}
	c := b.common
	if side, rest, ok := strings.Cut(name, "-"); ok && (side == "from" || side == "to") && sided[rest] {
		if side == "from" {
			b.side(&b.src, rest, value)
		} else {
			b.side(&b.dst, rest, value)
		}
		return validSided(rest, value)
	}
	if sided[name] {
		b.side(&b.either, name, value)
		return validSided(name, value)
	}
	switch name {
	case "verdict":
		v, ok := flowpb.Verdict_value[strings.ToUpper(value)]
		if !ok {
			return fmt.Errorf("unknown verdict %q", value)
		}
		c.Verdict = append(c.Verdict, flowpb.Verdict(v))
	case "type":
		typ, sub, hasSub := strings.Cut(value, ":")
		t, ok := eventTypes[typ]
		if !ok {
			if n, err := strconv.ParseInt(typ, 10, 32); err == nil {
				t, ok = int32(n), true
			}
		}
		if !ok {
			return fmt.Errorf("unknown event type %q", typ)
		}
		et := &flowpb.EventTypeFilter{Type: t}
		if hasSub {
			s, ok := traceSubtypes[sub]
			if !ok || typ != "trace" {
				n, err := strconv.ParseInt(sub, 10, 32)
				if err != nil {
					return fmt.Errorf("unknown subtype %q of %q", sub, typ)
				}
				s = int32(n)
			}
			et.MatchSubType, et.SubType = true, s
		}
		c.EventType = append(c.EventType, et)
	case "protocol":
		c.Protocol = append(c.Protocol, strings.ToLower(value))
	case "http-status":
		c.HttpStatusCode = append(c.HttpStatusCode, value)
	case "http-method":
		c.HttpMethod = append(c.HttpMethod, value)
	case "http-path":
		c.HttpPath = append(c.HttpPath, value)
	case "http-url":
		c.HttpUrl = append(c.HttpUrl, value)
	case "dns-query":
		c.DnsQuery = append(c.DnsQuery, value)
	case "node-name":
		c.NodeName = append(c.NodeName, value)
	case "uuid":
		c.Uuid = append(c.Uuid, value)
	case "traffic-direction":
		d, ok := flowpb.TrafficDirection_value[strings.ToUpper(value)]
		if !ok {
			return fmt.Errorf("unknown traffic direction %q", value)
		}
		c.TrafficDirection = append(c.TrafficDirection, flowpb.TrafficDirection(d))
	case "reply":
		r, err := strconv.ParseBool(value)
		if err != nil {
			return fmt.Errorf("reply: %w", err)
		}
		c.Reply = append(c.Reply, r)
	case "ipv4":
		c.IpVersion = append(c.IpVersion, flowpb.IPVersion_IPv4)
	case "ipv6":
		c.IpVersion = append(c.IpVersion, flowpb.IPVersion_IPv6)
	default:
		return fmt.Errorf("unknown filter %q", name)
	}
	return nil
}

func validSided(name, value string) error {
	if value == "" {
		return fmt.Errorf("empty %s", name)
	}
	switch name {
	case "port":
		if _, err := strconv.ParseUint(value, 10, 16); err != nil {
			return fmt.Errorf("port %q: %w", value, err)
		}
	case "identity":
		if _, err := strconv.ParseUint(value, 10, 32); err != nil {
			return fmt.Errorf("identity %q: %w", value, err)
		}
	}
	return nil
}

// build returns the list's filters: one, or a source and a destination
// filter when a term is for either side.
func (b *filterBuilder) build() []*flowpb.FlowFilter {
	if !b.used {
		return nil
	}
	if len(b.either) == 0 {
		f := proto.Clone(b.common).(*flowpb.FlowFilter)
		applySide(f, b.src, true)
		applySide(f, b.dst, false)
		return []*flowpb.FlowFilter{f}
	}
	var out []*flowpb.FlowFilter
	for _, eitherIsSource := range []bool{true, false} {
		f := proto.Clone(b.common).(*flowpb.FlowFilter)
		src, dst := merge(b.src, nil), merge(b.dst, nil)
		if eitherIsSource {
			src = merge(src, b.either)
		} else {
			dst = merge(dst, b.either)
		}
		applySide(f, src, true)
		applySide(f, dst, false)
		out = append(out, f)
	}
	return out
}

func merge(a, b map[string][]string) map[string][]string {
	out := map[string][]string{}
	for _, m := range []map[string][]string{a, b} {
		for k, v := range m {
			out[k] = append(out[k], v...)
		}
	}
	return out
}

// applySide sets one side's fields of f from terms. Namespaces qualify the
// pods given with them, or stand alone as "namespace/".
func applySide(f *flowpb.FlowFilter, terms map[string][]string, source bool) {
	pods := podSelectors(terms["namespace"], terms["pod"])
	var idents []uint32
	for _, v := range terms["identity"] {
		n, _ := strconv.ParseUint(v, 10, 32)
		idents = append(idents, uint32(n))
	}
	var workloads []*flowpb.Workload
	for _, v := range terms["workload"] {
		kind, name, ok := strings.Cut(v, "/")
		if !ok {
			kind, name = "", v
		}
		workloads = append(workloads, &flowpb.Workload{Kind: kind, Name: name})
	}
	if source {
		f.SourcePod = append(f.SourcePod, pods...)
		f.SourceIp = append(f.SourceIp, terms["ip"]...)
		f.SourceLabel = append(f.SourceLabel, terms["label"]...)
		f.SourceFqdn = append(f.SourceFqdn, terms["fqdn"]...)
		f.SourcePort = append(f.SourcePort, terms["port"]...)
		f.SourceService = append(f.SourceService, terms["service"]...)
		f.SourceIdentity = append(f.SourceIdentity, idents...)
		f.SourceWorkload = append(f.SourceWorkload, workloads...)
		return
	}
	f.DestinationPod = append(f.DestinationPod, pods...)
	f.DestinationIp = append(f.DestinationIp, terms["ip"]...)
	f.DestinationLabel = append(f.DestinationLabel, terms["label"]...)
	f.DestinationFqdn = append(f.DestinationFqdn, terms["fqdn"]...)
	f.DestinationPort = append(f.DestinationPort, terms["port"]...)
	f.DestinationService = append(f.DestinationService, terms["service"]...)
	f.DestinationIdentity = append(f.DestinationIdentity, idents...)
	f.DestinationWorkload = append(f.DestinationWorkload, workloads...)
}

func podSelectors(namespaces, pods []string) []string {
	if len(pods) == 0 {
		out := make([]string, 0, len(namespaces))
		for _, ns := range namespaces {
			out = append(out, strings.TrimSuffix(ns, "/")+"/")
		}
		return out
	}
	var out []string
	for _, p := range pods {
		if strings.Contains(p, "/") || len(namespaces) == 0 {
			out = append(out, p)
			continue
		}
		for _, ns := range namespaces {
			out = append(out, ns+"/"+p)
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}
