package main

import (
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	observerpb "github.com/cilium/cilium/api/v1/observer"
	"google.golang.org/protobuf/proto"

	"github.com/hubble-sentinel/hubble-sentinel/test/shopmesh"
)

// traffic is a run's flows, each encoded once as the relay sends it.
type traffic struct {
	frames []encoded
	bytes  int
	// identities is the distinct pod workloads (namespace/workload) the
	// flows name on either side.
	identities int
}

// frame encodes f as the GetFlowsResponse a relay sends.
func frame(f *flowpb.Flow) (encoded, error) {
	b, err := proto.Marshal(&observerpb.GetFlowsResponse{
		ResponseTypes: &observerpb.GetFlowsResponse_Flow{Flow: f},
		NodeName:      f.GetNodeName(), Time: f.GetTime(),
	})
	return b, err
}

// decode is the flow of a frame.
func decode(b encoded) (*flowpb.Flow, error) {
	var resp observerpb.GetFlowsResponse
	if err := proto.Unmarshal(b, &resp); err != nil {
		return nil, err
	}
	return resp.GetFlow(), nil
}

// shopTraffic is n flows of the simulated shop with its attacks (HTTP
// with ids and query strings, gRPC, DNS with search paths, world egress,
// probes, scrapes), on the shop's own event clock from start.
func shopTraffic(n int, seed int64, start time.Time) (*traffic, error) {
	g := shopmesh.New(shopmesh.Config{Seed: seed, Start: start, Attacks: true})
	t := &traffic{frames: make([]encoded, 0, n)}
	seen := identitySet{}
	for range n {
		f := g.Next()
		seen.add(f)
		if err := t.add(f); err != nil {
			return nil, err
		}
	}
	t.identities = len(seen)
	return t, nil
}

func (t *traffic) add(f *flowpb.Flow) error {
	b, err := frame(f)
	if err != nil {
		return fmt.Errorf("encoding flow %d: %w", len(t.frames), err)
	}
	t.frames = append(t.frames, b)
	t.bytes += len(b)
	return nil
}

// identitiesPerTenant sets tenants = identities / it: each tenant's
// share of the flows names a few of the shop's workloads, so the traffic
// reaches its identities in a few flows per identity.
const identitiesPerTenant = 2

// identityTraffic is the shop's traffic spread over copies of the shop
// ("tenants") until the flows name at least identities distinct
// workloads: each flow belongs to one tenant, whose workloads, pods, app
// labels and security identities get the tenant's suffix. The tenant
// follows the connection (address and port pair), so a request and its
// reply next to it stay one conversation, and moves on every
// tenantBlock flows, because the shop's pooled connections would
// otherwise keep most flows in a few tenants.
func identityTraffic(identities int, seed int64, start time.Time) (*traffic, error) {
	g := shopmesh.New(shopmesh.Config{Seed: seed, Start: start, Attacks: true})
	tenants := max(identities/identitiesPerTenant, 1)
	t := &traffic{}
	seen := identitySet{}
	ids := map[[2]uint32]uint32{}
	for i := 0; len(seen) < identities; i++ {
		f := g.Next()
		tenant := tenantOf(f, i/tenantBlock, tenants)
		for _, ep := range []*flowpb.Endpoint{f.GetSource(), f.GetDestination()} {
			rename(ep, tenant, ids)
		}
		seen.add(f)
		if err := t.add(f); err != nil {
			return nil, err
		}
	}
	t.identities = len(seen)
	return t, nil
}

// tenantBlock is how many consecutive flows of a connection stay in one
// tenant.
const tenantBlock = 4

// tenantOf is the tenant of f's connection in block: the same for both
// directions.
func tenantOf(f *flowpb.Flow, block, tenants int) int {
	a, b := f.GetIP().GetSource(), f.GetIP().GetDestination()
	pa, pb := ports(f)
	if a > b || a == b && pa > pb {
		a, b, pa, pb = b, a, pb, pa
	}
	h := fnv.New32a()
	fmt.Fprintf(h, "%s:%d-%s:%d", a, pa, b, pb)
	return int((h.Sum32() + uint32(block)) % uint32(tenants))
}

func ports(f *flowpb.Flow) (src, dst uint32) {
	switch l4 := f.GetL4(); {
	case l4.GetTCP() != nil:
		return l4.GetTCP().GetSourcePort(), l4.GetTCP().GetDestinationPort()
	case l4.GetUDP() != nil:
		return l4.GetUDP().GetSourcePort(), l4.GetUDP().GetDestinationPort()
	}
	return 0, 0
}

// rename moves a pod endpoint into tenant: its workload, pod name and app
// label get the tenant's suffix and its identity a number of its own
// (ids remembers them). Reserved endpoints stay as they are.
func rename(ep *flowpb.Endpoint, tenant int, ids map[[2]uint32]uint32) {
	if ep.GetNamespace() == "" || len(ep.GetWorkloads()) == 0 {
		return
	}
	suffix := fmt.Sprintf("-t%05d", tenant)
	w := ep.Workloads[0]
	ep.PodName = w.Name + suffix + strings.TrimPrefix(ep.PodName, w.Name)
	w.Name += suffix
	for i, l := range ep.Labels {
		if strings.HasPrefix(l, "k8s:app=") || strings.HasPrefix(l, "k8s:k8s-app=") {
			ep.Labels[i] = l + suffix
		}
	}
	key := [2]uint32{ep.Identity, uint32(tenant)}
	id, ok := ids[key]
	if !ok {
		id = uint32(1<<20 + len(ids))
		ids[key] = id
	}
	ep.Identity = id
}

// identitySet is the distinct pod workloads seen.
type identitySet map[string]struct{}

func (s identitySet) add(f *flowpb.Flow) {
	for _, ep := range []*flowpb.Endpoint{f.GetSource(), f.GetDestination()} {
		if ep.GetNamespace() != "" && len(ep.GetWorkloads()) > 0 {
			s[ep.Namespace+"/"+ep.Workloads[0].Name] = struct{}{}
		}
	}
}
