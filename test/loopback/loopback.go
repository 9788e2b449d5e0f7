// Package loopback hands out loopback addresses for tests and benchmarks to listen on.
package loopback

import (
	"net"
	"testing"
)

// Free is a loopback address nothing listens on now.
func Free() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// FreeT is Free for a test, which it fails when no address can be had.
func FreeT(t testing.TB) string {
	t.Helper()
	addr, err := Free()
	if err != nil {
		t.Fatalf("no free loopback address: %v", err)
	}
	return addr
}
