package alertmanager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"path"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/client"
	amalert "github.com/prometheus/alertmanager/api/v2/client/alert"
	"github.com/prometheus/alertmanager/api/v2/models"

	"github.com/hubble-sentinel/hubble-sentinel/engine/alert"
	"github.com/hubble-sentinel/hubble-sentinel/hubble/backoff"
)

// target is one Alertmanager: its client, its cursor in the spool and its
// delivery state.
type target struct {
	id           string // the spool cursor
	url          string // redacted; the value of the alertmanager label and the url log key
	api          amalert.ClientService
	httpClient   *http.Client
	logger       *slog.Logger
	m            targetMetrics
	sender       *Sender
	inMemory     bool
	batchSize    int
	timeout      time.Duration
	backoffMin   time.Duration
	backoffMax   time.Duration
	failingAfter time.Duration

	wake chan struct{} // signalled when alerts are spooled

	// Owned by the worker goroutine.
	down      bool
	downSince time.Time
	failing   bool
}

func newTarget(u *url.URL, cfg Config, s *Sender, logger *slog.Logger) (*target, error) {
	if u == nil {
		return nil, errors.New("alertmanager URL is nil")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("alertmanager URL %s: scheme must be http or https", u.Redacted())
	}
	if u.Host == "" {
		return nil, fmt.Errorf("alertmanager URL %s has no host", u.Redacted())
	}
	rt, err := cfg.HTTP.roundTripper(u)
	if err != nil {
		return nil, fmt.Errorf("alertmanager %s: %w", u.Redacted(), err)
	}
	t := &target{
		url: u.Redacted(),
		api: client.NewHTTPClientWithConfig(strfmt.Default, client.DefaultTransportConfig().
			WithHost(u.Host).
			WithBasePath(path.Join("/", cfg.PathPrefix, u.Path, "/api/v2")).
			WithSchemes([]string{u.Scheme})).Alert,
		httpClient:   &http.Client{Transport: statusRecorder{next: rt}},
		sender:       s,
		inMemory:     cfg.SpoolPath == "",
		batchSize:    cfg.BatchSize,
		timeout:      cfg.Timeout,
		backoffMin:   cfg.BackoffMin,
		backoffMax:   cfg.BackoffMax,
		failingAfter: cfg.FailingAfter,
		wake:         make(chan struct{}, 1),
	}
	t.id = targetID(t.url)
	t.logger = logger.With("url", t.url)
	return t, nil
}

// drop counts alerts this Alertmanager will never get.
func (t *target) drop(reason string, n int) { t.m.dropped[reason].Add(float64(n)) }

// run delivers the spool from the cursor on, in order, until ctx is done,
// then flushes.
func (t *target) run(ctx context.Context) {
	sp := t.sender.spool
	for {
		if ctx.Err() != nil {
			t.flush(ctx)
			return
		}
		recs, pos := sp.read(t.id, readWindow*t.batchSize)
		if len(recs) == 0 {
			sp.commit(t.id, pos) // past unreadable records and finished segments
			select {
			case <-ctx.Done():
			case <-t.wake:
			}
			continue
		}
		if !t.deliver(ctx, recs) {
			t.flush(ctx)
			return
		}
		sp.commit(t.id, pos)
	}
}

// decode turns records into the alerts to post: the latest version of
// each alert (labels and start) in the window, in the order of those
// latest versions, so that an incident re-sent every minute of an outage
// is posted once when the Alertmanager is back, and a resolution still
// comes after the firing it ends.
func (t *target) decode(recs []record) []*models.PostableAlert {
	type key struct {
		fp    uint64
		start string
	}
	alerts := make([]*models.PostableAlert, 0, len(recs))
	last := map[key]int{}
	for _, r := range recs {
		var a models.PostableAlert
		if err := json.Unmarshal(r.payload, &a); err != nil {
			t.drop(ReasonCorrupt, 1)
			t.logger.Error("undecodable alert in the spool, skipped", "err", err)
			continue
		}
		last[key{alert.Fingerprint(a.Labels), a.StartsAt.String()}] = len(alerts)
		alerts = append(alerts, &a)
	}
	out := alerts[:0:0]
	for i, a := range alerts {
		if last[key{alert.Fingerprint(a.Labels), a.StartsAt.String()}] == i {
			out = append(out, a)
		}
	}
	return out
}

// deliver posts recs in batches, retrying retryable failures with backoff
// for as long as it takes. It returns false if ctx ended first.
func (t *target) deliver(ctx context.Context, recs []record) bool {
	alerts := t.decode(recs)
	for start := 0; start < len(alerts); start += t.batchSize {
		batch := alerts[start:min(start+t.batchSize, len(alerts))]
		for attempt := 0; ; attempt++ {
			retry, err := t.post(ctx, batch)
			if ctx.Err() != nil && err != nil {
				return false // cancelled, not a failure of the Alertmanager
			}
			if err == nil {
				t.markUp()
				break
			}
			if !retry {
				t.markUp() // it answered, so it is reachable
				t.drop(ReasonRejected, len(batch))
				t.logger.Error("alertmanager rejected alerts, dropping them", "alerts", len(batch), "err", err)
				break
			}
			t.markDown(err)
			timer := time.NewTimer(backoff.Delay(attempt, t.backoffMin, t.backoffMax, rand.Float64()))
			select {
			case <-ctx.Done():
				timer.Stop()
				return false
			case <-timer.C:
			}
		}
	}
	now := time.Now()
	for _, r := range recs {
		t.m.delay.Observe(max(now.Sub(r.spooled).Seconds(), 0))
	}
	return true
}

// flush makes one bounded attempt to deliver what is pending after ctx is
// done. The first retryable failure ends it: what is left stays in a spool
// on disk, and is counted as dropped in memory.
func (t *target) flush(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
	defer cancel()
	sp := t.sender.spool
	for {
		recs, pos := sp.read(t.id, readWindow*t.batchSize)
		if len(recs) == 0 {
			sp.commit(t.id, pos)
			return
		}
		alerts := t.decode(recs)
		for start := 0; start < len(alerts); start += t.batchSize {
			batch := alerts[start:min(start+t.batchSize, len(alerts))]
			retry, err := t.post(ctx, batch)
			switch {
			case err == nil:
			case !retry:
				t.drop(ReasonRejected, len(batch))
				t.logger.Error("alertmanager rejected alerts, dropping them", "alerts", len(batch), "err", err)
			default:
				t.leftOnShutdown(err)
				return
			}
		}
		sp.commit(t.id, pos)
	}
}

func (t *target) leftOnShutdown(err error) {
	n, _ := t.sender.spool.pending(t.id)
	if t.inMemory {
		t.drop(ReasonShutdown, n)
		t.logger.Warn("dropping undelivered alerts on shutdown (no --alertmanager.spool-path)", "alerts", n, "err", err)
		return
	}
	t.logger.Info("undelivered alerts stay spooled for the next start", "alerts", n, "err", err)
}

// post makes one request and says whether a failure is worth retrying, as
// Alertmanager's own notifiers do: network errors, timeouts, 5xx, 408 and
// 429 are transient; any other status means the request itself is wrong.
// A request cut short by the end of ctx is not counted as an error of the
// Alertmanager.
func (t *target) post(ctx context.Context, batch []*models.PostableAlert) (retry bool, err error) {
	var status int
	reqCtx, cancel := context.WithTimeout(context.WithValue(ctx, statusKey{}, &status), t.timeout)
	defer cancel()

	start := time.Now()
	_, err = t.api.PostAlerts(amalert.NewPostAlertsParamsWithContext(reqCtx).
		WithTimeout(t.timeout).
		WithHTTPClient(t.httpClient).
		WithAlerts(models.PostableAlerts(batch)))
	t.m.latency.Observe(time.Since(start).Seconds())

	if err == nil || status/100 == 2 {
		t.m.sent.Add(float64(len(batch)))
		t.m.requests[ResultSuccess].Inc()
		return false, nil
	}
	if ctx.Err() != nil {
		return true, fmt.Errorf("posting %d alerts: %w", len(batch), err)
	}
	t.m.errors.Inc()
	if status == 0 {
		t.m.requests[ResultRetry].Inc()
		return true, fmt.Errorf("posting %d alerts: %w", len(batch), err)
	}
	retry = status/100 == 5 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout
	if retry {
		t.m.requests[ResultRetry].Inc()
	} else {
		t.m.requests[ResultRejected].Inc()
	}
	return retry, fmt.Errorf("posting %d alerts: HTTP %d: %w", len(batch), status, err)
}

// markDown logs the transition to failing once, not on every retry, and
// raises SentinelDeliveryFailing once it has lasted FailingAfter.
func (t *target) markDown(err error) {
	now := time.Now()
	t.m.reachable.Set(0)
	if !t.down {
		t.down, t.downSince = true, now
		t.logger.Warn("alertmanager unreachable, retrying", "err", err)
	}
	if t.failing || now.Sub(t.downSince) < t.failingAfter {
		return
	}
	if c := t.sender.conditionsOrNil(); c != nil {
		t.failing = true
		n, _ := t.sender.spool.pending(t.id)
		t.logger.Warn("alertmanager failing; raising an alert", "alertname", alert.AlertDeliveryFailing, "since", t.downSince, "pending", n)
		c.Hold(now, alert.Alert{
			Labels: t.failingLabels(),
			Annotations: map[string]string{
				alert.AnnotationSummary: fmt.Sprintf("Alertmanager %s has not accepted alerts since %s", t.url, t.downSince.UTC().Format(time.RFC3339)),
				alert.AnnotationDescription: fmt.Sprintf("%d alerts wait in hubble-sentinel's spool and are delivered in order when it accepts them again; "+
					"the other Alertmanagers get them meanwhile. Last error: %v", n, err),
			},
			StartsAt: t.downSince,
		})
	}
}

func (t *target) failingLabels() map[string]string {
	return map[string]string{
		alert.LabelAlertname:    alert.AlertDeliveryFailing,
		alert.LabelSeverity:     "critical",
		alert.LabelAlertmanager: t.url,
	}
}

// markUp logs the recovery from a failing state and resolves
// SentinelDeliveryFailing.
func (t *target) markUp() {
	t.m.reachable.Set(1)
	if !t.down {
		return
	}
	t.down = false
	t.logger.Info("alertmanager reachable again", "down_for", time.Since(t.downSince).Round(time.Millisecond))
	if t.failing {
		t.failing = false
		if c := t.sender.conditionsOrNil(); c != nil {
			c.Release(time.Now(), t.failingLabels())
		}
	}
}

// statusKey is the context key under which post asks statusRecorder to
// store the HTTP status of the response.
type statusKey struct{}

// statusRecorder records the status of the last response of a request,
// because the generated client returns a bare decoding error, without the
// status, when an error body is not what the API specifies (a proxy's error
// page in JSON, say).
type statusRecorder struct{ next http.RoundTripper }

func (r statusRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if resp != nil {
		if p, ok := req.Context().Value(statusKey{}).(*int); ok {
			*p = resp.StatusCode
		}
	}
	return resp, err
}
