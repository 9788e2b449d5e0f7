package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/open-policy-agent/opa/v1/ast"
	"google.golang.org/protobuf/proto"

	"github.com/hubble-sentinel/hubble-sentinel/engine"
	"github.com/hubble-sentinel/hubble-sentinel/engine/profile"
	"github.com/hubble-sentinel/hubble-sentinel/engine/redact"
	"github.com/hubble-sentinel/hubble-sentinel/hubble"
)

// PolicyInput prints, one JSON line per flow, the input document the engine
// gives policies for each flow of the captures: what a test fixture should
// look like.
func PolicyInput(ctx context.Context, o Options, files []string) error {
	o.defaults()
	if len(files) == 0 {
		return fmt.Errorf("policy input: no capture files given (use - for stdin)")
	}
	enc := json.NewEncoder(o.Stdout)
	_, err := eachInput(ctx, o, files, true, func(_ *flowpb.Flow, doc any) error { return enc.Encode(doc) })
	return err
}

// eachInput calls fn with the input document of every flow of the
// captures. It runs the engine's own per-flow path (Engine.Input), so
// profiles evolve as they would in replay. With mask, credentials in HTTP
// flows are masked before measuring: documents printed from a real capture
// end up in git. It returns the number of malformed lines it skipped.
func eachInput(ctx context.Context, o Options, files []string, mask bool, fn func(f *flowpb.Flow, doc any) error) (malformed int, err error) {
	// No policies and no aggregator: Input judges nothing.
	eng, err := engine.New(engine.Config{Profiles: profile.Config{Limits: profile.Limits{Profiles: o.ProfilesMax}}}, nil, nil, o.Logger, nil)
	if err != nil {
		return 0, err
	}
	obs := hubble.NewFileObserver(files, os.Stdin, o.Logger.With("component", "replay"), nil)
	client := hubble.NewClient(obs, hubble.ClientConfig{}, o.Logger.With("component", "hubble"), nil)
	err = client.Run(ctx, func(_ context.Context, f *flowpb.Flow) error {
		// Masking touches only HTTP credentials, so the masked flow's
		// facts are the real ones with the query values masked.
		in := f
		if mask {
			in = proto.Clone(f).(*flowpb.Flow)
			redact.Flow(in)
		}
		_, value := eng.Input(in, time.Now())
		doc, err := ast.JSON(value)
		if err != nil {
			return err
		}
		return fn(f, doc)
	})
	return obs.Stats().Malformed, err
}

// Fixture files of the policy tests. A policy keeps the flows its tests
// judge as Hubble prints them (`hubble observe -o jsonpb`, each with a
// unique uuid naming it) in testdata/flows.jsonl; `policy fixtures` writes
// the engine's input document for each into testdata/inputs.json, which
// OPA loads as data at the directory's path, keyed by uuid. So the facts a
// Rego test judges are the ones the engine measures, never a copy of
// Measure written in Rego. The engine itself does not load testdata.
const (
	FixtureFlows  = "flows.jsonl"
	FixtureInputs = "inputs.json"
)

// ErrStaleFixtures is returned by PolicyFixtures with check set when a
// fixture file differs from what the engine generates.
var ErrStaleFixtures = errors.New("policy fixtures are stale: run `hubble-sentinel policy fixtures DIR` (make fixtures)")

// PolicyFixtures regenerates testdata/inputs.json beside every
// testdata/flows.jsonl under dir. With check it writes nothing and returns
// ErrStaleFixtures, naming each stale file, when one differs.
func PolicyFixtures(ctx context.Context, o Options, dir string, check bool) error {
	o.defaults()
	var stale []string
	found := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != FixtureFlows || filepath.Base(filepath.Dir(path)) != "testdata" {
			return err
		}
		found++
		want, err := fixtures(ctx, o, path)
		if err != nil {
			return err
		}
		out := filepath.Join(filepath.Dir(path), FixtureInputs)
		if check {
			have, err := os.ReadFile(out)
			if err != nil || !bytes.Equal(have, want) {
				stale = append(stale, out)
			}
			return nil
		}
		if err := os.WriteFile(out, want, 0o644); err != nil {
			return fmt.Errorf("writing fixtures: %w", err)
		}
		fmt.Fprintf(o.Stdout, "%s\n", out)
		return nil
	})
	if err != nil {
		return err
	}
	if found == 0 {
		return fmt.Errorf("policy fixtures: no testdata/%s under %s", FixtureFlows, dir)
	}
	if len(stale) > 0 {
		return fmt.Errorf("%w: %v", ErrStaleFixtures, stale)
	}
	return nil
}

// fixtures is the inputs.json for one flows.jsonl: an object of input
// documents keyed by the flows' uuids, indented, keys sorted.
func fixtures(ctx context.Context, o Options, path string) ([]byte, error) {
	docs := map[string]any{}
	var errs []error
	// Not masked: the flows are in git beside their fixtures already, and
	// a test must see the query the engine measures.
	malformed, err := eachInput(ctx, o, []string{path}, false, func(f *flowpb.Flow, doc any) error {
		id := f.GetUuid()
		switch _, dup := docs[id]; {
		case id == "":
			errs = append(errs, fmt.Errorf("%s: a flow has no uuid to name its fixture", path))
		case dup:
			errs = append(errs, fmt.Errorf("%s: uuid %q names two flows", path, id))
		}
		docs[id] = doc
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if malformed > 0 {
		errs = append(errs, fmt.Errorf("%s: %d malformed lines (logged above)", path, malformed))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(docs, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}
