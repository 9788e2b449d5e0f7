package alert

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
)

// Bounds of what an incident remembers of the values that vary within it.
const (
	// DefaultMaxValues is how many values of a varying label an annotation
	// lists.
	DefaultMaxValues = 10
	// distinctCap bounds the distinct values counted per label: beyond it
	// the annotation says "more than".
	distinctCap = 1000
)

// incident is one firing alert and what its violations added up to.
type incident struct {
	fp     uint64
	labels map[string]string
	// base are the annotations of its first violation (or the latest Hold).
	base         map[string]string
	generatorURL string
	startsAt     time.Time
	// firstSeen and lastSeen are event times; observed and sent are on the
	// aggregator's window clock.
	firstSeen, lastSeen time.Time
	observed, sent      time.Time
	count               uint64
	// values are the varying labels' values, by label, in first-seen order
	// of the labels.
	values map[string]*valueSet
	order  []string
	// held incidents describe a condition rather than violations: they fire
	// until Release, however long it takes, instead of resolving when quiet.
	held bool
	// throttle is set on SentinelAlertsThrottled incidents: the incidents
	// folded into it.
	folded *valueSet
}

func (in *incident) observe(occ *Occurrence, evt, seen time.Time) {
	n := uint64(1)
	if occ != nil && occ.Count > 0 {
		n = occ.Count
	}
	in.count += n
	if in.firstSeen.IsZero() || evt.Before(in.firstSeen) {
		in.firstSeen = evt
	}
	if evt.After(in.lastSeen) {
		in.lastSeen = evt
	}
	if seen.After(in.observed) {
		in.observed = seen
	}
	if occ == nil {
		return
	}
	for _, k := range slices.Sorted(maps.Keys(occ.Labels)) {
		if _, ok := in.labels[k]; ok {
			continue
		}
		v := occ.Labels[k]
		if v == "" {
			continue
		}
		vs, ok := in.values[k]
		if !ok {
			if in.values == nil {
				in.values = map[string]*valueSet{}
			}
			vs = &valueSet{}
			in.values[k] = vs
			in.order = append(in.order, k)
		}
		vs.add(v)
	}
}

// annotations are the base annotations with what the incident added up to.
func (in *incident) annotations(maxValues int) map[string]string {
	out := make(map[string]string, len(in.base)+len(in.values)+4)
	maps.Copy(out, in.base)
	if in.held {
		return out
	}
	out[AnnotationCount] = strconv.FormatUint(in.count, 10)
	if !in.firstSeen.IsZero() {
		out[AnnotationFirstSeen] = in.firstSeen.UTC().Format(time.RFC3339Nano)
		out[AnnotationLastSeen] = in.lastSeen.UTC().Format(time.RFC3339Nano)
	}
	for _, k := range in.order {
		out[ValuesAnnotation(k)] = in.values[k].format(maxValues)
	}
	if in.folded != nil {
		out[AnnotationFoldedIncidents] = in.folded.format(maxValues)
	}
	return out
}

// valueSet keeps the first values of a label and counts the distinct ones,
// both bounded.
type valueSet struct {
	first    []string
	seen     map[uint64]struct{}
	overflow bool
}

func (s *valueSet) add(v string) {
	h := xxhash.Sum64String(v)
	if _, ok := s.seen[h]; ok || s.overflow {
		return
	}
	if len(s.seen) >= distinctCap {
		s.overflow = true
		return
	}
	if s.seen == nil {
		s.seen = map[uint64]struct{}{}
	}
	s.seen[h] = struct{}{}
	if len(s.first) < DefaultMaxValues {
		s.first = append(s.first, v)
	}
}

// format lists up to max values, and how many there were when more:
// "a, b, c" or "a, b, … (200 in all)" or "a, b, … (more than 1000)".
func (s *valueSet) format(max int) string {
	shown := s.first
	if len(shown) > max {
		shown = shown[:max]
	}
	out := strings.Join(shown, ", ")
	switch {
	case s.overflow:
		out += ", … (more than " + strconv.Itoa(distinctCap) + ")"
	case len(s.seen) > len(shown):
		out += ", … (" + strconv.Itoa(len(s.seen)) + " in all)"
	}
	return out
}

// DescribeIncident names an incident by its sides for messages and
// people: "shop/catalog -> 169.254.169.254:80/tcp".
func DescribeIncident(l map[string]string) string {
	side := func(ns, workload, pod, ip, fqdn string) string {
		switch {
		case l[workload] != "":
			return l[ns] + "/" + l[workload]
		case l[pod] != "":
			return l[ns] + "/" + l[pod]
		case l[fqdn] != "":
			return l[fqdn]
		case l[ip] != "":
			return l[ip]
		case l[ns] != "":
			return l[ns]
		}
		return "*"
	}
	dst := side(LabelDestinationNamespace, LabelDestinationWorkload, LabelDestinationPod, LabelDestinationIP, LabelDestinationFQDN)
	if p := l[LabelDestinationPort]; p != "" {
		dst += ":" + p
	}
	if p := l[LabelProtocol]; p != "" {
		dst += "/" + p
	}
	return side(LabelSourceNamespace, LabelSourceWorkload, LabelSourcePod, LabelSourceIP, "") + " -> " + dst
}
