// Command eval scores hubble-sentinel's detection on the simulated shop's
// baseline scenario: it writes the scenario's capture (test/shopmesh,
// Config.Baseline), replays it through `hubble-sentinel replay
// --baseline.learning-period 40m`, and matches the alerts to the scenario's
// labelled incidents. Per incident it prints whether an alert on its actor
// started in its window (up to two minutes after its end), how long after
// its start, and which alerts; the alerts that match no incident are false
// positives, grouped by alertname and workloads.
//
//	go run ./test/eval [-bin bin/hubble-sentinel] [-seed 1] [-strict]
//
// It exits 2 when the evaluation itself fails (no binary, a replay error,
// unreadable output). Misses do not fail it, unless -strict: then it exits
// 1 when an incident is missed, the median delay is above 30s or there are
// more than two false-positive groups.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/hubble-sentinel/hubble-sentinel/test/shopmesh"
)

// grace is how long after an incident's end an alert still counts for it.
const grace = 2 * time.Minute

// targets are what -strict requires.
var targets = Targets{MaxMedianDelay: 30 * time.Second, MaxFPGroups: 2}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	bin, capture, alerts string
	seed                 int64
	start                time.Time
	strict, verbose      bool
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var start string
	fs.StringVar(&o.bin, "bin", "", "the hubble-sentinel binary (default: build ./cmd/hubble-sentinel into a temporary directory)")
	fs.Int64Var(&o.seed, "seed", 1, "seed of the simulated shop")
	fs.StringVar(&start, "start", "2026-03-14T09:00:00Z", "event time of the first flow (RFC 3339)")
	fs.StringVar(&o.capture, "capture", "", "write the capture to this file and keep it (default: a temporary file, removed)")
	fs.StringVar(&o.alerts, "alerts", "", "also write the replay's alerts (JSON lines) to this file")
	fs.BoolVar(&o.strict, "strict", false, fmt.Sprintf("exit 1 unless every incident is detected, the median delay is at most %s and there are at most %d false-positive groups", targets.MaxMedianDelay, targets.MaxFPGroups))
	fs.BoolVar(&o.verbose, "v", false, "print the replay's log")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var err error
	if o.start, err = time.Parse(time.RFC3339, start); err != nil {
		fmt.Fprintln(stderr, "eval: -start:", err)
		return 2
	}
	report, err := evaluate(ctx, o, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "eval:", err)
		return 2
	}
	if err := report.Print(stdout); err != nil {
		fmt.Fprintln(stderr, "eval:", err)
		return 2
	}
	if o.strict {
		if failures := report.Failures(targets); len(failures) > 0 {
			fmt.Fprintln(stderr, "eval: targets missed:", strings.Join(failures, "; "))
			return 1
		}
	}
	return 0
}

// evaluate writes the scenario's capture, replays it and scores the alerts.
func evaluate(ctx context.Context, o options, log io.Writer) (Report, error) {
	tmp, err := os.MkdirTemp("", "hubble-sentinel-eval-")
	if err != nil {
		return Report{}, err
	}
	defer os.RemoveAll(tmp)

	bin := o.bin
	if bin == "" {
		bin = filepath.Join(tmp, "hubble-sentinel")
		fmt.Fprintln(log, "eval: building ./cmd/hubble-sentinel")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/hubble-sentinel")
		build.Stdout, build.Stderr = log, log
		if err := build.Run(); err != nil {
			return Report{}, fmt.Errorf("building hubble-sentinel: %w", err)
		}
	} else if _, err := os.Stat(bin); err != nil {
		return Report{}, fmt.Errorf("-bin: %w", err)
	}

	cfg := shopmesh.Config{Seed: o.seed, Start: o.start, Baseline: true}
	capture := o.capture
	if capture == "" {
		capture = filepath.Join(tmp, "shop-baseline.jsonl")
	}
	began := time.Now()
	if err := writeCapture(capture, cfg); err != nil {
		return Report{}, err
	}
	info, err := os.Stat(capture)
	if err != nil {
		return Report{}, err
	}
	fmt.Fprintf(log, "eval: wrote %s of event time (seed %d) to %s, %d MB, in %s\n", shopmesh.ScenarioDuration, o.seed, capture,
		info.Size()>>20, time.Since(began).Round(time.Millisecond))

	began = time.Now()
	fmt.Fprintf(log, "eval: %s replay --baseline.learning-period %s\n", bin, shopmesh.LearningPeriod)
	out, err := replay(ctx, bin, capture, o.verbose, log)
	if err != nil {
		return Report{}, err
	}
	fmt.Fprintf(log, "eval: replayed in %s\n", time.Since(began).Round(time.Second))
	if o.alerts != "" {
		if err := os.WriteFile(o.alerts, out, 0o644); err != nil {
			return Report{}, err
		}
	}
	alerts, err := ParseAlerts(bytes.NewReader(out))
	if err != nil {
		return Report{}, fmt.Errorf("replay output: %w", err)
	}
	return Score(shopmesh.Incidents(cfg), alerts, cfg.Start, cfg.Start.Add(shopmesh.LearningPeriod), grace), nil
}

func writeCapture(path string, cfg shopmesh.Config) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := shopmesh.WriteCapture(f, cfg, 0); err != nil {
		f.Close()
		return fmt.Errorf("writing the capture: %w", err)
	}
	return f.Close()
}

// replay runs the binary on the capture and returns its standard output,
// the alerts. Its log goes to log with verbose, else only its summary line
// (and all of it when it fails).
func replay(ctx context.Context, bin, capture string, verbose bool, log io.Writer) ([]byte, error) {
	cmd := exec.CommandContext(ctx, bin, "replay", "--baseline.learning-period", shopmesh.LearningPeriod.String(), capture)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if verbose {
		cmd.Stderr = io.MultiWriter(&stderr, log)
	}
	if err := cmd.Run(); err != nil {
		if !verbose {
			log.Write(stderr.Bytes())
		}
		return nil, fmt.Errorf("%s replay: %w", bin, err)
	}
	if !verbose {
		for line := range strings.SplitSeq(stderr.String(), "\n") {
			if strings.HasPrefix(line, "replayed ") {
				fmt.Fprintln(log, line)
			}
		}
	}
	return stdout.Bytes(), nil
}
