package loopback

import (
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFreeCanBeListenedOn(t *testing.T) {
	addr := FreeT(t)
	host, _, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1", host)
	l, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	require.NoError(t, l.Close())
}
