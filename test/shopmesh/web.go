package shopmesh

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Shoppers, apps and robots on the Internet reach the frontend through an
// AWS Network Load Balancer with IP targets, which keeps their addresses:
// Cilium labels them world. TLS ends at the load balancer, so the
// frontend's ingress L7 policy sees plain HTTP/1.1 for shop.example.com.

// Addresses outside the cluster. They come from the documentation ranges
// (RFC 5737, RFC 3849) so the simulation never names a real host.
const (
	shopHost      = "shop.example.com"
	upstreamDNSIP = "10.0.0.2" // the VPC resolver CoreDNS forwards to
	// mobileOrigin is the mobile web shop, a single-page app on its own
	// origin that calls the frontend's API (so browsers send CORS
	// preflights).
	mobileOrigin = "https://m.shop.example.com"
)

var (
	// lbAddresses are the load balancer's private addresses, one per zone,
	// from which it health-checks its targets.
	lbAddresses = []string{"10.0.100.23", "10.0.101.87", "10.0.102.140"}
	products    = []string{"OLJCESPC7Z", "66VCHSJNUP", "1YMWWN1N4O", "L9ECAV7KIM", "2ZYFJ3GM2N", "0PUK6V6EV0", "LS4PSXUNUM", "9SIQT8TOJO", "6E92ZMYYFZ"}
	categories  = []string{"accessories", "clothing", "footwear", "hair", "home", "kitchen", "decor"}
	currencies  = []string{"EUR", "EUR", "EUR", "GBP", "USD", "CHF", "SEK", "PLN"}
	languages   = []string{"en-GB,en;q=0.9", "de-DE,de;q=0.9,en;q=0.8", "fr-FR,fr;q=0.9,en-US;q=0.8,en;q=0.7", "nl-NL,nl;q=0.9,en;q=0.8", "es-ES,es;q=0.9", "en-US,en;q=0.9", "pl-PL,pl;q=0.9,en-US;q=0.8,en;q=0.7"}
	// searches are what shoppers type, as the search form encodes it; a
	// few hold characters that must be escaped (an apostrophe, quotes, an
	// ampersand, a percent sign, an accent).
	searches       = []string{"red+shoes", "sunglasses", "candle+holder", "kitchen+towels", "bamboo+glass+jar", "hairdryer", "watch", "tank+top", "loafers+size+42", "mug", "vintage+camera", "linen+shirt"}
	rareSearches   = []string{"levi%27s+501", "%22vintage%22+camera", "salt+%26+pepper+shakers", "100%25+cotton+shirt", "caf%C3%A9+mug", "men%27s+loafers", "children%27s+books"}
	searchSorts    = []string{"price", "price_desc", "newest", "relevance"}
	campaigns      = []string{"utm_source=google&utm_medium=cpc&utm_campaign=brand_eu", "utm_source=newsletter&utm_medium=email&utm_campaign=spring_sale_2026", "utm_source=instagram&utm_medium=social&utm_campaign=new_arrivals", "utm_source=bing&utm_medium=cpc&utm_campaign=shopping", "gclid=Cj0KCQjw7ZO0BhDYARIsAFttkCh"}
	referers       = []string{"https://www.google.com/", "https://www.bing.com/", "https://duckduckgo.com/", "https://l.instagram.com/", "https://www.ecosia.org/"}
	staticAssets   = []string{"/static/styles/styles.css?v=1.10.2", "/static/js/app.min.js?v=1.10.2", "/static/icons/Hipster_CartIcon.svg", "/static/icons/Hipster_CurrencyIcon.svg", "/static/fonts/DMSans-Regular.woff2", "/favicon.ico"}
	missingAssets  = []string{"/apple-touch-icon.png", "/apple-touch-icon-precomposed.png", "/static/js/app.min.js.map"}
	browserClients = []browser{
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36", acceptChromium, "gzip, deflate, br, zstd"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36", acceptChromium, "gzip, deflate, br, zstd"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0", acceptChromium, "gzip, deflate, br, zstd"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15", acceptSafari, "gzip, deflate, br"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", acceptSafari, "gzip, deflate, br"},
		{"Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", acceptSafari, "gzip, deflate, br"},
		{"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36", acceptChromium, "gzip, deflate, br, zstd"},
		{"Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36", acceptChromium, "gzip, deflate, br"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0", acceptFirefox, "gzip, deflate, br, zstd"},
		{"Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0", acceptFirefox, "gzip, deflate, br, zstd"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 337.0.3.23.54 (iPhone15,2; iOS 17_5; en_GB; en; scale=3.00; 1179x2556; 618838484)", acceptSafari, "gzip, deflate, br"},
	}
	crawlers = []string{
		"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
		"Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.126 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
		"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
	}
)

// What browsers accept for a document.
const (
	acceptChromium = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
	acceptSafari   = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	acceptFirefox  = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
)

// browser is a browser's identity and what it always sends.
type browser struct {
	userAgent, accept, encoding string
}

// remote is a client on the Internet and its keep-alive connection to the
// shop: a browser, the app, a crawler, a monitor.
type remote struct {
	peer
	sport  uint32
	opened bool // the frontend's policy has admitted the connection
}

func (g *Generator) newRemote(ip string) *remote {
	return &remote{peer: worldPeer(ip), sport: g.ephemeralPort()}
}

// visitor is one person's browser for the length of a scene.
type visitor struct {
	*remote
	browser browser
	lang    string
	cookie  string
}

func (g *Generator) newVisitor() *visitor {
	v := &visitor{
		remote:  g.newRemote(fmt.Sprintf("192.0.2.%d", 1+g.rng.IntN(254))),
		browser: browserClients[g.rng.IntN(len(browserClients))],
		lang:    languages[g.rng.IntN(len(languages))],
	}
	if g.chance(0.85) { // returning, or past the first page
		v.cookie = fmt.Sprintf("shop_session-id=%s; shop_currency=%s", g.uuid(), currencies[g.rng.IntN(len(currencies))])
	}
	return v
}

// get sends the visitor's request for target (a path and query) to fe,
// with the headers its browser sends for a document, and returns the
// exchange for its response.
func (g *Generator) get(v *visitor, fe *pod, method, target string, code uint32, referer string, extra ...string) *exchange {
	kv := append([]string{
		"Accept", v.browser.accept,
		"Accept-Encoding", v.browser.encoding,
		"Accept-Language", v.lang,
		"User-Agent", v.browser.userAgent,
	}, extra...)
	if v.cookie != "" {
		kv = append(kv, "Cookie", v.cookie)
	}
	if referer != "" {
		kv = append(kv, "Referer", referer)
	}
	if method == "POST" {
		kv = append(kv, "Content-Type", "application/x-www-form-urlencoded", "Origin", "https://"+shopHost)
	}
	return g.inbound(v.remote, fe, method, target, code, kv...)
}

// inbound sends a request from the Internet to fe for target on the shop's
// host and returns the exchange for its response.
func (g *Generator) inbound(client *remote, fe *pod, method, target string, code uint32, kv ...string) *exchange {
	e := &exchange{
		conn:     conn{client: client.peer, server: podPeer(fe), sport: client.sport, dport: fe.w.port},
		method:   method,
		url:      "http://" + shopHost + target,
		protocol: "HTTP/1.1",
		headers:  headers(append(kv, "X-Request-Id", g.uuid())...),
		code:     code,
	}
	if !client.opened {
		g.open(e)
		client.opened = true
	}
	g.request(e, g.between(50*time.Microsecond, 500*time.Microsecond))
	return e
}

// browserRequest is a single request from a new visitor.
func (g *Generator) browserRequest(fe *pod, method, target string, code uint32, referer string) *exchange {
	return g.get(g.newVisitor(), fe, method, target, code, referer)
}

// page is what a visitor asks the frontend for, and what the frontend
// does to answer it.
type page struct {
	method, target string
	code           uint32
	referer        string
	fanout         func()
}

// pageView is a shopper's page: the frontend fans out to the backends.
func (g *Generator) pageView() {
	fe := g.pod("frontend")
	v := g.newVisitor()
	g.startTrace()
	p := g.choosePage(fe)
	e := g.get(v, fe, p.method, p.target, p.code, p.referer)
	if p.code != 503 {
		g.rpc(fe, "currency", "CurrencyService/GetSupportedCurrencies", false, nil)
	}
	if p.fanout != nil {
		p.fanout()
	}
	g.response(e, g.took("frontend", 300*time.Microsecond, 4*time.Millisecond))
}

// choosePage draws a page with the mix of a shop's traffic: mostly
// browsing, some cart changes, and the odd redirect, stale link or error.
func (g *Generator) choosePage(fe *pod) page {
	product := products[g.rng.IntN(len(products))]
	p := page{method: "GET", target: "/", code: 200, referer: "https://" + shopHost + "/"}
	if g.chance(0.3) {
		p.referer = referers[g.rng.IntN(len(referers))]
	}
	switch r := g.rng.IntN(1000); {
	case r < 220:
		p.target += g.campaign(0.15)
		p.fanout = func() { g.home(fe) }
	case r < 480:
		p.target = "/product/" + product + g.campaign(0.2)
		p.fanout = func() { g.productPage(fe) }
	case r < 660:
		p.target = "/search?q=" + g.searchTerm()
		if g.chance(0.3) {
			p.target += fmt.Sprintf("&page=%d&sort=%s", 2+g.rng.IntN(4), searchSorts[g.rng.IntN(len(searchSorts))])
		}
		p.fanout = func() { g.rpc(fe, "catalog", "ProductCatalogService/SearchProducts", false, nil) }
	case r < 710:
		p.target = fmt.Sprintf("/category/%s?page=%d&sort=%s", categories[g.rng.IntN(len(categories))], 1+g.rng.IntN(5), searchSorts[g.rng.IntN(len(searchSorts))])
		p.fanout = func() { g.rpc(fe, "catalog", "ProductCatalogService/ListProducts", false, nil) }
	case r < 810:
		p.target = "/cart"
		p.fanout = func() { g.cartPage(fe) }
	case r < 890:
		p.method, p.target, p.code = "POST", "/cart", 302
		p.referer = "https://" + shopHost + "/product/" + product
		p.fanout = func() {
			g.rpc(fe, "catalog", "ProductCatalogService/GetProduct", false, nil)
			g.rpc(fe, "cart", "CartService/AddItem", false, g.redis)
		}
	case r < 920:
		p.method, p.target, p.code = "POST", "/setCurrency", 302
	case r < 940:
		p.method, p.target, p.code = "POST", "/cart/empty", 302
		p.fanout = func() { g.rpc(fe, "cart", "CartService/EmptyCart", false, g.redis) }
	case r < 955:
		p.target, p.code = "/logout", 302
	case r < 970:
		p.target, p.code = "/product/"+product+"/", 301 // a link with a trailing slash
	case r < 985:
		p.target, p.code = "/product/"+product[:9]+"X", 404 // a discontinued product
		p.fanout = func() { g.rpc(fe, "catalog", "ProductCatalogService/GetProduct", false, nil) }
	case r < 995:
		p.target, p.code = "/cart", 500 // the cart service is overloaded
		p.fanout = func() { g.failedRPC(fe, "cart", "CartService/GetCart") }
	default:
		p.code = 503 // the frontend is shedding load
	}
	return p
}

// campaign is, with probability p, the query string a marketing link adds.
func (g *Generator) campaign(p float64) string {
	if !g.chance(p) {
		return ""
	}
	return "?" + campaigns[g.rng.IntN(len(campaigns))]
}

func (g *Generator) searchTerm() string {
	if g.chance(0.05) {
		return rareSearches[g.rng.IntN(len(rareSearches))]
	}
	return searches[g.rng.IntN(len(searches))]
}

func (g *Generator) home(fe *pod) {
	g.rpc(fe, "catalog", "ProductCatalogService/ListProducts", false, nil)
	g.rpc(fe, "ad", "AdService/GetAds", false, nil)
}

func (g *Generator) productPage(fe *pod) {
	g.rpc(fe, "catalog", "ProductCatalogService/GetProduct", false, nil)
	g.rpc(fe, "cart", "CartService/GetCart", false, g.redis)
	g.rpc(fe, "recommendation", "RecommendationService/ListRecommendations", false, g.recommend)
	g.rpc(fe, "ad", "AdService/GetAds", false, nil)
}

func (g *Generator) cartPage(fe *pod) {
	g.rpc(fe, "cart", "CartService/GetCart", false, g.redis)
	g.rpc(fe, "recommendation", "RecommendationService/ListRecommendations", false, g.recommend)
	g.rpc(fe, "shipping", "ShippingService/GetQuote", false, nil)
}

// staticAssets is a browser loading a page's resources on its keep-alive
// connection, mostly revalidating what it has cached, and the product
// pictures the frontend streams from MinIO.
func (g *Generator) staticAssets() {
	fe := g.pod("frontend")
	v := g.newVisitor()
	page := "https://" + shopHost + "/product/" + products[g.rng.IntN(len(products))]
	for range 2 + g.rng.IntN(4) {
		var e *exchange
		switch r := g.rng.IntN(100); {
		case r < 55:
			asset, code, extra := staticAssets[g.rng.IntN(len(staticAssets))], uint32(200), []string(nil)
			if g.chance(0.6) {
				code, extra = 304, []string{"If-None-Match", fmt.Sprintf("W/\"%x-%x\"", 1000+g.rng.IntN(90000), g.rng.Uint64()>>24)}
			}
			e = g.get(v, fe, "GET", asset, code, page, extra...)
		case r < 92:
			e = g.get(v, fe, "GET", "/images/products/"+products[g.rng.IntN(len(products))]+".jpg", 200, page)
			g.productImage(fe)
		default:
			e = g.get(v, fe, "GET", missingAssets[g.rng.IntN(len(missingAssets))], 404, "")
		}
		g.response(e, g.between(200*time.Microsecond, 3*time.Millisecond))
	}
}

// productImage is the frontend fetching a picture from MinIO with the
// presigned URL the catalog handed out (AWS Signature Version 4 in the
// query, as MinIO's S3 API takes it).
func (g *Generator) productImage(fe *pod) {
	minio := g.pod("minio")
	sport, fresh := g.pooled(fe, podPeer(minio), minio.w.port, 0.05)
	if fresh {
		g.resolveAddress(fe, serviceAddress(fe, minio.w))
	}
	signed := g.now.Add(-g.between(time.Second, 10*time.Minute)).UTC()
	query := url.Values{
		"X-Amz-Algorithm":     {"AWS4-HMAC-SHA256"},
		"X-Amz-Credential":    {minioAccessKey + "/" + signed.Format("20060102") + "/eu-west-1/s3/aws4_request"},
		"X-Amz-Date":          {signed.Format("20060102T150405Z")},
		"X-Amz-Expires":       {"900"},
		"X-Amz-SignedHeaders": {"host"},
		"X-Amz-Signature":     {g.hex(64)},
	}
	code := uint32(200)
	if g.chance(0.1) {
		code = 304
	}
	e := &exchange{
		conn:     conn{client: podPeer(fe), server: podPeer(minio), sport: sport, dport: minio.w.port},
		method:   "GET",
		url:      fmt.Sprintf("http://minio.shop-data.svc:9000/product-images/%s.jpg?%s", products[g.rng.IntN(len(products))], query.Encode()),
		protocol: "HTTP/1.1",
		headers:  headers("Accept-Encoding", "gzip", "User-Agent", "Go-http-client/1.1", "X-Request-Id", g.uuid()),
		code:     code,
	}
	if fresh {
		g.open(e)
	}
	g.request(e, g.between(40*time.Microsecond, 400*time.Microsecond))
	g.response(e, g.between(500*time.Microsecond, 8*time.Millisecond))
}

// minioAccessKey is the access key of the catalog's MinIO service account.
const minioAccessKey = "Q3AM3UQ867SPQQA43P2F"

// apiCall is the shop's JSON API: the Android app (OkHttp) and the mobile
// web shop, whose cross-origin writes need a CORS preflight.
func (g *Generator) apiCall() {
	fe := g.pod("frontend")
	g.startTrace()
	client := g.newRemote(fmt.Sprintf("192.0.2.%d", 1+g.rng.IntN(254)))
	p := g.chooseAPICall(fe)
	kv := []string{"Accept", "application/json", "Authorization", "Bearer " + g.jwt()}
	if p.method == "POST" || p.method == "PUT" {
		kv = append(kv, "Content-Type", "application/json; charset=utf-8")
	}
	if g.chance(0.6) {
		kv = append(kv, "Accept-Encoding", "gzip", "User-Agent", "okhttp/4.12.0")
	} else {
		b := browserClients[g.rng.IntN(len(browserClients))]
		kv = append(kv, "Accept-Encoding", b.encoding, "User-Agent", b.userAgent, "Origin", mobileOrigin, "Referer", mobileOrigin+"/")
		if p.method != "GET" {
			g.preflight(client, fe, p.method, p.target, b)
		}
	}
	e := g.inbound(client, fe, p.method, p.target, p.code, kv...)
	if p.fanout != nil {
		p.fanout()
	}
	g.response(e, g.took("frontend", 300*time.Microsecond, 4*time.Millisecond))
}

// chooseAPICall draws a call of the JSON API.
func (g *Generator) chooseAPICall(fe *pod) page {
	product := products[g.rng.IntN(len(products))]
	currency := currencies[g.rng.IntN(len(currencies))]
	p := page{method: "GET", code: 200}
	switch r := g.rng.IntN(100); {
	case r < 30:
		p.target = fmt.Sprintf("/api/v1/products?page=%d&sort=%s&currency_code=%s", 1+g.rng.IntN(5), searchSorts[g.rng.IntN(len(searchSorts))], currency)
		p.fanout = func() { g.rpc(fe, "catalog", "ProductCatalogService/ListProducts", false, nil) }
	case r < 50:
		p.target = "/api/v1/products/" + product + "?currency_code=" + currency
		p.fanout = func() {
			g.rpc(fe, "catalog", "ProductCatalogService/GetProduct", false, nil)
			g.rpc(fe, "currency", "CurrencyService/Convert", false, nil)
		}
	case r < 62:
		p.target = "/api/v1/recommendations?product_id=" + product
		p.fanout = func() { g.rpc(fe, "recommendation", "RecommendationService/ListRecommendations", false, g.recommend) }
	case r < 75:
		p.target = "/api/v1/cart"
		p.fanout = func() { g.rpc(fe, "cart", "CartService/GetCart", false, g.redis) }
	case r < 85:
		p.method, p.target, p.code = "POST", "/api/v1/cart/items", 201
		p.fanout = func() { g.rpc(fe, "cart", "CartService/AddItem", false, g.redis) }
	case r < 91:
		p.method, p.target = "PUT", "/api/v1/cart/items/"+product
		p.fanout = func() { g.rpc(fe, "cart", "CartService/AddItem", false, g.redis) }
	case r < 97:
		p.method, p.target, p.code = "DELETE", "/api/v1/cart/items/"+product, 204
		p.fanout = func() { g.rpc(fe, "cart", "CartService/RemoveItem", false, g.redis) }
	default:
		p.target, p.code = "/api/v1/products?page=1&sort=newest", 429 // the app retried too eagerly
	}
	return p
}

// preflight is the browser asking whether the mobile shop's origin may
// send method to target.
func (g *Generator) preflight(client *remote, fe *pod, method, target string, b browser) {
	e := g.inbound(client, fe, "OPTIONS", target, 204,
		"Accept", "*/*",
		"Accept-Encoding", b.encoding,
		"Access-Control-Request-Headers", "authorization,content-type",
		"Access-Control-Request-Method", method,
		"Origin", mobileOrigin,
		"Referer", mobileOrigin+"/",
		"Sec-Fetch-Mode", "cors",
		"User-Agent", b.userAgent,
	)
	g.response(e, g.between(150*time.Microsecond, 900*time.Microsecond))
}

// crawl is a search engine's crawler walking the shop.
func (g *Generator) crawl() {
	fe := g.pod("frontend")
	bot := g.newRemote(fmt.Sprintf("192.0.2.%d", 200+g.rng.IntN(20)))
	ua := crawlers[g.rng.IntN(len(crawlers))]
	paths := []string{"/robots.txt", "/sitemap.xml"}
	for range 1 + g.rng.IntN(4) {
		paths = append(paths, "/product/"+products[g.rng.IntN(len(products))])
	}
	kv := []string{
		"Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
		"Accept-Encoding", "gzip, deflate, br",
		"User-Agent", ua,
	}
	if strings.Contains(ua, "Googlebot") {
		kv = append(kv, "From", "googlebot(at)googlebot.com")
	}
	for _, path := range paths[g.rng.IntN(2):] {
		code := uint32(200)
		product := strings.HasPrefix(path, "/product/")
		if product && g.chance(0.05) {
			path, code = path[:len(path)-1]+"Q", 404 // a product the sitemap no longer lists
		}
		e := g.inbound(bot, fe, "GET", path, code, kv...)
		if product {
			g.rpc(fe, "catalog", "ProductCatalogService/GetProduct", false, nil)
		}
		g.response(e, g.between(300*time.Microsecond, 4*time.Millisecond))
	}
}

// uptimeCheck is the external uptime monitor's HEAD request.
func (g *Generator) uptimeCheck() {
	e := g.inbound(g.newRemote("192.0.2.250"), g.pod("frontend"), "HEAD", "/", 200,
		"Accept", "*/*",
		"User-Agent", "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
	)
	g.response(e, g.between(300*time.Microsecond, 3*time.Millisecond))
}

// lbHealthCheck is the load balancer checking one frontend pod from one
// of its zonal addresses, by the pod's address.
func (g *Generator) lbHealthCheck(lb string, fe *pod) {
	e := &exchange{
		conn:     conn{client: worldPeer(lb), server: podPeer(fe), sport: g.ephemeralPort(), dport: fe.w.port},
		method:   "GET",
		url:      fmt.Sprintf("http://%s:%d/healthz", fe.ip, fe.w.port),
		protocol: "HTTP/1.1",
		headers:  headers("User-Agent", "ELB-HealthChecker/2.0", "X-Request-Id", g.uuid()),
		code:     200,
	}
	g.open(e)
	g.request(e, g.between(50*time.Microsecond, 500*time.Microsecond))
	g.response(e, g.between(200*time.Microsecond, 2*time.Millisecond))
}
