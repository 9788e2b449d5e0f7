package engine

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hubble-sentinel/hubble-sentinel/engine/policy"
)

// cacheCollector exports the policy sets' decision cache lookups as one
// counter across reloads: what retired sets counted is kept in retired.
type cacheCollector struct {
	current func() *policy.Set
	desc    *prometheus.Desc

	mu      sync.Mutex
	retired map[[2]string]uint64 // group, result
}

func newCacheCollector(current func() *policy.Set) *cacheCollector {
	return &cacheCollector{
		current: current,
		desc: prometheus.NewDesc("hubble_sentinel_policy_decision_cache_lookups_total",
			"Decision cache lookups of the policy groups, by group (edge: L3/L4 values, wide: URLs and DNS names) and result (hit, miss). Policies reading per-flow values are judged on every flow, uncached.",
			[]string{"group", "result"}, nil),
		retired: map[[2]string]uint64{},
	}
}

// retire adds what set counted to the retired counts; call it when set is
// swapped out.
func (c *cacheCollector) retire(set *policy.Set) {
	if set == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range set.CacheStats() {
		c.retired[[2]string{s.Group, "hit"}] += s.Hits
		c.retired[[2]string{s.Group, "miss"}] += s.Misses
	}
}

func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	counts := make(map[[2]string]uint64, len(c.retired))
	for k, v := range c.retired {
		counts[k] = v
	}
	c.mu.Unlock()
	if set := c.current(); set != nil {
		for _, s := range set.CacheStats() {
			counts[[2]string{s.Group, "hit"}] += s.Hits
			counts[[2]string{s.Group, "miss"}] += s.Misses
		}
	}
	for k, v := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(v), k[0], k[1])
	}
}
