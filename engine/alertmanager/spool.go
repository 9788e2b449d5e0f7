package alertmanager

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The spool is the ordered log of alerts to deliver, shared by every
// Alertmanager: an alert is written once, and each Alertmanager reads it
// from its own cursor, so one that is down keeps its backlog while the
// others stay current. On disk it is a directory of segment files
// (<seq>.seg) and one cursor file per Alertmanager; a segment is deleted
// once every cursor has passed it. Appends are plain writes, which a
// killed process does not lose (they are synced every second for machine
// crashes); a torn record at the end of the newest segment is cut off when
// the spool is opened again. Without a directory the same log is kept in
// memory.
//
// A record is a 16-byte header (payload length, CRC-32C of the rest, the
// time it was spooled in Unix nanoseconds) and the alert as the JSON
// PostableAlert it is posted as.

const (
	recordHeader  = 16
	maxRecord     = 1 << 20 // far beyond any alert: annotations are bounded
	segmentSuffix = ".seg"
	cursorPrefix  = "cursor-"
	lockName      = "LOCK"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// errCorrupt marks a record that cannot be read back.
var errCorrupt = errors.New("corrupt spool record")

type spool struct {
	dir      string // "": in memory
	maxBytes int64
	segBytes int64
	logger   *slog.Logger

	mu      sync.Mutex
	segs    []*segment // oldest first; the last one is appended to
	size    int64
	cursors map[string]*cursor
	unlock  func() error
	dirty   bool
	closed  bool
}

type segment struct {
	seq   uint64
	size  int64
	count int
	f     *os.File // nil in memory
	mem   []byte
}

// position is a cursor's place in the log: a segment, a byte offset in it
// and the number of records before that offset.
type position struct {
	Seq   uint64 `json:"seq"`
	Off   int64  `json:"offset"`
	Index int    `json:"index"`
}

type cursor struct {
	id   string
	pos  position
	wake chan struct{}
	// drop counts records the reader will never see, by reason.
	drop func(reason string, n int)
}

type record struct {
	spooled time.Time
	payload []byte
}

// openSpool opens (or creates) the spool in dir, or in memory when dir is
// empty, for the readers ids. drop is called with the records a reader
// loses; wakes are signalled on every append.
func openSpool(dir string, maxBytes int64, readers []*cursor, logger *slog.Logger) (*spool, error) {
	s := &spool{dir: dir, maxBytes: maxBytes, logger: logger, cursors: map[string]*cursor{}, unlock: func() error { return nil }}
	s.segBytes = min(max(maxBytes/8, 4<<10), 16<<20)
	for _, c := range readers {
		s.cursors[c.id] = c
	}
	if dir == "" {
		s.segs = []*segment{{seq: 1}}
		for _, c := range readers {
			c.pos = position{Seq: 1}
		}
		return s, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("alertmanager spool: %w", err)
	}
	unlock, err := lockDir(filepath.Join(dir, lockName))
	if err != nil {
		return nil, fmt.Errorf("alertmanager spool %s: %w", dir, err)
	}
	s.unlock = unlock
	if err := s.load(); err != nil {
		_ = s.close()
		return nil, fmt.Errorf("alertmanager spool %s: %w", dir, err)
	}
	return s, nil
}

// load opens the segments, cuts a torn tail off the newest one, and places
// the cursors.
func (s *spool) load() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	var seqs []uint64
	cursorFiles := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, segmentSuffix):
			seq, err := strconv.ParseUint(strings.TrimSuffix(name, segmentSuffix), 16, 64)
			if err != nil {
				s.logger.Warn("ignoring a file in the spool", "file", name)
				continue
			}
			seqs = append(seqs, seq)
		case strings.HasPrefix(name, cursorPrefix) && !strings.HasSuffix(name, ".tmp"):
			cursorFiles[strings.TrimPrefix(name, cursorPrefix)] = true
		case strings.HasSuffix(name, ".tmp"):
			_ = os.Remove(filepath.Join(s.dir, name)) // a write a kill interrupted
		}
	}
	slices.Sort(seqs)
	for i, seq := range seqs {
		f, err := os.OpenFile(s.segPath(seq), os.O_RDWR|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		seg := &segment{seq: seq, f: f}
		s.segs = append(s.segs, seg)
		st, err := f.Stat()
		if err != nil {
			return err
		}
		seg.size = st.Size()
		end, count := seg.scan(i == len(seqs)-1)
		if end < seg.size {
			if i == len(seqs)-1 {
				s.logger.Warn("cutting a torn record off the spool (the process was killed while writing it)", "segment", seq, "bytes", seg.size-end)
				if err := f.Truncate(end); err != nil {
					return err
				}
			} else {
				s.logger.Error("spool segment damaged; its unreadable tail is skipped", "segment", seq, "bytes", seg.size-end)
			}
			seg.size = end
		}
		seg.count = count
		s.size += seg.size
	}
	if len(s.segs) == 0 {
		if err := s.addSegmentLocked(1); err != nil {
			return err
		}
	}
	for id := range cursorFiles {
		if _, ok := s.cursors[id]; !ok {
			s.logger.Info("removing the spool cursor of an Alertmanager no longer configured", "cursor", id)
			_ = os.Remove(filepath.Join(s.dir, cursorPrefix+id))
		}
	}
	for _, c := range s.cursors {
		c.pos = s.restoreCursor(c.id, cursorFiles[c.id])
	}
	s.gcLocked()
	return nil
}

// restoreCursor reads a cursor file; a reader without one (new, or its file
// unreadable) starts at the oldest record still spooled.
func (s *spool) restoreCursor(id string, exists bool) position {
	start := position{Seq: s.segs[0].seq}
	if !exists {
		return start
	}
	b, err := os.ReadFile(filepath.Join(s.dir, cursorPrefix+id))
	var p position
	if err == nil {
		err = json.Unmarshal(b, &p)
	}
	if err != nil {
		s.logger.Warn("spool cursor unreadable; delivering everything spooled to that Alertmanager", "cursor", id, "err", err)
		return start
	}
	for _, seg := range s.segs {
		switch {
		case seg.seq < p.Seq:
			continue
		case seg.seq > p.Seq:
			return position{Seq: seg.seq}
		case p.Off > seg.size || p.Index > seg.count:
			return position{Seq: seg.seq, Off: seg.size, Index: seg.count}
		}
		return p
	}
	last := s.segs[len(s.segs)-1]
	return position{Seq: last.seq, Off: last.size, Index: last.count}
}

func (s *spool) segPath(seq uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%016x%s", seq, segmentSuffix))
}

func (s *spool) addSegmentLocked(seq uint64) error {
	seg := &segment{seq: seq}
	if s.dir != "" {
		f, err := os.OpenFile(s.segPath(seq), os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		seg.f = f
	}
	s.segs = append(s.segs, seg)
	return nil
}

// scan walks the segment's records and returns where the readable ones end
// and how many there are; verify checks every CRC, else only lengths.
func (seg *segment) scan(verify bool) (end int64, count int) {
	for end < seg.size {
		n, err := seg.recordLen(end)
		if err == nil && verify {
			_, _, err = seg.readAt(end)
		}
		if err != nil {
			return end, count
		}
		end += n
		count++
	}
	return end, count
}

func (seg *segment) reader() io.ReaderAt {
	if seg.f != nil {
		return seg.f
	}
	return readerAt(seg.mem)
}

type readerAt []byte

func (b readerAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (seg *segment) header(off int64) ([recordHeader]byte, error) {
	var h [recordHeader]byte
	if off+recordHeader > seg.size {
		return h, errCorrupt
	}
	if _, err := seg.reader().ReadAt(h[:], off); err != nil {
		return h, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	return h, nil
}

// recordLen is the length of the record at off, header included.
func (seg *segment) recordLen(off int64) (int64, error) {
	h, err := seg.header(off)
	if err != nil {
		return 0, err
	}
	n := int64(binary.LittleEndian.Uint32(h[0:4]))
	if n > maxRecord || off+recordHeader+n > seg.size {
		return 0, errCorrupt
	}
	return recordHeader + n, nil
}

// readAt reads the record at off and returns it with its length.
func (seg *segment) readAt(off int64) (record, int64, error) {
	n, err := seg.recordLen(off)
	if err != nil {
		return record{}, 0, err
	}
	buf := make([]byte, n)
	if _, err := seg.reader().ReadAt(buf, off); err != nil {
		return record{}, 0, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	if crc32.Checksum(buf[8:], crcTable) != binary.LittleEndian.Uint32(buf[4:8]) {
		return record{}, 0, errCorrupt
	}
	return record{spooled: time.Unix(0, int64(binary.LittleEndian.Uint64(buf[8:16]))), payload: buf[recordHeader:]}, n, nil
}

func encodeRecord(at time.Time, payload []byte) []byte {
	buf := make([]byte, recordHeader+len(payload))
	binary.LittleEndian.PutUint32(buf[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint64(buf[8:16], uint64(at.UnixNano()))
	copy(buf[recordHeader:], payload)
	binary.LittleEndian.PutUint32(buf[4:8], crc32.Checksum(buf[8:], crcTable))
	return buf
}

// errClosed is returned by append after close.
var errClosed = errors.New("spool closed")

// append writes payloads as records spooled at now and wakes the readers.
// What cannot be written (a full disk) is returned as an error after the
// records before it are kept; the caller counts the rest.
func (s *spool) append(now time.Time, payloads [][]byte) (int, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, errClosed
	}
	written := 0
	var err error
	for _, p := range payloads {
		buf := encodeRecord(now, p)
		active := s.segs[len(s.segs)-1]
		if active.size > 0 && active.size+int64(len(buf)) > s.segBytes {
			if err = s.rotateLocked(); err != nil {
				break
			}
			active = s.segs[len(s.segs)-1]
		}
		if active.f != nil {
			if _, err = active.f.Write(buf); err != nil {
				// Cut a partial write so the segment stays readable.
				_ = active.f.Truncate(active.size)
				break
			}
			s.dirty = true
		} else {
			active.mem = append(active.mem, buf...)
		}
		active.size += int64(len(buf))
		active.count++
		s.size += int64(len(buf))
		written++
	}
	s.enforceLocked()
	wakes := make([]chan struct{}, 0, len(s.cursors))
	for _, c := range s.cursors {
		wakes = append(wakes, c.wake)
	}
	s.mu.Unlock()
	for _, w := range wakes {
		select {
		case w <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
	return written, err
}

func (s *spool) rotateLocked() error {
	active := s.segs[len(s.segs)-1]
	if active.f != nil {
		if err := active.f.Sync(); err != nil {
			return err
		}
	}
	return s.addSegmentLocked(active.seq + 1)
}

// enforceLocked deletes the oldest segments while the spool is over its
// bound, counting the records each reader had not read yet as dropped.
func (s *spool) enforceLocked() {
	for s.size > s.maxBytes && len(s.segs) > 1 {
		old := s.segs[0]
		next := s.segs[1]
		for _, c := range s.cursors {
			if c.pos.Seq > old.seq {
				continue
			}
			if lost := old.count - c.pos.Index; lost > 0 {
				c.drop(ReasonSpoolFull, lost)
				s.logger.Error("alertmanager spool full: dropping its oldest alerts", "cursor", c.id, "alerts", lost, "max_bytes", s.maxBytes)
			}
			c.pos = position{Seq: next.seq}
			s.saveCursorLocked(c)
		}
		s.removeSegmentLocked(old)
	}
}

func (s *spool) removeSegmentLocked(seg *segment) {
	s.segs = s.segs[1:]
	s.size -= seg.size
	if seg.f != nil {
		_ = seg.f.Close()
		if err := os.Remove(s.segPath(seg.seq)); err != nil {
			s.logger.Warn("removing a delivered spool segment", "segment", seg.seq, "err", err)
		}
	}
}

// read returns up to max records from the reader's cursor and the position
// after them, without moving the cursor: commit does, once they are
// delivered. Unreadable records are skipped to the end of their segment
// and counted.
func (s *spool) read(id string, max int) ([]record, position) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cursors[id]
	pos := c.pos
	var out []record
	for len(out) < max {
		i := s.segIndexLocked(pos.Seq)
		if i < 0 {
			pos = position{Seq: s.segs[0].seq}
			continue
		}
		seg := s.segs[i]
		if pos.Off >= seg.size {
			if i+1 >= len(s.segs) {
				break
			}
			pos = position{Seq: s.segs[i+1].seq}
			continue
		}
		rec, n, err := seg.readAt(pos.Off)
		if err != nil {
			if lost := seg.count - pos.Index; lost > 0 {
				c.drop(ReasonCorrupt, lost)
			}
			s.logger.Error("unreadable alert in the spool; skipping the rest of its segment", "cursor", id, "segment", seg.seq, "offset", pos.Off, "err", err)
			pos = position{Seq: seg.seq, Off: seg.size, Index: seg.count}
			continue
		}
		out = append(out, rec)
		pos.Off += n
		pos.Index++
	}
	return out, pos
}

func (s *spool) segIndexLocked(seq uint64) int {
	for i, seg := range s.segs {
		if seg.seq == seq {
			return i
		}
		if seg.seq > seq {
			return -1
		}
	}
	return -1
}

// commit moves the reader's cursor to pos, saves it and deletes segments
// every reader has passed.
func (s *spool) commit(id string, pos position) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cursors[id]
	if c.pos == pos || s.closed {
		return
	}
	if pos.Seq >= c.pos.Seq { // a segment dropped meanwhile moved it past pos
		c.pos = pos
	}
	s.saveCursorLocked(c)
	s.gcLocked()
}

func (s *spool) saveCursorLocked(c *cursor) {
	if s.dir == "" {
		return
	}
	b, _ := json.Marshal(c.pos)
	path := filepath.Join(s.dir, cursorPrefix+c.id)
	tmp := path + ".tmp"
	err := os.WriteFile(tmp, b, 0o600)
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		s.logger.Error("saving the spool cursor; alerts may be delivered twice after a restart", "cursor", c.id, "err", err)
	}
}

func (s *spool) gcLocked() {
	for len(s.segs) > 1 {
		old := s.segs[0]
		for _, c := range s.cursors {
			if c.pos.Seq <= old.seq {
				return
			}
		}
		s.removeSegmentLocked(old)
	}
}

// pending returns how many records the reader has not delivered and when
// the oldest of them was spooled (zero when none).
func (s *spool) pending(id string) (int, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cursors[id]
	n := 0
	var oldest time.Time
	for _, seg := range s.segs {
		switch {
		case seg.seq < c.pos.Seq:
			continue
		case seg.seq == c.pos.Seq:
			n += seg.count - c.pos.Index
			if c.pos.Off < seg.size && oldest.IsZero() {
				if r, _, err := seg.readAt(c.pos.Off); err == nil {
					oldest = r.spooled
				}
			}
		default:
			n += seg.count
			if seg.size > 0 && oldest.IsZero() {
				if r, _, err := seg.readAt(0); err == nil {
					oldest = r.spooled
				}
			}
		}
	}
	return n, oldest
}

// bytes is the spool's size.
func (s *spool) bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size
}

// sync flushes appended records to stable storage.
func (s *spool) sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.dirty || s.closed {
		return nil
	}
	s.dirty = false
	if f := s.segs[len(s.segs)-1].f; f != nil {
		return f.Sync()
	}
	return nil
}

// close syncs and closes the files and releases the directory.
func (s *spool) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	for _, seg := range s.segs {
		if seg.f != nil {
			errs = append(errs, seg.f.Sync(), seg.f.Close())
		}
	}
	errs = append(errs, s.unlock())
	return errors.Join(errs...)
}
