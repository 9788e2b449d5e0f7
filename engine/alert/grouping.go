package alert

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// GroupableLabels are the labels a grouping may name: the flow's side and
// service labels of the schema. alertname, severity, policy and cluster
// always identify an incident and are not named.
var GroupableLabels = []string{
	LabelSourceNamespace, LabelSourceWorkload, LabelSourcePod, LabelSourceIP,
	LabelDestinationNamespace, LabelDestinationWorkload, LabelDestinationPod,
	LabelDestinationIP, LabelDestinationFQDN, LabelDestinationPort, LabelProtocol,
}

// alwaysLabels identify every incident that has them. cluster is one: a
// grouping that dropped it would merge two clusters' incidents into one.
var alwaysLabels = []string{LabelAlertname, LabelSeverity, LabelPolicy, LabelCluster}

// Grouping says which labels identify an incident of a policy. Labels a
// flow carries that are not in its identity go to annotations.
//
// The zero Grouping is DefaultGrouping.
type Grouping struct {
	labels []string
	// fallback maps a label to the label whose presence leaves it out: a
	// pod identifies its side only when the workload is unknown, an
	// address only when no name is known.
	fallback map[string]string
	set      bool
}

// defaultLabels and defaultFallback make DefaultGrouping: each side's
// namespace and workload (the pod only without a workload; for the world,
// the name, else the address), the destination port and the protocol. The
// source address is not in it: a world client's address says who acted only
// where the policy says so (add_labels: [source_ip]).
var (
	defaultLabels = []string{
		LabelSourceNamespace, LabelSourceWorkload, LabelSourcePod,
		LabelDestinationNamespace, LabelDestinationWorkload, LabelDestinationPod,
		LabelDestinationFQDN, LabelDestinationIP, LabelDestinationPort, LabelProtocol,
	}
	defaultFallback = map[string]string{
		LabelSourcePod:      LabelSourceWorkload,
		LabelDestinationPod: LabelDestinationWorkload,
		LabelDestinationIP:  LabelDestinationFQDN,
	}
)

// DefaultGrouping is the grouping of a policy that declares none.
var DefaultGrouping = Grouping{labels: defaultLabels, fallback: defaultFallback, set: true}

// Groupings are the groupings of the policies that declare one, by policy
// id (alertname).
type Groupings map[string]Grouping

// ErrGrouping marks an invalid grouping declaration.
var ErrGrouping = errors.New("invalid alert grouping")

// NewGrouping builds a policy's grouping from its declaration: groupBy
// names exactly the labels that identify an incident (besides alertname,
// severity, policy and cluster); otherwise drop and add edit the default. Naming a
// label explicitly makes it identify the incident whenever the flow has
// it, without the default's fallbacks. Dropping a workload drops the pod
// that stands in for it.
func NewGrouping(groupBy, drop, add []string) (Grouping, error) {
	for _, l := range [][]string{groupBy, drop, add} {
		if err := checkLabels(l); err != nil {
			return Grouping{}, err
		}
	}
	if len(groupBy) > 0 {
		if len(drop) > 0 || len(add) > 0 {
			return Grouping{}, fmt.Errorf("%w: group_by names the labels; drop_labels and add_labels edit the default, use one or the other", ErrGrouping)
		}
		return Grouping{labels: slices.Clone(groupBy), set: true}, nil
	}
	for _, l := range add {
		if slices.Contains(drop, l) {
			return Grouping{}, fmt.Errorf("%w: %s is both dropped and added", ErrGrouping, l)
		}
	}
	g := Grouping{fallback: map[string]string{}, set: true}
	for label, unless := range defaultFallback {
		if !slices.Contains(add, label) && !slices.Contains(drop, label) && !slices.Contains(drop, unless) {
			g.fallback[label] = unless
		}
	}
	for _, l := range defaultLabels {
		if slices.Contains(drop, l) {
			continue
		}
		if unless, ok := defaultFallback[l]; ok && slices.Contains(drop, unless) && !slices.Contains(add, l) {
			continue
		}
		g.labels = append(g.labels, l)
	}
	for _, l := range add {
		if !slices.Contains(g.labels, l) {
			g.labels = append(g.labels, l)
		}
	}
	return g, nil
}

func checkLabels(names []string) error {
	seen := map[string]bool{}
	for _, n := range names {
		switch {
		case slices.Contains(alwaysLabels, n):
			return fmt.Errorf("%w: %s always identifies an incident; do not list it", ErrGrouping, n)
		case !slices.Contains(GroupableLabels, n):
			return fmt.Errorf("%w: unknown label %q (one of %s)", ErrGrouping, n, strings.Join(GroupableLabels, ", "))
		case seen[n]:
			return fmt.Errorf("%w: %s listed twice", ErrGrouping, n)
		}
		seen[n] = true
	}
	return nil
}

// Labels returns the labels the grouping may keep, in schema order.
func (g Grouping) Labels() []string {
	if !g.set {
		return DefaultGrouping.Labels()
	}
	return slices.Clone(g.labels)
}

// Identity returns the labels of flow labels all that identify the
// incident: alertname, severity, policy and cluster from all, and the grouping's
// labels the flow has.
func (g Grouping) Identity(all map[string]string) map[string]string {
	if !g.set {
		g = DefaultGrouping
	}
	out := make(map[string]string, len(g.labels)+len(alwaysLabels))
	for _, l := range alwaysLabels {
		if v := all[l]; v != "" {
			out[l] = v
		}
	}
	for _, l := range g.labels {
		v := all[l]
		if v == "" {
			continue
		}
		if unless, ok := g.fallback[l]; ok && all[unless] != "" {
			continue
		}
		out[l] = v
	}
	return out
}

// String describes the grouping for logs: the labels, a fallback as
// "label|instead".
func (g Grouping) String() string {
	if !g.set {
		g = DefaultGrouping
	}
	parts := make([]string, 0, len(g.labels))
	for _, l := range g.labels {
		if unless, ok := g.fallback[l]; ok {
			parts = append(parts, l+" (without "+unless+")")
			continue
		}
		parts = append(parts, l)
	}
	return strings.Join(parts, ", ")
}
