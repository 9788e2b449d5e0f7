package shopmesh_test

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/test/shopmesh"
)

// benignFlows is a long capture of ordinary traffic, shared by the tests
// of its properties (generating it is the slow part).
var benignFlows = sync.OnceValue(func() []*flowpb.Flow {
	return generate(shopmesh.Config{Seed: 19, Start: start}, 40000)
})

func header(h *flowpb.HTTP, key string) string {
	for _, x := range h.GetHeaders() {
		if x.GetKey() == key {
			return x.GetValue()
		}
	}
	return ""
}

// searchDomains is the search line of a pod's resolv.conf on the EKS
// nodes, for a pod in ns.
func searchDomains(ns string) []string {
	return []string{ns + ".svc.cluster.local.", "svc.cluster.local.", "cluster.local.", "eu-west-1.compute.internal."}
}

// TestBenignTrafficProperties checks what makes the ordinary traffic a
// realistic test of the detective policies: complete exchanges, resolvers
// that behave like glibc with ndots:5, the clients and user agents of a
// real shop, and the cluster's own machinery.
func TestBenignTrafficProperties(t *testing.T) {
	for _, tc := range []struct {
		name  string
		check func(t *testing.T, flows []*flowpb.Flow)
	}{
		{"every HTTP request has one response, later, with its latency", func(t *testing.T, flows []*flowpb.Flow) {
			open := map[string]*flowpb.Flow{}
			for i, f := range flows {
				h := f.GetL7().GetHttp()
				if h == nil {
					continue
				}
				id := header(h, "X-Request-Id")
				require.NotEmpty(t, id, "flow %d has no X-Request-Id", i)
				if !f.GetIsReply().GetValue() {
					require.NotContains(t, open, id, "flow %d reuses a request id", i)
					open[id] = f
					continue
				}
				req, ok := open[id]
				require.True(t, ok, "response %d answers no request", i)
				delete(open, id)
				require.Equal(t, req.GetL7().GetHttp().GetUrl(), h.GetUrl(), "flow %d", i)
				require.Equal(t, req.GetL7().GetHttp().GetMethod(), h.GetMethod(), "flow %d", i)
				require.Equal(t, req.GetIP().GetSource(), f.GetIP().GetDestination(), "flow %d", i)
				require.Equal(t, req.GetNodeName(), f.GetNodeName(), "flow %d: logged by another proxy", i)
				latency := f.GetTime().AsTime().Sub(req.GetTime().AsTime())
				require.Positive(t, latency, "flow %d", i)
				require.EqualValues(t, latency.Nanoseconds(), f.GetL7().GetLatencyNs(), "flow %d", i)
				require.Equal(t, req.GetTraceContext().GetParent().GetTraceId(), f.GetTraceContext().GetParent().GetTraceId(), "flow %d", i)
			}
			for id, f := range open {
				require.True(t, cutShort(flows, f), "request %s has no response", id)
			}
		}},
		{"every DNS query has one answer", func(t *testing.T, flows []*flowpb.Flow) {
			open := map[string]*flowpb.Flow{}
			for i, f := range flows {
				d := f.GetL7().GetDns()
				if d == nil {
					continue
				}
				client, port := f.GetIP().GetSource(), f.GetL4().GetUDP().GetSourcePort()
				if f.GetIsReply().GetValue() {
					client, port = f.GetIP().GetDestination(), f.GetL4().GetUDP().GetDestinationPort()
				}
				key := fmt.Sprint(client, port, d.GetQuery(), d.GetQtypes())
				if !f.GetIsReply().GetValue() {
					open[key] = f
					continue
				}
				require.Contains(t, open, key, "answer %d to no query: %s", i, f.GetSummary()) //nolint:staticcheck // Cilium fills it.
				delete(open, key)
			}
			for key, f := range open {
				require.True(t, cutShort(flows, f), "query %s has no answer", key)
			}
		}},
		{"every NXDOMAIN is a search-path expansion of a name that then resolves", func(t *testing.T, flows []*flowpb.Flow) {
			pending := map[string]*flowpb.Flow{} // client IP and relative name -> NXDOMAIN
			nx := 0
			for i, f := range flows {
				d := f.GetL7().GetDns()
				if d == nil || !f.GetIsReply().GetValue() {
					continue
				}
				client := f.GetIP().GetDestination()
				domains := searchDomains(f.GetDestination().GetNamespace())
				// The names the query may be an expansion of.
				bases := []string{strings.TrimSuffix(d.GetQuery(), ".")}
				for _, domain := range domains {
					if b, ok := strings.CutSuffix(d.GetQuery(), "."+domain); ok {
						bases = append(bases, b)
					}
				}
				switch d.GetRcode() {
				case 3:
					nx++
					// bases[1] strips the longest search domain: the expansion.
					require.GreaterOrEqual(t, len(bases), 2, "flow %d: NXDOMAIN for %s, not in a search domain of %v", i, d.GetQuery(), domains)
					require.Less(t, strings.Count(bases[1], "."), 5, "flow %d: ndots:5 tries %s as it is first", i, bases[1])
					require.EqualValues(t, uint32(4294967295), d.GetTtl(), "flow %d", i)
					require.Empty(t, d.GetRrtypes(), "flow %d", i)
					pending[client+" "+bases[1]] = f
				case 0:
					for _, b := range bases {
						delete(pending, client+" "+b)
					}
				default:
					t.Fatalf("flow %d: rcode %d", i, d.GetRcode())
				}
			}
			require.Positive(t, nx, "no search-path expansion at all")
			for name, f := range pending {
				require.True(t, cutShort(flows, f), "%s never resolved", name)
			}
		}},
		{"DNS answers are shaped like Cilium's proxy reports them", func(t *testing.T, flows []*flowpb.Flow) {
			qtypes := map[string]int{}
			cnames := 0
			for i, f := range flows {
				d := f.GetL7().GetDns()
				if d == nil {
					continue
				}
				require.Len(t, d.GetQtypes(), 1, "flow %d", i)
				qtype := d.GetQtypes()[0]
				qtypes[qtype]++
				require.Equal(t, "proxy", d.GetObservationSource(), "flow %d", i)
				require.True(t, strings.HasSuffix(d.GetQuery(), "."), "flow %d", i)
				require.Equal(t, strings.ToLower(d.GetQuery()), d.GetQuery(), "flow %d", i)
				if qtype == "TXT" {
					require.Equal(t, "cert-manager", clientNamespace(f), "flow %d: TXT from %v", i, f.GetSource())
					require.True(t, strings.HasPrefix(d.GetQuery(), "_acme-challenge."), "flow %d", i)
				}
				if !f.GetIsReply().GetValue() || d.GetRcode() != 0 {
					continue
				}
				// One record type per answer record; the TTL is the lowest of
				// the address and CNAME records, or none.
				addresses := slices.DeleteFunc(slices.Clone(d.GetRrtypes()), func(rr string) bool { return rr != "A" && rr != "AAAA" && rr != "CNAME" })
				require.Len(t, addresses, len(d.GetIps())+len(d.GetCnames()), "flow %d: %v", i, d)
				if len(d.GetIps())+len(d.GetCnames()) == 0 {
					require.EqualValues(t, uint32(4294967295), d.GetTtl(), "flow %d", i)
				} else {
					require.LessOrEqual(t, d.GetTtl(), uint32(300), "flow %d", i)
					require.Positive(t, d.GetTtl(), "flow %d", i)
				}
				if len(d.GetCnames()) > 0 {
					cnames++
					require.Equal(t, "CNAME", d.GetRrtypes()[0], "flow %d", i)
				}
				for _, ip := range d.GetIps() {
					require.Equal(t, qtype == "AAAA", strings.Contains(ip, ":"), "flow %d: %s answers %s", i, qtype, ip)
				}
			}
			for _, q := range []string{"A", "AAAA", "SRV", "PTR"} {
				require.Positive(t, qtypes[q], "no %s queries (saw %v)", q, qtypes)
			}
			for q := range qtypes {
				require.Contains(t, []string{"A", "AAAA", "SRV", "PTR", "SOA", "TXT"}, q, "unexpected qtype")
			}
			require.Positive(t, cnames, "no CNAME chains")
		}},
		{"DNS names are human except the cloud providers'", func(t *testing.T, flows []*flowpb.Flow) {
			for i, f := range flows {
				q := strings.TrimSuffix(f.GetL7().GetDns().GetQuery(), ".")
				if q == "" || strings.HasSuffix(q, ".in-addr.arpa") {
					continue
				}
				for label := range strings.SplitSeq(q, ".") {
					require.NotEmpty(t, label, "flow %d: %s", i, q)
					require.LessOrEqual(t, len(label), 24, "flow %d: %s", i, q)
				}
			}
		}},
		{"HTTP covers the methods, status codes and protocols of a real shop", func(t *testing.T, flows []*flowpb.Flow) {
			methods, codes, protocols := map[string]bool{}, map[uint32]bool{}, map[string]bool{}
			for _, f := range flows {
				h := f.GetL7().GetHttp()
				if h == nil {
					continue
				}
				methods[h.GetMethod()] = true
				protocols[h.GetProtocol()] = true
				if f.GetIsReply().GetValue() {
					codes[h.GetCode()] = true
				}
			}
			for _, m := range []string{"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"} {
				require.True(t, methods[m], "no %s (saw %v)", m, methods)
			}
			for _, c := range []uint32{200, 201, 204, 301, 302, 304, 404, 429, 500, 503} {
				require.True(t, codes[c], "no %d (saw %v)", c, codes)
			}
			require.Equal(t, map[string]bool{"HTTP/1.1": true, "HTTP/2": true}, protocols)
		}},
		{"URLs escape what needs escaping and carry real query strings", func(t *testing.T, flows []*flowpb.Flow) {
			queries := map[string]bool{}
			for i, f := range flows {
				h := f.GetL7().GetHttp()
				if h == nil || f.GetIsReply().GetValue() {
					continue
				}
				u, err := url.Parse(h.GetUrl())
				require.NoError(t, err, "flow %d", i)
				require.NotContains(t, h.GetUrl(), "'", "flow %d", i)
				require.NotContains(t, h.GetUrl(), `"`, "flow %d", i)
				require.NotContains(t, h.GetUrl(), " ", "flow %d", i)
				require.NotContains(t, h.GetUrl(), "<", "flow %d", i)
				for k := range u.Query() {
					queries[k] = true
				}
				if q := u.Query().Get("q"); strings.Contains(q, "'") {
					queries["apostrophe"] = true
				}
			}
			for _, k := range []string{"q", "page", "sort", "utm_source", "utm_medium", "utm_campaign", "currency_code", "product_id", "X-Amz-Signature", "X-Amz-Credential", "apostrophe"} {
				require.True(t, queries[k], "no %s in any query string", k)
			}
		}},
		{"every HTTP request names its client", func(t *testing.T, flows []*flowpb.Flow) {
			var agents []string
			for i, f := range flows {
				h := f.GetL7().GetHttp()
				if h == nil || f.GetIsReply().GetValue() {
					continue
				}
				ua := header(h, "User-Agent")
				require.NotEmpty(t, ua, "flow %d", i)
				agents = append(agents, ua)
			}
			for _, want := range []string{"Mozilla/5.0 (", "Chrome/", "Firefox/", "Safari/", "Googlebot/", "bingbot/", "okhttp/", "Go-http-client/", "grpc-go/", "grpc-python/", "kube-probe/1.30", "Prometheus/2.53.0", "ELB-HealthChecker/", "UptimeRobot/"} {
				require.True(t, slices.ContainsFunc(agents, func(ua string) bool { return strings.Contains(ua, want) }), "no %s user agent", want)
			}
		}},
		{"kubelet probes come from the host of the pod's node", func(t *testing.T, flows []*flowpb.Flow) {
			probed := map[string]bool{}
			for i, f := range flows {
				if !strings.HasPrefix(header(f.GetL7().GetHttp(), "User-Agent"), "kube-probe/") || f.GetIsReply().GetValue() {
					continue
				}
				require.Equal(t, []string{"reserved:host"}, f.GetSource().GetLabels(), "flow %d", i)
				require.NotZero(t, f.GetDestination().GetID(), "flow %d: the pod is local", i)
				probed[f.GetDestination().GetPodName()] = true
			}
			require.GreaterOrEqual(t, len(probed), 15, "pods probed: %v", probed)
		}},
		{"Prometheus scrapes every workload across namespaces and every node", func(t *testing.T, flows []*flowpb.Flow) {
			workloads, kinds := map[string]bool{}, map[string]bool{}
			for i, f := range flows {
				h := f.GetL7().GetHttp()
				if header(h, "User-Agent") != "Prometheus/2.53.0" || f.GetIsReply().GetValue() {
					continue
				}
				require.Equal(t, "monitoring/prometheus", f.GetSource().GetNamespace()+"/"+f.GetSource().GetWorkloads()[0].GetName(), "flow %d", i)
				require.Equal(t, flowpb.TrafficDirection_EGRESS, f.GetTrafficDirection(), "flow %d: logged by prometheus' egress policy", i)
				u, err := url.Parse(h.GetUrl())
				require.NoError(t, err)
				require.Equal(t, f.GetIP().GetDestination(), u.Hostname(), "flow %d: scraped by address", i)
				if ns := f.GetDestination().GetNamespace(); ns != "" {
					workloads[ns+"/"+f.GetDestination().GetWorkloads()[0].GetName()] = true
				} else {
					kinds[strings.Join(f.GetDestination().GetLabels(), ",")] = true
				}
			}
			for _, w := range []string{"shop/frontend", "shop/cart", "shop/checkout", "shop/catalog", "shop/payment", "shop/shipping", "shop/email", "shop/recommendation", "shop/currency", "shop/ad", "shop-data/redis-cart", "shop-data/postgres", "shop-data/minio", "kube-system/coredns", "cert-manager/cert-manager"} {
				require.True(t, workloads[w], "%s never scraped", w)
			}
			require.Equal(t, map[string]bool{"reserved:host": true, "reserved:remote-node": true}, kinds)
		}},
		{"the cluster's machinery is there", func(t *testing.T, flows []*flowpb.Flow) {
			seen := map[string]bool{}
			for _, f := range flows {
				src, dst := strings.Join(f.GetSource().GetLabels(), ","), strings.Join(f.GetDestination().GetLabels(), ",")
				switch {
				case dst == "reserved:health" && f.GetL4().GetICMPv4() != nil:
					seen["cilium-health ping"] = true
				case dst == "reserved:health" && f.GetL4().GetTCP().GetDestinationPort() == 4240:
					seen["cilium-health http"] = true
				case dst == "reserved:kube-apiserver,reserved:world":
					seen["api server from "+f.GetSource().GetNamespace()] = true
				case src == "reserved:world" && f.GetSource().GetNamespace() == "" && header(f.GetL7().GetHttp(), "User-Agent") == "ELB-HealthChecker/2.0":
					seen["load balancer health check"] = true
				}
			}
			for _, k := range []string{"cilium-health ping", "cilium-health http", "api server from kube-system", "api server from monitoring", "api server from cert-manager", "load balancer health check"} {
				require.True(t, seen[k], "no %s (saw %v)", k, seen)
			}
		}},
		{"the Internet is reached on 443 by name, or resolved by CoreDNS", func(t *testing.T, flows []*flowpb.Flow) {
			names := map[string]bool{}
			for i, f := range flows {
				if !slices.Equal(f.GetDestination().GetLabels(), []string{"reserved:world"}) || f.GetIsReply().GetValue() || f.GetType() != flowpb.FlowType_L3_L4 {
					continue
				}
				port := f.GetL4().GetTCP().GetDestinationPort() + f.GetL4().GetUDP().GetDestinationPort()
				if f.GetSource().GetWorkloads()[0].GetName() == "coredns" {
					require.EqualValues(t, 53, port, "flow %d", i)
					continue
				}
				require.EqualValues(t, 443, port, "flow %d", i)
				for _, n := range f.GetDestinationNames() {
					names[n] = true
				}
			}
			for _, n := range []string{"api.stripe.com", "api.sendgrid.com", "hooks.slack.com", "o123.ingest.sentry.io", "storage.googleapis.com", "shop-pg-wal.s3.eu-west-1.amazonaws.com", "d111111abcdef8.cloudfront.net", "acme-v02.api.letsencrypt.org"} {
				require.True(t, names[n], "no connection to %s", n)
			}
		}},
		{"policy admits every new connection, with mutual authentication into payment", func(t *testing.T, flows []*flowpb.Flow) {
			seen := map[string]int{}
			for i, f := range flows {
				if f.GetEventType().GetType() != 5 {
					continue
				}
				seen[f.GetVerdict().String()+" "+f.GetTrafficDirection().String()]++
				dst := f.GetDestination()
				if f.GetTrafficDirection() == flowpb.TrafficDirection_INGRESS && dst.GetWorkloads()[0].GetName() == "payment" {
					want := flowpb.AuthType_SPIRE
					if f.GetSource().GetPodName() == "" {
						want = flowpb.AuthType_DISABLED // the kubelet
					}
					require.Equal(t, want, f.GetAuthType(), "flow %d", i)
					seen["mutual auth"]++
				}
			}
			for _, k := range []string{"FORWARDED EGRESS", "FORWARDED INGRESS", "REDIRECTED EGRESS", "REDIRECTED INGRESS", "mutual auth"} {
				require.Positive(t, seen[k], "no %s policy verdicts (saw %v)", k, seen)
			}
		}},
		{"traces propagate from the frontend", func(t *testing.T, flows []*flowpb.Flow) {
			traced := 0
			for i, f := range flows {
				tp := header(f.GetL7().GetHttp(), "Traceparent")
				if tp == "" {
					require.Nil(t, f.GetTraceContext(), "flow %d", i)
					continue
				}
				traced++
				require.Equal(t, tp[3:35], f.GetTraceContext().GetParent().GetTraceId(), "flow %d", i)
			}
			require.Positive(t, traced)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.check(t, benignFlows()) })
	}
}

// cutShort says whether f is among the last flows of the capture, where an
// exchange may be cut before its end.
func cutShort(flows []*flowpb.Flow, f *flowpb.Flow) bool {
	return slices.Contains(flows[len(flows)-300:], f)
}

// clientNamespace is the namespace of the pod that asked a DNS question.
func clientNamespace(f *flowpb.Flow) string {
	if f.GetIsReply().GetValue() {
		return f.GetDestination().GetNamespace()
	}
	return f.GetSource().GetNamespace()
}

// TestBenignTrafficIsVaried checks the proportions of the traffic classes,
// loosely: no class takes over the capture, none is missing.
func TestBenignTrafficIsVaried(t *testing.T) {
	flows := benignFlows()
	share := map[string]int{}
	for _, f := range flows {
		switch {
		case f.GetL7().GetDns() != nil:
			share["dns"]++
		case f.GetL7().GetHttp() != nil:
			share["http"]++
		default:
			share["l3l4"]++
		}
	}
	for class, n := range share {
		frac := float64(n) / float64(len(flows))
		require.Greater(t, frac, 0.15, "%s is %.0f%% of the traffic", class, 100*frac)
		require.Less(t, frac, 0.55, "%s is %.0f%% of the traffic", class, 100*frac)
	}
}
