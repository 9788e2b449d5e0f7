package shopmesh

import (
	"fmt"
	"slices"
	"strings"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
)

// The baseline scenario's attacks (Incidents), each run by jobs in its
// window. The latency and error spikes have no traffic of their own: they
// change the answers of calls the shop makes anyway (baselineRPC).

func (g *Generator) scheduleIncident(in Incident) {
	switch in.Name {
	case IncidentLateralNewPeer:
		g.during(in.Start, in.End, 4*time.Second, 3*time.Second, g.lateralStep())
	case IncidentExfiltration:
		g.during(in.Start, in.End, time.Second, time.Second, g.exfilStep())
	case IncidentDNSTunnel:
		g.during(in.Start, in.End, time.Second, time.Second, func() { g.tunnelQuery(g.pod("email")) })
	case IncidentPortScan:
		g.portScan(in)
	case IncidentAddressSweep:
		g.addressSweep(in)
	case IncidentAdminEndpoint:
		g.during(in.Start, in.End, 10*time.Second, 10*time.Second, g.adminStep())
	case IncidentCredentialStuffing:
		g.during(in.Start, in.End, 250*time.Millisecond, 200*time.Millisecond, g.stuffingStep())
	case IncidentRateSpike:
		g.rateSpike(in)
	}
}

// lateralStep: the compromised recommendation pod enumerates customers on
// the accounts service, and opens the database.
func (g *Generator) lateralStep() func() {
	user := 10000 + g.rng.IntN(1000)
	i := 0
	return func() {
		rec := g.pod("recommendation")
		if i%3 == 2 {
			g.postgres(rec)
		} else {
			user++
			g.restCall(rec, "accounts", "GET", fmt.Sprintf("/v1/users/%d", user), "accounts GET /v1/users/{id}", 200, g.accountsDB)
		}
		i++
	}
}

// exfilStep: the ad pod uploads over long-lived TLS connections to an
// address it got from its implant, not from DNS.
func (g *Generator) exfilStep() func() {
	var c conn
	left := 0
	return func() {
		if left == 0 {
			c = conn{client: podPeer(g.pod("ad")), server: worldPeer(exfilIP), sport: g.ephemeralPort(), dport: 443}
			g.handshake(c, g.rtt(c))
			left = 10 + g.rng.IntN(10)
		}
		g.transfer(c, 6, g.rtt(c))
		left--
		if left == 0 {
			g.packet(c, false, flagsFINACK(), flowpb.TraceReason_ESTABLISHED, g.between(50*time.Microsecond, 5*time.Millisecond))
			g.packet(c, true, flagsFINACK(), flowpb.TraceReason_REPLY, g.rtt(c))
		}
	}
}

// synProbe sends one SYN from client to server's port, as a SYN scan
// does, from sport: the target answers RST when the port is closed, or
// SYN-ACK when open, which the scanner resets; nothing answers for an
// address where no pod is.
func (g *Generator) synProbe(client *pod, server peer, sport, port uint32, open bool) {
	c := conn{client: podPeer(client), server: server, sport: sport, dport: port}
	g.admit(c, noProxy)
	g.packet(c, false, flagsSYN(), flowpb.TraceReason_NEW, g.between(20*time.Microsecond, 200*time.Microsecond))
	if server.pod == nil {
		return
	}
	rtt := g.rtt(c)
	if !open {
		g.packet(c, true, flagsRSTACK(), flowpb.TraceReason_REPLY, rtt)
		return
	}
	g.packet(c, true, flagsSYNACK(), flowpb.TraceReason_REPLY, rtt)
	g.packet(c, false, flagsRST(), flowpb.TraceReason_ESTABLISHED, g.between(10*time.Microsecond, 60*time.Microsecond))
}

// scanPorts are the first ports a scanner tries, before random ones.
var scanPorts = []uint32{
	21, 22, 23, 25, 53, 80, 110, 111, 135, 139, 143, 443, 445, 993, 995, 1433, 1521, 2049, 2375, 2379,
	3000, 3306, 3389, 4040, 5000, 5432, 5601, 5672, 5900, 5984, 6379, 6443, 7001, 8000, 8080, 8081,
	8443, 8888, 9000, 9090, 9092, 9187, 9200, 9300, 10250, 10255, 11211, 15672, 27017, 50000,
}

// portScan: the compromised currency pod SYN-scans 200 ports of the
// postgres pod in about a minute, then connects to the open ports it found.
func (g *Generator) portScan(in Incident) {
	ports := slices.Clone(scanPorts)
	for len(ports) < 200 {
		if p := uint32(1 + g.rng.IntN(10000)); !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	g.rng.Shuffle(len(ports), func(i, j int) { ports[i], ports[j] = ports[j], ports[i] })
	sport := g.ephemeralPort()
	i := 0
	g.during(in.Start, in.End, 200*time.Millisecond, 200*time.Millisecond, func() {
		if i == len(ports) {
			return
		}
		pg := g.pod("postgres")
		g.synProbe(g.pod("currency"), podPeer(pg), sport, ports[i], ports[i] == pg.w.port || ports[i] == pg.w.metrics)
		i++
	})
	g.during(in.Start.Add(75*time.Second), in.End, 8*time.Second, 4*time.Second, func() {
		pg := g.pod("postgres")
		port := pg.w.port
		if g.chance(0.3) {
			port = pg.w.metrics
		}
		g.tcpSession(conn{client: podPeer(g.pod("currency")), server: podPeer(pg), sport: g.ephemeralPort(), dport: port}, 1+g.rng.IntN(2))
	})
}

// addressSweep: the compromised payment pod tries Redis's port on a
// hundred addresses of the pod range of Redis's node, then talks to the
// Redis it found.
func (g *Generator) addressSweep(in Incident) {
	redis := g.pod("redis-cart")
	net := redis.node.podNet
	var targets []string
	for host := 101; host <= 200; host++ {
		targets = append(targets, fmt.Sprintf("10.0.%d.%d", net, host))
	}
	sport := g.ephemeralPort()
	i := 0
	g.during(in.Start, in.End, 300*time.Millisecond, 300*time.Millisecond, func() {
		if i == len(targets) {
			return
		}
		ip := targets[i]
		i++
		server := worldPeer(ip) // an address no endpoint holds
		if p := g.mesh.byIP[ip]; p != nil {
			server = podPeer(p)
		}
		g.synProbe(g.pod("payment"), server, sport, redis.w.port, server.pod != nil && server.pod.w.port == redis.w.port)
	})
	g.during(in.Start.Add(60*time.Second), in.End, 8*time.Second, 4*time.Second, func() {
		r := g.pod("redis-cart")
		g.tcpSession(conn{client: podPeer(g.pod("payment")), server: podPeer(r), sport: g.ephemeralPort(), dport: r.w.port}, 1+g.rng.IntN(3))
	})
}

// adminStep: the compromised frontend pod calls the accounts service's
// administrative API, on the connection it uses for customers' pages.
func (g *Generator) adminStep() func() {
	paths := []string{"/admin/users?page=1", "/admin/users?page=2", "/admin/users/export?format=csv", "/admin/users?page=3"}
	i := 0
	return func() {
		g.restCall(g.pod("frontend"), "accounts", "GET", paths[i%len(paths)], "accounts GET /admin/users", 200, g.accountsDB)
		i++
	}
}

// stuffingStep: leaked credentials tried on the shop's login through
// residential proxies: a new address for every few attempts, a browser's
// User-Agent.
func (g *Generator) stuffingStep() func() {
	i := 0
	return func() {
		ip := fmt.Sprintf("203.0.113.%d", stufferBase+i%stuffers)
		i++
		v := &visitor{
			remote:  g.newRemote(ip),
			browser: browserClients[g.rng.IntN(len(browserClients))],
			lang:    "en-US,en;q=0.9",
		}
		g.login(v, false)
	}
}

// rateSpike: the recommendation pod, stuck in a retry loop, calls
// ListProducts nine times as often again as it did over the last ten
// minutes.
func (g *Generator) rateSpike(in Incident) {
	var j *job
	first := true
	j = g.during(in.Start, in.End, time.Second, 0, func() {
		if first {
			first = false
			calls := 0
			m := in.Start.Unix() / 60
			for k := m - 10; k < m; k++ {
				calls += g.recLists[k]
			}
			perMin := max(float64(calls)/10, 5)
			interval := time.Duration(float64(time.Minute) / (9 * perMin))
			j.every, j.spread = interval/2, interval
		}
		g.rpc(g.pod("recommendation"), "catalog", "ProductCatalogService/ListProducts", false, nil)
	})
}

// ClassifyIncident tells which of the baseline scenario's incidents a flow
// belongs to, replies included, from the flow alone, or "" for the shop's
// own traffic. The latency, error and rate spikes change traffic the shop
// has anyway, so they show in aggregate only and are never named here; the
// DNS lookups and database reverse lookups an attack causes are not named
// either.
func ClassifyIncident(f *flowpb.Flow) string {
	src, dst := f.GetIP().GetSource(), f.GetIP().GetDestination()
	if src == exfilIP || dst == exfilIP {
		return IncidentExfiltration
	}
	if stuffer(src) || stuffer(dst) {
		return IncidentCredentialStuffing
	}
	from, to := workloadOf(f.GetSource()), workloadOf(f.GetDestination())
	pair := func(a, b string) bool { return from == a && to == b || from == b && to == a }
	tcp := f.GetL4().GetTCP()
	switch {
	case pair("shop/recommendation", "shop/accounts") || pair("shop/recommendation", "shop-data/postgres"):
		return IncidentLateralNewPeer
	case pair("shop/currency", "shop-data/postgres"):
		return IncidentPortScan
	case from == "shop/payment" && tcp.GetDestinationPort() == 6379 || to == "shop/payment" && tcp.GetSourcePort() == 6379:
		return IncidentAddressSweep
	case (from == "shop/email" || to == "shop/email") && strings.HasSuffix(f.GetL7().GetDns().GetQuery(), "."+exfilDomain):
		return IncidentDNSTunnel
	case pair("shop/frontend", "shop/accounts") && strings.Contains(f.GetL7().GetHttp().GetUrl(), ":8080/admin/"):
		return IncidentAdminEndpoint
	}
	return ""
}

// stuffer reports whether ip is one of the credential stuffers'.
func stuffer(ip string) bool {
	rest, ok := strings.CutPrefix(ip, "203.0.113.")
	if !ok {
		return false
	}
	var n int
	if _, err := fmt.Sscanf(rest, "%d", &n); err != nil {
		return false
	}
	return n >= stufferBase && n < stufferBase+stuffers
}

// workloadOf names a pod endpoint "namespace/workload", else "".
func workloadOf(ep *flowpb.Endpoint) string {
	if ep.GetNamespace() == "" || len(ep.GetWorkloads()) == 0 {
		return ""
	}
	return ep.GetNamespace() + "/" + ep.GetWorkloads()[0].GetName()
}
