package shopmesh_test

import (
	"testing"

	"github.com/hubble-sentinel/hubble-sentinel/test/shopmesh"
)

// BenchmarkNext measures the cost of one simulated flow, which the engine
// benchmarks and the demo relay pay on every flow.
func BenchmarkNext(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  shopmesh.Config
	}{
		{"benign", shopmesh.Config{Seed: 42}},
		{"attacks", shopmesh.Config{Seed: 42, Attacks: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g := shopmesh.New(bc.cfg)
			b.ReportAllocs()
			for b.Loop() {
				g.Next()
			}
		})
	}
}
