package input

import (
	"slices"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/open-policy-agent/opa/v1/ast"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hubble-sentinel/hubble-sentinel/engine/facts"
)

// endpointKey narrows the cache lookup; a hit is then checked field by
// field, so two endpoints that share a key never share a value.
type endpointKey struct {
	id, identity            uint32
	namespace, pod, cluster string
	labels                  int
	firstLabel, lastLabel   string
}

type endpointEntry struct {
	ep    *flowpb.Endpoint // a private copy to compare hits against
	value ast.Value
}

// endpointCache remembers the converted value of recently seen endpoints:
// the same pods appear in flow after flow, and their labels are most of a
// flow's strings. AST values are never mutated by evaluation, so one value
// can serve many documents.
type endpointCache struct {
	lru *lru.Cache[endpointKey, endpointEntry]
}

func newEndpointCache(size int) *endpointCache {
	c, err := lru.New[endpointKey, endpointEntry](size)
	if err != nil {
		return nil
	}
	return &endpointCache{lru: c}
}

func (c *endpointCache) value(m protoreflect.Message) ast.Value {
	ep, ok := m.Interface().(*flowpb.Endpoint)
	if !ok {
		return messageValue(m)
	}
	k := endpointKey{
		id: ep.GetID(), identity: ep.GetIdentity(),
		namespace: ep.GetNamespace(), pod: ep.GetPodName(), cluster: ep.GetClusterName(),
		labels: len(ep.GetLabels()),
	}
	if n := len(ep.GetLabels()); n > 0 {
		k.firstLabel, k.lastLabel = ep.Labels[0], ep.Labels[n-1]
	}
	if e, ok := c.lru.Get(k); ok && sameEndpoint(e.ep, ep) {
		return e.value
	}
	v := messageValue(m)
	c.lru.Add(k, endpointEntry{ep: cloneEndpoint(ep), value: v})
	return v
}

func sameEndpoint(a, b *flowpb.Endpoint) bool {
	if a.GetID() != b.GetID() || a.GetIdentity() != b.GetIdentity() ||
		a.GetNamespace() != b.GetNamespace() || a.GetPodName() != b.GetPodName() ||
		a.GetClusterName() != b.GetClusterName() || !slices.Equal(a.GetLabels(), b.GetLabels()) ||
		len(a.GetWorkloads()) != len(b.GetWorkloads()) {
		return false
	}
	for i, w := range a.GetWorkloads() {
		if w.GetName() != b.Workloads[i].GetName() || w.GetKind() != b.Workloads[i].GetKind() {
			return false
		}
	}
	// Fields added to Endpoint after this was written make the proto
	// differ in size; refuse the cache rather than serve a stale value.
	return knownEndpointFields(b)
}

// endpointFieldsKnown holds when Endpoint has no field but those compared
// above, so that no endpoint can set another.
var endpointFieldsKnown = func() bool {
	fields := (&flowpb.Endpoint{}).ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		if !knownEndpointField(fields.Get(i)) {
			return false
		}
	}
	return true
}()

func knownEndpointField(fd protoreflect.FieldDescriptor) bool {
	switch fd.Name() {
	case "ID", "identity", "cluster_name", "namespace", "labels", "pod_name", "workloads":
		return true
	}
	return false
}

// knownEndpointFields reports whether b sets only the fields compared above.
func knownEndpointFields(b *flowpb.Endpoint) bool {
	if endpointFieldsKnown {
		return true
	}
	known := true
	b.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		known = knownEndpointField(fd)
		return known
	})
	return known
}

func cloneEndpoint(ep *flowpb.Endpoint) *flowpb.Endpoint {
	c := &flowpb.Endpoint{
		ID: ep.GetID(), Identity: ep.GetIdentity(), ClusterName: ep.GetClusterName(),
		Namespace: ep.GetNamespace(), PodName: ep.GetPodName(), Labels: slices.Clone(ep.GetLabels()),
	}
	for _, w := range ep.GetWorkloads() {
		c.Workloads = append(c.Workloads, &flowpb.Workload{Name: w.GetName(), Kind: w.GetKind()})
	}
	return c
}

// factsKey is what the sentinel document shows of a measured endpoint,
// less the destination's names and domains, which a hit compares in full.
type factsKey struct {
	kind, namespace, workload, pod, ip, fqdn string
	identity                                 uint32
	withFQDN                                 bool
	names, domains                           int
}

type factsEntry struct {
	names, domains []string // private copies to compare hits against
	value          ast.Value
}

// factsCache remembers the sentinel value of recently measured endpoints:
// a pod talks to the same peers over and over, and each value is an
// object of up to nine strings.
type factsCache struct {
	lru *lru.Cache[factsKey, factsEntry]
}

func newFactsCache(size int) *factsCache {
	c, err := lru.New[factsKey, factsEntry](size)
	if err != nil {
		return nil
	}
	return &factsCache{lru: c}
}

// value is e's value, from the cache or made by build (without a slab,
// so that the cache pins no document).
func (c *factsCache) value(e *facts.Endpoint, withFQDN bool) ast.Value {
	k := factsKey{
		kind: e.Kind, namespace: e.Namespace, workload: e.Workload, pod: e.Pod, ip: e.IP,
		identity: e.Identity, withFQDN: withFQDN,
	}
	if withFQDN {
		k.fqdn, k.names, k.domains = e.FQDN, len(e.Names), len(e.Domains)
	}
	if h, ok := c.lru.Get(k); ok && (!withFQDN || slices.Equal(h.names, e.Names) && slices.Equal(h.domains, e.Domains)) {
		return h.value
	}
	b := getConv(nil, nil, false)
	defer b.release()
	v := b.endpointValue(e, withFQDN)
	h := factsEntry{value: v}
	if withFQDN {
		h.names, h.domains = slices.Clone(e.Names), slices.Clone(e.Domains)
	}
	c.lru.Add(k, h)
	return v
}
