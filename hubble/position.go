package hubble

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"
	"unsafe"
)

// The position file's header: magic, then the record size and the number
// of records, little-endian.
const (
	positionMagic      = "HSNLPOS1"
	positionHeaderSize = 64
)

// ErrPositionFormat marks a position file that is not one, or not of this
// version: it is moved aside and the stream starts afresh.
var ErrPositionFormat = errors.New("not a hubble-sentinel position file")

// PositionFile is where a Client keeps its stream position across restarts:
// the most recent flows it delivered (time, node and key of each), in a
// memory-mapped ring. Recording a flow is a few stores into the mapping,
// with no system call, and the kernel keeps what was stored when the
// process is killed, even by SIGKILL, so a restarted Client resumes from
// the last flow it handed on and drops the replayed copies of those it
// already had. (A machine crash can lose the last moments; the file then
// still loads, one record at a time validated.)
type PositionFile struct {
	path  string
	file  *os.File
	data  []byte
	slots []slot
}

// OpenPosition opens or creates the position file at path with room for
// size records (DefaultDedupSize when size <= 0). A file of another size is
// resized keeping its newest records; a file that is not a position file
// is moved aside to path.corrupt-<time> and a new one started, and the
// error says so (wrapping ErrPositionFormat) alongside the usable file.
func OpenPosition(path string, size int) (*PositionFile, error) {
	if size <= 0 {
		size = DefaultDedupSize
	}
	old, err := readPosition(path)
	var moved error
	switch {
	case errors.Is(err, os.ErrNotExist):
	case errors.Is(err, ErrPositionFormat):
		aside := fmt.Sprintf("%s.corrupt-%d", path, time.Now().Unix())
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, fmt.Errorf("moving aside unusable position file %s: %w", path, rerr)
		}
		moved = fmt.Errorf("position file %s unusable, moved to %s: %w", path, aside, err)
	case err != nil:
		return nil, err
	}
	if old != nil && len(old) == size {
		p, err := mapPosition(path, size, false)
		if err != nil {
			return nil, err
		}
		return p, moved
	}
	// New, or resized: write the kept records into a fresh file, then
	// rename it over the old one.
	tmp := path + ".tmp"
	p, err := mapPosition(tmp, size, true)
	if err != nil {
		return nil, err
	}
	valid := slices.DeleteFunc(old, func(s slot) bool { return s.seq == 0 })
	slices.SortFunc(valid, func(a, b slot) int { return cmpUint(a.seq, b.seq) })
	if len(valid) > size {
		valid = valid[len(valid)-size:]
	}
	for i, s := range valid {
		s.seq = uint64(i + 1)
		p.slots[i] = s
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = p.Close()
		return nil, fmt.Errorf("creating position file %s: %w", path, err)
	}
	p.path = path
	return p, moved
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// readPosition returns the records of the file at path.
func readPosition(path string) ([]slot, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading position file: %w", err)
	}
	if len(b) < positionHeaderSize || !bytes.Equal(b[:8], []byte(positionMagic)) {
		return nil, fmt.Errorf("%w (bad header)", ErrPositionFormat)
	}
	recSize := binary.LittleEndian.Uint32(b[8:12])
	n := binary.LittleEndian.Uint64(b[16:24])
	if recSize != slotSize || n == 0 || uint64(len(b)-positionHeaderSize) != n*slotSize {
		return nil, fmt.Errorf("%w (record size %d, %d records, %d bytes)", ErrPositionFormat, recSize, n, len(b))
	}
	out := make([]slot, n)
	for i := range out {
		r := b[positionHeaderSize+i*slotSize:]
		out[i] = slot{
			seq:  binary.LittleEndian.Uint64(r[0:8]),
			nano: int64(binary.LittleEndian.Uint64(r[8:16])),
			node: binary.LittleEndian.Uint64(r[16:24]),
		}
		copy(out[i].key[:], r[24:40])
	}
	return out, nil
}

// mapPosition maps the file at path, creating it (and truncating an
// existing one) when fresh.
func mapPosition(path string, size int, fresh bool) (*PositionFile, error) {
	if unsafe.Sizeof(slot{}) != slotSize || !littleEndian() {
		return nil, errors.New("position files need a little-endian machine")
	}
	flags := os.O_RDWR
	if fresh {
		flags |= os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening position file: %w", err)
	}
	total := positionHeaderSize + size*slotSize
	if fresh {
		if err := f.Truncate(int64(total)); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("sizing position file %s: %w", path, err)
		}
	}
	data, err := mmapFile(f, total)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("mapping position file %s: %w", path, err)
	}
	if fresh {
		copy(data, positionMagic)
		binary.LittleEndian.PutUint32(data[8:12], slotSize)
		binary.LittleEndian.PutUint64(data[16:24], uint64(size))
	}
	slots := unsafe.Slice((*slot)(unsafe.Pointer(&data[positionHeaderSize])), size)
	return &PositionFile{path: path, file: f, data: data, slots: slots}, nil
}

func littleEndian() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}

// Path is the file's path.
func (p *PositionFile) Path() string { return p.path }

// Close flushes the mapping to the file and closes it. The Client must not
// be running.
func (p *PositionFile) Close() error {
	if p.data == nil {
		return nil
	}
	err := munmapFile(p.data)
	p.data, p.slots = nil, nil
	if cerr := p.file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("closing position file %s: %w", p.path, err)
	}
	return nil
}
