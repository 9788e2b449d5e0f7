package hubble

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	observerpb "github.com/cilium/cilium/api/v1/observer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hubble-sentinel/hubble-sentinel/test/logtest"
)

// secretLine is a capture line whose header value is in a field of the
// wrong type: protojson's error quotes the value.
const secretLine = `{"flow":{"l7":{"http":{"code":"Bearer S3CRETS3CRET","headers":[]}}}}`

// TestMalformedLineErrorsNeverQuoteTheValue: the decoder's own error quotes
// the value (a credential here); the logged error names the file, line,
// field and position only.
func TestMalformedLineErrorsNeverQuoteTheValue(t *testing.T) {
	err := protojson.Unmarshal([]byte(secretLine), &observerpb.GetFlowsResponse{})
	require.ErrorContains(t, err, "S3CRET", "the problem: protojson quotes the value")

	path := filepath.Join(t.TempDir(), "capture.json")
	require.NoError(t, os.WriteFile(path, []byte(secretLine+"\n"), 0o644))
	var logs logtest.Buffer
	obs := NewFileObserver([]string{path}, nil, logs.Logger(), nil)
	_, err = readAll(t, obs, &observerpb.GetFlowsRequest{})
	require.NoError(t, err)
	out := logs.String()
	require.NotContains(t, out, "S3CRET")
	require.Contains(t, out, "file="+path)
	require.Contains(t, out, "line=1")
	require.Contains(t, out, "field code")
}

// TestMalformedLinesAreLoggedWithACount: 1 MB of garbage is counted line
// by line but logged in a few lines that say how many were skipped; an
// empty flow is one of them, not judged.
func TestMalformedLinesAreLoggedWithACount(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"flow":{}}` + "\n")
	b.WriteString(`{"uuid":"x","time":"2026-01-01T00:00:00Z"}` + "\n")
	for b.Len() < 1<<20 {
		b.WriteString(strings.Repeat("garbage ", 31) + "\n")
	}
	lines := strings.Count(b.String(), "\n")
	path := filepath.Join(t.TempDir(), "capture.json")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	var logs logtest.Buffer
	reg := prometheus.NewRegistry()
	obs := NewFileObserver([]string{path}, nil, logs.Logger(), reg)
	resps, err := readAll(t, obs, &observerpb.GetFlowsRequest{})
	require.NoError(t, err)
	require.Empty(t, resps)
	require.Equal(t, lines, obs.Stats().Malformed)
	require.Equal(t, float64(lines), testutil.ToFloat64(obs.malformed))
	out := logs.String()
	require.Contains(t, out, errEmptyFlow.Error())
	require.LessOrEqual(t, strings.Count(out, "\n"), 3, out)
	require.Contains(t, out, fmt.Sprintf("skipped_unlogged=%d", lines-1))
}

func TestJudgeable(t *testing.T) {
	require.False(t, Judgeable(&flowpb.Flow{}))
	require.False(t, Judgeable(&flowpb.Flow{Uuid: "x", NodeName: "n"}))
	require.True(t, Judgeable(&flowpb.Flow{IP: &flowpb.IP{Source: "10.0.0.1"}}))
	require.True(t, Judgeable(&flowpb.Flow{L7: &flowpb.Layer7{}}))
}

// FuzzParseLine: no capture line panics the parser, a zero or absurd time
// included; an error never quotes the line's values (the marker), and a
// flow it returns has something to judge.
func FuzzParseLine(f *testing.F) {
	f.Add([]byte(secretLine))
	f.Add([]byte(`{"flow":{"time":"0001-01-01T00:00:00Z","uuid":"a","IP":{"source":"S3CRET"}}}`))
	f.Add([]byte(`{"flow":{}}`))
	f.Add([]byte(`{"lost_events":{"num_events_lost":"3"}}`))
	f.Add([]byte(`{"time":"9999-12-31T23:59:59Z","l7":{"http":{"url":"http://u:S3CRET@h/"}}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		resp, err := parseLine(line)
		if err != nil {
			require.NotContains(t, err.Error(), "S3CRET")
			return
		}
		if fl := resp.GetFlow(); fl != nil {
			require.True(t, Judgeable(fl))
			_ = flowTime(fl)
			_ = keyOf(fl)
		}
	})
}
