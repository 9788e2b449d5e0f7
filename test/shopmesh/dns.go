package shopmesh

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
)

// DNS as the shop's pods see it: every pod asks CoreDNS through Cilium's
// DNS proxy (an egress DNS rule matching "*"), which logs each query and
// answer on the pod's node. CoreDNS answers cluster.local and the reverse
// zone itself (the kubernetes plugin) and forwards the rest to the VPC
// resolver, unless its cache already holds the answer.

// DNS response codes (RFC 1035) as Cilium reports them in rcode.
const (
	rcodeNoError  = 0
	rcodeNXDomain = 3
)

// noTTL is the TTL Cilium's DNS proxy reports when the answer section holds
// no A, AAAA or CNAME record (NXDOMAIN, NODATA, SRV, PTR, TXT, SOA): the
// lowest TTL of no records is the maximum.
const noTTL = math.MaxUint32

// nxdomainTTL is the TTL Cilium's DNS proxy reports for negative answers.
const nxdomainTTL = noTTL

// answer is what the cluster DNS replies to a query, as Cilium's proxy
// extracts it: the addresses, the CNAME targets, the type of every answer
// record and the lowest TTL of the address and CNAME records.
type answer struct {
	rcode   uint32
	ips     []string
	cnames  []string
	rrtypes []string
	ttl     uint32
}

var (
	nxdomain = answer{rcode: rcodeNXDomain, ttl: noTTL}
	nodata   = answer{rcode: rcodeNoError, ttl: noTTL}
)

// dnsQuery is one question a pod asks a CoreDNS pod, and its answer.
type dnsQuery struct {
	conn
	name, qtype string
	answer
}

// dnsRequest emits the query as Cilium's DNS proxy logs it on the client's
// node (egress L7 policy), d after the previous flow.
func (g *Generator) dnsRequest(q *dnsQuery, d time.Duration) {
	f := g.accessLog(q.conn, false, q.client.pod.node, flowpb.TrafficDirection_EGRESS, d)
	f.L7 = &flowpb.Layer7{Type: flowpb.L7FlowType_REQUEST, Record: &flowpb.Layer7_Dns{Dns: &flowpb.DNS{
		Query: q.name, ObservationSource: "proxy", Qtypes: []string{q.qtype},
	}}}
	f.Summary = "DNS Query " + q.name + " " + q.qtype //nolint:staticcheck // Cilium still fills the deprecated summary.
	g.emit(f)
}

// dnsResponse emits the answer to q, d after the previous flow.
func (g *Generator) dnsResponse(q *dnsQuery, d time.Duration) {
	f := g.accessLog(q.conn, true, q.client.pod.node, flowpb.TrafficDirection_EGRESS, d)
	a := q.answer
	f.L7 = &flowpb.Layer7{Type: flowpb.L7FlowType_RESPONSE, Record: &flowpb.Layer7_Dns{Dns: &flowpb.DNS{
		Query: q.name, Ips: slices.Clone(a.ips), Ttl: a.ttl, Cnames: slices.Clone(a.cnames), ObservationSource: "proxy",
		Rcode: a.rcode, Qtypes: []string{q.qtype}, Rrtypes: slices.Clone(a.rrtypes),
	}}}
	f.Summary = dnsAnswerSummary(q.name, q.qtype, a) //nolint:staticcheck // as above
	g.emit(f)
}

// dnsAnswerSummary renders an answer as Cilium's dnsSummary does.
func dnsAnswerSummary(query, qtype string, a answer) string {
	var parts []string
	switch {
	case a.rcode == rcodeNXDomain:
		parts = append(parts, "RCode: Non-Existent Domain")
	default:
		if len(a.ips) > 0 {
			parts = append(parts, fmt.Sprintf("%q", strings.Join(a.ips, ",")))
		}
		if len(a.cnames) > 0 {
			parts = append(parts, fmt.Sprintf("CNAMEs: %q", strings.Join(a.cnames, ",")))
		}
	}
	return fmt.Sprintf("DNS Answer %s TTL: %d (Proxy %s %s)", strings.Join(parts, " "), a.ttl, query, qtype)
}

// dnsConn is a client's UDP socket to one of the CoreDNS pods; the socket
// load balancer picks the pod behind the kube-dns Service.
func (g *Generator) dnsConn(client *pod) (conn, *pod) {
	dns := g.pod("coredns")
	return conn{client: podPeer(client), server: podPeer(dns), sport: g.ephemeralPort(), dport: 53, proto: udp}, dns
}

// lookup emits a DNS query from client and its answer a. upstream, when
// set, is the exchange CoreDNS has with its forwarder between the two.
func (g *Generator) lookup(client *pod, query, qtype string, a answer, upstream func(dns *pod)) {
	c, dns := g.dnsConn(client)
	q := &dnsQuery{conn: c, name: query, qtype: qtype, answer: a}
	g.dnsRequest(q, g.between(20*time.Microsecond, 2*time.Millisecond))
	if upstream != nil {
		upstream(dns)
	}
	g.dnsResponse(q, g.between(150*time.Microsecond, 1500*time.Microsecond))
}

// ask sends the questions of one resolver call for an absolute name (A and
// AAAA go out together on one socket, as glibc and musl send them), lets
// CoreDNS answer them, and returns the answer to the first.
func (g *Generator) ask(client *pod, fqdn string, qtypes ...string) answer {
	c, dns := g.dnsConn(client)
	queries := make([]dnsQuery, len(qtypes))
	forwarded := 0
	for i, qtype := range qtypes {
		a, upstream := g.answerFor(fqdn, qtype)
		queries[i] = dnsQuery{conn: c, name: fqdn, qtype: qtype, answer: a}
		if upstream {
			forwarded++
		}
		g.dnsRequest(&queries[i], g.between(10*time.Microsecond, 2*time.Millisecond))
	}
	for range forwarded {
		g.forward(dns)
	}
	for i := range queries {
		g.dnsResponse(&queries[i], g.between(100*time.Microsecond, 1500*time.Microsecond))
	}
	return queries[0].answer
}

// ndots is the option Kubernetes writes in every pod's resolv.conf.
const ndots = 5

// nodeSearchDomain is the search domain EKS nodes get from the VPC's DHCP
// options, which pods inherit after the cluster's own.
const nodeSearchDomain = "eu-west-1.compute.internal."

// searchList is the search line of a pod's resolv.conf in namespace ns.
func searchList(ns string) []string {
	return []string{ns + ".svc.cluster.local.", "svc.cluster.local.", "cluster.local.", nodeSearchDomain}
}

// resolve looks name up from client as its resolver does with ndots:5: a
// name with fewer than five dots is tried in every search domain before it
// is tried as it is, each try asking every qtype, until one is not
// NXDOMAIN. It returns that answer to the first qtype.
func (g *Generator) resolve(client *pod, name string, qtypes ...string) answer {
	if strings.HasSuffix(name, ".") {
		return g.ask(client, name, qtypes...)
	}
	relative := strings.Count(name, ".") < ndots
	if !relative {
		if a := g.ask(client, name+".", qtypes...); a.rcode != rcodeNXDomain {
			return a
		}
	}
	for _, domain := range searchList(client.w.namespace) {
		if a := g.ask(client, name+"."+domain, qtypes...); a.rcode != rcodeNXDomain {
			return a
		}
	}
	if relative {
		return g.ask(client, name+".", qtypes...)
	}
	return nxdomain
}

// resolveAddress resolves a host name for a connection: A and AAAA.
func (g *Generator) resolveAddress(client *pod, name string) answer {
	return g.resolve(client, name, "A", "AAAA")
}

// clusterTTL is the TTL of the kubernetes plugin's answers.
const clusterTTL = 5

// answerFor is what CoreDNS answers to qtype for fqdn, and whether it asks
// the VPC resolver for it (a cache miss outside its own zones).
func (g *Generator) answerFor(fqdn, qtype string) (answer, bool) {
	switch {
	case strings.HasSuffix(fqdn, ".cluster.local."):
		return g.clusterAnswer(fqdn, qtype), false
	case strings.HasSuffix(fqdn, ".in-addr.arpa."):
		return g.reverseAnswer(fqdn), false
	}
	a := internetAnswer(fqdn, qtype)
	if a.ttl != noTTL {
		a.ttl = 1 + uint32(g.rng.IntN(int(a.ttl))) // what is left of it in a cache
	}
	return a, g.chance(0.5)
}

// clusterAnswer answers from the cluster's Services: a ClusterIP for A, no
// IPv6 address (the cluster is IPv4 only), the named port for SRV.
func (g *Generator) clusterAnswer(fqdn, qtype string) answer {
	if qtype == "SRV" {
		if svc, ok := strings.CutPrefix(fqdn, "_grpc._tcp."); ok && g.mesh.services[svc] != nil {
			return answer{rcode: rcodeNoError, rrtypes: []string{"SRV"}, ttl: noTTL}
		}
		return nxdomain
	}
	w := g.mesh.services[fqdn]
	switch {
	case w == nil:
		return nxdomain
	case qtype == "A":
		return answer{rcode: rcodeNoError, ips: []string{w.clusterIP}, rrtypes: []string{"A"}, ttl: clusterTTL}
	}
	return nodata
}

// reverseAnswer answers a PTR query for a pod address behind a Service
// (CoreDNS names it <dashed-ip>.<service>.<namespace>.svc.cluster.local).
func (g *Generator) reverseAnswer(fqdn string) answer {
	o := strings.Split(strings.TrimSuffix(fqdn, ".in-addr.arpa."), ".")
	if len(o) == 4 && g.mesh.byIP[o[3]+"."+o[2]+"."+o[1]+"."+o[0]] != nil {
		return answer{rcode: rcodeNoError, rrtypes: []string{"PTR"}, ttl: noTTL}
	}
	return nxdomain
}

// ptrName is the reverse lookup name of an IPv4 address.
func ptrName(ip string) string {
	o := strings.Split(ip, ".")
	return o[3] + "." + o[2] + "." + o[1] + "." + o[0] + ".in-addr.arpa."
}

// record is what the Internet's DNS holds for a name the shop uses.
type record struct {
	cnames   []string // the CNAME chain from the name, in order
	a, aaaa  []string
	ttl      uint32 // of the address records (CNAMEs live longer)
	cnameTTL uint32
	txt, soa bool
}

// internetAnswer answers from the records of the Internet's DNS, which the
// VPC resolver (or CoreDNS's cache) serves.
func internetAnswer(fqdn, qtype string) answer {
	r, ok := internetZone[fqdn]
	if !ok {
		return nxdomain
	}
	var ips []string
	switch qtype {
	case "A":
		ips = r.a
	case "AAAA":
		ips = r.aaaa
	case "TXT":
		if r.txt {
			return answer{rcode: rcodeNoError, rrtypes: []string{"TXT"}, ttl: noTTL}
		}
		return nodata
	case "SOA":
		if r.soa {
			return answer{rcode: rcodeNoError, rrtypes: []string{"SOA"}, ttl: noTTL}
		}
		return nodata
	}
	a := answer{rcode: rcodeNoError, ips: ips, cnames: r.cnames, ttl: noTTL}
	for range r.cnames {
		a.rrtypes = append(a.rrtypes, "CNAME")
		a.ttl = r.cnameTTL
	}
	for range ips {
		a.rrtypes = append(a.rrtypes, qtype)
		a.ttl = min(a.ttl, r.ttl)
	}
	return a
}
