package profile

import (
	"math"
	"time"
)

// Statistics on event time. Every window is a pair of minute buckets (the
// current minute and the one before), read as a sliding minute: the
// previous bucket weighs what is left of it in the last sixty seconds. A
// completed minute teaches the baseline, an exponentially weighted moving
// average, unless it is anomalous: an ongoing anomaly must not teach
// itself in.

const (
	// alphaMinute is the weight of one completed minute in a baseline:
	// about the last twenty minutes count, so a diurnal ramp is followed
	// and a ten-minute attack is not learned.
	alphaMinute = 0.05
	// alphaLearning is the weight while a baseline has seen few minutes,
	// so that it converges quickly at first.
	alphaLearning = 0.3
	// warmMinutes is how many minutes a baseline needs before the anomaly
	// guard applies.
	warmMinutes = 10
	// maxCatchUp bounds the empty minutes folded into a baseline when an
	// edge was quiet: an hour of silence is an hour of zeros, a day is
	// not 1,440 updates.
	maxCatchUp = 60
	// rateGuard: a completed minute above this many times its baseline
	// (and above rateGuardFloor) is not learned.
	rateGuard      = 3.0
	rateGuardFloor = 10.0
	// ratioGuard: a completed minute whose ratio exceeds its baseline by
	// more than this is not learned.
	ratioGuard = 0.15
)

// minuteOf is the minute bucket of t, on event time.
func minuteOf(t time.Time) int64 { return t.Unix() / 60 }

// slidingWeight is how much of the previous minute still lies in the last
// sixty seconds at t.
func slidingWeight(t time.Time) float64 {
	return 1 - float64(t.Unix()%60)/60
}

// alpha is the baseline weight of the next completed minute.
func alpha(minutes uint32) float64 {
	if minutes < warmMinutes {
		return alphaLearning
	}
	return alphaMinute
}

// Rate counts events per minute against a learned per-minute baseline.
type Rate struct {
	Minute   int64   `json:"m"`
	Cur      float64 `json:"c"`
	Prev     float64 `json:"p"`
	Baseline float64 `json:"b"`
	Minutes  uint32  `json:"n"` // completed minutes learned
}

// roll moves the window to t's minute, teaching the baseline each
// completed minute (empty ones as zeros).
func (r *Rate) roll(t time.Time, l lesson) {
	m := minuteOf(t)
	if r.Minute == 0 {
		r.Minute = m
		return
	}
	if m <= r.Minute {
		return // late events count in the current minute
	}
	r.learn(r.Minute, r.Cur, l)
	steps := m - r.Minute
	if steps == 1 {
		r.Prev = r.Cur
	} else {
		r.Prev = 0
		// The most recent empty minutes, up to maxCatchUp of them.
		for i := max(1, steps-maxCatchUp); i < steps; i++ {
			r.learn(r.Minute+i, 0, l)
		}
	}
	r.Cur = 0
	r.Minute = m
}

// learn teaches the baseline minute m's count v, unless m was blind or v
// is an anomaly.
func (r *Rate) learn(m int64, v float64, l lesson) {
	if !l.teaches(m) {
		return
	}
	if !l.learning && r.Minutes >= warmMinutes && v > rateGuard*max(r.Baseline, rateGuardFloor) {
		return
	}
	if r.Minutes == 0 {
		r.Baseline = v
	} else {
		a := alpha(r.Minutes)
		r.Baseline = a*v + (1-a)*r.Baseline
	}
	r.Minutes++
}

// Add counts n events at t.
func (r *Rate) Add(t time.Time, n float64, l lesson) {
	r.roll(t, l)
	r.Cur += n
}

// PerMinute is the count over the sliding minute ending at t.
func (r *Rate) PerMinute(t time.Time) float64 {
	if minuteOf(t) != r.Minute {
		return r.Cur
	}
	return r.Cur + r.Prev*slidingWeight(t)
}

// Ratio is the share of events that are hits (errors, NXDOMAINs, refused
// connections) per minute, against a learned baseline share.
type Ratio struct {
	Minute   int64   `json:"m"`
	CurN     float64 `json:"cn"`
	CurHit   float64 `json:"ch"`
	PrevN    float64 `json:"pn"`
	PrevHit  float64 `json:"ph"`
	Baseline float64 `json:"b"`
	Minutes  uint32  `json:"n"`
}

// ratioMinSamples is the least events in a minute that teach a ratio
// baseline: two errors in three calls say little.
const ratioMinSamples = 5

func (r *Ratio) roll(t time.Time, l lesson) {
	m := minuteOf(t)
	if r.Minute == 0 {
		r.Minute = m
		return
	}
	if m <= r.Minute {
		return
	}
	if r.CurN >= ratioMinSamples && l.teaches(r.Minute) {
		v := r.CurHit / r.CurN
		if l.learning || r.Minutes < warmMinutes || v <= r.Baseline+ratioGuard {
			if r.Minutes == 0 {
				r.Baseline = v
			} else {
				a := alpha(r.Minutes)
				r.Baseline = a*v + (1-a)*r.Baseline
			}
			r.Minutes++
		}
	}
	if m-r.Minute == 1 {
		r.PrevN, r.PrevHit = r.CurN, r.CurHit
	} else {
		r.PrevN, r.PrevHit = 0, 0
	}
	r.CurN, r.CurHit = 0, 0
	r.Minute = m
}

// Add counts one event at t, a hit or not.
func (r *Ratio) Add(t time.Time, hit bool, l lesson) {
	r.roll(t, l)
	r.CurN++
	if hit {
		r.CurHit++
	}
}

// Value is the hit share and the number of events over the sliding minute
// ending at t.
func (r *Ratio) Value(t time.Time) (ratio, n float64) {
	w := 0.0
	if minuteOf(t) == r.Minute {
		w = slidingWeight(t)
	}
	n = r.CurN + r.PrevN*w
	if n == 0 {
		return 0, 0
	}
	return (r.CurHit + r.PrevHit*w) / n, n
}

// Latency tracks log latency: a short average (the last few responses)
// against a long one (the baseline) and the long one's mean absolute
// deviation. Logs make a spike a ratio, and one slow response moves the
// short average only part of the way.
type Latency struct {
	Short   float64 `json:"s"`
	Long    float64 `json:"l"`
	MAD     float64 `json:"d"`
	Samples uint32  `json:"n"`
}

const (
	latencyShortAlpha = 0.15
	latencyLongAlpha  = 0.02
	// latencyGuard: a response slower than this many times the baseline
	// (once it has latencyWarm samples) does not teach it.
	latencyGuard = 3.0
	latencyWarm  = 20
)

// Add records a response latency.
func (l *Latency) Add(d time.Duration, learning bool) {
	x := math.Log(max(float64(d)/float64(time.Millisecond), 0.01))
	if l.Samples == 0 {
		l.Short, l.Long = x, x
		l.Samples = 1
		return
	}
	l.Short = latencyShortAlpha*x + (1-latencyShortAlpha)*l.Short
	if !learning && l.Samples >= latencyWarm && x-l.Long > math.Log(latencyGuard) {
		return
	}
	a := latencyLongAlpha
	if l.Samples < latencyWarm {
		a = 1 / float64(l.Samples+1)
	}
	l.MAD = a*math.Abs(x-l.Long) + (1-a)*l.MAD
	l.Long = a*x + (1-a)*l.Long
	l.Samples++
}

// Deviations is how far the recent log latency lies above the baseline,
// in mean absolute deviations of the baseline: a spike on a steady
// endpoint is many deviations, the same ratio on an endpoint whose latency
// always varies a lot is few.
func (l *Latency) Deviations() float64 {
	if l.Samples == 0 {
		return 0
	}
	return max(l.Short-l.Long, 0) / max(l.MAD, 0.05)
}

// Millis are the recent and the baseline latency in milliseconds.
func (l *Latency) Millis() (recent, baseline float64) {
	if l.Samples == 0 {
		return 0, 0
	}
	return math.Exp(l.Short), math.Exp(l.Long)
}
