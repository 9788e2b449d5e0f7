package hubble

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	observerpb "github.com/cilium/cilium/api/v1/observer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// StdinPath is the path that names standard input in NewFileObserver.
const StdinPath = "-"

// maxLineBytes bounds one capture line. Flows are a few KiB; an L7 flow with
// large headers can reach a few hundred KiB. Longer lines are skipped as
// malformed rather than read into memory.
const maxLineBytes = 16 << 20

// errNotAFlow marks a line that is valid JSON but neither a GetFlowsResponse
// nor a Flow.
var errNotAFlow = errors.New("neither a GetFlowsResponse nor a Flow")

// errEmptyFlow marks a flow with nothing to judge: no addresses, no
// endpoints and no L7 record ({"flow":{}}).
var errEmptyFlow = errors.New("flow has no addresses, endpoints or L7 record")

// malformedLogInterval is how often malformed lines are logged: the first
// at once, then one line per interval saying how many were skipped, so a
// megabyte of garbage gives a few lines of log, not thousands.
const malformedLogInterval = 10 * time.Second

// FileStats counts what a FileObserver has read, over all its streams.
type FileStats struct {
	// Lines is the number of lines read, blank ones included.
	Lines int
	// Flows is the number of flows returned (inside the requested time
	// window).
	Flows int
	// Malformed is the number of lines skipped because they could not be
	// parsed.
	Malformed int
	// LostEvents is the number of lost-events records read.
	LostEvents int
}

// FileObserver serves Hubble's Observer API from capture files, so a replay
// goes through the same Client as a live relay. Each line is a
// GetFlowsResponse as written by `hubble observe -o jsonpb`, or a bare Flow
// object. Malformed lines are logged, counted and skipped: one bad line in
// a long capture should not hide the rest.
//
// Only GetFlows is implemented. It honours the request's Since and Until;
// the whitelist and blacklist are not applied (a warning says so), and Follow
// is ignored: a replay ends at the end of the last file. Use it with a
// Client configured with Follow and Reconnect off.
type FileObserver struct {
	paths     []string
	stdin     io.Reader
	logger    *slog.Logger
	malformed prometheus.Counter

	mu    sync.Mutex
	stats FileStats
	// lastWarn is when a malformed line was last logged; unlogged counts
	// those skipped since.
	lastWarn time.Time
	unlogged int
}

var _ observerpb.ObserverClient = (*FileObserver)(nil)

// NewFileObserver returns an Observer that replays paths in order; the path
// "-" reads stdin, which can be consumed only once. Files are opened when
// their turn comes, by each GetFlows stream. The caller names the component
// in logger; metrics are registered on reg, which may be nil.
func NewFileObserver(paths []string, stdin io.Reader, logger *slog.Logger, reg prometheus.Registerer) *FileObserver {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &FileObserver{
		paths:  append([]string(nil), paths...),
		stdin:  stdin,
		logger: logger,
		malformed: promauto.With(reg).NewCounter(prometheus.CounterOpts{
			Namespace: metricsNamespace,
			Subsystem: "capture",
			Name:      "malformed_lines_total",
			Help:      "Capture file lines skipped because they were neither a GetFlowsResponse nor a Flow.",
		}),
	}
}

// Stats returns the counts so far.
func (f *FileObserver) Stats() FileStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

func (f *FileObserver) count(update func(*FileStats)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	update(&f.stats)
}

// GetFlows returns a stream over the capture files. Opening a file is
// deferred to Recv, so a missing file is reported by Recv, like a relay's
// errors are.
func (f *FileObserver) GetFlows(ctx context.Context, req *observerpb.GetFlowsRequest, _ ...grpc.CallOption) (grpc.ServerStreamingClient[observerpb.GetFlowsResponse], error) {
	if len(req.GetWhitelist()) > 0 || len(req.GetBlacklist()) > 0 {
		f.logger.Warn("capture replay does not apply flow filters; replaying all flows",
			"allow_filters", len(req.GetWhitelist()), "deny_filters", len(req.GetBlacklist()))
	}
	s := &fileStream{ctx: ctx, obs: f}
	if req.GetSince() != nil {
		s.since = req.GetSince().AsTime()
	}
	if req.GetUntil() != nil {
		s.until = req.GetUntil().AsTime()
	}
	// Release the open file as soon as the caller gives up, as a gRPC
	// stream releases its resources on cancellation.
	s.stopAfter = context.AfterFunc(ctx, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.closeCurrent()
	})
	return s, nil
}

// GetAgentEvents is not available from captures.
func (f *FileObserver) GetAgentEvents(context.Context, *observerpb.GetAgentEventsRequest, ...grpc.CallOption) (grpc.ServerStreamingClient[observerpb.GetAgentEventsResponse], error) {
	return nil, status.Error(codes.Unimplemented, "capture replay serves flows only")
}

// GetDebugEvents is not available from captures.
func (f *FileObserver) GetDebugEvents(context.Context, *observerpb.GetDebugEventsRequest, ...grpc.CallOption) (grpc.ServerStreamingClient[observerpb.GetDebugEventsResponse], error) {
	return nil, status.Error(codes.Unimplemented, "capture replay serves flows only")
}

// GetNodes is not available from captures.
func (f *FileObserver) GetNodes(context.Context, *observerpb.GetNodesRequest, ...grpc.CallOption) (*observerpb.GetNodesResponse, error) {
	return nil, status.Error(codes.Unimplemented, "capture replay serves flows only")
}

// GetNamespaces is not available from captures.
func (f *FileObserver) GetNamespaces(context.Context, *observerpb.GetNamespacesRequest, ...grpc.CallOption) (*observerpb.GetNamespacesResponse, error) {
	return nil, status.Error(codes.Unimplemented, "capture replay serves flows only")
}

// ServerStatus is not available from captures.
func (f *FileObserver) ServerStatus(context.Context, *observerpb.ServerStatusRequest, ...grpc.CallOption) (*observerpb.ServerStatusResponse, error) {
	return nil, status.Error(codes.Unimplemented, "capture replay serves flows only")
}

// fileStream is one GetFlows stream over the capture files.
type fileStream struct {
	ctx          context.Context
	obs          *FileObserver
	since, until time.Time
	stopAfter    func() bool

	// mu serializes Recv with the cancellation callback closing the file.
	mu   sync.Mutex
	next int // index in obs.paths of the next file to open
	cur  *captureFile
	err  error // sticky terminal error, io.EOF at the end
}

var _ grpc.ServerStreamingClient[observerpb.GetFlowsResponse] = (*fileStream)(nil)

// captureFile is the file being read.
type captureFile struct {
	name   string
	closer io.Closer // nil for stdin, which is not ours to close
	r      *bufio.Reader
	line   int
	buf    []byte
}

// Recv returns the next flow, lost-events or node-status record, io.EOF
// after the last file, or an error naming a file that cannot be read.
func (s *fileStream) Recv() (*observerpb.GetFlowsResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if s.err != nil {
			return nil, s.err
		}
		if err := s.ctx.Err(); err != nil {
			return nil, s.fail(status.FromContextError(err).Err())
		}
		if s.cur == nil {
			if s.next >= len(s.obs.paths) {
				return nil, s.fail(io.EOF)
			}
			path := s.obs.paths[s.next]
			s.next++
			if err := s.open(path); err != nil {
				return nil, s.fail(err)
			}
		}

		line, tooLong, err := s.cur.readLine()
		if errors.Is(err, io.EOF) {
			s.obs.flushMalformed()
			s.closeCurrent()
			continue
		}
		if err != nil {
			return nil, s.fail(readError(s.cur.name, err))
		}
		s.cur.line++
		s.obs.count(func(st *FileStats) { st.Lines++ })
		if tooLong {
			s.malformed(fmt.Errorf("line longer than %d bytes", maxLineBytes))
			continue
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		resp, err := parseLine(line)
		if err != nil {
			s.malformed(err)
			continue
		}
		switch r := resp.GetResponseTypes().(type) {
		case *observerpb.GetFlowsResponse_Flow:
			if !s.inWindow(r.Flow) {
				continue
			}
			s.obs.count(func(st *FileStats) { st.Flows++ })
		case *observerpb.GetFlowsResponse_LostEvents:
			s.obs.count(func(st *FileStats) { st.LostEvents++ })
		}
		return resp, nil
	}
}

// fail ends the stream with err and releases the current file.
func (s *fileStream) fail(err error) error {
	s.err = err
	s.closeCurrent()
	s.stopAfter()
	return err
}

func (s *fileStream) open(path string) error {
	if path == StdinPath {
		if s.obs.stdin == nil {
			return errors.New("reading capture from stdin: no stdin given")
		}
		s.cur = &captureFile{name: "stdin", r: bufio.NewReaderSize(s.obs.stdin, 64<<10)}
		return nil
	}
	fh, err := os.Open(path)
	if err != nil {
		return readError(path, err)
	}
	s.cur = &captureFile{name: path, closer: fh, r: bufio.NewReaderSize(fh, 64<<10)}
	return nil
}

// closeCurrent closes the file being read, if any. Callers hold s.mu.
func (s *fileStream) closeCurrent() {
	if s.cur == nil {
		return
	}
	if s.cur.closer != nil {
		_ = s.cur.closer.Close() // Read-only: nothing to flush, nothing to report.
	}
	s.cur = nil
}

// malformed counts a skipped line and logs it, at most once per
// malformedLogInterval. err names the position and field, never the
// value (parseLine's errors are safeError's).
func (s *fileStream) malformed(err error) {
	s.obs.malformed.Inc()
	o := s.obs
	o.mu.Lock()
	o.stats.Malformed++
	now := time.Now()
	if !o.lastWarn.IsZero() && now.Sub(o.lastWarn) < malformedLogInterval {
		o.unlogged++
		o.mu.Unlock()
		return
	}
	skipped := o.unlogged
	o.lastWarn, o.unlogged = now, 0
	o.mu.Unlock()
	args := []any{"file", s.cur.name, "line", s.cur.line, "err", err}
	if skipped > 0 {
		args = append(args, "skipped_unlogged", skipped)
	}
	o.logger.Warn("skipping malformed capture line", args...)
}

// flushMalformed logs how many malformed lines were skipped since the last
// log line, at the end of a file.
func (f *FileObserver) flushMalformed() {
	f.mu.Lock()
	n := f.unlogged
	f.unlogged = 0
	f.mu.Unlock()
	if n > 0 {
		f.logger.Warn("skipped more malformed capture lines", "skipped_unlogged", n)
	}
}

// inWindow applies the request's Since (inclusive) and Until (inclusive).
// Flows without a time are kept: there is nothing to compare.
func (s *fileStream) inWindow(f *flowpb.Flow) bool {
	if f.GetTime() == nil {
		return true
	}
	t := f.GetTime().AsTime()
	if !s.since.IsZero() && t.Before(s.since) {
		return false
	}
	if !s.until.IsZero() && t.After(s.until) {
		return false
	}
	return true
}

// Header returns no metadata: a capture has none.
func (s *fileStream) Header() (metadata.MD, error) { return metadata.MD{}, nil }

// Trailer returns no metadata: a capture has none.
func (s *fileStream) Trailer() metadata.MD { return metadata.MD{} }

// CloseSend is a no-op: the request was "sent" by GetFlows.
func (s *fileStream) CloseSend() error { return nil }

// Context returns the stream's context.
func (s *fileStream) Context() context.Context { return s.ctx }

// SendMsg fails: GetFlows is server-streaming, the client sends nothing.
func (s *fileStream) SendMsg(any) error {
	return status.Error(codes.Internal, "SendMsg on a server-streaming capture replay")
}

// RecvMsg receives the next response into m, which must be a
// *observerpb.GetFlowsResponse.
func (s *fileStream) RecvMsg(m any) error {
	out, ok := m.(*observerpb.GetFlowsResponse)
	if !ok {
		return status.Errorf(codes.Internal, "RecvMsg into %T, want *observer.GetFlowsResponse", m)
	}
	resp, err := s.Recv()
	if err != nil {
		return err
	}
	proto.Reset(out)
	proto.Merge(out, resp)
	return nil
}

// readLine returns the next line without its newline. A line longer than
// maxLineBytes is consumed and reported as tooLong. io.EOF means no more
// lines; a final line without a newline is still returned.
func (c *captureFile) readLine() (line []byte, tooLong bool, err error) {
	c.buf = c.buf[:0]
	read := false
	for {
		chunk, err := c.r.ReadSlice('\n')
		read = read || len(chunk) > 0
		if !tooLong && len(c.buf)+len(chunk) <= maxLineBytes+1 { // +1: the newline
			c.buf = append(c.buf, chunk...)
		} else {
			tooLong = true
			c.buf = c.buf[:0]
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && read:
			return c.buf, tooLong, nil
		case err != nil:
			return nil, false, err
		}
		return bytes.TrimSuffix(c.buf, []byte{'\n'}), tooLong, nil
	}
}

// readError names the capture in err unless err already does, as the os
// package's *fs.PathError does.
func readError(name string, err error) error {
	if _, ok := errors.AsType[*fs.PathError](err); ok {
		return fmt.Errorf("reading capture: %w", err)
	}
	return fmt.Errorf("reading capture %s: %w", name, err)
}

// unmarshalOptions tolerate fields from newer Hubble versions.
var unmarshalOptions = protojson.UnmarshalOptions{DiscardUnknown: true}

// parseLine decodes one capture line: a GetFlowsResponse if its top-level
// object has one of the response's oneof keys, else a bare Flow, which is
// wrapped in a response.
func parseLine(line []byte) (*observerpb.GetFlowsResponse, error) {
	if hasResponseKey(line) {
		resp := &observerpb.GetFlowsResponse{}
		if err := unmarshalOptions.Unmarshal(line, resp); err != nil {
			return nil, safeError(err)
		}
		if resp.GetResponseTypes() == nil {
			return nil, fmt.Errorf("%w: response has no flow, lost_events or node_status", errNotAFlow)
		}
		if f, ok := resp.GetResponseTypes().(*observerpb.GetFlowsResponse_Flow); ok && !Judgeable(f.Flow) {
			return nil, errEmptyFlow
		}
		return resp, nil
	}
	f := &flowpb.Flow{}
	if err := unmarshalOptions.Unmarshal(line, f); err != nil {
		return nil, safeError(err)
	}
	if !isFlow(f) {
		return nil, errNotAFlow
	}
	if !Judgeable(f) {
		return nil, errEmptyFlow
	}
	return &observerpb.GetFlowsResponse{
		ResponseTypes: &observerpb.GetFlowsResponse_Flow{Flow: f},
		NodeName:      f.GetNodeName(),
		Time:          f.GetTime(),
	}, nil
}

// Judgeable reports whether f has something a policy could judge: an
// address, an endpoint or an L7 record. {"flow":{}} has none, and is
// counted as malformed rather than judged.
func Judgeable(f *flowpb.Flow) bool {
	return f.GetIP() != nil || f.GetSource() != nil || f.GetDestination() != nil || f.GetL7() != nil
}

// positionRE and fieldRE find, in a protojson error, where it is and which
// field it is about; the rest of the message may quote the value.
var (
	positionRE = regexp.MustCompile(`\(line \d+:\d+\)`)
	fieldRE    = regexp.MustCompile(`(?:field|for enum) ([A-Za-z0-9_.]+)`)
)

// safeError rewrites a decoding error to name the position and field but
// never the value: a malformed capture line may hold a credential
// ("Bearer …"), and the error is logged.
func safeError(err error) error {
	msg := err.Error()
	out := "invalid JSON for a flow"
	if f := fieldRE.FindStringSubmatch(msg); f != nil {
		out += ": field " + f[1]
	}
	if p := positionRE.FindString(msg); p != "" {
		out += " at " + strings.Trim(p, "()")
	}
	return errors.New(out)
}

// isFlow reports whether f has something besides the time and node name
// that every GetFlowsResponse shares with a Flow: a response of a kind this
// version does not know decodes to just those.
func isFlow(f *flowpb.Flow) bool {
	t, n := f.Time, f.NodeName
	f.Time, f.NodeName = nil, ""
	ok := proto.Size(f) > 0
	f.Time, f.NodeName = t, n
	return ok
}

// hasResponseKey reports whether the top-level JSON object in b has a key
// naming one of GetFlowsResponse's oneof fields (in proto or JSON spelling).
// No Flow field has these names, so this tells the two formats apart with a
// single allocation-free scan instead of a second full decode. Invalid JSON
// yields false; the decoder then reports the error.
func hasResponseKey(b []byte) bool {
	depth := 0
	expectKey := false
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '{':
			depth++
			expectKey = depth == 1
		case '[':
			depth++
		case '}', ']':
			depth--
		case ',':
			expectKey = depth == 1
		case '"':
			j := i + 1
			for j < len(b) && b[j] != '"' {
				if b[j] == '\\' {
					j++
				}
				j++
			}
			if expectKey && j <= len(b) && responseKeys[string(b[i+1:min(j, len(b))])] {
				return true
			}
			expectKey = false
			i = j
		}
	}
	return false
}

// responseKeys are GetFlowsResponse's oneof fields.
var responseKeys = map[string]bool{
	"flow":        true,
	"lost_events": true,
	"lostEvents":  true,
	"node_status": true,
	"nodeStatus":  true,
}
