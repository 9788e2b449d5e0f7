package alertmanager

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/test/promtest"
)

// outageTransport is an Alertmanager reached without a network, so that
// synctest's clock can run an outage of any length: while down, every
// request fails at once as a refused connection does; up, it is am.
type outageTransport struct {
	am *fakeAM

	mu       sync.Mutex
	down     bool
	attempts []time.Time // requests made while down
}

var errRefused = errors.New("dial tcp: connect: connection refused")

func (o *outageTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	o.mu.Lock()
	down := o.down
	if down {
		o.attempts = append(o.attempts, time.Now())
	}
	o.mu.Unlock()
	if req.Body != nil {
		defer req.Body.Close()
	}
	if down {
		return nil, errRefused
	}
	rec := httptest.NewRecorder()
	o.am.ServeHTTP(rec, req)
	return rec.Result(), nil
}

func (o *outageTransport) setDown(down bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.down = down
}

// TestOutageOfAnHourGivesNothingUp: with the default retry settings (no
// bound on attempts or elapsed time, backoff capped at 5 s), an
// Alertmanager unreachable for an hour while an alert is sent every
// minute gets every alert, in order, within one backoff of its return;
// it was retried at least every 5 s for the whole hour and nothing was
// dropped. The hour passes on synctest's clock, so the test takes about a
// second: six times the ten-minute outage, with the code and
// defaults that run in production.
func TestOutageOfAnHourGivesNothingUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := mustParse(t, "http://alertmanager.invalid:9093")
		h := newHarness(t, Config{URLs: []*url.URL{u}, SpoolPath: t.TempDir()})
		tr := &outageTransport{am: &fakeAM{statuses: []int{200}}, down: true}
		h.targets[0].httpClient.Transport = statusRecorder{next: tr}
		conds := &fakeConditions{}
		h.SetConditions(conds)
		label := []string{"alertmanager", u.String()}
		h.run(t)

		const outage = time.Hour
		began := time.Now()
		var want []string
		for i := range int(outage / time.Minute) {
			n := fmt.Sprintf("minute%02d", i)
			want = append(want, n)
			h.Send(named(n))
			time.Sleep(time.Minute)
		}
		require.Equal(t, outage, time.Since(began))
		synctest.Wait()
		require.Empty(t, tr.am.received, "nothing got through while it was down")
		require.Equal(t, float64(len(want)), h.metric(t, "hubble_sentinel_alertmanager_queue_length", label...))
		require.InDelta(t, outage.Seconds(), h.metric(t, "hubble_sentinel_alertmanager_spool_oldest_age_seconds", label...), 1)
		held, released := conds.counts()
		require.Equal(t, 1, held, "SentinelDeliveryFailing raised once")
		require.Zero(t, released)

		// Retried for the whole hour, never more than the backoff cap
		// apart, up to its end.
		tr.mu.Lock()
		attempts := append([]time.Time(nil), tr.attempts...)
		tr.mu.Unlock()
		require.Greater(t, len(attempts), int(outage/DefaultBackoffMax))
		gap := attempts[0].Sub(began)
		for i := 1; i < len(attempts); i++ {
			gap = max(gap, attempts[i].Sub(attempts[i-1]))
		}
		require.LessOrEqual(t, gap, DefaultBackoffMax)
		require.LessOrEqual(t, time.Since(attempts[len(attempts)-1]), DefaultBackoffMax, "still retrying when it comes back")
		t.Logf("a %s outage: %d attempts, at most %s apart", outage, len(attempts), gap)

		back := time.Now()
		tr.setDown(false)
		for len(receivedNames(tr.am)) < len(want) && time.Since(back) < time.Minute {
			time.Sleep(100 * time.Millisecond)
		}
		require.Equal(t, want, receivedNames(tr.am), "every alert, in order")
		require.LessOrEqual(t, time.Since(back), DefaultBackoffMax+time.Second, "delivered within a backoff of its return")
		t.Logf("delivered %s after it came back", time.Since(back))
		synctest.Wait()
		_, released = conds.counts()
		require.Equal(t, 1, released, "SentinelDeliveryFailing resolved")
		require.Zero(t, h.metric(t, "hubble_sentinel_alertmanager_queue_length", label...))
		for _, r := range reasons {
			require.Zero(t, promtest.Series(t, h.reg, "hubble_sentinel_alertmanager_alerts_dropped_total", append(label, "reason", r)...), r)
		}
	})
}

func receivedNames(am *fakeAM) []string {
	am.mu.Lock()
	defer am.mu.Unlock()
	return append([]string(nil), am.received...)
}
