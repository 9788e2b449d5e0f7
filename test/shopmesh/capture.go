package shopmesh

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"google.golang.org/protobuf/encoding/protojson"
)

// WriteCapture writes the first n flows of a Generator for cfg to w the way
// `hubble observe -o jsonpb` prints them, so that `hubble-sentinel replay`
// and anything else that reads Hubble captures can take them: one
// GetFlowsResponse per line in protojson with the proto field names,
// stamped on the simulated clock from cfg.Start. The same cfg and n give
// the same bytes (the JSON is compacted, so protojson's deliberately
// unstable spacing does not leak into the file).
//
// For a baseline scenario (cfg.Baseline), n <= 0 writes the whole scenario:
// every flow before ScenarioEnd(cfg).
func WriteCapture(w io.Writer, cfg Config, n int) error {
	g := New(cfg)
	bw := bufio.NewWriter(w)
	opts := protojson.MarshalOptions{UseProtoNames: true}
	var raw []byte
	var line bytes.Buffer
	whole := n <= 0 && cfg.Baseline
	end := ScenarioEnd(cfg)
	for i := 0; whole || i < n; i++ {
		f := g.Next()
		if whole && !f.GetTime().AsTime().Before(end) {
			break
		}
		var err error
		raw, err = opts.MarshalAppend(raw[:0], response(f, f.GetTime().AsTime()))
		if err != nil {
			return fmt.Errorf("encoding flow %d: %w", i, err)
		}
		line.Reset()
		if err := json.Compact(&line, raw); err != nil {
			return fmt.Errorf("compacting flow %d: %w", i, err)
		}
		line.WriteByte('\n')
		if _, err := bw.Write(line.Bytes()); err != nil {
			return fmt.Errorf("writing flow %d: %w", i, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing capture: %w", err)
	}
	return nil
}
