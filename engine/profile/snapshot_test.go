package profile

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

func newStore(t *testing.T, cfg Config) *Store {
	t.Helper()
	s, err := NewStore(cfg, prometheus.NewRegistry())
	require.NoError(t, err)
	return s
}

// TestSnapshotRestoresLearning: a restart restores what was learned and
// does not reopen learning.
func TestSnapshotRestoresLearning(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := Config{LearningPeriod: time.Hour}
	s := newStore(t, cfg)
	s.Observe(t0, flow("frontend", "cart", 8080, false))
	s.Observe(t0.Add(40*time.Minute), flow("frontend", "cart", 8080, false))
	path := filepath.Join(t.TempDir(), "baseline.snap")
	n, err := s.SaveFile(path)
	require.NoError(t, err)
	require.Equal(t, 2, n)

	restored := newStore(t, cfg)
	n, err = restored.LoadFile(path)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	later := t0.Add(70 * time.Minute)
	v := restored.Observe(later, flow("frontend", "cart", 8080, false))
	require.False(t, v.Baseline.Learning, "learning ended an hour after the namespace was first seen, restart or not")
	require.True(t, v.Baseline.KnownEdge)
	require.True(t, v.Baseline.LearnedEdge)
	v = restored.Observe(later, flow("frontend", "payment", 8080, false))
	require.True(t, v.Baseline.NewPeer, "a peer never seen before the restart is new")

	fresh := newStore(t, cfg)
	v = fresh.Observe(later, flow("frontend", "payment", 8080, false))
	require.True(t, v.Baseline.Learning, "without the snapshot everything would learn again")
}

func TestLoadFileMissingIsAFirstStart(t *testing.T) {
	n, err := newStore(t, Config{}).LoadFile(filepath.Join(t.TempDir(), "none"))
	require.NoError(t, err)
	require.Zero(t, n)
}

func TestUnusableSnapshotIsMovedAside(t *testing.T) {
	s := newStore(t, Config{})
	s.Observe(time.Now(), flow("a", "b", 80, false))
	var good bytes.Buffer
	_, err := s.WriteSnapshot(&good)
	require.NoError(t, err)
	header, body, _ := bytes.Cut(good.Bytes(), []byte("\n"))

	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "reading header"},
		{"not a snapshot", []byte("{\"hello\":1}\n"), "not a hubble-sentinel-baseline file"},
		{"truncated", good.Bytes()[:len(good.Bytes())-10], "checksum mismatch"},
		{"flipped byte", append(append(append([]byte{}, header...), '\n'), append([]byte{body[0] ^ 1}, body[1:]...)...), "checksum mismatch"},
		{"other version", bytes.Replace(good.Bytes(), []byte(`"version":1`), []byte(`"version":99`), 1), "version 99"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "baseline.snap")
			require.NoError(t, os.WriteFile(path, tc.data, 0o600))
			target := newStore(t, Config{})
			_, err := target.LoadFile(path)
			require.ErrorIs(t, err, ErrSnapshot)
			require.ErrorContains(t, err, tc.want)
			require.Zero(t, target.Len(), "nothing half-loaded")
			_, err = os.Stat(path)
			require.ErrorIs(t, err, os.ErrNotExist, "moved aside")
			aside, _ := filepath.Glob(path + ".corrupt-*")
			require.Len(t, aside, 1)
		})
	}
}

// TestSaveFileLeavesNoTemporaryFiles: the write goes through a temporary
// file that is renamed; nothing else stays beside the snapshot.
func TestSaveFileLeavesNoTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, Config{})
	s.Observe(time.Now(), flow("a", "b", 80, false))
	for range 3 {
		_, err := s.SaveFile(filepath.Join(dir, "baseline.snap"))
		require.NoError(t, err)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	_, err = s.SaveFile(filepath.Join(dir, "missing", "baseline.snap"))
	require.Error(t, err, "an unwritable path is an error, not a panic")
}
