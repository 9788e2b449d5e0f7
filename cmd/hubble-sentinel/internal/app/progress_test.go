package app

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hubble-sentinel/hubble-sentinel/test/logtest"
)

func TestProgressLine(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 12, 34, 500, time.UTC)
	for _, tc := range []struct {
		name     string
		flows    int64
		rate     float64
		position int64
		alerts   int
		elapsed  time.Duration
		want     string
	}{
		{"before the first flow", 0, 0, 0, 0, 0,
			"replay: 0 flows, 0 flows/s, event time -, 0 alerts, 0s elapsed"},
		{"under way", 120000, 4511.6, at.UnixNano(), 7, 26600 * time.Millisecond,
			"replay: 120000 flows, 4512 flows/s, event time 2026-01-01T00:12:34Z, 7 alerts, 27s elapsed"},
		{"event time in another zone is printed in UTC", 1, 1, time.Date(2026, 1, 1, 2, 0, 0, 0, time.FixedZone("x", 2*3600)).UnixNano(), 0, time.Second,
			"replay: 1 flows, 1 flows/s, event time 2026-01-01T00:00:00Z, 0 alerts, 1s elapsed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, progressLine(tc.flows, tc.rate, tc.position, tc.alerts, tc.elapsed))
		})
	}
}

// TestProgressNotTerminal: written to a file or a pipe, progress is a
// plain line every progressEvery with the rate over that interval, and
// nothing is left to clear when it stops.
func TestProgressNotTerminal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out logtest.Buffer
		var alerts atomic.Int64
		p := newProgress(&out, func() int { return int(alerts.Load()) })
		require.False(t, p.tty)
		stop := p.run(context.Background())
		handle := p.handler(func(context.Context, *flowpb.Flow) error { return nil })
		event := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		feed := func(n int) {
			for range n {
				event = event.Add(time.Millisecond)
				require.NoError(t, handle(context.Background(), &flowpb.Flow{Time: timestamppb.New(event)}))
			}
		}

		feed(50000)
		time.Sleep(progressEvery - time.Millisecond)
		synctest.Wait()
		require.Empty(t, out.String(), "nothing before the first interval")
		time.Sleep(time.Millisecond)
		synctest.Wait()
		alerts.Store(3)
		feed(20000)
		time.Sleep(progressEvery)
		synctest.Wait()
		stop()

		require.Equal(t, []string{
			"replay: 50000 flows, 5000 flows/s, event time 2026-01-01T00:00:50Z, 0 alerts, 10s elapsed",
			"replay: 70000 flows, 2000 flows/s, event time 2026-01-01T00:01:10Z, 3 alerts, 20s elapsed",
		}, strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"))
	})
}
