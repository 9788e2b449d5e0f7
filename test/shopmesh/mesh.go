// Package shopmesh simulates the Hubble flows of an online shop on Cilium, attacks included, for the demo and tests.
package shopmesh

import (
	"fmt"
	"hash/fnv"
	"slices"
)

// The mesh is fixed: every seed runs the same cluster (same pods, IPs,
// identities and endpoint IDs), only the traffic differs. Stable names let
// demo dashboards, silences and golden files refer to them.

// ClusterName is the Cilium cluster name carried by pod endpoints.
const ClusterName = "default"

// emitterVersion is the Hubble version the simulated agents claim.
const emitterVersion = "1.20.2"

// node is one Kubernetes node with its pod CIDR (10.0.<podNet>.0/24).
type node struct {
	name   string
	ip     string
	podNet int
	mac    string // the node side of the pods' veth pairs
	labels []string
	health *pod // the cilium-health endpoint the agent probes
}

// workload is a Deployment or StatefulSet and its Service.
type workload struct {
	namespace string
	name      string
	kind      string // Deployment or StatefulSet
	app       string // value of the app (or k8s-app) label
	appKey    string // app, or k8s-app for cluster add-ons
	port      uint32 // the port its Service targets
	identity  uint32 // Cilium security identity
	clusterIP string
	lang      string // what it is written in, which says which clients it uses
	metrics   uint32 // the port Prometheus scrapes /metrics on
	hash      string // a Deployment's current pod-template-hash
	pods      []*pod
}

// pod is one replica of a workload.
type pod struct {
	w     *workload
	name  string
	ip    string
	node  *node
	epID  uint32 // Cilium endpoint ID, meaningful on its own node only
	mac   string
	label []string
	// its veth device on the node, through which Cilium delivers to it
	ifindex uint32
	lxc     string
}

// mesh is the simulated cluster.
type mesh struct {
	nodes     []*node
	workloads map[string]*workload // by name
	order     []*workload          // as in workloadSpecs
	services  map[string]*workload // by Service FQDN, for CoreDNS
	byIP      map[string]*pod      // pods by address, for PTR answers
	// dynamic counts the pods created after the start (baseline.go):
	// CronJob runs, replaced pods, a rollout.
	dynamic int
}

// Node names follow EKS: the node's private DNS name.
var nodeSpecs = []struct {
	name, ip, zone string
}{
	{"ip-10-0-0-11.eu-west-1.compute.internal", "10.0.0.11", "eu-west-1a"},
	{"ip-10-0-0-12.eu-west-1.compute.internal", "10.0.0.12", "eu-west-1b"},
	{"ip-10-0-0-13.eu-west-1.compute.internal", "10.0.0.13", "eu-west-1c"},
}

// workloadSpecs lists the shop. Pod names, IPs and endpoint IDs are derived
// from the position in this list, so appending keeps existing ones stable.
var workloadSpecs = []struct {
	namespace, name, kind string
	replicas              int
	port                  uint32
	identity              uint32
	templateHash          string // ReplicaSet pod-template-hash
	suffixes              []string
	lang                  string
	metrics               uint32
}{
	{"shop", "frontend", "Deployment", 2, 8080, 18734, "7d9f8b6c5d", []string{"x2k9q", "bh7rt"}, langGo, 9090},
	{"shop", "cart", "Deployment", 2, 7070, 24310, "5f6d8c9b7", []string{"k4n2w", "p9zmx"}, langDotnet, 9464},
	{"shop", "checkout", "Deployment", 1, 5050, 29871, "6c7b9d5f48", []string{"t7vqs"}, langGo, 9090},
	{"shop", "catalog", "Deployment", 2, 3550, 21045, "6b8f9c7d4", []string{"qz2xw", "l8hcd"}, langGo, 9090},
	{"shop", "payment", "Deployment", 1, 50051, 47522, "84f5d6c9b", []string{"wr5jn"}, langNode, 9464},
	{"shop", "shipping", "Deployment", 1, 50051, 38806, "5b9c8d7f6", []string{"m2fks"}, langGo, 9090},
	{"shop", "email", "Deployment", 1, 8080, 36129, "77c8f9d5b", []string{"g6xtp"}, langPython, 9464},
	{"shop", "recommendation", "Deployment", 2, 8080, 41873, "5c8d7f9b6", []string{"mq4zt", "v7c2r"}, langPython, 9464},
	{"shop", "currency", "Deployment", 3, 7000, 33190, "84d6c7b9f5", []string{"r8tnv", "d5wqh", "z9kbm"}, langNode, 9464},
	{"shop", "ad", "Deployment", 1, 9555, 52761, "6f7c9d8b5", []string{"kw2lp"}, langJava, 8081},              // Spring Boot's management port
	{"shop-data", "redis-cart", "Deployment", 1, 6379, 57204, "68d9c7f5b4", []string{"n4rxv"}, "", 9121},      // redis_exporter sidecar
	{"shop-data", "postgres", "StatefulSet", 1, 5432, 60412, "", nil, "", 9187},                               // postgres_exporter sidecar
	{"kube-system", "coredns", "Deployment", 2, 53, 5612, "5d78c9869d", []string{"hx7kp", "c9wfz"}, "", 9153}, // the prometheus plugin
	{"shop-data", "minio", "StatefulSet", 1, 9000, 44817, "", nil, langGo, 9000},
	{"monitoring", "prometheus", "StatefulSet", 1, 9090, 12093, "", nil, langGo, 0}, // scrapes itself over loopback
	{"cert-manager", "cert-manager", "Deployment", 1, 9402, 9307, "7c9f8d5b6c", []string{"h4x8n"}, langGo, 9402},
}

// baselineWorkloadSpecs are the workloads only the baseline scenario runs
// (baseline.go), appended after workloadSpecs so that every pod of the
// default mesh keeps its name, address and endpoint ID. A CronJob has no
// pods until it runs, and no Service.
var baselineWorkloadSpecs = []struct {
	namespace, name, kind string
	replicas              int
	port                  uint32
	identity              uint32
	templateHash          string
	suffixes              []string
	lang                  string
	metrics               uint32
}{
	{"shop", "accounts", "Deployment", 2, 8080, 27384, "5d7b9c6f84", []string{"j6tqw", "c8mzd"}, langGo, 9090},
	{"shop", "mail-relay", "Deployment", 1, 25, 31957, "66c9f7d8b5", []string{"f2wln"}, "", 9154}, // postfix, postfix_exporter
	{"shop", "stock-sync", "CronJob", 0, 0, 42611, "", nil, langPython, 0},
}

// Languages of the shop's services, which decide their client libraries.
const (
	langGo     = "go"
	langPython = "python"
	langNode   = "node"
	langJava   = "java"
	langDotnet = "dotnet"
)

// healthIdentity is Cilium's reserved identity of the cilium-health
// endpoint every agent runs in the pod network.
const healthIdentity = 4

func newMesh(baseline bool) *mesh {
	m := &mesh{workloads: map[string]*workload{}, services: map[string]*workload{}, byIP: map[string]*pod{}}
	// cilium-health endpoints are Cilium endpoints outside Kubernetes: no
	// namespace, no pod, the reserved:health identity.
	health := &workload{identity: healthIdentity}
	for i, ns := range nodeSpecs {
		n := &node{
			name:   ns.name,
			ip:     ns.ip,
			podNet: i + 1,
			mac:    fmt.Sprintf("0a:58:0a:00:%02x:01", i+1),
			labels: []string{
				"kubernetes.io/arch=amd64",
				"kubernetes.io/hostname=" + ns.name,
				"kubernetes.io/os=linux",
				"topology.kubernetes.io/region=eu-west-1",
				"topology.kubernetes.io/zone=" + ns.zone,
			},
		}
		n.health = &pod{
			w:       health,
			ip:      fmt.Sprintf("10.0.%d.250", n.podNet),
			node:    n,
			epID:    uint32(4001 + i),
			mac:     fmt.Sprintf("4a:fe:00:3c:%02x:fa", n.podNet),
			label:   []string{"reserved:health"},
			ifindex: 9,
			lxc:     "lxc_health",
		}
		m.nodes = append(m.nodes, n)
	}
	podIndex := 0
	specs := workloadSpecs
	if baseline {
		specs = append(slices.Clone(workloadSpecs), baselineWorkloadSpecs...)
	}
	for wi, ws := range specs {
		w := &workload{
			namespace: ws.namespace,
			name:      ws.name,
			kind:      ws.kind,
			app:       ws.name,
			appKey:    "app",
			port:      ws.port,
			identity:  ws.identity,
			clusterIP: fmt.Sprintf("10.100.%d.%d", 10+wi/8, 10+wi*13%240),
			lang:      ws.lang,
			metrics:   ws.metrics,
			hash:      ws.templateHash,
		}
		if ws.name == "coredns" {
			w.app, w.appKey = "kube-dns", "k8s-app"
			w.clusterIP = "10.100.0.10"
		}
		for r := range ws.replicas {
			n := m.nodes[podIndex%len(m.nodes)]
			name := fmt.Sprintf("%s-%d", ws.name, r) // StatefulSet ordinal
			if ws.kind == "Deployment" {
				name = fmt.Sprintf("%s-%s-%s", ws.name, ws.templateHash, ws.suffixes[r])
			}
			host := 10 + podIndex*7%230
			p := &pod{
				w:    w,
				name: name,
				ip:   fmt.Sprintf("10.0.%d.%d", n.podNet, host),
				node: n,
				epID: uint32(137 + podIndex*263%3900),
				mac:  fmt.Sprintf("4a:%02x:%02x:3c:%02x:%02x", wi*17%256, r*41%256, n.podNet, host),
			}
			p.label = podLabels(w)
			p.ifindex, p.lxc = uint32(12+podIndex), lxcName(name)
			w.pods = append(w.pods, p)
			m.byIP[p.ip] = p
			podIndex++
		}
		m.workloads[w.name] = w
		m.order = append(m.order, w)
		if w.port != 0 {
			m.services[w.serviceName()] = w
		}
	}
	return m
}

// lxcName names a pod's host-side veth as Cilium does: "lxc" and a hash.
func lxcName(podName string) string {
	h := fnv.New64a()
	h.Write([]byte(podName))
	return fmt.Sprintf("lxc%012x", h.Sum64()&0xffffffffffff)
}

func podLabels(w *workload) []string {
	l := []string{
		fmt.Sprintf("k8s:%s=%s", w.appKey, w.app),
		"k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=" + w.namespace,
		"k8s:io.cilium.k8s.policy.cluster=" + ClusterName,
		"k8s:io.cilium.k8s.policy.serviceaccount=" + w.name,
		"k8s:io.kubernetes.pod.namespace=" + w.namespace,
	}
	slices.Sort(l)
	return l
}

// serviceName is the in-cluster DNS name of a workload's Service.
func (w *workload) serviceName() string {
	return fmt.Sprintf("%s.%s.svc.cluster.local.", w.name, w.namespace)
}
