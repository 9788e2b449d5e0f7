package app

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"golang.org/x/term"
)

// Replay progress: on a terminal one line redrawn in place a few times a
// second; otherwise (a log, a pipe, CI) a plain line every progressEvery,
// so a long replay shows it is alive without flooding the log.
const (
	progressTTYEvery = 250 * time.Millisecond
	progressEvery    = 10 * time.Second
	// progressRateOver is the span the shown rate is measured over.
	progressRateOver = time.Second
)

// progress counts the flows a replay hands to the engine and reports them
// on w: flows done, flows per second, the event time reached and the
// alerts reported so far.
type progress struct {
	w        io.Writer
	tty      bool
	every    time.Duration
	alerts   func() int
	start    time.Time
	flows    atomic.Int64
	position atomic.Int64 // event time of the newest flow, Unix ns; 0: none yet

	// samples are the last reports' counts, for the rate (report's
	// goroutine only).
	samples []progressSample
	drawn   bool // a tty line is on screen
}

type progressSample struct {
	at    time.Time
	flows int64
}

// newProgress returns a progress reporting on w, in place when w is a
// terminal. alerts counts the alerts reported so far.
func newProgress(w io.Writer, alerts func() int) *progress {
	tty := isTerminal(w)
	every := progressEvery
	if tty {
		every = progressTTYEvery
	}
	return &progress{w: w, tty: tty, every: every, alerts: alerts}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// handler counts each flow and its event time, then hands it to next.
func (p *progress) handler(next func(context.Context, *flowpb.Flow) error) func(context.Context, *flowpb.Flow) error {
	return func(ctx context.Context, f *flowpb.Flow) error {
		p.flows.Add(1)
		if t := f.GetTime(); t != nil {
			p.position.Store(t.AsTime().UnixNano())
		}
		return next(ctx, f)
	}
}

// run reports until ctx ends or stop is called (the returned func waits
// for the last report and clears a terminal line).
func (p *progress) run(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	p.start = time.Now()
	p.samples = []progressSample{{at: p.start}}
	wg.Go(func() {
		t := time.NewTicker(p.every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				p.report(now)
			}
		}
	})
	return func() {
		cancel()
		wg.Wait()
		if p.drawn {
			fmt.Fprint(p.w, "\r\033[K")
		}
	}
}

// report writes the progress at now.
func (p *progress) report(now time.Time) {
	n := p.flows.Load()
	rate := 0.0
	if first := p.samples[0]; now.After(first.at) {
		rate = float64(n-first.flows) / now.Sub(first.at).Seconds()
	}
	p.samples = append(p.samples, progressSample{at: now, flows: n})
	if keep := max(int(progressRateOver/p.every), 1); len(p.samples) > keep {
		p.samples = p.samples[len(p.samples)-keep:]
	}
	line := progressLine(n, rate, p.position.Load(), p.alerts(), now.Sub(p.start))
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K"+line)
		p.drawn = true
		return
	}
	fmt.Fprintln(p.w, line)
}

// progressLine is one report: flows done, their rate, the event time
// reached (RFC 3339, UTC), alerts so far and the time elapsed.
func progressLine(flows int64, rate float64, position int64, alerts int, elapsed time.Duration) string {
	at := "-"
	if position != 0 {
		at = time.Unix(0, position).UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("replay: %d flows, %.0f flows/s, event time %s, %d alerts, %s elapsed",
		flows, rate, at, alerts, elapsed.Round(time.Second))
}
