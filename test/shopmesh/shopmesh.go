package shopmesh

import (
	"fmt"
	"math/rand/v2"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
)

// Config says which simulation a Generator runs.
type Config struct {
	Seed    int64     // the same seed gives the same flows
	Start   time.Time // timestamp of the first flow
	Attacks bool      // mix attacks in
	// Baseline runs the baseline scenario (baseline.go) instead of the
	// steady shop: ScenarioDuration of event time with a daily-like ramp,
	// pod churn, a rollout, scheduled jobs, realistic latencies, and the
	// labelled attacks Incidents lists after LearningPeriod. Attacks still
	// mixes the rotation of static-rule attacks in on top.
	Baseline bool
}

// Attack spacing, in flows: the first attack starts within the first
// firstAttackMax flows, the next ones every attackEveryMin to
// attackEveryMin+attackEverySpread flows.
const (
	firstAttackMin    = 40
	firstAttackMax    = 160
	attackEveryMin    = 300
	attackEverySpread = 200
)

// Generator produces the flows of the simulated shop, one at a time. It is
// deterministic for a Config and not safe for concurrent use.
type Generator struct {
	cfg     Config
	rng     *rand.Rand
	mesh    *mesh
	now     time.Time
	started bool
	pending []*flowpb.Flow

	emitted    int // flows returned by Next
	nextAttack int // emitted count at which the next attack starts
	attacks    int // attacks started so far, for the rotation

	// open connections a client pod keeps to a server (connection pools).
	pools map[poolKey]uint32
	// jobs are the periodic traffic (infra.go).
	jobs []*job
	// trace is the W3C trace ID of the scene's request, "" outside one.
	trace string

	// The baseline scenario (baseline.go): when the next shop scene
	// starts, the labelled attacks, and what the rate spike measures.
	nextScene time.Time
	incidents []Incident
	recLists  map[int64]int // recommendation's ListProducts calls per minute
}

// New returns a Generator for cfg.
func New(cfg Config) *Generator {
	g := &Generator{
		cfg:   cfg,
		rng:   rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5e471e1)),
		mesh:  newMesh(cfg.Baseline),
		now:   cfg.Start,
		pools: map[poolKey]uint32{},
	}
	g.nextAttack = firstAttackMin + g.rng.IntN(firstAttackMax-firstAttackMin)
	g.scheduleInfra()
	if cfg.Baseline {
		g.scheduleBaseline()
	}
	return g
}

// Next returns the next flow. Timestamps strictly increase from cfg.Start.
func (g *Generator) Next() *flowpb.Flow {
	for len(g.pending) == 0 {
		g.scene()
	}
	f := g.pending[0]
	g.pending[0] = nil
	g.pending = g.pending[1:]
	g.emitted++
	return f
}

// scene queues the flows of the next thing that happens in the shop.
func (g *Generator) scene() {
	if g.cfg.Baseline {
		g.baselineScene()
		return
	}
	// Scenes start a few milliseconds apart: 150 to 200 flows per
	// simulated second. Attacks come first, then periodic traffic that is
	// due, then the shop's own.
	g.idle(time.Duration(g.rng.ExpFloat64() * float64(6*time.Millisecond)))
	g.trace = ""
	if g.attackDue() {
		return
	}
	if j := g.dueJob(); j != nil {
		j.due = j.due.Add(j.every)
		j.run()
		return
	}
	g.benign()
}

// tick advances the clock by d (at least a microsecond, so timestamps
// strictly increase) and returns it. The first flow is stamped cfg.Start.
func (g *Generator) tick(d time.Duration) time.Time {
	if !g.started {
		g.started = true
		return g.now
	}
	g.now = g.now.Add(max(d, time.Microsecond))
	return g.now
}

// idle lets time pass without a flow.
func (g *Generator) idle(d time.Duration) {
	if g.started {
		g.now = g.now.Add(d)
	}
}

func (g *Generator) emit(f *flowpb.Flow) { g.pending = append(g.pending, f) }

// between returns a duration uniformly drawn from [lo, hi).
func (g *Generator) between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(g.rng.Int64N(int64(hi-lo)))
}

func (g *Generator) chance(p float64) bool { return g.rng.Float64() < p }

func (g *Generator) pick(pods []*pod) *pod { return pods[g.rng.IntN(len(pods))] }

func (g *Generator) pod(workload string) *pod { return g.pick(g.mesh.workloads[workload].pods) }

// ephemeralPort draws a client port from Linux's default local port range.
func (g *Generator) ephemeralPort() uint32 { return uint32(32768 + g.rng.IntN(60999-32768+1)) }

// uuid returns a random (version 4) UUID drawn from the generator's source.
func (g *Generator) uuid() string {
	var b [16]byte
	for i := 0; i < 16; i += 8 {
		v := g.rng.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// hex returns n random lower-case hexadecimal digits.
func (g *Generator) hex(n int) string { return g.token("0123456789abcdef", n) }

// token returns n random characters of alphabet.
func (g *Generator) token(alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[g.rng.IntN(len(alphabet))]
	}
	return string(b)
}

// attackDue runs the next attack of the rotation when one is due (with
// Config.Attacks) and reports whether it did.
func (g *Generator) attackDue() bool {
	if !g.cfg.Attacks || g.emitted < g.nextAttack {
		return false
	}
	attack := attackRotation[g.attacks%len(attackRotation)]
	g.attacks++
	g.nextAttack = g.emitted + attackEveryMin + g.rng.IntN(attackEverySpread)
	g.runAttack(attack)
	return true
}
