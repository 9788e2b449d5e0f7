package input

import (
	"slices"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/open-policy-agent/opa/v1/ast"
	"google.golang.org/protobuf/reflect/protoreflect"
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
		return messageValueCached(m, nil)
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
	v := messageValueCached(m, nil)
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

// knownEndpointFields reports whether b sets only the fields compared above.
func knownEndpointFields(b *flowpb.Endpoint) bool {
	known := true
	b.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		switch fd.Name() {
		case "ID", "identity", "cluster_name", "namespace", "labels", "pod_name", "workloads":
			return true
		}
		known = false
		return false
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
