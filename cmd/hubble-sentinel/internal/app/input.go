package app

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

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
// look like. It runs the engine's own per-flow path (Engine.Input), so
// profiles evolve as they would in replay. Credentials in HTTP flows are
// masked before measuring: fixtures end up in git.
func PolicyInput(ctx context.Context, o Options, files []string) error {
	o.defaults()
	if len(files) == 0 {
		return fmt.Errorf("policy input: no capture files given (use - for stdin)")
	}
	// No policies and no aggregator: Input judges nothing.
	eng, err := engine.New(engine.Config{Profiles: profile.Limits{Profiles: o.ProfilesMax}}, nil, nil, o.Logger, nil)
	if err != nil {
		return err
	}
	obs := hubble.NewFileObserver(files, os.Stdin, o.Logger.With("component", "replay"), nil)
	client := hubble.NewClient(obs, hubble.ClientConfig{}, o.Logger.With("component", "hubble"), nil)
	enc := json.NewEncoder(o.Stdout)
	return client.Run(ctx, func(_ context.Context, f *flowpb.Flow) error {
		// Masking touches only HTTP credentials, so the masked flow's
		// facts are the real ones with the query values masked.
		masked := proto.Clone(f).(*flowpb.Flow)
		redact.Flow(masked)
		_, value := eng.Input(masked, time.Now())
		doc, err := ast.JSON(value)
		if err != nil {
			return err
		}
		return enc.Encode(doc)
	})
}
