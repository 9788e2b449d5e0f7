package profile

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkObserve is the per-flow cost of profiling and the baselines:
// an HTTP request and its response on a known edge.
func BenchmarkObserve(b *testing.B) {
	s, _ := NewStore(Config{}, prometheus.NewRegistry())
	req := request(frontend, catalog, "GET", "/product/42")
	resp := response(frontend, catalog, "GET", "/product/42", 200, 20*time.Millisecond)
	at := t0
	b.ReportAllocs()
	for b.Loop() {
		at = at.Add(10 * time.Millisecond)
		s.Observe(at, req)
		s.Observe(at, resp)
	}
}

// BenchmarkMillionIdentities streams 1,000,000 distinct client workloads
// (each calling a few peers) through a store bounded to the default
// 50,000 profiles, and reports the heap it holds, the bytes per profile
// and the process's peak RSS: memory stays within the configured bound
// however many identities pass.
func BenchmarkMillionIdentities(b *testing.B) {
	const identities = 1_000_000
	for b.Loop() {
		s, _ := NewStore(Config{}, prometheus.NewRegistry())
		at := t0
		for i := range identities {
			client := pod("ns"+strconv.Itoa(i%500), "wl-"+strconv.Itoa(i), "10.1."+strconv.Itoa(i/250%250)+"."+strconv.Itoa(i%250))
			for p := range 3 {
				s.Observe(at, request(client, pod("shop", "svc"+strconv.Itoa(p), "10.0.0."+strconv.Itoa(p)), "GET", "/product/"+strconv.Itoa(i%1000)))
			}
			at = at.Add(time.Millisecond)
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(s.Len()), "profiles")
		b.ReportMetric(float64(ms.HeapInuse)/float64(s.Len()), "heap-bytes/profile")
		b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
		if rss := peakRSS(); rss > 0 {
			b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MiB")
		}
	}
}

// peakRSS is the process's peak resident set (VmHWM) in bytes, 0 where
// /proc does not say.
func peakRSS() int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range bytes.Lines(status) {
		var kb int64
		if _, err := fmt.Sscanf(string(line), "VmHWM: %d kB", &kb); err == nil {
			return kb << 10
		}
	}
	return 0
}
