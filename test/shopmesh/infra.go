package shopmesh

import (
	"fmt"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
)

// The cluster's own machinery, which runs on a clock rather than on
// shoppers: kubelet probes, load balancer health checks, Prometheus
// scrapes, cilium-health probes and the controllers' watches on the API
// server.

// job is something that happens every so often, at its own phase.
type job struct {
	due   time.Time
	every time.Duration
	run   func()
	// Only the baseline scenario's jobs set these: spread is a random extra
	// delay after every run, until the time from which the job is over
	// (zero: never).
	spread time.Duration
	until  time.Time
}

// over reports whether the job will not run again.
func (j *job) over() bool { return !j.until.IsZero() && !j.due.Before(j.until) }

// every schedules run at a random phase of period from cfg.Start.
func (g *Generator) every(period time.Duration, run func()) {
	g.jobs = append(g.jobs, &job{due: g.cfg.Start.Add(g.between(0, period)), every: period, run: run})
}

// dueJob returns the job that was due first, if any is due now.
func (g *Generator) dueJob() *job {
	var next *job
	for _, j := range g.jobs {
		if !j.due.After(g.now) && !j.over() && (next == nil || j.due.Before(next.due)) {
			next = j
		}
	}
	return next
}

// Intervals of the periodic traffic.
const (
	probePeriod        = 10 * time.Second // kubelet's periodSeconds
	lbCheckPeriod      = 10 * time.Second // the load balancer's health check interval
	scrapePeriod       = 30 * time.Second // Prometheus' scrape_interval
	healthProbePeriod  = 60 * time.Second // cilium-health's probe interval
	uptimeCheckPeriod  = 60 * time.Second
	watchActivityEvery = 15 * time.Second // resync, bookmarks, leases
)

// Ports of the node agents Prometheus scrapes on every node.
const (
	nodeExporterPort = 9100
	ciliumAgentPort  = 9962
	ciliumHealthPort = 4240
)

// apiServerIPs are the EKS control plane's network interfaces in the VPC.
var apiServerIPs = []string{"10.0.0.155", "10.0.0.187"}

// probe is one kubelet probe of a container port.
type probe struct {
	port uint32
	path string // "" for a gRPC health check
	// l7 says an L7 rule covers the port, so the proxy logs the probe;
	// otherwise Hubble sees the TCP connection only.
	l7 bool
}

// probes are the liveness and readiness probes of each workload; Redis and
// PostgreSQL are probed by exec, which never leaves the pod.
func probes(w *workload) []probe {
	switch w.name {
	case "frontend":
		return []probe{{w.port, "/healthz", true}, {w.port, "/readyz", true}}
	case "redis-cart", "postgres":
		return nil
	case "coredns":
		return []probe{{8080, "/health", false}, {8181, "/ready", false}}
	case "minio":
		return []probe{{w.port, "/minio/health/live", true}, {w.port, "/minio/health/ready", true}}
	case "prometheus":
		return []probe{{w.port, "/-/healthy", false}, {w.port, "/-/ready", false}}
	case "cert-manager":
		return []probe{{9403, "/livez", false}}
	case "accounts":
		return []probe{{w.port, "/healthz", true}, {w.port, "/readyz", true}}
	case "mail-relay":
		return []probe{{w.port, "", false}} // a TCP socket probe of SMTP
	case "ad":
		// Spring Boot's probe groups on the management port.
		return []probe{{w.metrics, "/actuator/health/liveness", true}, {w.metrics, "/actuator/health/readiness", true}}
	}
	return []probe{{w.port, "", true}, {w.port, "", true}} // native gRPC probes
}

// metricsPath is where w serves its Prometheus metrics.
func metricsPath(w *workload) string {
	switch w.name {
	case "minio":
		return "/minio/v2/metrics/cluster"
	case "ad":
		return "/actuator/prometheus"
	}
	return "/metrics"
}

// scheduleInfra sets up the periodic traffic of the mesh.
func (g *Generator) scheduleInfra() {
	prom := g.mesh.workloads["prometheus"].pods[0]
	for _, w := range g.mesh.order {
		for _, p := range w.pods {
			for _, pr := range probes(w) {
				g.every(probePeriod, func() { g.kubeletProbe(p, pr) })
			}
			if w.metrics != 0 {
				g.every(scrapePeriod, func() { g.scrape(prom, podPeer(p), w.metrics, metricsPath(w)) })
			}
		}
	}
	for _, n := range g.mesh.nodes {
		g.every(scrapePeriod, func() { g.scrape(prom, nodePeer(n), nodeExporterPort, "/metrics") })
		g.every(scrapePeriod, func() { g.scrape(prom, nodePeer(n), ciliumAgentPort, "/metrics") })
		g.every(healthProbePeriod, func() { g.ciliumHealth(n) })
	}
	for _, fe := range g.mesh.workloads["frontend"].pods {
		for _, lb := range lbAddresses {
			g.every(lbCheckPeriod, func() { g.lbHealthCheck(lb, fe) })
		}
	}
	g.every(uptimeCheckPeriod, g.uptimeCheck)
	for _, name := range []string{"coredns", "prometheus", "cert-manager"} {
		for _, p := range g.mesh.workloads[name].pods {
			g.every(watchActivityEvery, func() { g.apiServer(p, 1+g.rng.IntN(3)) })
		}
	}
}

// kubeletProbe is the kubelet on the pod's node probing one of its ports.
func (g *Generator) kubeletProbe(p *pod, pr probe) {
	c := conn{client: nodePeer(p.node), server: podPeer(p), sport: g.ephemeralPort(), dport: pr.port}
	if !pr.l7 {
		g.tcpSession(c, 1)
		return
	}
	e := &exchange{
		conn:     c,
		method:   "GET",
		url:      fmt.Sprintf("http://%s:%d%s", p.ip, pr.port, pr.path),
		protocol: "HTTP/1.1",
		headers:  headers("Accept", "*/*", "User-Agent", "kube-probe/1.30", "X-Request-Id", g.uuid()),
		code:     200,
	}
	if pr.path == "" {
		e.method, e.protocol = "POST", "HTTP/2"
		e.url = fmt.Sprintf("http://%s:%d/grpc.health.v1.Health/Check", p.ip, pr.port)
		e.headers = headers("Content-Type", "application/grpc", "Te", "trailers", "User-Agent", "kube-probe/1.30 grpc-go/1.58.3", "X-Request-Id", g.uuid())
	}
	g.open(e)
	g.request(e, g.between(30*time.Microsecond, 300*time.Microsecond))
	g.response(e, g.between(200*time.Microsecond, 3*time.Millisecond))
}

// scrape is Prometheus scraping target's metrics by address, as its
// Kubernetes service discovery lists them; its egress L7 policy logs it.
func (g *Generator) scrape(prom *pod, target peer, port uint32, path string) {
	sport, fresh := g.pooled(prom, target, port, 0.01)
	code := uint32(200)
	if g.chance(0.002) {
		code = 503 // the target is restarting
	}
	e := &exchange{
		conn:     conn{client: podPeer(prom), server: target, sport: sport, dport: port},
		method:   "GET",
		url:      fmt.Sprintf("http://%s:%d%s", target.ip, port, path),
		protocol: "HTTP/1.1",
		headers: headers(
			"Accept", "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
			"Accept-Encoding", "gzip",
			"User-Agent", "Prometheus/2.53.0",
			"X-Prometheus-Scrape-Timeout-Seconds", "10",
			"X-Request-Id", g.uuid(),
		),
		code:   code,
		egress: true,
	}
	if fresh {
		g.open(e)
	}
	g.request(e, g.between(50*time.Microsecond, 500*time.Microsecond))
	g.response(e, g.between(time.Millisecond, 40*time.Millisecond))
}

// ciliumHealth is the agent on node from probing every node's
// cilium-health endpoint: an ICMP echo and an HTTP GET on 4240, which
// Hubble sees where the endpoint is.
func (g *Generator) ciliumHealth(from *node) {
	for _, to := range g.mesh.nodes {
		ping := conn{client: nodePeer(from), server: podPeer(to.health), proto: icmp}
		g.packet(ping, false, nil, flowpb.TraceReason_NEW, g.between(20*time.Microsecond, 200*time.Microsecond))
		g.packet(ping, true, nil, flowpb.TraceReason_REPLY, g.rtt(ping))
		g.tcpSession(conn{client: nodePeer(from), server: podPeer(to.health), sport: g.ephemeralPort(), dport: ciliumHealthPort}, 1)
	}
}

// apiServer is a controller's watch connection to the API server carrying
// n events or requests (the address is the kubernetes Service's, which
// needs no DNS).
func (g *Generator) apiServer(client *pod, n int) {
	ip := apiServerIPs[int(client.epID)%len(apiServerIPs)]
	g.talk(client, apiServerPeer(ip), 443, 0.01, n, nil, nil)
}
