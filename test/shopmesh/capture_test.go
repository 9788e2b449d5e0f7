package shopmesh_test

import (
	"bufio"
	"bytes"
	"errors"
	"testing"

	observerpb "github.com/cilium/cilium/api/v1/observer"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/hubble-sentinel/hubble-sentinel/test/shopmesh"
)

func TestWriteCapture(t *testing.T) {
	const n = 1500
	for _, tc := range []struct {
		name string
		cfg  shopmesh.Config
	}{
		{"benign", shopmesh.Config{Seed: 4, Start: start}},
		{"attacks", shopmesh.Config{Seed: 4, Start: start, Attacks: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			require.NoError(t, shopmesh.WriteCapture(&b, tc.cfg, n))
			want := generate(tc.cfg, n)

			sc := bufio.NewScanner(bytes.NewReader(b.Bytes()))
			sc.Buffer(nil, 1<<20)
			i := 0
			for ; sc.Scan(); i++ {
				line := sc.Bytes()
				// What `hubble observe -o jsonpb` prints: proto field names,
				// one compact object per line.
				require.Contains(t, string(line), `"node_name":`, "line %d", i)
				require.NotContains(t, string(line), `"nodeName"`, "line %d", i)
				require.NotContains(t, string(line), "\n", "line %d", i)
				var resp observerpb.GetFlowsResponse
				require.NoError(t, protojson.Unmarshal(line, &resp), "line %d", i)
				require.True(t, proto.Equal(want[i], resp.GetFlow()), "line %d is not flow %d: %s", i, i, line)
				require.Equal(t, want[i].GetNodeName(), resp.GetNodeName(), "line %d", i)
				require.True(t, want[i].GetTime().AsTime().Equal(resp.GetTime().AsTime()), "line %d", i)
			}
			require.NoError(t, sc.Err())
			require.Equal(t, n, i)

			var again bytes.Buffer
			require.NoError(t, shopmesh.WriteCapture(&again, tc.cfg, n))
			require.Equal(t, b.Bytes(), again.Bytes(), "the same config gives the same bytes")
		})
	}
}

// failingWriter accepts limit bytes, then fails.
type failingWriter struct{ limit int }

var errDiskFull = errors.New("disk full")

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.limit {
		n := w.limit
		w.limit = 0
		return n, errDiskFull
	}
	w.limit -= len(p)
	return len(p), nil
}

func TestWriteCaptureReportsWriteErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit int
		n     int
	}{
		{"fails at once", 0, 1},
		{"fails midway", 100_000, 5000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := shopmesh.WriteCapture(&failingWriter{limit: tc.limit}, shopmesh.Config{Seed: 1}, tc.n)
			require.ErrorIs(t, err, errDiskFull)
		})
	}
}
