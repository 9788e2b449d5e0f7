// Command opacover fails when a policy file's line coverage in an `opa test --coverage --format=json` report is below a threshold.
//
//	go tool opa test --coverage --format=json policies | go run ./test/opacover -min 90
//
// opa test --threshold checks the total only; make test holds every policy
// package to the bar on its own.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/open-policy-agent/opa/v1/cover"

	"github.com/hubble-sentinel/hubble-sentinel/engine/policy"
)

func main() {
	min := flag.Float64("min", 90, "minimum line coverage of each policy file, in percent")
	flag.Parse()
	if err := check(os.Stdin, os.Stdout, *min); err != nil {
		fmt.Fprintln(os.Stderr, "opacover:", err)
		os.Exit(1)
	}
}

func check(r io.Reader, w io.Writer, min float64) error {
	var rep cover.Report
	if err := json.NewDecoder(r).Decode(&rep); err != nil {
		return fmt.Errorf("reading the coverage report: %w", err)
	}
	if len(rep.Files) == 0 {
		return fmt.Errorf("the coverage report lists no files")
	}
	if gaps := policy.CoverageGaps(rep, min); len(gaps) > 0 {
		for _, g := range gaps {
			fmt.Fprintln(w, g)
		}
		return fmt.Errorf("%d policy files below %.0f%% line coverage", len(gaps), min)
	}
	fmt.Fprintf(w, "coverage: %.1f%% overall, every policy file at least %.0f%%\n", rep.Coverage, min)
	return nil
}
