// Package logtest captures log/slog output for tests that read it while the code under test logs from other goroutines.
package logtest

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
)

// Buffer is a bytes.Buffer safe for concurrent writers and readers.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Lines returns the lines containing every one of substrs.
func (b *Buffer) Lines(substrs ...string) []string {
	var out []string
	for line := range strings.Lines(b.String()) {
		match := true
		for _, s := range substrs {
			match = match && strings.Contains(line, s)
		}
		if match {
			out = append(out, line)
		}
	}
	return out
}

// Logger returns a logfmt logger at debug level writing to b.
func (b *Buffer) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
