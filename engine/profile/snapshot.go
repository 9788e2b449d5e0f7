package profile

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// A snapshot file is one JSON header line, then the gzipped body: one JSON
// line per namespace's first sighting and per workload profile, keyed, so
// that a later multi-replica mode can hand workloads between replicas. The
// header carries the format version and the body's SHA-256; a snapshot
// whose checksum, version or content does not match is never half-loaded.
const (
	snapshotFormat  = "hubble-sentinel-baseline"
	snapshotVersion = 1
)

// ErrSnapshot marks a snapshot that could not be used: corrupt, truncated
// or of another version.
var ErrSnapshot = errors.New("unusable baseline snapshot")

type snapshotHeader struct {
	Format   string    `json:"format"`
	Version  int       `json:"version"`
	SHA256   string    `json:"sha256"`
	Profiles int       `json:"profiles"`
	Written  time.Time `json:"written"`
}

type snapshotLine struct {
	Namespace *namespaceLine `json:"namespace,omitempty"`
	Key       string         `json:"key,omitempty"`
	Profile   *state         `json:"profile,omitempty"`
}

type namespaceLine struct {
	Name  string    `json:"name"`
	First time.Time `json:"first"`
}

// stateJSON is a state as a snapshot holds it: one object with the fields
// of every role, in the order they always had, a role the workload never
// had written as zeros and omitted sets.
type stateJSON struct {
	core
	clientSide
	serverSide
}

func (st *state) wire() *stateJSON {
	w := &stateJSON{core: st.core}
	if st.out != nil {
		w.clientSide = *st.out
	}
	if st.in != nil {
		w.serverSide = *st.in
	}
	return w
}

// MarshalJSON writes st as stateJSON.
func (st *state) MarshalJSON() ([]byte, error) { return json.Marshal(st.wire()) }

// UnmarshalJSON reads a stateJSON into st, as encoding/json reads into a
// struct; a role whose fields are all zero is left unallocated, as if the
// workload never had it.
func (st *state) UnmarshalJSON(b []byte) error {
	w := st.wire()
	if err := json.Unmarshal(b, w); err != nil {
		return err
	}
	*st = state{core: w.core}
	if !w.clientSide.zero() {
		st.out = &w.clientSide
		st.out.internNames()
	}
	if !w.serverSide.zero() {
		st.in = &w.serverSide
	}
	return nil
}

func (c *clientSide) zero() bool {
	return c.Edges.Len() == 0 && c.PortsOut.Len() == 0 && c.Domains.Len() == 0 &&
		c.Fanout.zero() && c.Drops.zero() && c.NXDomain.r == nil
}

// internNames shares a restored profile's endpoint and path names with
// the other profiles', as learning them does (see intern).
func (c *clientSide) internNames() {
	for _, e := range c.Edges.All() {
		if e == nil {
			continue
		}
		internKeys(&e.Endpoints)
		internKeys(&e.Shapes)
		for i := range e.Shapes.entries {
			values := &e.Shapes.entries[i].v.Values
			for j, v := range values.keys {
				values.keys[j] = intern(v)
				if values.index != nil {
					values.index[values.keys[j]] = struct{}{} // a string key is replaced
				}
			}
		}
	}
}

// internKeys interns t's keys.
func internKeys[V any](t *table[string, V]) {
	for i := range t.entries {
		t.entries[i].k = intern(t.entries[i].k)
		if t.index != nil {
			t.index[t.entries[i].k] = int32(i) // a string key is replaced
		}
	}
}

func (sv *serverSide) zero() bool {
	return sv.Clients.Len() == 0 && sv.PortsIn.Len() == 0 && sv.Auth.Len() == 0
}

func (f *fanout) zero() bool {
	return f.Minute == 0 && f.IPs.Len() == 0 && f.MaxPorts == 0 &&
		f.IPRate.zero() && f.PortRate.zero() && f.Refused.zero() && f.Dropped.zero()
}

// zero reports a zero Rate, bit for bit: a -0 would not write back as 0.
func (r Rate) zero() bool {
	return r.Minute == 0 && r.Minutes == 0 && zeroBits(r.Cur, r.Prev, r.Baseline)
}

// zero reports a zero Ratio, bit for bit.
func (r Ratio) zero() bool {
	return r.Minute == 0 && r.Minutes == 0 && zeroBits(r.CurN, r.CurHit, r.PrevN, r.PrevHit, r.Baseline)
}

func zeroBits(fs ...float64) bool {
	for _, f := range fs {
		if math.Float64bits(f) != 0 {
			return false
		}
	}
	return true
}

// lazyRatio is a Ratio most workloads never use (their resolver's
// NXDOMAIN answers), allocated at its first event and written as zeros
// until then.
type lazyRatio struct{ r *Ratio }

// get is the Ratio, allocated at the first call.
func (l *lazyRatio) get() *Ratio {
	if l.r == nil {
		l.r = &Ratio{}
	}
	return l.r
}

// MarshalJSON writes the Ratio, zeros when it was never used.
func (l lazyRatio) MarshalJSON() ([]byte, error) {
	if l.r == nil {
		return json.Marshal(Ratio{})
	}
	return json.Marshal(l.r)
}

// UnmarshalJSON reads into the Ratio as encoding/json reads into a
// struct, and leaves a zero one unallocated.
func (l *lazyRatio) UnmarshalJSON(b []byte) error {
	var r Ratio
	if l.r != nil {
		r = *l.r
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return err
	}
	l.r = nil
	if !r.zero() {
		l.r = &r
	}
	return nil
}

// WriteSnapshot writes every profile to w.
func (s *Store) WriteSnapshot(w io.Writer) (int, error) {
	var body bytes.Buffer
	zw := gzip.NewWriter(&body)
	enc := json.NewEncoder(zw)
	for _, ns := range s.namespaces.Keys() {
		if first, ok := s.namespaces.Peek(ns); ok {
			if err := enc.Encode(snapshotLine{Namespace: &namespaceLine{Name: ns, First: first}}); err != nil {
				return 0, err
			}
		}
	}
	n := 0
	// Oldest first, so that restoring into the LRU keeps its order.
	for _, key := range s.cache.Keys() {
		p, ok := s.cache.Peek(key)
		if !ok {
			continue
		}
		p.mu.Lock()
		err := enc.Encode(snapshotLine{Key: key, Profile: &p.state})
		p.mu.Unlock()
		if err != nil {
			return 0, fmt.Errorf("encoding profile %s: %w", key, err)
		}
		n++
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	sum := sha256.Sum256(body.Bytes())
	h := snapshotHeader{Format: snapshotFormat, Version: snapshotVersion, SHA256: hex.EncodeToString(sum[:]), Profiles: n, Written: time.Now().UTC()}
	if err := json.NewEncoder(w).Encode(h); err != nil {
		return 0, err
	}
	_, err := w.Write(body.Bytes())
	return n, err
}

// ReadSnapshot restores profiles from r into the store. It checks the
// whole snapshot before it changes the store, so a bad one leaves the
// store as it was; its errors wrap ErrSnapshot.
func (s *Store) ReadSnapshot(r io.Reader) (int, error) {
	br := bufio.NewReader(r)
	line, err := br.ReadBytes('\n')
	if err != nil {
		return 0, fmt.Errorf("%w: reading header: %v", ErrSnapshot, err)
	}
	var h snapshotHeader
	if err := json.Unmarshal(line, &h); err != nil || h.Format != snapshotFormat {
		return 0, fmt.Errorf("%w: not a %s file", ErrSnapshot, snapshotFormat)
	}
	if h.Version != snapshotVersion {
		return 0, fmt.Errorf("%w: version %d, this build reads version %d", ErrSnapshot, h.Version, snapshotVersion)
	}
	body, err := io.ReadAll(br)
	if err != nil {
		return 0, fmt.Errorf("%w: reading body: %v", ErrSnapshot, err)
	}
	if sum := sha256.Sum256(body); hex.EncodeToString(sum[:]) != h.SHA256 {
		return 0, fmt.Errorf("%w: checksum mismatch (truncated or altered)", ErrSnapshot)
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrSnapshot, err)
	}
	dec := json.NewDecoder(zr)
	var lines []snapshotLine
	for {
		var l snapshotLine
		if err := dec.Decode(&l); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return 0, fmt.Errorf("%w: line %d: %v", ErrSnapshot, len(lines)+1, err)
		}
		if l.Namespace == nil && (l.Key == "" || l.Profile == nil) {
			return 0, fmt.Errorf("%w: line %d is neither a namespace nor a profile", ErrSnapshot, len(lines)+1)
		}
		lines = append(lines, l)
	}
	n := 0
	for _, l := range lines {
		if l.Namespace != nil {
			s.namespaces.Add(l.Namespace.Name, l.Namespace.First)
			continue
		}
		s.cache.Add(l.Key, &Profile{state: *l.Profile})
		n++
	}
	return n, nil
}

// SaveFile writes a snapshot to path atomically: a temporary file beside
// it, fsync, rename, fsync of the directory. A crash at any moment leaves
// the previous snapshot or the new one, never a mix.
func (s *Store) SaveFile(path string) (int, error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return 0, fmt.Errorf("baseline snapshot: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, a no-op
	w := bufio.NewWriterSize(tmp, 1<<16)
	n, err := s.WriteSnapshot(w)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return 0, fmt.Errorf("baseline snapshot %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return n, nil
}

// LoadFile restores the snapshot at path. A missing file is no error (a
// first start). An unusable one is moved aside to path.corrupt-<time>,
// so that it can be examined and the next save does not overwrite it, and
// the error says where it went; the store then starts learning afresh.
func (s *Store) LoadFile(path string) (int, error) {
	// A process killed while writing leaves its temporary file: the
	// snapshot it was replacing is still whole, the leftover is not.
	if leftovers, err := filepath.Glob(path + ".tmp-*"); err == nil {
		for _, l := range leftovers {
			_ = os.Remove(l)
		}
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("baseline snapshot: %w", err)
	}
	n, err := s.ReadSnapshot(f)
	_ = f.Close()
	if err != nil {
		aside := fmt.Sprintf("%s.corrupt-%d", path, time.Now().Unix())
		if rerr := os.Rename(path, aside); rerr != nil {
			return 0, fmt.Errorf("baseline snapshot %s: %w (and moving it aside failed: %v)", path, err, rerr)
		}
		return 0, fmt.Errorf("baseline snapshot %s, moved to %s: %w", path, aside, err)
	}
	return n, nil
}

// Snapshotter saves a store to a file periodically and when it stops.
type Snapshotter struct {
	store    *Store
	path     string
	interval time.Duration
	logger   *slog.Logger
	saves    *prometheus.CounterVec
	last     prometheus.Gauge
}

// NewSnapshotter returns a Snapshotter saving store to path every
// interval.
func NewSnapshotter(store *Store, path string, interval time.Duration, logger *slog.Logger, reg prometheus.Registerer) *Snapshotter {
	f := promauto.With(reg)
	sn := &Snapshotter{
		store: store, path: path, interval: interval, logger: logger,
		saves: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hubble_sentinel", Subsystem: "baseline", Name: "snapshots_total",
			Help: "Baseline snapshots written, by result.",
		}, []string{"result"}),
		last: f.NewGauge(prometheus.GaugeOpts{
			Namespace: "hubble_sentinel", Subsystem: "baseline", Name: "last_snapshot_timestamp_seconds",
			Help: "When the last baseline snapshot was written.",
		}),
	}
	sn.saves.WithLabelValues("success")
	sn.saves.WithLabelValues("failure")
	return sn
}

// Save writes one snapshot now.
func (sn *Snapshotter) Save() error {
	start := time.Now()
	n, err := sn.store.SaveFile(sn.path)
	if err != nil {
		sn.saves.WithLabelValues("failure").Inc()
		sn.logger.Error("baseline snapshot failed; the previous one stays", "path", sn.path, "err", err)
		return err
	}
	sn.saves.WithLabelValues("success").Inc()
	sn.last.SetToCurrentTime()
	sn.logger.Debug("baseline snapshot written", "path", sn.path, "profiles", n, "took", time.Since(start))
	return nil
}

// Run saves every interval until ctx ends, then once more.
func (sn *Snapshotter) Run(ctx context.Context) error {
	t := time.NewTicker(sn.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			_ = sn.Save()
			return nil
		case <-t.C:
			_ = sn.Save()
		}
	}
}
