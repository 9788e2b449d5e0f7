package shopmesh

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// The baseline scenario (Config.Baseline): about an hour and a quarter of
// the shop for evaluating learned baselines. The first LearningPeriod is
// ordinary traffic, with what a real cluster does that a baseline must
// learn or shrug off: a daily-like ramp of the shop's traffic, pods
// replaced under new names, a rollout (a new ReplicaSet hash), identifiers
// in URLs, a CronJob every ten minutes, a mail relay flushing its queue to
// an SMTP submission port on the Internet, per-endpoint latencies. After
// it, the same traffic goes on and the attacks Incidents lists run one at a
// time, each in its window, never overlapping.
//
// Time in the simulator is sequential (every flow is later than the one
// before), so scenes of shop traffic arrive as a Poisson process on the
// scenario's clock, at a rate that follows the ramp, and scheduled jobs
// (probes, scrapes, the CronJob, the attacks' steps) run between them
// when they are due.

const (
	// LearningPeriod is the event time the scenario's baselines are meant
	// to learn for (`replay --baseline.learning-period 40m`); every
	// incident starts after it.
	LearningPeriod = 40 * time.Minute
	// ScenarioDuration is the event time of the whole scenario: the last
	// incident ends two minutes before it.
	ScenarioDuration = 74 * time.Minute
)

// baselineSceneRate is the mean number of shop scenes (page views, calls,
// lookups) a second at the middle of the ramp: about 40 flows a second of
// shop traffic, on top of the cluster's periodic traffic.
const baselineSceneRate = 5.0

// rampAmplitude is how far the shop's traffic swings around its mean: a
// night-time trough at the start and the end, a peak in the middle.
const rampAmplitude = 0.4

// The incidents of the baseline scenario, by name.
const (
	IncidentLateralNewPeer     = "lateral-new-peer"
	IncidentExfiltration       = "exfiltration"
	IncidentDNSTunnel          = "dns-tunnel"
	IncidentPortScan           = "port-scan"
	IncidentAddressSweep       = "address-sweep"
	IncidentLatencySpike       = "latency-spike"
	IncidentErrorSpike         = "error-spike"
	IncidentAdminEndpoint      = "admin-endpoint"
	IncidentCredentialStuffing = "credential-stuffing"
	IncidentRateSpike          = "rate-spike"
)

// Incident is one labelled attack of the baseline scenario.
type Incident struct {
	Name        string
	Description string
	// Start and End bound the attack's traffic in event time: its first
	// flow is at or after Start, its last before End.
	Start, End time.Time
	// Actor are the alert labels that identify the attack, as an alert on
	// a flow in the initiating direction (client to server) carries them:
	// source_namespace and source_workload for the client,
	// destination_namespace and destination_workload for a pod server,
	// destination_ip or destination_fqdn for the Internet. An alert on a
	// reply or a response carries the two sides the other way round.
	Actor map[string]string
	// Expect are the alertnames of the policies meant to catch it; other
	// alerts on the actor count as well.
	Expect []string
}

// Addresses and names of the baseline incidents; no benign flow uses them.
const (
	exfilIP = "203.0.113.200"
	// stufferBase..stufferBase+stuffers-1 are the last octets of the
	// credential stuffers' addresses in 203.0.113.0/24.
	stufferBase = 100
	stuffers    = 50
	// smtpName is the mail provider's SMTP submission host.
	smtpName = "smtp.sendgrid.net"
	smtpPort = 587
)

func shopActor(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// incidentPlan is the schedule, relative to Config.Start: a minute apart,
// and ordered so that no alert on one incident's actor in the two minutes
// after it ends can be taken for one on the next incident's actor (the
// incidents on the frontend are not neighbours).
var incidentPlan = []struct {
	name, description string
	at, length        time.Duration
	actor             map[string]string
	expect            []string
}{
	{
		IncidentLateralNewPeer, "shop/recommendation calls shop/accounts (GET /v1/users/{id}, enumerating) and shop-data/postgres, neither of which it ever called",
		41 * time.Minute, 2 * time.Minute,
		shopActor("source_namespace", "shop", "source_workload", "recommendation"),
		[]string{"BaselineNewPeer"},
	},
	{
		IncidentExfiltration, "shop/ad uploads over long TLS connections to " + exfilIP + ":443, an address it never contacted and never resolved",
		44 * time.Minute, 2 * time.Minute,
		shopActor("source_namespace", "shop", "source_workload", "ad", "destination_ip", exfilIP),
		[]string{"BaselineNewExternalAddress"},
	},
	{
		IncidentDNSTunnel, "shop/email sends data as base32 labels of TXT queries under " + exfilDomain,
		47 * time.Minute, 2 * time.Minute,
		shopActor("source_namespace", "shop", "source_workload", "email"),
		[]string{"DNSTunnelingSuspected"},
	},
	{
		IncidentPortScan, "shop/currency SYNs 200 ports of the postgres pod (RST where closed), then connects to the open ones",
		50 * time.Minute, 2 * time.Minute,
		// The scanner is the actor: a scan alert may come on any of its
		// flows, whatever their destination.
		shopActor("source_namespace", "shop", "source_workload", "currency"),
		[]string{"BaselinePortScan"},
	},
	{
		IncidentAddressSweep, "shop/payment SYNs port 6379 on 100 addresses of a node's pod range (RST where a pod is, silence where none is), then talks to the Redis it found",
		53 * time.Minute, 2 * time.Minute,
		shopActor("source_namespace", "shop", "source_workload", "payment"),
		[]string{"BaselineAddressSweep"},
	},
	{
		IncidentLatencySpike, "shop/checkout's calls of ShippingService/GetQuote take 8 times as long; frontend's calls of the same method stay normal",
		56 * time.Minute, 150 * time.Second,
		shopActor("source_namespace", "shop", "source_workload", "checkout", "destination_namespace", "shop", "destination_workload", "shipping"),
		[]string{"BaselineLatencySpike"},
	},
	{
		IncidentErrorSpike, "half of shop/frontend's CartService/GetCart calls fail with 503 (the frontend degrades gracefully)",
		59*time.Minute + 30*time.Second, 150 * time.Second,
		shopActor("source_namespace", "shop", "source_workload", "frontend", "destination_namespace", "shop", "destination_workload", "cart"),
		[]string{"BaselineErrorSpike"},
	},
	{
		IncidentAdminEndpoint, "shop/frontend calls GET /admin/users and /admin/users/export on shop/accounts, an edge it uses every minute for other endpoints",
		63 * time.Minute, 2 * time.Minute,
		shopActor("source_namespace", "shop", "source_workload", "frontend", "destination_namespace", "shop", "destination_workload", "accounts"),
		[]string{"BaselineNewEndpoint"},
	},
	{
		IncidentRateSpike, "shop/recommendation calls ProductCatalogService/ListProducts on shop/catalog ten times as often as before",
		66 * time.Minute, 150 * time.Second,
		shopActor("source_namespace", "shop", "source_workload", "recommendation", "destination_namespace", "shop", "destination_workload", "catalog"),
		[]string{"BaselineRequestRateSpike"},
	},
	{
		IncidentCredentialStuffing, "POST /login on shop/frontend from 50 rotating Internet addresses, answered 401",
		69*time.Minute + 30*time.Second, 150 * time.Second,
		shopActor("destination_namespace", "shop", "destination_workload", "frontend"),
		[]string{"BaselineCredentialStuffing"},
	},
}

// Incidents returns the labelled attacks of the scenario cfg runs, in
// order of time; none unless cfg.Baseline.
func Incidents(cfg Config) []Incident {
	if !cfg.Baseline {
		return nil
	}
	out := make([]Incident, len(incidentPlan))
	for i, p := range incidentPlan {
		actor := make(map[string]string, len(p.actor))
		for k, v := range p.actor {
			actor[k] = v
		}
		out[i] = Incident{
			Name: p.name, Description: p.description,
			Start: cfg.Start.Add(p.at), End: cfg.Start.Add(p.at + p.length),
			Actor: actor, Expect: slices.Clone(p.expect),
		}
	}
	return out
}

// Incidents returns the labelled attacks of the generator's scenario.
func (g *Generator) Incidents() []Incident { return Incidents(g.cfg) }

// ScenarioEnd is when the scenario cfg runs is over: Start plus
// ScenarioDuration. WriteCapture stops there for a baseline Config.
func ScenarioEnd(cfg Config) time.Time { return cfg.Start.Add(ScenarioDuration) }

// active reports whether the named incident is under way.
func (g *Generator) active(name string) bool {
	for _, in := range g.incidents {
		if in.Name == name {
			return !g.now.Before(in.Start) && g.now.Before(in.End)
		}
	}
	return false
}

// scheduleBaseline plans the scenario's jobs, incidents included.
func (g *Generator) scheduleBaseline() {
	start := g.cfg.Start
	g.nextScene = start
	g.recLists = map[int64]int{}
	g.incidents = Incidents(g.cfg)

	// The CronJob runs at two past every ten minutes, give or take the
	// controller's delay.
	for at := 2 * time.Minute; at < ScenarioDuration; at += 10 * time.Minute {
		g.stockSync(start.Add(at + g.between(time.Second, 15*time.Second)))
	}
	// The mail relay flushes its queue every five minutes.
	g.addJob(&job{due: start.Add(g.between(30*time.Second, 5*time.Minute)), every: 5 * time.Minute, spread: 20 * time.Second, run: g.mailFlush})
	// cert-manager renews the shop's certificate once, while learning.
	g.renewal(start.Add(17*time.Minute + g.between(0, time.Minute)))
	// Pods are replaced now and then (evictions, node drains, OOM kills),
	// before and after the learning period; a rollout of catalog comes
	// after it.
	for _, m := range []int{7, 15, 24, 33, 48, 61, 71} {
		g.once(start.Add(time.Duration(m)*time.Minute+g.between(0, time.Minute)), g.churn)
	}
	g.once(start.Add(45*time.Minute+30*time.Second), func() { g.rollout("catalog", "7f4c9b8d65", 40*time.Second) })

	for _, in := range g.incidents {
		g.scheduleIncident(in)
	}
}

// baselineScene runs what comes next in the scenario: a job that is due,
// else the next scene of shop traffic, when it arrives.
func (g *Generator) baselineScene() {
	next := g.nextScene
	if j := g.earliestJob(); j != nil && j.due.Before(next) {
		next = j.due
	}
	if g.started && next.After(g.now) {
		g.now = next
	}
	g.trace = ""
	if g.attackDue() {
		return
	}
	if j := g.dueJob(); j != nil {
		j.due = j.due.Add(j.every)
		if j.spread > 0 {
			j.due = j.due.Add(g.between(0, j.spread))
		}
		j.run()
		if j.over() {
			g.jobs = slices.DeleteFunc(g.jobs, func(x *job) bool { return x == j })
		}
		return
	}
	g.nextScene = g.nextScene.Add(g.sceneGap())
	g.baselineBenign()
}

// sceneGap draws the time to the next scene of shop traffic, whose rate
// follows the ramp: 1-rampAmplitude of the mean at the start and the end
// of the scenario, 1+rampAmplitude in its middle.
func (g *Generator) sceneGap() time.Duration {
	phase := 2 * math.Pi * float64(g.nextScene.Sub(g.cfg.Start)) / float64(ScenarioDuration)
	rate := baselineSceneRate * (1 - rampAmplitude*math.Cos(phase))
	return time.Duration(g.rng.ExpFloat64() / rate * float64(time.Second))
}

// baselineBenign is one scene of shop traffic: the steady shop's, and the
// accounts service's pages and logins; per thousand scenes.
func (g *Generator) baselineBenign() {
	switch r := g.rng.IntN(1000); {
	case r < 35:
		g.accountPage()
	case r < 50:
		g.login(g.newVisitor(), !g.chance(0.06))
	default:
		g.benign()
	}
}

// earliestJob is the job due first, due or not.
func (g *Generator) earliestJob() *job {
	var next *job
	for _, j := range g.jobs {
		if !j.over() && (next == nil || j.due.Before(next.due)) {
			next = j
		}
	}
	return next
}

func (g *Generator) addJob(j *job) *job {
	g.jobs = append(g.jobs, j)
	return j
}

// sequence runs steps one after the other from at, gap plus up to spread
// apart.
func (g *Generator) sequence(at time.Time, gap, spread time.Duration, steps ...func()) {
	i := 0
	var j *job
	j = g.addJob(&job{due: at, every: gap, spread: spread, run: func() {
		steps[i]()
		i++
		if i == len(steps) {
			j.until = j.due
		}
	}})
}

// once runs step at at.
func (g *Generator) once(at time.Time, step func()) { g.sequence(at, time.Second, 0, step) }

// during runs step from from, every every plus up to spread, until a step
// would start less than two seconds before until: the steps' flows all lie
// in [from, until).
func (g *Generator) during(from, until time.Time, every, spread time.Duration, step func()) *job {
	return g.addJob(&job{due: from, every: every, spread: spread, until: until.Add(-2 * time.Second), run: step})
}

// took is how long a server took to answer an exchange: drawn from
// [lo, hi) in the steady shop, from key's latency distribution in the
// baseline scenario.
func (g *Generator) took(key string, lo, hi time.Duration) time.Duration {
	if !g.cfg.Baseline {
		return g.between(lo, hi)
	}
	return g.serviceTime(key)
}

// serviceTimes are the median times the baseline scenario's servers take
// to answer, by gRPC method or by "workload METHOD template", on top of
// the calls they make themselves.
var serviceTimes = map[string]time.Duration{
	"frontend": 5 * time.Millisecond, // rendering a page or an API answer

	"CurrencyService/GetSupportedCurrencies":    1200 * time.Microsecond,
	"CurrencyService/Convert":                   1500 * time.Microsecond,
	"ProductCatalogService/ListProducts":        6 * time.Millisecond,
	"ProductCatalogService/GetProduct":          3 * time.Millisecond,
	"ProductCatalogService/SearchProducts":      12 * time.Millisecond,
	"CartService/GetCart":                       4 * time.Millisecond,
	"CartService/AddItem":                       6 * time.Millisecond,
	"CartService/EmptyCart":                     5 * time.Millisecond,
	"CartService/RemoveItem":                    5 * time.Millisecond,
	"RecommendationService/ListRecommendations": 9 * time.Millisecond,
	"AdService/GetAds":                          7 * time.Millisecond,
	"ShippingService/GetQuote":                  14 * time.Millisecond,
	"ShippingService/ShipOrder":                 25 * time.Millisecond,
	"PaymentService/Charge":                     35 * time.Millisecond,
	"EmailService/SendOrderConfirmation":        20 * time.Millisecond,
	"CheckoutService/PlaceOrder":                15 * time.Millisecond,

	"accounts GET /v1/users/{id}":        5 * time.Millisecond,
	"accounts GET /v1/users/{id}/orders": 18 * time.Millisecond,
	"accounts GET /v1/orders/{id}":       8 * time.Millisecond,
	"accounts POST /v1/sessions":         60 * time.Millisecond, // bcrypt
	"accounts GET /admin/users":          40 * time.Millisecond,

	// The cart's proxy refusing a call when its circuit breaker is open.
	"overflow": 600 * time.Microsecond,
}

// serviceTime draws a server's time for key: log-normal around its median,
// with now and then a slow one (a GC pause, a cold cache).
func (g *Generator) serviceTime(key string) time.Duration {
	m, ok := serviceTimes[key]
	if !ok {
		m = 2 * time.Millisecond
	}
	d := float64(m) * math.Exp(0.35*g.rng.NormFloat64())
	if g.chance(0.01) {
		d *= 2 + 2*g.rng.Float64()
	}
	return time.Duration(d)
}

// baselineRPC ends a gRPC call of the baseline scenario: the server's own
// time, and what the incidents under way do to it.
func (g *Generator) baselineRPC(e *exchange, client, srv *pod, method string, inner func(*pod)) {
	if client.w.name == "recommendation" && method == "ProductCatalogService/ListProducts" {
		g.recLists[g.now.Unix()/60]++
	}
	d := g.serviceTime(method)
	switch {
	case client.w.name == "frontend" && method == "CartService/GetCart" && g.active(IncidentErrorSpike) && g.chance(0.5):
		// The cart is overloaded: its proxy sheds the call at once. The
		// frontend shows the page with an empty cart.
		e.code = 503
		g.response(e, g.serviceTime("overflow"))
		return
	case client.w.name == "checkout" && method == "ShippingService/GetQuote" && g.active(IncidentLatencySpike):
		d *= 8
	}
	if inner != nil {
		inner(srv)
	}
	g.response(e, d)
}

// restUserAgents are the User-Agent headers of the HTTP clients the
// services use for REST calls, by language.
var restUserAgents = map[string]string{
	langGo:     "Go-http-client/1.1",
	langPython: "python-requests/2.32.3",
	langNode:   "axios/1.7.2",
	langJava:   "Java-http-client/21.0.3",
	langDotnet: "dotnet-httpclient/8.0",
}

// restCall is an HTTP/1.1 JSON call from client to a pod of the server
// workload over the client's keep-alive connection, logged by the
// server's ingress L7 policy; key names its latency distribution and inner
// runs on the server between request and response.
func (g *Generator) restCall(client *pod, server, method, path, key string, code uint32, inner func(*pod)) {
	srv := g.pod(server)
	sport, fresh := g.pooled(client, podPeer(srv), srv.w.port, 0.03)
	kv := []string{"Accept", "application/json", "User-Agent", restUserAgents[client.w.lang], "X-Request-Id", g.uuid()}
	if method == "POST" || method == "PUT" {
		kv = append(kv, "Content-Type", "application/json")
	}
	host := serviceAddress(client, srv.w)
	e := &exchange{
		conn:     conn{client: podPeer(client), server: podPeer(srv), sport: sport, dport: srv.w.port},
		method:   method,
		url:      fmt.Sprintf("http://%s:%d%s", host, srv.w.port, path),
		protocol: "HTTP/1.1",
		headers:  headers(g.traced(kv)...),
		code:     code,
	}
	if fresh {
		g.resolveAddress(client, host)
		g.open(e)
	}
	g.request(e, g.between(40*time.Microsecond, 600*time.Microsecond))
	if inner != nil {
		inner(srv)
	}
	g.response(e, g.serviceTime(key))
}

// accountsDB is the accounts service querying its database.
func (g *Generator) accountsDB(acc *pod) { g.postgres(acc) }

// userID draws a customer's numeric id.
func (g *Generator) userID() int { return 10000 + g.rng.IntN(90000) }

// accountPage is a customer looking at their orders, in the browser or
// in the app: identifiers in the URLs, which the accounts service answers.
func (g *Generator) accountPage() {
	fe := g.pod("frontend")
	g.startTrace()
	user := g.userID()
	switch r := g.rng.IntN(10); {
	case r < 5:
		v := g.newVisitor()
		e := g.get(v, fe, "GET", "/account/orders", 200, "https://"+shopHost+"/account")
		g.restCall(fe, "accounts", "GET", fmt.Sprintf("/v1/users/%d/orders?limit=20", user), "accounts GET /v1/users/{id}/orders", 200, g.accountsDB)
		g.response(e, g.serviceTime("frontend"))
	case r < 8:
		order := g.uuid()
		v := g.newVisitor()
		e := g.get(v, fe, "GET", "/account/orders/"+order, 200, "https://"+shopHost+"/account/orders")
		g.restCall(fe, "accounts", "GET", "/v1/orders/"+order, "accounts GET /v1/orders/{id}", 200, g.accountsDB)
		g.response(e, g.serviceTime("frontend"))
	default:
		client := g.newRemote(fmt.Sprintf("192.0.2.%d", 1+g.rng.IntN(254)))
		e := g.inbound(client, fe, "GET", fmt.Sprintf("/api/v1/users/%d/orders", user), 200,
			"Accept", "application/json", "Accept-Encoding", "gzip", "Authorization", "Bearer "+g.jwt(), "User-Agent", "okhttp/4.12.0")
		g.restCall(fe, "accounts", "GET", fmt.Sprintf("/v1/users/%d/orders?limit=50", user), "accounts GET /v1/users/{id}/orders", 200, g.accountsDB)
		g.response(e, g.serviceTime("frontend"))
	}
}

// login is v signing in: the frontend asks the accounts service to check
// the password; a wrong one is answered 401.
func (g *Generator) login(v *visitor, ok bool) {
	fe := g.pod("frontend")
	g.startTrace()
	code, inner := uint32(302), uint32(200)
	if !ok {
		code, inner = 401, 401
	}
	e := g.get(v, fe, "POST", "/login", code, "https://"+shopHost+"/login")
	g.restCall(fe, "accounts", "POST", "/v1/sessions", "accounts POST /v1/sessions", inner, g.accountsDB)
	g.response(e, g.serviceTime("frontend"))
}

// stockSync schedules one run of the stock-sync CronJob at at: a new pod
// of the Job lists and reads products from the catalog, updates stock in
// the database, and is gone.
func (g *Generator) stockSync(at time.Time) {
	w := g.mesh.workloads["stock-sync"]
	var p *pod
	steps := []func(){func() {
		p = g.spawn(w, fmt.Sprintf("%s-%d-%s", w.name, at.Unix()/60, g.podSuffix()))
		g.rpc(p, "catalog", "ProductCatalogService/ListProducts", false, nil)
	}}
	for range 6 {
		steps = append(steps, func() {
			for range 3 {
				g.rpc(p, "catalog", "ProductCatalogService/GetProduct", false, nil)
			}
		})
	}
	steps = append(steps, func() { g.postgres(p) }, func() { g.postgres(p) }, func() { g.retire(p) })
	g.sequence(at, 2*time.Second, 2*time.Second, steps...)
}

// mailFlush is the email service handing its queued mail (newsletters,
// receipts) to the mail relay over SMTP, and the relay submitting it to
// the provider on port 587.
func (g *Generator) mailFlush() {
	email, relay := g.pod("email"), g.pod("mail-relay")
	n := 2 + g.rng.IntN(6)
	g.resolveAddress(email, "mail-relay")
	g.tcpSession(conn{client: podPeer(email), server: podPeer(relay), sport: g.ephemeralPort(), dport: relay.w.port}, 3+n)
	g.resolveAddress(relay, smtpName)
	ips := internetZone[smtpName+"."].a
	ip := ips[g.rng.IntN(len(ips))]
	g.tcpSession(conn{client: podPeer(relay), server: worldPeer(ip, smtpName), sport: g.ephemeralPort(), dport: smtpPort}, 4+2*n)
}

// renewal schedules cert-manager renewing the shop's certificate at at, as
// renewCertificate does, with the waits for the TXT record between the
// other traffic.
func (g *Generator) renewal(at time.Time) {
	cm := func() *pod { return g.pod("cert-manager") }
	steps := []func(){func() {
		c := cm()
		g.https(c, stsName, 1, 1)
		g.https(c, acmeName, 1, 3)
		g.https(c, route53Name, 1, 2)
		g.ask(c, acmeChallenge, "SOA")
		g.ask(c, shopZoneApex, "SOA")
	}}
	for range 3 {
		steps = append(steps, func() { g.ask(cm(), acmeChallenge, "TXT") })
	}
	steps = append(steps, func() {
		c := cm()
		g.https(c, acmeName, 0, 3)
		g.apiServer(c, 3)
	})
	g.sequence(at, 2*time.Second, 8*time.Second, steps...)
}

// churnable are the Deployments whose pods get replaced now and then.
var churnable = []string{"frontend", "cart", "catalog", "recommendation", "currency", "accounts"}

// churn replaces one pod of a Deployment: same workload, new name and
// address.
func (g *Generator) churn() {
	w := g.mesh.workloads[churnable[g.rng.IntN(len(churnable))]]
	g.replace(w.pods[g.rng.IntN(len(w.pods))])
}

// rollout moves a Deployment to a new pod-template-hash, one pod after
// the other, gap apart.
func (g *Generator) rollout(name, hash string, gap time.Duration) {
	w := g.mesh.workloads[name]
	w.hash = hash
	var steps []func()
	for _, p := range w.pods {
		steps = append(steps, func() { g.replace(p) })
	}
	g.sequence(g.now, gap, 0, steps...)
}

// podSuffix draws the random suffix Kubernetes gives a generated name.
func (g *Generator) podSuffix() string { return g.token("bcdfghjklmnpqrstvwxz2456789", 5) }

// allocate makes a pod of w named name on the next node, with an address
// from the top of that node's pod range that no pod holds.
func (g *Generator) allocate(w *workload, name string) *pod {
	m := g.mesh
	k := m.dynamic
	m.dynamic++
	n := m.nodes[k%len(m.nodes)]
	ip, host := "", 0
	for i := range 45 {
		host = 200 + (k/len(m.nodes)+i)%45
		ip = fmt.Sprintf("10.0.%d.%d", n.podNet, host)
		if m.byIP[ip] == nil {
			break
		}
	}
	return &pod{
		w:       w,
		name:    name,
		ip:      ip,
		node:    n,
		epID:    uint32(3001 + k*37%900),
		mac:     fmt.Sprintf("4a:%02x:%02x:3c:%02x:%02x", 0x80|k*29%128, k*53%256, n.podNet, host),
		label:   podLabels(w),
		ifindex: uint32(60 + k),
		lxc:     lxcName(name),
	}
}

// spawn starts a new pod of w.
func (g *Generator) spawn(w *workload, name string) *pod {
	p := g.allocate(w, name)
	w.pods = append(w.pods, p)
	g.mesh.byIP[p.ip] = p
	return p
}

// retire removes p: its address is free, its connections gone.
func (g *Generator) retire(p *pod) {
	p.w.pods = slices.DeleteFunc(p.w.pods, func(x *pod) bool { return x == p })
	delete(g.mesh.byIP, p.ip)
	g.dropConnections(p)
}

// replace puts a new pod of p's Deployment, named with its current hash,
// in p's place: the jobs that probe and scrape p follow it.
func (g *Generator) replace(p *pod) {
	delete(g.mesh.byIP, p.ip)
	g.dropConnections(p)
	q := g.allocate(p.w, fmt.Sprintf("%s-%s-%s", p.w.name, p.w.hash, g.podSuffix()))
	p.name, p.ip, p.node, p.epID, p.mac, p.ifindex, p.lxc = q.name, q.ip, q.node, q.epID, q.mac, q.ifindex, q.lxc
	g.mesh.byIP[p.ip] = p
}

// dropConnections forgets the pooled connections of p, as a client and as
// a server.
func (g *Generator) dropConnections(p *pod) {
	for k := range g.pools {
		if k.client == p || k.server == p.ip {
			delete(g.pools, k)
		}
	}
}
