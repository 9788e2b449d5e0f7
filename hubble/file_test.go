package hubble

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	observerpb "github.com/cilium/cilium/api/v1/observer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hubble-sentinel/hubble-sentinel/test/captures"
	"github.com/hubble-sentinel/hubble-sentinel/test/logtest"
)

// nonBlankLines counts the records in a capture independently of the code
// under test.
func nonBlankLines(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	n := 0
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) > 0 {
			n++
		}
	}
	return n
}

// readAll drains a GetFlows stream.
func readAll(t *testing.T, obs observerpb.ObserverClient, req *observerpb.GetFlowsRequest) ([]*observerpb.GetFlowsResponse, error) {
	t.Helper()
	st, err := obs.GetFlows(t.Context(), req)
	require.NoError(t, err)
	var out []*observerpb.GetFlowsResponse
	for {
		resp, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, resp)
	}
}

func TestFileObserverReadsRealCaptures(t *testing.T) {
	for _, path := range captures.Files(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			want := nonBlankLines(t, path)
			reg := prometheus.NewRegistry()
			obs := NewFileObserver([]string{path}, nil, nil, reg)
			resps, err := readAll(t, obs, &observerpb.GetFlowsRequest{})
			require.NoError(t, err)
			require.Len(t, resps, want)
			for i, r := range resps {
				f := r.GetFlow()
				require.NotNil(t, f, "record %d is a flow", i)
				require.NotNil(t, f.GetTime(), "record %d has a time", i)
				require.NotEqual(t, flowpb.Verdict_VERDICT_UNKNOWN, f.GetVerdict(), "record %d has a verdict", i)
				require.NotEmpty(t, f.GetIP().GetSource(), "record %d has an IP", i)
			}
			require.Equal(t, FileStats{Lines: want, Flows: want}, obs.Stats())
			require.Equal(t, 0.0, testutil.ToFloat64(obs.malformed))
		})
	}
}

func TestFileObserverThroughClient(t *testing.T) {
	paths := captures.Files(t)
	want := 0
	for _, p := range paths {
		want += nonBlankLines(t, p)
	}
	obs := NewFileObserver(paths, nil, nil, nil)
	c := NewClient(obs, ClientConfig{}, nil, prometheus.NewRegistry())
	var got []*flowpb.Flow
	err := c.Run(t.Context(), func(_ context.Context, f *flowpb.Flow) error {
		got = append(got, f)
		return nil
	})
	require.NoError(t, err, "a replay ends cleanly at EOF")
	require.Len(t, got, want)
	require.Equal(t, float64(want), testutil.ToFloat64(c.metrics.flowsReceived))
	require.Zero(t, testutil.ToFloat64(c.metrics.duplicatesDropped))
	require.False(t, c.Ready())

	// Details the capture format depends on: 64-bit numbers as strings,
	// legacy field names, and flows without UUIDs.
	first := got[0]
	require.Equal(t, "2021-06-16T16:52:13.136834446Z", first.GetTime().AsTime().Format("2006-01-02T15:04:05.999999999Z07:00"))
	require.Equal(t, uint32(15020), first.GetL4().GetTCP().GetSourcePort())
	require.Equal(t, "reviews-v1-545db77b95-s6jb8", first.GetSource().GetPodName())
	require.Empty(t, first.GetUuid())
}

// jsonLine renders resp as one line of JSON, as `hubble observe -o jsonpb` does.
func jsonLine(t *testing.T, resp *observerpb.GetFlowsResponse) string {
	t.Helper()
	b, err := protojson.Marshal(resp)
	require.NoError(t, err)
	return string(b)
}

func flowResponse(f *flowpb.Flow) *observerpb.GetFlowsResponse {
	return &observerpb.GetFlowsResponse{ResponseTypes: &observerpb.GetFlowsResponse_Flow{Flow: f}, NodeName: f.GetNodeName(), Time: f.GetTime()}
}

func TestFileObserverSkipsMalformedLines(t *testing.T) {
	bare, err := protojson.Marshal(newFlow(at(3), "bare", 443))
	require.NoError(t, err)
	lines := []string{
		jsonLine(t, flowResponse(newFlow(at(1), "one", 80))),      // line 1
		`{"flow": {"time": "2024-05-01T12:00:02Z", "verdict": 42`, // line 2: truncated JSON
		"", // line 3: blank
		jsonLine(t, &observerpb.GetFlowsResponse{ResponseTypes: &observerpb.GetFlowsResponse_LostEvents{LostEvents: &flowpb.LostEvent{
			Source: flowpb.LostEventSource_OBSERVER_EVENTS_QUEUE, NumEventsLost: 5,
		}}}), // line 4
		string(bare), // line 5: a bare Flow
		"   ",        // line 6: whitespace only
		jsonLine(t, flowResponse(newFlow(at(4), "four", 80))), // line 7
	}
	path := filepath.Join(t.TempDir(), "capture.json")
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644)) // no final newline

	var logs logtest.Buffer
	reg := prometheus.NewRegistry()
	obs := NewFileObserver([]string{path}, nil, logs.Logger(), reg)
	resps, err := readAll(t, obs, &observerpb.GetFlowsRequest{})
	require.NoError(t, err)

	var flows []string
	for _, r := range resps {
		if f := r.GetFlow(); f != nil {
			flows = append(flows, f.GetUuid())
		}
	}
	require.Equal(t, []string{"one", "bare", "four"}, flows)
	require.Len(t, resps, 4, "three flows and the lost events")
	require.Equal(t, FileStats{Lines: 7, Flows: 3, Malformed: 1, LostEvents: 1}, obs.Stats())
	require.Equal(t, 1.0, testutil.ToFloat64(obs.malformed))

	out := logs.String()
	require.Equal(t, 1, strings.Count(out, "skipping malformed capture line"), out)
	require.Contains(t, out, "level=WARN")
	require.Contains(t, out, "file="+path)
	require.Contains(t, out, "line=2")
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP hubble_sentinel_capture_malformed_lines_total Capture file lines skipped because they were neither a GetFlowsResponse nor a Flow.
# TYPE hubble_sentinel_capture_malformed_lines_total counter
hubble_sentinel_capture_malformed_lines_total 1
`)))
}

func TestFileObserverStdin(t *testing.T) {
	var in strings.Builder
	for i := range 3 {
		in.WriteString(jsonLine(t, flowResponse(newFlow(at(i), fmt.Sprint(i), 80))) + "\n")
	}
	obs := NewFileObserver([]string{StdinPath}, strings.NewReader(in.String()), nil, nil)
	var got []string
	err := NewClient(obs, ClientConfig{}, nil, nil).Run(t.Context(), func(_ context.Context, f *flowpb.Flow) error {
		got = append(got, f.GetUuid())
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, []string{"0", "1", "2"}, got)
}

func TestFileObserverErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	require.NoError(t, os.WriteFile(good, []byte(jsonLine(t, flowResponse(newFlow(at(1), "a", 80)))+"\n"), 0o644))
	missing := filepath.Join(dir, "missing.json")

	tests := []struct {
		name      string
		paths     []string
		stdin     io.Reader
		wantFlows int
		wantErr   string
	}{
		{name: "missing file is named", paths: []string{good, missing}, wantFlows: 1, wantErr: missing},
		{name: "directory is named", paths: []string{dir}, wantErr: dir},
		{name: "stdin without a reader", paths: []string{StdinPath}, wantErr: "stdin"},
		{name: "stdin read error", paths: []string{StdinPath}, stdin: iotestErrReader{}, wantErr: "reading capture stdin: broken pipe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs := NewFileObserver(tt.paths, tt.stdin, nil, nil)
			resps, err := readAll(t, obs, &observerpb.GetFlowsRequest{})
			require.Len(t, resps, tt.wantFlows)
			require.ErrorContains(t, err, tt.wantErr)

			// Through a Client without reconnect, the error ends Run.
			err = NewClient(obs, ClientConfig{}, nil, nil).Run(t.Context(), func(context.Context, *flowpb.Flow) error { return nil })
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestFileObserverTimeWindow(t *testing.T) {
	var in strings.Builder
	for i := range 5 {
		in.WriteString(jsonLine(t, flowResponse(newFlow(at(i), fmt.Sprint(i), 80))) + "\n")
	}
	path := filepath.Join(t.TempDir(), "c.json")
	require.NoError(t, os.WriteFile(path, []byte(in.String()), 0o644))

	obs := NewFileObserver([]string{path}, nil, nil, nil)
	resps, err := readAll(t, obs, &observerpb.GetFlowsRequest{Since: timestamppb.New(at(1)), Until: timestamppb.New(at(3))})
	require.NoError(t, err)
	var got []string
	for _, r := range resps {
		got = append(got, r.GetFlow().GetUuid())
	}
	require.Equal(t, []string{"1", "2", "3"}, got, "since and until are inclusive")
	require.Equal(t, 3, obs.Stats().Flows)
}

func TestFileObserverLongLines(t *testing.T) {
	big := newFlow(at(1), "big", 80)
	big.Summary = strings.Repeat("x", 2<<20) // a 2 MiB line is read
	path := filepath.Join(t.TempDir(), "long.json")
	f, err := os.Create(path)
	require.NoError(t, err)
	w := bufio.NewWriter(f)
	_, err = w.WriteString(jsonLine(t, flowResponse(big)) + "\n")
	require.NoError(t, err)
	// A line over the 16 MiB limit is skipped, not fatal.
	_, err = w.WriteString(`{"flow":{"summary":"` + strings.Repeat("y", maxLineBytes) + `"}}` + "\n")
	require.NoError(t, err)
	_, err = w.WriteString(jsonLine(t, flowResponse(newFlow(at(2), "after", 80))) + "\n")
	require.NoError(t, err)
	require.NoError(t, w.Flush())
	require.NoError(t, f.Close())

	obs := NewFileObserver([]string{path}, nil, nil, nil)
	resps, err := readAll(t, obs, &observerpb.GetFlowsRequest{})
	require.NoError(t, err)
	require.Len(t, resps, 2)
	require.Equal(t, "big", resps[0].GetFlow().GetUuid())
	require.Len(t, resps[0].GetFlow().GetSummary(), 2<<20)
	require.Equal(t, "after", resps[1].GetFlow().GetUuid())
	require.Equal(t, FileStats{Lines: 3, Flows: 2, Malformed: 1}, obs.Stats())
}

func TestFileObserverCancel(t *testing.T) {
	paths := captures.Files(t)
	obs := NewFileObserver(paths, nil, nil, nil)
	ctx, cancel := context.WithCancel(t.Context())
	st, err := obs.GetFlows(ctx, &observerpb.GetFlowsRequest{})
	require.NoError(t, err)
	_, err = st.Recv()
	require.NoError(t, err)
	cancel()
	_, err = st.Recv()
	require.Equal(t, codes.Canceled, status.Code(err))
	require.True(t, isCleanEnd(err))
}

func TestFileObserverUnimplemented(t *testing.T) {
	obs := NewFileObserver(nil, nil, nil, nil)
	_, err := obs.ServerStatus(t.Context(), &observerpb.ServerStatusRequest{})
	require.Equal(t, codes.Unimplemented, status.Code(err))
	_, err = obs.GetNodes(t.Context(), &observerpb.GetNodesRequest{})
	require.Equal(t, codes.Unimplemented, status.Code(err))

	resps, err := readAll(t, obs, &observerpb.GetFlowsRequest{})
	require.NoError(t, err, "no files is an empty replay")
	require.Empty(t, resps)
}

func TestParseLine(t *testing.T) {
	tests := []struct {
		name     string
		line     string
		wantFlow string // UUID of the flow, if any
		wantKind string
		wantErr  bool
	}{
		{name: "response with flow", line: `{"flow":{"uuid":"a","verdict":"DROPPED","IP":{"source":"10.0.0.1"}},"node_name":"n"}`, wantFlow: "a", wantKind: "flow"},
		{name: "camelCase lost events", line: `{"lostEvents":{"source":"PERF_EVENT_RING_BUFFER","numEventsLost":"3"}}`, wantKind: "lost"},
		{name: "node status", line: `{"node_status":{"state_change":"NODE_UNAVAILABLE","node_names":["n1"]}}`, wantKind: "node"},
		{name: "bare flow", line: `{"time":"2021-06-16T16:52:13Z","uuid":"b","verdict":"FORWARDED","node_name":"n","IP":{"source":"10.0.0.1"}}`, wantFlow: "b", wantKind: "flow"},
		{name: "bare flow with nested flow-like keys", line: `{"uuid":"c","source":{"labels":["flow"]},"l7":{"dns":{"query":"lost_events."}}}`, wantFlow: "c", wantKind: "flow"},
		{name: "key in a string value is not a key", line: `{"summary":"\"flow\": x","uuid":"d","source":{"identity":2}}`, wantFlow: "d", wantKind: "flow"},
		{name: "unknown fields are ignored", line: `{"flow":{"uuid":"e","from_the_future":1,"l7":{}}}`, wantFlow: "e", wantKind: "flow"},
		{name: "not JSON", line: `hello`, wantErr: true},
		{name: "truncated", line: `{"flow":{"uuid":"x"`, wantErr: true},
		{name: "wrong type", line: `{"flow":{"verdict":true}}`, wantErr: true},
		{name: "array", line: `[1,2]`, wantErr: true},
		{name: "empty object", line: `{}`, wantErr: true},
		{name: "only shared fields", line: `{"node_name":"n","time":"2021-06-16T16:52:13Z"}`, wantErr: true},
		{name: "null flow", line: `{"flow":null}`, wantErr: true},
		{name: "empty flow", line: `{"flow":{}}`, wantErr: true},
		{name: "flow with nothing to judge", line: `{"flow":{"uuid":"z","verdict":"DROPPED"}}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := parseLine([]byte(tt.line))
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			switch tt.wantKind {
			case "flow":
				require.Equal(t, tt.wantFlow, resp.GetFlow().GetUuid())
			case "lost":
				require.Equal(t, uint64(3), resp.GetLostEvents().GetNumEventsLost())
			case "node":
				require.Equal(t, []string{"n1"}, resp.GetNodeStatus().GetNodeNames())
			}
		})
	}
}
