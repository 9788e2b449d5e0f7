package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/test/loopback"
)

// TestWebServesProfilesOnlyWhenAsked: /debug/pprof/ reveals internals, so
// it is served only with --web.enable-pprof.
func TestWebServesProfilesOnlyWhenAsked(t *testing.T) {
	for _, tc := range []struct {
		pprof bool
		want  int
	}{{false, http.StatusNotFound}, {true, http.StatusOK}} {
		t.Run(fmt.Sprint("pprof=", tc.pprof), func(t *testing.T) {
			addr := loopback.FreeT(t)
			ctx, cancel := context.WithCancel(context.Background())
			w := &Web{Address: addr, Registry: prometheus.NewRegistry(), Pprof: tc.pprof, Logger: slog.New(slog.DiscardHandler)}
			done := make(chan error, 1)
			go func() { done <- w.Run(ctx) }()
			t.Cleanup(func() {
				cancel()
				require.NoError(t, <-done)
			})
			var resp *http.Response
			var err error
			require.Eventually(t, func() bool {
				resp, err = http.Get("http://" + addr + "/debug/pprof/")
				return err == nil
			}, 10*time.Second, 20*time.Millisecond)
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			require.Equal(t, tc.want, resp.StatusCode)
			resp, err = http.Get("http://" + addr + "/healthz")
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
		})
	}
}
