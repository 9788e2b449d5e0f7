package engine

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hubble-sentinel/hubble-sentinel/engine/policy"
)

// cacheCollector exports how the policy sets' groups judged flows, as
// counters across reloads: what retired sets counted is kept in retired.
type cacheCollector struct {
	current       func() *policy.Set
	lookups, runs *prometheus.Desc

	mu      sync.Mutex
	retired map[string]policy.CacheStats // by group
}

func newCacheCollector(current func() *policy.Set) *cacheCollector {
	return &cacheCollector{
		current: current,
		lookups: prometheus.NewDesc("hubble_sentinel_policy_decision_cache_lookups_total",
			"Decision cache lookups of the policy groups, by group (edge: L3/L4 values, wide: URLs and DNS names) and result (hit: the verdict came from the screen's or the group's cache without Rego; miss: Rego ran). Policies reading per-flow values are judged on every flow, uncached.",
			[]string{"group", "result"}, nil),
		runs: prometheus.NewDesc("hubble_sentinel_policy_group_flows_total",
			"Flows each policy group judged, by group (edge, wide, volatile) and how (cached: from the decision cache; evaluated: Rego ran; skipped: the flow's type or the policies' guards leave none of the group's policies able to find anything).",
			[]string{"group", "how"}, nil),
		retired: map[string]policy.CacheStats{},
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
	addStats(c.retired, set.CacheStats())
}

func addStats(into map[string]policy.CacheStats, stats []policy.CacheStats) {
	for _, s := range stats {
		sum := into[s.Group]
		sum.Group = s.Group
		sum.Hits += s.Hits
		sum.Misses += s.Misses
		sum.Skipped += s.Skipped
		into[s.Group] = sum
	}
}

func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.lookups
	ch <- c.runs
}

func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	counts := make(map[string]policy.CacheStats, len(c.retired))
	for k, v := range c.retired {
		counts[k] = v
	}
	c.mu.Unlock()
	if set := c.current(); set != nil {
		addStats(counts, set.CacheStats())
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for g, s := range counts {
		if s.Cached() {
			counter(c.lookups, s.Hits, g, "hit")
			counter(c.lookups, s.Misses, g, "miss")
		}
		counter(c.runs, s.Hits, g, "cached")
		counter(c.runs, s.Misses, g, "evaluated")
		counter(c.runs, s.Skipped, g, "skipped")
	}
}
