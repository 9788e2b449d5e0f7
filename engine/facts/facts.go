// Package facts measures a Hubble flow once, in pure Go, into the facts that policies, profiles and alerts all read: who talked, which way, with what names and what L7 content.
package facts

import (
	"math"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"golang.org/x/net/publicsuffix"

	"github.com/hubble-sentinel/hubble-sentinel/engine/httpurl"
	"github.com/hubble-sentinel/hubble-sentinel/engine/redact"
)

// Bounds of what the engine reads from the strings an attacker shapes (the
// request line, headers, DNS names). Whatever policies see is cut to these,
// prefix kept, and the cut is itself a fact (HTTP.Truncated,
// DNS.Truncated): the cost of judging a flow stays flat however long the
// request, and an oversized request is suspicious in its own right. Real
// clients stay far below them (browsers and proxies cap a URL at 2–8 KiB).
const (
	// MaxURLBytes bounds the URL as policies see it (l7.http.url).
	MaxURLBytes = 8 << 10
	// MaxPathBytes bounds the path as sent (sentinel.http.raw_path); the
	// decoded path is decoded from that.
	MaxPathBytes = 2 << 10
	// MaxQueryBytes bounds the query (sentinel.http.query).
	MaxQueryBytes = 2 << 10
	// MaxHostBytes bounds a host name (a DNS name is at most 253 bytes;
	// the rest of the bound leaves room for a port and escapes).
	MaxHostBytes = 1 << 10
	// MaxHeaders bounds the headers policies see (l7.http.headers).
	MaxHeaders = 64
	// MaxHeaderNameBytes bounds a header name, and the method.
	MaxHeaderNameBytes = 256
	// MaxHeaderValueBytes bounds a header value (the User-Agent too).
	MaxHeaderValueBytes = 4 << 10
	// MaxDNSNameBytes bounds a DNS query name and destination names; a
	// name is at most 255 bytes on the wire, 4 per byte when escaped.
	MaxDNSNameBytes = 1 << 10
)

// Truncate cuts s to at most n bytes, keeping the prefix. The cut never
// splits a UTF-8 sequence, nor a percent escape when escapes is set ("%2"
// would make the whole path undecodable).
func Truncate(s string, n int, escapes bool) (string, bool) {
	if len(s) <= n {
		return s, false
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	if escapes {
		if j := strings.LastIndexByte(s[max(i-2, 0):i], '%'); j >= 0 {
			i = max(i-2, 0) + j
		}
	}
	return s[:i], true
}

// Endpoint kinds, from Cilium's reserved identities.
const (
	KindPod           = "pod"
	KindWorld         = "world"
	KindHost          = "host"
	KindRemoteNode    = "remote-node"
	KindKubeAPIServer = "kube-apiserver"
	KindHealth        = "health"
	KindInit          = "init"
	KindIngress       = "ingress"
	KindUnmanaged     = "unmanaged"
	KindUnknown       = "unknown"
)

// Endpoint is one side of a flow, normalised so that policies, profiles and
// alert labels agree on who talked.
type Endpoint struct {
	Kind      string
	Namespace string
	Workload  string
	Pod       string
	IP        string
	FQDN      string
	Identity  uint32
	// Labels are the endpoint's security labels as Hubble reports them
	// ("k8s:app=cart"); they select its pods in exported policies.
	Labels []string
	// Names are the names the destination is known by, normalised (lower
	// case, no port, no trailing dot): the DNS-aware egress name, the
	// HTTP host and the DNS query. Set on the destination only.
	Names []string
	// Domains are every name in Names and each of their parent domains
	// ("a.b.example.com", "b.example.com", "example.com", "com"), so a
	// policy matches a domain list with set lookups instead of suffix scans.
	Domains []string
	// key is Key, made once by Measure ("": not yet).
	key string
}

// Key identifies the endpoint's profile: a workload for pods, the kind for
// reserved identities (all of "world" is one profile, so the cache stays
// bounded by the number of workloads, not of internet addresses).
func (e Endpoint) Key() string {
	if e.key != "" {
		return e.key
	}
	if e.Kind == KindPod {
		if e.Workload != "" {
			return e.Namespace + "/" + e.Workload
		}
		return e.Namespace + "/" + e.IP
	}
	if k, ok := reservedKeys[e.Kind]; ok {
		return k
	}
	return "reserved:" + e.Kind
}

// reservedKeys are the keys of the reserved kinds, made once.
var reservedKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range reservedKinds {
		m[k] = "reserved:" + k
	}
	return m
}()

// HTTP holds what the engine parsed from an HTTP flow's URL.
type HTTP struct {
	Method string
	// Code is the response status; 0 on requests.
	Code uint32
	// Endpoint names what the request addresses: the method and the path
	// template (PathTemplate), "GET /product/{id}". gRPC calls are
	// "POST /package.Service/Method".
	Endpoint string
	Path     string // percent-decoded
	RawPath  string // as sent
	Query    string
	Host     string
	// UserAgent is the User-Agent request header, "" when absent.
	UserAgent string
	// Truncated holds when a bound cut the URL, path, query, method, a
	// header or the header count (see MaxURLBytes and the others).
	Truncated bool
	// record is the flow's HTTP record within the bounds: the record
	// itself when nothing was cut. Policies see it, Secrets reads it.
	record  *flowpb.HTTP
	secrets *[]string
	// Plain holds when the request has nothing an injection payload could
	// hide in: no query, and a raw path of letters, digits and "/._~-"
	// only, without "..". Most service-to-service calls are plain, and
	// policies that look for payloads lead with plain == false so OPA's
	// rule index skips them on every other request.
	Plain bool
	// HeadersPlain holds when no header value (within the bounds) has a
	// character an expression or markup payload needs: none of
	// HeaderSpecials ("${}<>`|\\"). User agents, cookies, accept lists and
	// tokens have none; a Log4j lookup (${jndi:…}), a template or markup
	// injection in a header does. Policies that scan header values lead
	// with headers_plain == false, so ordinary requests cost them nothing.
	HeadersPlain bool
	// Text is the raw path and query as the injection policies match them
	// (see RequestText), Specials its unusual characters (see Specials).
	Text, Specials string
	// NormalizedPath is Path as the path policies compare it (see
	// NormalPath).
	NormalizedPath string
}

// HeaderSpecials are the characters a header value must not hold to be
// plain (see HTTP.HeadersPlain).
const HeaderSpecials = "${}<>`|\\"

// DNS holds what the engine measured of a DNS query name.
type DNS struct {
	Query string // without the trailing dot
	// Domains are the normalised query name and each of its parent
	// domains, as Domains computes them.
	Domains []string
	// Registered is the registrable domain of the query (eTLD+1 by the
	// public suffix list: "exfil.example.co.uk" for "a.b.exfil.example.co.uk");
	// the query itself when it has no public suffix.
	Registered string
	// Rcode is the response code (3 is NXDOMAIN); 0 on queries.
	Rcode uint32
	// Truncated holds when the query name was longer than
	// MaxDNSNameBytes and was cut.
	Truncated       bool
	Labels          []string
	MaxLabelLength  int
	MaxLabelEntropy float64
	Qtypes          []string
}

// Flow is what Go measures about a flow before Rego judges it: the one
// answer that policies (input.sentinel), profiles and alerts all read.
type Flow struct {
	// Time is the flow's own timestamp; zero when the flow has none or an
	// invalid one.
	Time                time.Time
	Verdict             string
	Source, Destination Endpoint
	Protocol            string
	SourcePort          uint32
	DestinationPort     uint32
	Direction           Direction
	// TCPFlags are the flow's TCP flags; nil for other protocols.
	TCPFlags *flowpb.TCPFlags
	// DropReason is the drop reason's name (POLICY_DENIED, …) on drops.
	DropReason string
	// L7Type is REQUEST, RESPONSE or SAMPLE for L7 flows, "" otherwise.
	L7Type string
	// Latency is the L7 response's latency, 0 when Hubble gave none.
	Latency time.Duration
	HTTP    *HTTP
	DNS     *DNS
}

// Dropped reports whether the datapath dropped the flow.
func (fa *Flow) Dropped() bool { return fa.Verdict == flowpb.Verdict_DROPPED.String() }

// Client is the side that opened the connection or sent the request.
func (fa *Flow) Client() *Endpoint {
	if fa.Direction.Initiated {
		return &fa.Source
	}
	return &fa.Destination
}

// Server is the side that accepted the connection or answers the request.
func (fa *Flow) Server() *Endpoint {
	if fa.Direction.Initiated {
		return &fa.Destination
	}
	return &fa.Source
}

// ServicePort is the server's port: the destination port of an initiating
// flow, the source port of a reply. A reply's destination port is the
// client's ephemeral port, which names nothing.
func (fa *Flow) ServicePort() uint32 {
	if fa.Direction.Initiated {
		return fa.DestinationPort
	}
	return fa.SourcePort
}

// Measure derives the facts of a flow. It never fails: missing parts of a
// flow leave the corresponding facts empty.
func Measure(f *flowpb.Flow) Flow {
	fa := MeasureL4(f)
	fa.MeasureL7(f)
	return fa
}

// MeasureL4 derives the facts of a flow's endpoints and layers 3 and 4:
// enough to know its client (Client), cheaply, before MeasureL7 derives
// the rest (names, HTTP, DNS).
func MeasureL4(f *flowpb.Flow) Flow {
	var fa Flow
	if ts := f.GetTime(); ts != nil && ts.IsValid() {
		fa.Time = ts.AsTime()
	}
	fa.Verdict = f.GetVerdict().String()
	fa.Source = endpoint(f.GetSource(), f.GetIP().GetSource())
	fa.Destination = endpoint(f.GetDestination(), f.GetIP().GetDestination())
	fa.Source.key, fa.Destination.key = fa.Source.Key(), fa.Destination.Key()
	fa.Protocol, fa.SourcePort, fa.DestinationPort = layer4(f.GetL4())
	fa.Direction = direction(f, fa.SourcePort, fa.DestinationPort)
	fa.TCPFlags = f.GetL4().GetTCP().GetFlags()
	if f.GetVerdict() == flowpb.Verdict_DROPPED {
		fa.DropReason = f.GetDropReasonDesc().String()
	}
	return fa
}

// MeasureL7 derives the rest of the facts of f, whose MeasureL4 fa is:
// the destination's names and domains, and what its HTTP or DNS record
// says.
func (fa *Flow) MeasureL7(f *flowpb.Flow) {
	if names := f.GetDestinationNames(); len(names) > 0 {
		name, _ := Truncate(names[0], MaxDNSNameBytes, false)
		fa.Destination.FQDN = NormaliseHost(name)
	}
	if l7 := f.GetL7(); l7 != nil {
		if l7.GetType() != flowpb.L7FlowType_UNKNOWN_L7_TYPE {
			fa.L7Type = l7.GetType().String()
		}
		fa.Latency = time.Duration(min(l7.GetLatencyNs(), uint64(1<<62)))
	}
	if h := f.GetL7().GetHttp(); h != nil {
		fa.HTTP = parseHTTP(h)
	}
	if d := f.GetL7().GetDns(); d != nil {
		fa.DNS = measureDNS(d)
	}
	fa.Destination.Names = destinationNames(fa)
	fa.Destination.Domains = Domains(fa.Destination.Names)
}

// destinationNames collects and normalises the names of the destination.
func destinationNames(fa *Flow) []string {
	var names []string
	add := func(n string) {
		n = NormaliseHost(n)
		if n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	add(fa.Destination.FQDN)
	if fa.HTTP != nil {
		add(fa.HTTP.Host)
	}
	if fa.DNS != nil {
		add(fa.DNS.Query)
	}
	return names
}

// NormaliseHost lower-cases a host name and strips a port, IPv6 brackets
// and a trailing dot, so names compare equal however a client wrote them.
func NormaliseHost(h string) string {
	if strings.HasPrefix(h, "[") {
		if end := strings.IndexByte(h, ']'); end > 0 {
			h = h[1:end]
		}
	} else if strings.Count(h, ":") == 1 {
		h, _, _ = strings.Cut(h, ":")
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// Domains returns every name in names and each of its parent domains
// ("a.b.example.com", "b.example.com", "example.com", "com"), each once, so
// a policy matches a domain list with set lookups instead of suffix scans.
func Domains(names []string) []string {
	if len(names) == 0 {
		return nil
	}
	size := 0
	for _, n := range names {
		size += strings.Count(n, ".") + 1
	}
	out := make([]string, 0, size)
	for _, n := range names {
		for d := n; d != ""; {
			if !slices.Contains(out, d) {
				out = append(out, d)
			}
			_, rest, ok := strings.Cut(d, ".")
			if !ok {
				break
			}
			d = rest
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

var reservedKinds = map[string]string{
	"reserved:world":          KindWorld,
	"reserved:world-ipv4":     KindWorld,
	"reserved:world-ipv6":     KindWorld,
	"reserved:host":           KindHost,
	"reserved:remote-node":    KindRemoteNode,
	"reserved:kube-apiserver": KindKubeAPIServer,
	"reserved:health":         KindHealth,
	"reserved:init":           KindInit,
	"reserved:ingress":        KindIngress,
	"reserved:unmanaged":      KindUnmanaged,
	"reserved:unknown":        KindUnknown,
}

// reservedIdentities maps Cilium's reserved numeric identities to kinds, for
// flows whose endpoint carries no labels.
var reservedIdentities = map[uint32]string{
	1: KindHost, 2: KindWorld, 3: KindUnmanaged, 4: KindHealth, 5: KindInit,
	6: KindRemoteNode, 7: KindKubeAPIServer, 8: KindIngress, 9: KindWorld, 10: KindWorld,
}

func endpoint(ep *flowpb.Endpoint, ip string) Endpoint {
	e := Endpoint{
		Namespace: ep.GetNamespace(),
		Pod:       ep.GetPodName(),
		IP:        ip,
		Identity:  ep.GetIdentity(),
		Labels:    ep.GetLabels(),
	}
	e.Kind = endpointKind(ep)
	if ws := ep.GetWorkloads(); len(ws) > 0 && ws[0].GetName() != "" {
		e.Workload = ws[0].GetName()
	} else if e.Pod != "" {
		e.Workload = WorkloadFromPod(e.Pod)
	}
	return e
}

func endpointKind(ep *flowpb.Endpoint) string {
	kind := ""
	for _, l := range ep.GetLabels() {
		if !strings.HasPrefix(l, "reserved:") {
			continue // a pod's labels: k8s:…, no map lookup
		}
		if k, ok := reservedKinds[l]; ok {
			// kube-apiserver endpoints also carry reserved:host or
			// reserved:remote-node; the more specific kind wins.
			if kind == "" || k == KindKubeAPIServer {
				kind = k
			}
		}
	}
	switch {
	case kind != "":
		return kind
	case ep.GetNamespace() != "" || ep.GetPodName() != "":
		return KindPod
	}
	if k, ok := reservedIdentities[ep.GetIdentity()]; ok {
		return k
	}
	if ep == nil || ep.GetIdentity() == 0 {
		return KindUnknown
	}
	return KindPod
}

// WorkloadFromPod guesses a pod's owning workload from its name when Hubble
// did not say: Deployments name pods <name>-<template-hash>-<5 chars>,
// DaemonSets and Jobs <name>-<5 chars>, StatefulSets <name>-<ordinal>.
func WorkloadFromPod(pod string) string {
	parts := strings.Split(pod, "-")
	if len(parts) < 2 {
		return pod
	}
	last := parts[len(parts)-1]
	switch {
	case isDigits(last):
		return strings.Join(parts[:len(parts)-1], "-")
	case len(last) == 5 && isRandSuffix(last):
		parts = parts[:len(parts)-1]
		if n := len(parts); n >= 2 && len(parts[n-1]) >= 6 && len(parts[n-1]) <= 10 && isRandSuffix(parts[n-1]) {
			parts = parts[:n-1]
		}
		return strings.Join(parts, "-")
	}
	return pod
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isRandSuffix reports whether s uses only the alphabet Kubernetes draws
// generated name suffixes from (no vowels, no confusable digits).
func isRandSuffix(s string) bool {
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune("bcdfghjklmnpqrstvwxz2456789", rune(s[i])) {
			return false
		}
	}
	return true
}

func layer4(l4 *flowpb.Layer4) (proto string, src, dst uint32) {
	switch p := l4.GetProtocol().(type) {
	case *flowpb.Layer4_TCP:
		return "TCP", p.TCP.GetSourcePort(), p.TCP.GetDestinationPort()
	case *flowpb.Layer4_UDP:
		return "UDP", p.UDP.GetSourcePort(), p.UDP.GetDestinationPort()
	case *flowpb.Layer4_SCTP:
		return "SCTP", p.SCTP.GetSourcePort(), p.SCTP.GetDestinationPort()
	case *flowpb.Layer4_ICMPv4:
		return "ICMPv4", 0, 0
	case *flowpb.Layer4_ICMPv6:
		return "ICMPv6", 0, 0
	case *flowpb.Layer4_VRRP:
		return "VRRP", 0, 0
	case *flowpb.Layer4_IGMP:
		return "IGMP", 0, 0
	}
	return "", 0, 0
}

// Secrets are the credentials the request carries (URL userinfo, query and
// path parameter values, sensitive headers), longest first: whatever quotes
// this request in a log line or an alert cuts them out (redact.String).
// They are read from the request within the bounds, which is all that
// policies see. They are found on first use, once per flow: most flows
// never need them. Not safe for concurrent use, like the rest of a flow's
// facts.
func (h *HTTP) Secrets() []string {
	if h.secrets == nil {
		s := redact.HTTPSecrets(h.record)
		h.secrets = &s
	}
	return *h.secrets
}

// Record is the flow's HTTP record within the bounds (MaxURLBytes,
// MaxHeaders, …): the record itself when nothing was cut, else a copy
// with the URL, method and headers cut. The policy input shows this one.
func (h *HTTP) Record() *flowpb.HTTP { return h.record }

func parseHTTP(h *flowpb.HTTP) *HTTP {
	out := &HTTP{Code: h.GetCode()}
	defer func() { out.Endpoint = out.Method + " " + PathTemplate(out.Path) }()
	out.record = boundHTTP(h, &out.Truncated)
	out.Method = out.record.GetMethod()
	ua, cut := Truncate(header(h, "user-agent"), MaxHeaderValueBytes, false)
	out.UserAgent, out.Truncated = ua, out.Truncated || cut
	// One reader for every URL, the one the redactor uses: it never
	// fails, so a URL Go refuses (a bad port, %zz, a space in the host)
	// still has its path judged.
	// Read from the URL within MaxURLBytes: the path and query bounds
	// are smaller, so reading further would only cost time.
	u := httpurl.Parse(out.record.GetUrl())
	var cuts [3]bool
	out.Host, cuts[0] = Truncate(u.Host, MaxHostBytes, false)
	out.RawPath, cuts[1] = Truncate(u.Path, MaxPathBytes, true)
	out.Query, cuts[2] = Truncate(u.Query, MaxQueryBytes, true)
	out.Truncated = out.Truncated || cuts[0] || cuts[1] || cuts[2]
	// The path as servers route it: decoded once, path parameters
	// (";jsessionid=…") stripped, so /admin;x=1 reads /admin.
	out.Path = httpurl.StripParams(out.RawPath)
	if p, err := url.PathUnescape(out.Path); err == nil {
		out.Path = p
	}
	out.NormalizedPath = NormalPath(out.Path)
	out.Plain = plain(out.RawPath, out.Query)
	out.Text = RequestText(out.RawPath, out.Query)
	out.Specials = Specials(out.Text)
	out.HeadersPlain = true
	for _, hd := range out.record.GetHeaders() {
		if strings.ContainsAny(hd.GetValue(), HeaderSpecials) {
			out.HeadersPlain = false
			break
		}
	}
	if out.Host == "" {
		out.Host, _ = Truncate(header(h, "host"), MaxHostBytes, false)
	}
	if out.Host == "" {
		out.Host, _ = Truncate(header(h, ":authority"), MaxHostBytes, false)
	}
	return out
}

// boundHTTP returns h when it is within the bounds, else a copy cut to
// them, setting *cut.
func boundHTTP(h *flowpb.HTTP, cut *bool) *flowpb.HTTP {
	within := len(h.GetUrl()) <= MaxURLBytes && len(h.GetMethod()) <= MaxHeaderNameBytes &&
		len(h.GetProtocol()) <= MaxHeaderNameBytes && len(h.GetHeaders()) <= MaxHeaders
	for _, hd := range h.GetHeaders() {
		within = within && len(hd.GetKey()) <= MaxHeaderNameBytes && len(hd.GetValue()) <= MaxHeaderValueBytes
	}
	if within {
		return h
	}
	*cut = true
	b := &flowpb.HTTP{Code: h.GetCode()}
	b.Url, _ = Truncate(h.GetUrl(), MaxURLBytes, true)
	b.Method, _ = Truncate(h.GetMethod(), MaxHeaderNameBytes, false)
	b.Protocol, _ = Truncate(h.GetProtocol(), MaxHeaderNameBytes, false)
	headers := h.GetHeaders()
	headers = headers[:min(len(headers), MaxHeaders)]
	b.Headers = make([]*flowpb.HTTPHeader, len(headers))
	for i, hd := range headers {
		k, _ := Truncate(hd.GetKey(), MaxHeaderNameBytes, false)
		v, _ := Truncate(hd.GetValue(), MaxHeaderValueBytes, false)
		b.Headers[i] = &flowpb.HTTPHeader{Key: k, Value: v}
	}
	return b
}

// plain reports whether a request path (as sent) and query leave no room
// for a payload: see HTTP.Plain.
func plain(rawPath, query string) bool {
	if query != "" || strings.Contains(rawPath, "..") {
		return false
	}
	for i := 0; i < len(rawPath); i++ {
		c := rawPath[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("/._~-", c) >= 0) {
			return false
		}
	}
	return true
}

// header is the value of the first header named key, compared without case.
func header(h *flowpb.HTTP, key string) string {
	for _, hd := range h.GetHeaders() {
		if strings.EqualFold(hd.GetKey(), key) {
			return hd.GetValue()
		}
	}
	return ""
}

// maxQtypes bounds the query types read from one DNS record.
const maxQtypes = 16

func measureDNS(d *flowpb.DNS) *DNS {
	q, cut := Truncate(d.GetQuery(), MaxDNSNameBytes, false)
	q = strings.TrimSuffix(q, ".")
	qtypes := d.GetQtypes()
	out := &DNS{Query: q, Qtypes: qtypes[:min(len(qtypes), maxQtypes)], Rcode: d.GetRcode(), Truncated: cut}
	if q == "" {
		return out
	}
	name := NormaliseHost(q)
	out.Domains = Domains([]string{name})
	out.Registered = name
	if r, err := publicsuffix.EffectiveTLDPlusOne(name); err == nil {
		out.Registered = r
	}
	out.Labels = strings.Split(q, ".")
	for _, l := range out.Labels {
		out.MaxLabelLength = max(out.MaxLabelLength, len(l))
		out.MaxLabelEntropy = max(out.MaxLabelEntropy, Entropy(l))
	}
	return out
}

// Entropy is the Shannon entropy of s in bits per byte. Tunnelled data
// encoded in base32/base64 labels scores near 4–5; words score near 3.
func Entropy(s string) float64 {
	if len(s) == 0 {
		return 0
	}
	var counts [256]int
	lo, hi := s[0], s[0]
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
		lo, hi = min(lo, s[i]), max(hi, s[i])
	}
	n := float64(len(s))
	h := 0.0
	// In byte order, as ever (the sum's rounding depends on it), over
	// the bytes between the least and the greatest seen only.
	for _, c := range counts[lo : int(hi)+1] {
		if c == 0 {
			continue
		}
		p := float64(c) / n
		h -= p * math.Log2(p)
	}
	return h
}
