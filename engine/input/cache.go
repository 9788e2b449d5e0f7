package input

import (
	"hash/maphash"
	"slices"
	"sync/atomic"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/open-policy-agent/opa/v1/ast"
	"google.golang.org/protobuf/proto"
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
	c.lru.Add(k, endpointEntry{ep: cloneEndpoint(ep), value: seal(v)})
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
var endpointFieldsKnown = onlyFields(&flowpb.Endpoint{}, knownEndpointField)

// onlyFields reports whether every field of m's type is known.
func onlyFields(m proto.Message, known func(protoreflect.FieldDescriptor) bool) bool {
	fields := m.ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		if !known(fields.Get(i)) {
			return false
		}
	}
	return true
}

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
	h := factsEntry{value: seal(v)}
	if withFQDN {
		h.names, h.domains = slices.Clone(e.Names), slices.Clone(e.Domains)
	}
	c.lru.Add(k, h)
	return v
}

// direct is a direct-mapped cache: a slot holds the last entry hashed to
// it, so a hit takes no lock and a miss costs one allocation more. It
// suits values that repeat from flow to flow among many that do not.
type direct[E any] struct {
	seed  maphash.Seed
	slots []atomic.Pointer[E]
}

func newDirect[E any](size int) direct[E] {
	return direct[E]{seed: maphash.MakeSeed(), slots: make([]atomic.Pointer[E], size)}
}

func (d *direct[E]) slot(s ...string) *atomic.Pointer[E] {
	var h uint64
	for _, x := range s {
		h = h*31 + maphash.String(d.seed, x)
	}
	return &d.slots[h%uint64(len(d.slots))]
}

// headerCache remembers the values of recently seen HTTP headers: most of
// a request's headers (Accept, Content-Type, User-Agent, …) repeat from
// request to request, and each is an object.
type headerCache struct {
	direct[headerEntry]
}

type headerEntry struct {
	key, value string
	v          ast.Value
}

// headerSlots bounds the cache; maxCachedHeaderBytes keeps it small and
// leaves out what is unique anyway (cookies, tokens).
const (
	headerSlots          = 1024
	maxCachedHeaderBytes = 256
)

// headerFieldsKnown holds when HTTPHeader has no field but a key and a
// value, the cache's key.
var headerFieldsKnown = onlyFields(&flowpb.HTTPHeader{}, func(fd protoreflect.FieldDescriptor) bool {
	return fd.Name() == "key" || fd.Name() == "value"
})

func newHeaderCache() *headerCache {
	if !headerFieldsKnown {
		return nil
	}
	return &headerCache{newDirect[headerEntry](headerSlots)}
}

// get is h's value, or nil.
func (c *headerCache) get(h *flowpb.HTTPHeader) ast.Value {
	if len(h.GetKey())+len(h.GetValue()) > maxCachedHeaderBytes {
		return nil
	}
	if e := c.slot(h.GetKey(), h.GetValue()).Load(); e != nil && e.key == h.GetKey() && e.value == h.GetValue() {
		return e.v
	}
	return nil
}

func (c *headerCache) put(h *flowpb.HTTPHeader, v ast.Value) {
	if len(h.GetKey())+len(h.GetValue()) <= maxCachedHeaderBytes {
		c.slot(h.GetKey(), h.GetValue()).Store(&headerEntry{key: h.GetKey(), value: h.GetValue(), v: seal(v)})
	}
}

// nodeCache remembers the value of each node's labels, the same on every
// flow the node reports, by node name.
type nodeCache struct {
	direct[nodeEntry]
}

type nodeEntry struct {
	labels []string // a private copy to compare hits against
	v      ast.Value
}

const nodeSlots = 256

func newNodeCache() *nodeCache { return &nodeCache{newDirect[nodeEntry](nodeSlots)} }

// value is the node labels' value, from the cache or made by build.
func (c *nodeCache) value(f *flowpb.Flow, build func() ast.Value) ast.Value {
	s := c.slot(f.GetNodeName())
	if e := s.Load(); e != nil && slices.Equal(e.labels, f.GetNodeLabels()) {
		return e.v
	}
	v := build()
	s.Store(&nodeEntry{labels: slices.Clone(f.GetNodeLabels()), v: seal(v)})
	return v
}

// seal puts every object and set in v in its sorted order now. OPA sorts
// an object's keys in place the first time it is compared, while a Copy
// of the same object reads them unguarded: a value that other goroutines
// will read must be sorted before it is published.
func seal(v ast.Value) ast.Value {
	switch x := v.(type) {
	case ast.Object:
		x.Foreach(func(k, e *ast.Term) {
			seal(k.Value)
			seal(e.Value)
		})
	case ast.Set:
		x.Foreach(func(e *ast.Term) { seal(e.Value) })
	case *ast.Array:
		x.Foreach(func(e *ast.Term) { seal(e.Value) })
	}
	return v
}
