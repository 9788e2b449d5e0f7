package alertmanager

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// reader is a spool cursor whose drops are counted by reason.
type reader struct {
	*cursor
	mu      sync.Mutex
	dropped map[string]int
}

func newReader(id string) *reader {
	r := &reader{dropped: map[string]int{}}
	r.cursor = &cursor{id: id, wake: make(chan struct{}, 1), drop: func(reason string, n int) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.dropped[reason] += n
	}}
	return r
}

func openTest(t *testing.T, dir string, maxBytes int64, readers ...*reader) *spool {
	t.Helper()
	cs := make([]*cursor, 0, len(readers))
	for _, r := range readers {
		cs = append(cs, r.cursor)
	}
	s, err := openSpool(dir, maxBytes, cs, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.close() })
	return s
}

func payloads(from, to int) [][]byte {
	var out [][]byte
	for i := from; i < to; i++ {
		out = append(out, fmt.Appendf(nil, `{"n":%d,"pad":%q}`, i, strings.Repeat("x", 100)))
	}
	return out
}

// drain reads and commits everything r has pending, in n-record reads.
func drain(s *spool, r *reader, n int) []string {
	var got []string
	for {
		recs, pos := s.read(r.id, n)
		s.commit(r.id, pos)
		if len(recs) == 0 {
			return got
		}
		for _, rec := range recs {
			got = append(got, string(rec.payload[:strings.Index(string(rec.payload), ",")]))
		}
	}
}

func want(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf(`{"n":%d`, i))
	}
	return out
}

func segments(t *testing.T, dir string) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
	require.NoError(t, err)
	return len(m)
}

func TestSpoolReadersAndSegments(t *testing.T) {
	for _, mode := range []string{"disk", "memory"} {
		t.Run(mode, func(t *testing.T) {
			dir := ""
			if mode == "disk" {
				dir = t.TempDir()
			}
			a, b := newReader("a"), newReader("b")
			s := openTest(t, dir, 64<<10, a, b) // 8 KiB segments: ~60 records each
			t0 := time.Unix(1000, 0)
			n, err := s.append(t0, payloads(0, 300))
			require.NoError(t, err)
			require.Equal(t, 300, n)
			require.Greater(t, len(s.segs), 4)
			select {
			case <-a.wake:
			default:
				t.Fatal("readers are woken on append")
			}

			pending, oldest := s.pending("a")
			require.Equal(t, 300, pending)
			require.Equal(t, t0, oldest)

			require.Equal(t, want(0, 300), drain(s, a, 7), "a reads everything in order, across segments")
			pending, oldest = s.pending("a")
			require.Zero(t, pending)
			require.True(t, oldest.IsZero())
			require.Greater(t, len(s.segs), 4, "b has not read them: segments stay")

			require.Equal(t, want(0, 100), drain2(s, b, 100))
			before := len(s.segs)
			require.Equal(t, want(100, 300), drain(s, b, 64))
			require.Less(t, len(s.segs), before, "segments every reader passed are deleted")
			require.Len(t, s.segs, 1)
			if dir != "" {
				require.Equal(t, 1, segments(t, dir))
			}
			require.Empty(t, a.dropped)
			require.Empty(t, b.dropped)
		})
	}
}

// drain2 reads exactly max records and commits.
func drain2(s *spool, r *reader, max int) []string {
	recs, pos := s.read(r.id, max)
	s.commit(r.id, pos)
	var got []string
	for _, rec := range recs {
		got = append(got, string(rec.payload[:strings.Index(string(rec.payload), ",")]))
	}
	return got
}

// TestSpoolSurvivesRestart: reopened (as after kill -9), every reader
// resumes at its cursor; a torn record at the end is cut off; a reader no
// longer configured is forgotten; a new one gets what is still spooled.
func TestSpoolSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	a, b := newReader("a"), newReader("b")
	s, err := openSpool(dir, 1<<20, []*cursor{a.cursor, b.cursor}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	_, err = s.append(time.Now(), payloads(0, 50))
	require.NoError(t, err)
	require.Equal(t, want(0, 20), drain2(s, a, 20))
	require.Equal(t, want(0, 50), drain(s, b, 10))

	_, err = openSpool(dir, 1<<20, nil, slog.New(slog.DiscardHandler))
	require.ErrorContains(t, err, "in use by another hubble-sentinel")

	// A kill -9 in the middle of a write: no close, half a record.
	last := s.segs[len(s.segs)-1]
	_, err = last.f.Write(encodeRecord(time.Now(), []byte(`{"n":999}`))[:10])
	require.NoError(t, err)
	require.NoError(t, s.unlock()) // the kernel's part of dying

	a2, c := newReader("a"), newReader("c")
	s2 := openTest(t, dir, 1<<20, a2, c)
	require.Equal(t, want(20, 50), drain(s2, a2, 7), "a resumes at its cursor; the torn record is gone")
	require.Equal(t, want(0, 50), drain(s2, c, 7), "a new reader gets what is still spooled (whole segments)")
	_, err = os.Stat(filepath.Join(dir, cursorPrefix+"b"))
	require.ErrorIs(t, err, os.ErrNotExist, "the cursor of a reader no longer configured is removed")
	_, err = s2.append(time.Now(), payloads(50, 51))
	require.NoError(t, err)
	require.Equal(t, want(50, 51), drain(s2, a2, 7), "appends continue after the cut")
}

func TestSpoolBoundDropsOldestCounted(t *testing.T) {
	dir := t.TempDir()
	slow, fast := newReader("slow"), newReader("fast")
	s := openTest(t, dir, 32<<10, slow, fast) // 4 KiB segments
	for i := 0; i < 1000; i += 10 {
		_, err := s.append(time.Now(), payloads(i, i+10))
		require.NoError(t, err)
		drain(s, fast, 100)
		require.LessOrEqual(t, s.bytes(), int64(32<<10), "the bound holds")
	}
	got := drain(s, slow, 50)
	require.Equal(t, got[len(got)-1], `{"n":999`, "the newest are kept")
	require.Equal(t, 1000, len(got)+slow.dropped[ReasonSpoolFull], "every record is delivered or counted as dropped")
	require.Empty(t, fast.dropped, "a reader that keeps up loses nothing")
}

func TestSpoolCorruptRecordSkipsItsSegment(t *testing.T) {
	dir := t.TempDir()
	r := newReader("r")
	s := openTest(t, dir, 64<<10, r)
	_, err := s.append(time.Now(), payloads(0, 200))
	require.NoError(t, err)
	first := s.segs[0]
	// Flip a byte in the third record of the first segment.
	off := int64(0)
	for range 2 {
		n, err := first.recordLen(off)
		require.NoError(t, err)
		off += n
	}
	_, err = first.f.WriteAt([]byte{'!'}, off+recordHeader+3)
	if err != nil { // O_APPEND files refuse WriteAt; go around it
		f, err := os.OpenFile(s.segPath(first.seq), os.O_RDWR, 0)
		require.NoError(t, err)
		_, err = f.WriteAt([]byte{'!'}, off+recordHeader+3)
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
	got := drain(s, r, 5)
	require.Equal(t, want(0, 2), got[:2])
	lost := r.dropped[ReasonCorrupt]
	require.Equal(t, first.count-2, lost, "the rest of the segment is counted")
	require.Equal(t, 200, len(got)+lost)
	require.Equal(t, `{"n":199`, got[len(got)-1], "later segments are read")
}
