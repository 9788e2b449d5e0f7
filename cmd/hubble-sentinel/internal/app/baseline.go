package app

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/hubble-sentinel/hubble-sentinel/engine/profile"
)

// loadBaselines reads a baseline snapshot for the baseline commands.
func loadBaselines(path string) (*profile.Store, error) {
	if path == "" {
		return nil, errors.New("--baseline.path is required")
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("baseline snapshot: %w", err)
	}
	s, err := profile.NewStore(profile.Config{}, nil)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("baseline snapshot: %w", err)
	}
	defer f.Close()
	// Read-only: an unusable snapshot is reported, not moved aside.
	if _, err := s.ReadSnapshot(f); err != nil {
		return nil, fmt.Errorf("baseline snapshot %s: %w", path, err)
	}
	return s, nil
}

// BaselineShow prints what the profiles in the snapshot learned, one block
// per workload; with workloads ("namespace/workload" or a namespace), only
// those.
func BaselineShow(o Options, path string, workloads []string) error {
	o.defaults()
	s, err := loadBaselines(path)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(o.Stdout, 0, 4, 2, ' ', 0)
	shown := 0
	for _, sum := range s.Summaries() {
		if len(workloads) > 0 && !slices.Contains(workloads, sum.Key) && !slices.Contains(workloads, sum.Namespace) {
			continue
		}
		shown++
		state := "judging"
		if sum.LastSeen.Before(sum.LearnUntil) {
			state = "learning until " + sum.LearnUntil.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%s\t%s, %d flows, seen %s to %s\n", sum.Key, state, sum.Flows,
			sum.FirstSeen.UTC().Format(time.RFC3339), sum.LastSeen.UTC().Format(time.RFC3339))
		if len(sum.Edges) > 0 {
			fmt.Fprintf(w, "  PEER\tPORT\tLEARNED\tENDPOINT\tREQ/MIN\t5XX\tLATENCY\n")
		}
		for _, e := range sum.Edges {
			port := e.Protocol + "/" + strconv.FormatUint(uint64(e.Port), 10)
			if len(e.Endpoints) == 0 {
				fmt.Fprintf(w, "  %s\t%s\t%v\t\t\t\t\n", e.Peer, port, e.Learned)
			}
			for _, ep := range e.Endpoints {
				fmt.Fprintf(w, "  %s\t%s\t%v\t%s\t%.1f\t%.0f%%\t%.0f ms\n", e.Peer, port, e.Learned, ep.Name,
					ep.RequestsPerMin, ep.ErrorRatio*100, ep.LatencyMs)
			}
		}
		if len(sum.Domains) > 0 {
			fmt.Fprintf(w, "  DOMAINS\t%s\n", strings.Join(sum.Domains, ", "))
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if shown == 0 {
		return fmt.Errorf("no profile matches %v in %s", workloads, path)
	}
	return nil
}

// BaselineExport writes, for every workload of namespace in the snapshot,
// a CiliumNetworkPolicy allowing exactly the egress its baseline learned:
// a least-privilege proposal from the same data that powers detection.
// Review it before applying: a baseline learns what happened, including
// anything that should not have.
func BaselineExport(o Options, path, namespace string) error {
	o.defaults()
	if namespace == "" {
		return errors.New("baseline export: --namespace is required")
	}
	s, err := loadBaselines(path)
	if err != nil {
		return err
	}
	n := 0
	for _, sum := range s.Summaries() {
		if sum.Namespace != namespace || sum.Kind != "pod" || len(sum.Edges) == 0 {
			continue
		}
		doc, err := yaml.Marshal(networkPolicy(sum))
		if err != nil {
			return err
		}
		fmt.Fprintf(o.Stdout, "---\n%s", doc)
		n++
	}
	if n == 0 {
		return fmt.Errorf("baseline export: no workload of namespace %q with learned peers in %s", namespace, path)
	}
	return nil
}

// cnp is the part of a CiliumNetworkPolicy (cilium.io/v2) that export
// writes; field names are Cilium's.
type cnp struct {
	APIVersion string  `json:"apiVersion"`
	Kind       string  `json:"kind"`
	Metadata   cnpMeta `json:"metadata"`
	Spec       cnpSpec `json:"spec"`
}

type cnpMeta struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type cnpSpec struct {
	EndpointSelector selector  `json:"endpointSelector"`
	Egress           []cnpRule `json:"egress,omitempty"`
}

type selector struct {
	MatchLabels map[string]string `json:"matchLabels"`
}

type cnpRule struct {
	ToEndpoints []selector `json:"toEndpoints,omitempty"`
	ToEntities  []string   `json:"toEntities,omitempty"`
	ToFQDNs     []fqdn     `json:"toFQDNs,omitempty"`
	ToCIDR      []string   `json:"toCIDR,omitempty"`
	ToPorts     []portRule `json:"toPorts,omitempty"`
}

type fqdn struct {
	MatchName string `json:"matchName"`
}

type portRule struct {
	Ports []port   `json:"ports"`
	Rules *l7Rules `json:"rules,omitempty"`
}

type port struct {
	Port     string `json:"port"`
	Protocol string `json:"protocol"`
}

type l7Rules struct {
	DNS []dnsRule `json:"dns,omitempty"`
}

type dnsRule struct {
	MatchPattern string `json:"matchPattern"`
}

const namespaceLabel = "k8s:io.kubernetes.pod.namespace"

// networkPolicy turns one workload's learned edges into a policy: one
// rule per peer with its ports. Pod peers are selected by namespace and
// app label (profiles key them so), the Internet by name (with the DNS
// rule FQDN policies need) or by address, reserved peers as entities.
func networkPolicy(sum profile.Summary) cnp {
	self := map[string]string{}
	for _, l := range sum.Labels {
		k, v, ok := strings.Cut(strings.TrimPrefix(l, "k8s:"), "=")
		if ok && (k == "app" || k == "app.kubernetes.io/name") {
			self[k] = v
		}
	}
	if len(self) == 0 {
		self["app"] = sum.Workload
	}
	byPeer := map[string][]port{}
	for _, e := range sum.Edges {
		if e.Port == 0 || !slices.Contains([]string{"tcp", "udp", "sctp"}, e.Protocol) {
			continue
		}
		byPeer[e.Peer] = append(byPeer[e.Peer], port{Port: strconv.FormatUint(uint64(e.Port), 10), Protocol: strings.ToUpper(e.Protocol)})
	}
	var rules []cnpRule
	names := false
	for _, peer := range slices.Sorted(maps.Keys(byPeer)) {
		r := cnpRule{ToPorts: []portRule{{Ports: byPeer[peer]}}}
		switch kind, rest, _ := strings.Cut(peer, ":"); {
		case kind == "fqdn":
			r.ToFQDNs, names = []fqdn{{MatchName: rest}}, true
		case kind == "ip":
			r.ToCIDR = []string{rest}
		case kind == "reserved":
			r.ToEntities = []string{rest}
		default:
			ns, app, _ := strings.Cut(peer, "/")
			r.ToEndpoints = []selector{{MatchLabels: map[string]string{namespaceLabel: ns, "app": app}}}
		}
		rules = append(rules, r)
	}
	if names {
		// toFQDNs needs the DNS proxy to see the lookups.
		rules = append(rules, cnpRule{
			ToEndpoints: []selector{{MatchLabels: map[string]string{namespaceLabel: "kube-system", "k8s-app": "kube-dns"}}},
			ToPorts: []portRule{{
				Ports: []port{{Port: "53", Protocol: "ANY"}},
				Rules: &l7Rules{DNS: []dnsRule{{MatchPattern: "*"}}},
			}},
		})
	}
	slices.SortStableFunc(rules, func(a, b cnpRule) int { return cmp.Compare(len(a.ToFQDNs), len(b.ToFQDNs)) })
	return cnp{
		APIVersion: "cilium.io/v2", Kind: "CiliumNetworkPolicy",
		Metadata: cnpMeta{Name: sum.Workload + "-learned-egress", Namespace: sum.Namespace, Annotations: map[string]string{
			"hubble-sentinel.io/learned": fmt.Sprintf("%d flows from %s to %s", sum.Flows,
				sum.FirstSeen.UTC().Format(time.RFC3339), sum.LastSeen.UTC().Format(time.RFC3339)),
		}},
		Spec: cnpSpec{EndpointSelector: selector{MatchLabels: self}, Egress: rules},
	}
}
