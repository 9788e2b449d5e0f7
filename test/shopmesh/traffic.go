package shopmesh

import (
	"fmt"
	"slices"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
)

// The shop's own traffic: what the services say to each other and to
// their databases. Shoppers are in web.go, the Internet services in
// internet.go and the cluster's machinery in infra.go.

// benign queues one scene of ordinary shop traffic; the weights are per
// thousand scenes. Periodic traffic (probes, scrapes, health checks) comes
// on its own clock, from infra.go.
func (g *Generator) benign() {
	switch r := g.rng.IntN(1000); {
	case r < 250:
		g.pageView()
	case r < 330:
		g.staticAssets()
	case r < 390:
		g.apiCall()
	case r < 402:
		g.crawl()
	case r < 414:
		g.placeOrder()
	case r < 494:
		g.redis(g.pod("cart"))
	case r < 544:
		g.postgres(g.pick(slices.Concat(g.mesh.workloads["catalog"].pods, g.mesh.workloads["checkout"].pods)))
	case r < 624:
		g.serviceLookup()
	case r < 744:
		g.backgroundRPC()
	case r < 774:
		g.stripe(g.pod("payment"))
	case r < 804:
		g.carrier(g.pod("shipping"))
	case r < 874:
		g.saas()
	case r < 894:
		g.srvLookup()
	case r < 998:
		g.forward(g.pod("coredns"))
	default:
		if g.cfg.Baseline { // renewals are scheduled there (baseline.go)
			g.forward(g.pod("coredns"))
			return
		}
		g.renewCertificate()
	}
}

// placeOrder is a checkout: the longest call chain in the shop, with the
// payment provider, the carrier and the mail provider on the Internet.
func (g *Generator) placeOrder() {
	fe := g.pod("frontend")
	g.startTrace()
	code := uint32(200)
	if g.chance(0.02) {
		code = 500 // the card was declined
	}
	e := g.browserRequest(fe, "POST", "/cart/checkout", code, "https://"+shopHost+"/cart")
	g.rpc(fe, "checkout", "CheckoutService/PlaceOrder", true, func(co *pod) {
		g.rpc(co, "cart", "CartService/GetCart", false, g.redis)
		for range 1 + g.rng.IntN(3) {
			g.rpc(co, "catalog", "ProductCatalogService/GetProduct", false, nil)
			g.rpc(co, "currency", "CurrencyService/Convert", false, nil)
		}
		g.rpc(co, "shipping", "ShippingService/GetQuote", false, nil)
		g.rpc(co, "payment", "PaymentService/Charge", true, g.stripe)
		if code != 200 {
			return
		}
		g.rpc(co, "shipping", "ShippingService/ShipOrder", false, g.carrier)
		g.postgres(co)
		g.rpc(co, "email", "EmailService/SendOrderConfirmation", false, g.sendMail)
		g.rpc(co, "cart", "CartService/EmptyCart", false, g.redis)
		if g.chance(0.05) {
			g.notifySlack(co) // a large order
		}
	})
	g.response(e, g.took("frontend", 500*time.Microsecond, 5*time.Millisecond))
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

// grpcUserAgents are the User-Agent headers of the gRPC libraries the
// services are built with, by language.
var grpcUserAgents = map[string]string{
	langGo:     "grpc-go/1.64.0",
	langPython: "grpc-python/1.64.1 grpc-c/41.0.0 (linux; chttp2)",
	langNode:   "grpc-node-js/1.10.9",
	langJava:   "grpc-java-netty/1.64.0",
	langDotnet: "grpc-dotnet/2.63.0 (.NET 8.0.6; CLR 8.0.6; net8.0; linux; x64)",
}

// rpc is a gRPC call from client to a pod of the server workload; inner
// runs on the server pod between request and response.
func (g *Generator) rpc(client *pod, server, method string, auth bool, inner func(*pod)) {
	srv := g.pod(server)
	e := g.grpcCall(client, srv, method, auth)
	g.request(e, g.between(40*time.Microsecond, 600*time.Microsecond))
	if g.cfg.Baseline {
		g.baselineRPC(e, client, srv, method, inner)
		return
	}
	if inner != nil {
		inner(srv)
	}
	g.response(e, g.between(200*time.Microsecond, 5*time.Millisecond))
}

// failedRPC is a call the server's proxy cannot deliver: Envoy answers
// 503 itself after the connect timeout.
func (g *Generator) failedRPC(client *pod, server, method string) {
	e := g.grpcCall(client, g.pod(server), method, false)
	e.code = 503
	g.request(e, g.between(40*time.Microsecond, 600*time.Microsecond))
	g.response(e, g.between(250*time.Millisecond, 1100*time.Millisecond))
}

// grpcCall is the exchange of a call from client to srv over the client's
// pooled HTTP/2 connection. A new connection is resolved and admitted
// first.
func (g *Generator) grpcCall(client, srv *pod, method string, auth bool) *exchange {
	kv := []string{
		"Content-Type", "application/grpc",
		"Grpc-Accept-Encoding", "gzip",
		"Te", "trailers",
		"User-Agent", grpcUserAgents[client.w.lang],
		"X-Request-Id", g.uuid(),
	}
	if auth {
		kv = append(kv, "Authorization", "Bearer "+g.jwt())
	}
	sport, fresh := g.pooled(client, podPeer(srv), srv.w.port, 0.02)
	e := &exchange{
		conn:     conn{client: podPeer(client), server: podPeer(srv), sport: sport, dport: srv.w.port},
		method:   "POST",
		url:      fmt.Sprintf("http://%s:%d/hipstershop.%s", srv.w.name, srv.w.port, method),
		protocol: "HTTP/2",
		headers:  headers(g.traced(kv)...),
		code:     200,
	}
	if fresh {
		g.resolveAddress(client, serviceAddress(client, srv.w))
		g.open(e)
	}
	return e
}

// serviceAddress is how client's configuration names w: the short name in
// its own namespace, else the forms people write (all of them relative,
// so ndots:5 sends most through the search list first).
func serviceAddress(client *pod, w *workload) string {
	switch {
	case w.namespace == client.w.namespace:
		return w.name
	case w.name == "postgres":
		return w.name + "." + w.namespace + ".svc.cluster.local"
	case w.name == "minio":
		return w.name + "." + w.namespace + ".svc"
	}
	return w.name + "." + w.namespace
}

// startTrace begins a distributed trace: the frontend's OpenTelemetry SDK
// samples every request and propagates it in traceparent.
func (g *Generator) startTrace() { g.trace = g.hex(32) }

// traced adds the current trace's traceparent, with a new span, to kv.
func (g *Generator) traced(kv []string) []string {
	if g.trace == "" {
		return kv
	}
	return append(kv, "Traceparent", "00-"+g.trace+"-"+g.hex(16)+"-01")
}

// jwt returns a made-up bearer token shaped like a signed JWT.
func (g *Generator) jwt() string {
	const b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	return "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9." + g.token(b64url, 96) + "." + g.token(b64url, 43)
}

// redis is cart's traffic to its Redis: requests on the pooled connection,
// and now and then a new connection.
func (g *Generator) redis(cart *pod) {
	g.database(cart, "redis-cart", 1+g.rng.IntN(2), nil)
}

// postgres is a query on the catalog or orders database. PostgreSQL runs
// with log_hostname, so it looks every new client up in the reverse zone.
func (g *Generator) postgres(client *pod) {
	g.database(client, "postgres", 1+g.rng.IntN(3), func(pg *pod) {
		g.ask(pg, ptrName(client.ip), "PTR")
	})
}

func (g *Generator) database(client *pod, server string, queries int, accepted func(srv *pod)) {
	srv := g.pod(server)
	dial := func() { g.resolveAddress(client, serviceAddress(client, srv.w)) }
	var opened func()
	if accepted != nil {
		opened = func() { accepted(srv) }
	}
	g.talk(client, podPeer(srv), srv.w.port, 0.15, queries, dial, opened)
}

// shopWorkloads are the shop's services.
var shopWorkloads = []string{"frontend", "checkout", "recommendation", "cart", "catalog", "currency", "shipping", "payment", "email", "ad"}

// dependencies are the Services each workload's configuration names.
var dependencies = map[string][]string{
	"frontend":       {"currency", "catalog", "cart", "recommendation", "shipping", "checkout", "ad", "minio"},
	"checkout":       {"cart", "catalog", "currency", "shipping", "payment", "email", "postgres"},
	"recommendation": {"catalog"},
	"cart":           {"redis-cart"},
	"catalog":        {"postgres"},
}

// serviceLookup is a pod resolving a Service it depends on (a client
// library re-resolving, a job starting).
func (g *Generator) serviceLookup() {
	clients := []string{"frontend", "frontend", "checkout", "recommendation", "cart", "catalog"}
	client := g.pod(clients[g.rng.IntN(len(clients))])
	deps := dependencies[client.w.name]
	g.resolveAddress(client, serviceAddress(client, g.mesh.workloads[deps[g.rng.IntN(len(deps))]]))
}

// srvLookup is checkout's client-side load balancer discovering a gRPC
// service's port from its named-port SRV record.
func (g *Generator) srvLookup() {
	target := shopWorkloads[1+g.rng.IntN(len(shopWorkloads)-1)]
	g.resolve(g.pod("checkout"), "_grpc._tcp."+target, "SRV")
}

// forward is CoreDNS forwarding a query to the VPC resolver, which Cilium
// labels world although its address is private.
func (g *Generator) forward(dns *pod) {
	c := conn{client: podPeer(dns), server: worldPeer(upstreamDNSIP), sport: g.ephemeralPort(), dport: 53, proto: udp}
	g.packet(c, false, nil, flowpb.TraceReason_NEW, g.between(30*time.Microsecond, 300*time.Microsecond))
	g.packet(c, true, nil, flowpb.TraceReason_REPLY, g.between(300*time.Microsecond, 3*time.Millisecond))
}
