// Package shopmesh simulates the Hubble flows of an online shop on Cilium, attacks included, for the demo and tests.
package shopmesh

import (
	"fmt"
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
}

// mesh is the simulated cluster.
type mesh struct {
	nodes     []*node
	workloads map[string]*workload // by name
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
}{
	{"shop", "frontend", "Deployment", 2, 8080, 18734, "7d9f8b6c5d", []string{"x2k9q", "bh7rt"}},
	{"shop", "cart", "Deployment", 2, 7070, 24310, "5f6d8c9b7", []string{"k4n2w", "p9zmx"}},
	{"shop", "checkout", "Deployment", 1, 5050, 29871, "6c7b9d5f48", []string{"t7vqs"}},
	{"shop", "catalog", "Deployment", 2, 3550, 21045, "6b8f9c7d4", []string{"qz2xw", "l8hcd"}},
	{"shop", "payment", "Deployment", 1, 50051, 47522, "84f5d6c9b", []string{"wr5jn"}},
	{"shop", "shipping", "Deployment", 1, 50051, 38806, "5b9c8d7f6", []string{"m2fks"}},
	{"shop", "email", "Deployment", 1, 8080, 36129, "77c8f9d5b", []string{"g6xtp"}},
	{"shop", "recommendation", "Deployment", 2, 8080, 41873, "5c8d7f9b6", []string{"mq4zt", "v7c2r"}},
	{"shop", "currency", "Deployment", 3, 7000, 33190, "84d6c7b9f5", []string{"r8tnv", "d5wqh", "z9kbm"}},
	{"shop", "ad", "Deployment", 1, 9555, 52761, "6f7c9d8b5", []string{"kw2lp"}},
	{"shop-data", "redis-cart", "Deployment", 1, 6379, 57204, "68d9c7f5b4", []string{"n4rxv"}},
	{"shop-data", "postgres", "StatefulSet", 1, 5432, 60412, "", nil},
	{"kube-system", "coredns", "Deployment", 2, 53, 5612, "5d78c9869d", []string{"hx7kp", "c9wfz"}},
}

func newMesh() *mesh {
	m := &mesh{workloads: map[string]*workload{}}
	for i, ns := range nodeSpecs {
		m.nodes = append(m.nodes, &node{
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
		})
	}
	podIndex := 0
	for wi, ws := range workloadSpecs {
		w := &workload{
			namespace: ws.namespace,
			name:      ws.name,
			kind:      ws.kind,
			app:       ws.name,
			appKey:    "app",
			port:      ws.port,
			identity:  ws.identity,
			clusterIP: fmt.Sprintf("10.100.%d.%d", 10+wi/8, 10+wi*13%240),
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
			w.pods = append(w.pods, p)
			podIndex++
		}
		m.workloads[w.name] = w
	}
	return m
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
