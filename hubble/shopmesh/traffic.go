package shopmesh

import (
	"fmt"
	"slices"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
)

// Addresses outside the cluster. They come from the documentation ranges
// (RFC 5737) so the simulation never names a real host.
const (
	shopHost      = "shop.example.com"
	stripeName    = "api.stripe.com"
	upstreamDNSIP = "10.0.0.2" // the VPC resolver CoreDNS forwards to
)

var (
	stripeIPs  = []string{"198.51.100.10", "198.51.100.11", "198.51.100.12"}
	carrierIPs = []string{"198.51.100.40", "198.51.100.41"}
	products   = []string{"OLJCESPC7Z", "66VCHSJNUP", "1YMWWN1N4O", "L9ECAV7KIM", "2ZYFJ3GM2N", "0PUK6V6EV0", "LS4PSXUNUM", "9SIQT8TOJO", "6E92ZMYYFZ"}
	browsers   = []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
		"Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
	}
)

// benign queues one scene of ordinary shop traffic.
func (g *Generator) benign() {
	switch r := g.rng.IntN(100); {
	case r < 22:
		g.pageView()
	case r < 25:
		g.placeOrder()
	case r < 37:
		g.redis(g.pod("cart"))
	case r < 43:
		g.postgres(g.pick(slices.Concat(g.mesh.workloads["catalog"].pods, g.mesh.workloads["checkout"].pods)))
	case r < 60:
		g.serviceLookup()
	case r < 74:
		g.backgroundRPC()
	case r < 78:
		g.stripe(g.pod("payment"))
	case r < 83:
		g.carrier(g.pod("shipping"))
	default:
		g.forward(g.pod("coredns"))
	}
}

// pageView is a shopper's page: the frontend fans out to the backends.
func (g *Generator) pageView() {
	fe := g.pod("frontend")
	method, path, code := "GET", "/", uint32(200)
	product := products[g.rng.IntN(len(products))]
	switch r := g.rng.IntN(100); {
	case r < 30:
	case r < 70:
		path = "/product/" + product
	case r < 85:
		path = "/cart"
	case r < 95:
		method, path, code = "POST", "/cart", 302
	default:
		method, path, code = "POST", "/setCurrency", 302
	}
	e := g.shopperRequest(fe, method, path, code)
	g.rpc(fe, "currency", "CurrencyService/GetSupportedCurrencies", false, nil)
	switch {
	case path == "/":
		g.rpc(fe, "catalog", "ProductCatalogService/ListProducts", false, nil)
		g.rpc(fe, "ad", "AdService/GetAds", false, nil)
	case path == "/cart" && method == "GET":
		g.rpc(fe, "cart", "CartService/GetCart", false, g.redis)
		g.rpc(fe, "recommendation", "RecommendationService/ListRecommendations", false, g.recommend)
		g.rpc(fe, "shipping", "ShippingService/GetQuote", false, nil)
	case path == "/cart":
		g.rpc(fe, "catalog", "ProductCatalogService/GetProduct", false, nil)
		g.rpc(fe, "cart", "CartService/AddItem", false, g.redis)
	case path == "/setCurrency":
	default:
		g.rpc(fe, "catalog", "ProductCatalogService/GetProduct", false, nil)
		g.rpc(fe, "cart", "CartService/GetCart", false, g.redis)
		g.rpc(fe, "recommendation", "RecommendationService/ListRecommendations", false, g.recommend)
		g.rpc(fe, "ad", "AdService/GetAds", false, nil)
	}
	g.response(e, g.between(300*time.Microsecond, 4*time.Millisecond))
}

// placeOrder is a checkout: the longest call chain in the shop, with the
// payment provider and the carrier on the Internet.
func (g *Generator) placeOrder() {
	fe := g.pod("frontend")
	e := g.shopperRequest(fe, "POST", "/cart/checkout", 200)
	g.rpc(fe, "checkout", "CheckoutService/PlaceOrder", true, func(co *pod) {
		g.rpc(co, "cart", "CartService/GetCart", false, g.redis)
		for range 1 + g.rng.IntN(3) {
			g.rpc(co, "catalog", "ProductCatalogService/GetProduct", false, nil)
			g.rpc(co, "currency", "CurrencyService/Convert", false, nil)
		}
		g.rpc(co, "shipping", "ShippingService/GetQuote", false, nil)
		g.rpc(co, "payment", "PaymentService/Charge", true, g.stripe)
		g.rpc(co, "shipping", "ShippingService/ShipOrder", false, g.carrier)
		g.postgres(co)
		g.rpc(co, "email", "EmailService/SendOrderConfirmation", false, nil)
		g.rpc(co, "cart", "CartService/EmptyCart", false, g.redis)
	})
	g.response(e, g.between(500*time.Microsecond, 5*time.Millisecond))
}

// backgroundRPC is a call between services outside a page view.
func (g *Generator) backgroundRPC() {
	switch g.rng.IntN(4) {
	case 0:
		g.rpc(g.pod("recommendation"), "catalog", "ProductCatalogService/ListProducts", false, nil)
	case 1:
		g.rpc(g.pod("frontend"), "ad", "AdService/GetAds", false, nil)
	case 2:
		g.rpc(g.pod("frontend"), "currency", "CurrencyService/Convert", false, nil)
	default:
		g.rpc(g.pod("checkout"), "shipping", "ShippingService/GetQuote", false, nil)
	}
}

func (g *Generator) recommend(rec *pod) {
	g.rpc(rec, "catalog", "ProductCatalogService/ListProducts", false, nil)
}

// shopperRequest sends a browser's request from the Internet to fe and
// returns the exchange for its response.
func (g *Generator) shopperRequest(fe *pod, method, path string, code uint32) *exchange {
	shopper := worldPeer(fmt.Sprintf("192.0.2.%d", 1+g.rng.IntN(254)))
	e := &exchange{
		conn:     conn{client: shopper, server: podPeer(fe), sport: g.ephemeralPort(), dport: fe.w.port},
		method:   method,
		url:      "http://" + shopHost + path,
		protocol: "HTTP/1.1",
		headers: headers(
			"Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
			"Accept-Language", "en-GB,en;q=0.9",
			"Cookie", fmt.Sprintf("shop_session-id=%s; shop_currency=EUR", g.uuid()),
			"User-Agent", browsers[g.rng.IntN(len(browsers))],
			"X-Forwarded-Proto", "https",
			"X-Request-Id", g.uuid(),
		),
		code: code,
	}
	g.request(e, g.between(50*time.Microsecond, 500*time.Microsecond))
	return e
}

// rpc is a gRPC call from client to a pod of the server workload, over
// the client's pooled HTTP/2 connection; inner runs on the server pod
// between request and response.
func (g *Generator) rpc(client *pod, server, method string, auth bool, inner func(*pod)) {
	srv := g.pod(server)
	kv := []string{
		"Content-Type", "application/grpc",
		"Grpc-Accept-Encoding", "gzip",
		"Te", "trailers",
		"User-Agent", "grpc-go/1.64.0",
		"X-Request-Id", g.uuid(),
	}
	if auth {
		kv = append(kv, "Authorization", "Bearer "+g.jwt())
	}
	e := &exchange{
		conn:     conn{client: podPeer(client), server: podPeer(srv), sport: g.pooled(client, srv), dport: srv.w.port},
		method:   "POST",
		url:      fmt.Sprintf("http://%s:%d/hipstershop.%s", srv.w.name, srv.w.port, method),
		protocol: "HTTP/2",
		headers:  headers(kv...),
		code:     200,
	}
	g.request(e, g.between(40*time.Microsecond, 600*time.Microsecond))
	if inner != nil {
		inner(srv)
	}
	g.response(e, g.between(200*time.Microsecond, 5*time.Millisecond))
}

// jwt returns a made-up bearer token shaped like a signed JWT.
func (g *Generator) jwt() string {
	const b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	return "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9." + g.token(b64url, 96) + "." + g.token(b64url, 43)
}

// pooled returns the source port of client's long-lived connection to
// server, opening one (a new port) now and then.
func (g *Generator) pooled(client, server *pod) uint32 {
	key := client.name + ">" + server.name
	port, ok := g.pools[key]
	if !ok || g.chance(0.02) {
		port = g.ephemeralPort()
		g.pools[key] = port
	}
	return port
}

// redis is cart's traffic to its Redis: requests on the pooled connection,
// and now and then a new connection.
func (g *Generator) redis(cart *pod) {
	g.database(cart, "redis-cart", 1+g.rng.IntN(2))
}

// postgres is a query on the catalog or orders database.
func (g *Generator) postgres(client *pod) {
	g.database(client, "postgres", 1+g.rng.IntN(3))
}

func (g *Generator) database(client *pod, server string, queries int) {
	srv := g.pod(server)
	_, open := g.pools[client.name+">"+srv.name]
	c := conn{client: podPeer(client), server: podPeer(srv), sport: g.pooled(client, srv), dport: srv.w.port}
	if !open || g.chance(0.15) {
		c.sport = g.ephemeralPort()
		g.pools[client.name+">"+srv.name] = c.sport
		g.tcpSession(c, queries)
		return
	}
	for range queries {
		g.packet(c, false, flagsPSHACK(), flowpb.TraceReason_ESTABLISHED, g.between(30*time.Microsecond, 400*time.Microsecond))
		g.packet(c, true, flagsPSHACK(), flowpb.TraceReason_REPLY, g.between(100*time.Microsecond, 2*time.Millisecond))
	}
}

// serviceLookup is a pod resolving a Service name through CoreDNS.
func (g *Generator) serviceLookup() {
	var client *pod
	var target *workload
	switch g.rng.IntN(5) {
	case 0:
		client, target = g.pod("cart"), g.mesh.workloads["redis-cart"]
	case 1:
		client, target = g.pod("catalog"), g.mesh.workloads["postgres"]
	default:
		shop := []string{"frontend", "checkout", "recommendation", "cart", "catalog", "currency", "shipping", "payment", "email", "ad"}
		client = g.pod(shop[g.rng.IntN(len(shop))])
		target = g.mesh.workloads[shop[g.rng.IntN(len(shop))]]
	}
	name := target.serviceName()
	g.lookup(client, name, "A", answer{rcode: rcodeNoError, ips: []string{target.clusterIP}, ttl: 5}, nil)
	if g.chance(0.5) {
		g.lookup(client, name, "AAAA", answer{rcode: rcodeNoError, ttl: 5}, nil)
	}
}

// resolveExternal resolves an Internet name the way a pod with the default
// ndots:5 does: through every search domain first, then as is.
func (g *Generator) resolveExternal(client *pod, name string, ips []string) {
	for _, search := range []string{client.w.namespace + ".svc.cluster.local", "svc.cluster.local", "cluster.local"} {
		g.lookup(client, name+"."+search+".", "A", answer{rcode: rcodeNXDomain, ttl: nxdomainTTL}, nil)
	}
	g.lookup(client, name+".eu-west-1.compute.internal.", "A", answer{rcode: rcodeNXDomain, ttl: nxdomainTTL}, g.forward)
	g.lookup(client, name+".", "A", answer{rcode: rcodeNoError, ips: ips, ttl: 60}, g.forward)
}

// stripe is payment charging a card at the payment provider. Cilium knows
// the provider's addresses by name (DNS-aware policy), so the flows carry
// destination_names.
func (g *Generator) stripe(pay *pod) {
	if g.chance(0.4) {
		g.resolveExternal(pay, stripeName, stripeIPs)
	}
	ip := stripeIPs[g.rng.IntN(len(stripeIPs))]
	g.tcpSession(conn{client: podPeer(pay), server: worldPeer(ip, stripeName), sport: g.ephemeralPort(), dport: 443}, 1+g.rng.IntN(2))
}

// carrier is shipping calling the carrier's API, by address only.
func (g *Generator) carrier(ship *pod) {
	ip := carrierIPs[g.rng.IntN(len(carrierIPs))]
	g.tcpSession(conn{client: podPeer(ship), server: worldPeer(ip), sport: g.ephemeralPort(), dport: 443}, 1)
}

// forward is CoreDNS forwarding a query to the VPC resolver, which Cilium
// labels world although its address is private.
func (g *Generator) forward(dns *pod) {
	c := conn{client: podPeer(dns), server: worldPeer(upstreamDNSIP), sport: g.ephemeralPort(), dport: 53, udp: true}
	g.packet(c, false, nil, flowpb.TraceReason_NEW, g.between(30*time.Microsecond, 300*time.Microsecond))
	g.packet(c, true, nil, flowpb.TraceReason_REPLY, g.between(300*time.Microsecond, 3*time.Millisecond))
}
