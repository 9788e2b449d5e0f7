// Package alertmanager delivers alerts to every configured Alertmanager through its API v2.
package alertmanager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"path"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-openapi/runtime"
	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/client"
	amalert "github.com/prometheus/alertmanager/api/v2/client/alert"
	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hubble-sentinel/hubble-sentinel/engine/alert"
	"github.com/hubble-sentinel/hubble-sentinel/hubble/backoff"
)

// Defaults for the zero values of Config.
const (
	DefaultBatchSize     = 64
	DefaultQueueCapacity = 10000
	DefaultTimeout       = 10 * time.Second
	DefaultBackoffMin    = 500 * time.Millisecond
	DefaultBackoffMax    = 30 * time.Second
	DefaultMaxAttempts   = 10
)

const (
	// flushTimeout bounds the final delivery attempt on shutdown, so a down
	// Alertmanager cannot hold up process exit.
	flushTimeout = 2 * time.Second
	// dropWarnInterval rate-limits the queue overflow warning per
	// Alertmanager: overflow happens in bursts, and one line per Send would
	// bury everything else in the log exactly when it matters.
	dropWarnInterval = 10 * time.Second
)

// ErrAlreadyRunning is returned by a second call to Run: each Alertmanager
// queue must have exactly one consumer, or batches would be sent out of order.
var ErrAlreadyRunning = errors.New("alertmanager sender already running")

// Config says where and how alerts are delivered.
type Config struct {
	// URLs are the Alertmanagers to deliver to. Every Alertmanager gets every
	// alert, as Prometheus does, because the members of an HA cluster
	// deduplicate notifications among themselves but not incoming alerts.
	// A URL may carry a path prefix (http://am:9093/alertmanager); the API is
	// then served under <prefix>/api/v2. User info in the URL is sent as HTTP
	// basic auth and redacted from logs and metrics.
	URLs []*url.URL
	// BatchSize is the maximum number of alerts per POST (default 64).
	BatchSize int
	// QueueCapacity is the number of alerts held per Alertmanager while it
	// is slow or down (default 10000). Beyond it the oldest alerts are
	// dropped: a newer alert with the same labels supersedes an older one,
	// and new violations matter more than stale ones.
	QueueCapacity int
	// Timeout bounds each request (default 10s).
	Timeout time.Duration
	// BackoffMin and BackoffMax bound the exponential, jittered wait between
	// retries of a batch (defaults 500ms and 30s).
	BackoffMin, BackoffMax time.Duration
	// MaxAttempts is the number of attempts per batch before a retryable
	// failure gives up and drops the batch with reason "retries_exhausted"
	// (default 10: one to two minutes with the default backoff). Giving up
	// keeps a long outage from pinning one stale batch at the head of the
	// queue while newer alerts overflow behind it.
	MaxAttempts int
}

// Drop reasons, the values of the reason label of alerts_dropped_total.
const (
	ReasonQueueFull        = "queue_full"
	ReasonInvalid          = "invalid"
	ReasonRejected         = "rejected"
	ReasonRetriesExhausted = "retries_exhausted"
	ReasonShutdown         = "shutdown"
)

var reasons = []string{ReasonQueueFull, ReasonInvalid, ReasonRejected, ReasonRetriesExhausted, ReasonShutdown}

// Sender queues alerts and delivers them to every configured Alertmanager.
// Each Alertmanager has its own queue and goroutine, so one that is down or
// slow never delays delivery to the others.
type Sender struct {
	logger  *slog.Logger
	targets []*target
	running atomic.Bool
}

// New validates cfg, fills in defaults and prepares one queue per
// Alertmanager. The caller names the component on logger, as for every
// component; a nil logger discards. Metrics are registered with reg; a nil
// reg leaves them unregistered. Nothing is sent until Run is called.
func New(cfg Config, logger *slog.Logger, reg prometheus.Registerer) (*Sender, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Sender{logger: logger}
	seen := make(map[string]bool, len(cfg.URLs))
	for _, u := range cfg.URLs {
		t, err := newTarget(u, cfg, logger)
		if err != nil {
			return nil, err
		}
		if seen[t.url] {
			return nil, fmt.Errorf("alertmanager URL %s configured twice", t.url)
		}
		seen[t.url] = true
		s.targets = append(s.targets, t)
	}
	// Register only once the configuration is known to be good, so a caller
	// may fix it and call New again with the same registry.
	m := newMetrics(reg)
	for _, t := range s.targets {
		t.m = m.forTarget(t.url)
	}
	return s, nil
}

func (c Config) withDefaults() (Config, error) {
	if len(c.URLs) == 0 {
		return c, errors.New("no alertmanager URL configured")
	}
	for _, f := range []struct {
		name string
		val  int64
	}{
		{"batch size", int64(c.BatchSize)},
		{"queue capacity", int64(c.QueueCapacity)},
		{"timeout", int64(c.Timeout)},
		{"minimum backoff", int64(c.BackoffMin)},
		{"maximum backoff", int64(c.BackoffMax)},
		{"maximum attempts", int64(c.MaxAttempts)},
	} {
		if f.val < 0 {
			return c, fmt.Errorf("alertmanager %s must not be negative", f.name)
		}
	}
	setDefault(&c.BatchSize, DefaultBatchSize)
	setDefault(&c.QueueCapacity, DefaultQueueCapacity)
	setDefault(&c.Timeout, DefaultTimeout)
	setDefault(&c.BackoffMin, DefaultBackoffMin)
	setDefault(&c.BackoffMax, DefaultBackoffMax)
	setDefault(&c.MaxAttempts, DefaultMaxAttempts)
	if c.BackoffMax < c.BackoffMin {
		return c, fmt.Errorf("alertmanager maximum backoff %s is below minimum backoff %s", c.BackoffMax, c.BackoffMin)
	}
	return c, nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Send queues a copy of the alerts for every Alertmanager and returns
// without waiting, so that a slow Alertmanager never stalls flow processing.
// When a queue is full its oldest alerts are dropped, counted and logged.
// Alerts Alertmanager would reject (no non-empty label, or ending before
// they start) are dropped here with reason "invalid", because Alertmanager
// rejects the whole request and would take valid alerts down with them.
func (s *Sender) Send(alerts ...alert.Alert) {
	batch := make([]*models.PostableAlert, 0, len(alerts))
	for _, a := range alerts {
		if err := validate(a); err != nil {
			s.logger.Warn("dropping invalid alert", "alertname", a.Labels[alert.LabelAlertname], "err", err)
			for _, t := range s.targets {
				t.m.dropped[ReasonInvalid].Inc()
			}
			continue
		}
		batch = append(batch, Postable(a))
	}
	if len(batch) == 0 {
		return
	}
	for _, t := range s.targets {
		t.enqueue(batch)
	}
}

// validate rejects what Alertmanager would reject, mirroring its own checks
// after it removes empty-valued labels.
func validate(a alert.Alert) error {
	hasLabel := false
	for name, value := range a.Labels {
		if name != "" && value != "" {
			hasLabel = true
			break
		}
	}
	if !hasLabel {
		return errors.New("alert has no non-empty label")
	}
	if !a.StartsAt.IsZero() && !a.EndsAt.IsZero() && a.EndsAt.Before(a.StartsAt) {
		return fmt.Errorf("alert ends at %s, before it starts at %s", a.EndsAt, a.StartsAt)
	}
	return nil
}

// Run delivers queued alerts until ctx is done, with one goroutine per
// Alertmanager. On cancellation it makes one last attempt, bounded by two
// seconds, to deliver what is still queued, counts what could not be
// delivered as dropped with reason "shutdown", and returns nil. Alerts sent
// after Run has returned stay queued. Run may be called only once.
func (s *Sender) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return ErrAlreadyRunning
	}
	var wg sync.WaitGroup
	for _, t := range s.targets {
		wg.Go(func() { t.run(ctx) })
	}
	wg.Wait()
	return nil
}

// Postable converts an alert to Alertmanager's API model. Maps are copied,
// so the caller may reuse the alert. Zero times are left unset, which
// Alertmanager reads as "starts now" and "ends after resolve_timeout unless
// sent again"; note that the generated MarshalJSON still writes an unset time
// as "0001-01-01T00:00:00.000Z", which Alertmanager parses back as unset.
func Postable(a alert.Alert) *models.PostableAlert {
	labels := models.LabelSet(maps.Clone(a.Labels))
	if labels == nil {
		labels = models.LabelSet{} // the API requires the field; send {} rather than null
	}
	p := &models.PostableAlert{
		Alert: models.Alert{
			Labels:       labels,
			GeneratorURL: strfmt.URI(a.GeneratorURL),
		},
		Annotations: models.LabelSet(maps.Clone(a.Annotations)),
	}
	if !a.StartsAt.IsZero() {
		p.StartsAt = strfmt.DateTime(a.StartsAt)
	}
	if !a.EndsAt.IsZero() {
		p.EndsAt = strfmt.DateTime(a.EndsAt)
	}
	return p
}

// target is one Alertmanager: its client, queue and delivery state.
type target struct {
	url         string // redacted; the value of the alertmanager label and the url log key
	api         amalert.ClientService
	httpClient  *http.Client
	opts        []amalert.ClientOption
	logger      *slog.Logger
	m           targetMetrics
	batchSize   int
	capacity    int
	timeout     time.Duration
	backoffMin  time.Duration
	backoffMax  time.Duration
	maxAttempts int

	wake chan struct{} // signals the worker that the queue is not empty

	mu          sync.Mutex
	queue       []*models.PostableAlert
	dropPending int       // overflow drops not yet logged
	dropLogged  time.Time // when overflow was last logged

	// Owned by the worker goroutine.
	down      bool
	downSince time.Time
}

func newTarget(u *url.URL, cfg Config, logger *slog.Logger) (*target, error) {
	if u == nil {
		return nil, errors.New("alertmanager URL is nil")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("alertmanager URL %s: scheme must be http or https", u.Redacted())
	}
	if u.Host == "" {
		return nil, fmt.Errorf("alertmanager URL %s has no host", u.Redacted())
	}
	t := &target{
		url: u.Redacted(),
		api: client.NewHTTPClientWithConfig(strfmt.Default, client.DefaultTransportConfig().
			WithHost(u.Host).
			WithBasePath(path.Join("/", u.Path, "/api/v2")).
			WithSchemes([]string{u.Scheme})).Alert,
		httpClient:  &http.Client{Transport: statusRecorder{next: newTransport()}},
		batchSize:   cfg.BatchSize,
		capacity:    cfg.QueueCapacity,
		timeout:     cfg.Timeout,
		backoffMin:  cfg.BackoffMin,
		backoffMax:  cfg.BackoffMax,
		maxAttempts: cfg.MaxAttempts,
		wake:        make(chan struct{}, 1),
	}
	t.logger = logger.With("url", t.url)
	if u.User != nil {
		user := u.User.Username()
		pass, _ := u.User.Password()
		t.opts = append(t.opts, func(op *runtime.ClientOperation) {
			op.AuthInfo = httptransport.BasicAuth(user, pass)
		})
	}
	return t, nil
}

// newTransport gives each Alertmanager its own connection pool, so a hung
// Alertmanager cannot hold connections another one needs.
func newTransport() http.RoundTripper {
	if tr, ok := http.DefaultTransport.(*http.Transport); ok {
		return tr.Clone()
	}
	return http.DefaultTransport // replaced by the program, e.g. for tracing; keep its choice
}

// enqueue appends alerts, dropping the oldest beyond capacity, and wakes the
// worker. It never blocks on delivery.
func (t *target) enqueue(alerts []*models.PostableAlert) {
	t.mu.Lock()
	t.queue = append(t.queue, alerts...)
	dropped := 0
	if over := len(t.queue) - t.capacity; over > 0 {
		t.queue = slices.Delete(t.queue, 0, over)
		dropped = over
	}
	t.m.queueLength.Set(float64(len(t.queue)))
	var logDropped int
	if dropped > 0 {
		t.dropPending += dropped
		if now := time.Now(); now.Sub(t.dropLogged) >= dropWarnInterval {
			logDropped, t.dropPending, t.dropLogged = t.dropPending, 0, now
		}
	}
	t.mu.Unlock()

	if dropped > 0 {
		t.m.dropped[ReasonQueueFull].Add(float64(dropped))
	}
	if logDropped > 0 {
		t.logger.Warn("alertmanager queue full, dropped oldest alerts",
			"dropped", logDropped, "capacity", t.capacity)
	}
	select {
	case t.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// take removes and returns up to n alerts from the head of the queue.
func (t *target) take(n int) []*models.PostableAlert {
	t.mu.Lock()
	defer t.mu.Unlock()
	n = min(n, len(t.queue))
	if n == 0 {
		return nil
	}
	batch := slices.Clone(t.queue[:n])
	t.queue = slices.Delete(t.queue, 0, n)
	t.m.queueLength.Set(float64(len(t.queue)))
	return batch
}

// run drains the queue in batches until ctx is done, then flushes.
func (t *target) run(ctx context.Context) {
	for {
		if ctx.Err() != nil {
			t.flush(ctx, nil)
			return
		}
		batch := t.take(t.batchSize)
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
			case <-t.wake:
			}
			continue
		}
		if !t.deliver(ctx, batch) {
			t.flush(ctx, batch)
			return
		}
	}
}

// deliver sends batch, retrying retryable failures with backoff. It returns
// false if ctx ended before the batch was delivered or dropped, handing the
// batch to the final flush.
func (t *target) deliver(ctx context.Context, batch []*models.PostableAlert) bool {
	for attempt := 1; ; attempt++ {
		retry, err := t.post(ctx, batch)
		if ctx.Err() != nil && err != nil {
			return false // cancelled, not a failure of the Alertmanager
		}
		switch {
		case err == nil:
			t.markUp()
			return true
		case !retry:
			t.markUp() // it answered, so it is reachable
			t.m.dropped[ReasonRejected].Add(float64(len(batch)))
			t.logger.Error("alertmanager rejected alerts, dropping them", "alerts", len(batch), "err", err)
			return true
		}
		t.markDown(err)
		if attempt >= t.maxAttempts {
			t.m.dropped[ReasonRetriesExhausted].Add(float64(len(batch)))
			t.logger.Warn("giving up on alerts after retries", "alerts", len(batch), "attempts", attempt, "err", err)
			return true
		}
		timer := time.NewTimer(backoff.Delay(attempt-1, t.backoffMin, t.backoffMax, rand.Float64()))
		select {
		case <-ctx.Done():
			timer.Stop()
			return false
		case <-timer.C:
		}
	}
}

// flush makes one bounded attempt to deliver pending and everything still
// queued after ctx is done. The first retryable failure ends it, since there
// is no time left to retry, and the rest is counted as dropped.
func (t *target) flush(ctx context.Context, pending []*models.PostableAlert) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
	defer cancel()
	batch := pending
	for {
		if len(batch) == 0 {
			if batch = t.take(t.batchSize); len(batch) == 0 {
				return
			}
		}
		retry, err := t.post(ctx, batch)
		switch {
		case err == nil:
		case !retry:
			t.m.dropped[ReasonRejected].Add(float64(len(batch)))
			t.logger.Error("alertmanager rejected alerts, dropping them", "alerts", len(batch), "err", err)
		default:
			n := len(batch) + len(t.take(t.capacity))
			t.m.dropped[ReasonShutdown].Add(float64(n))
			t.logger.Warn("dropping undelivered alerts on shutdown", "alerts", n, "err", err)
			return
		}
		batch = nil
	}
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
		WithAlerts(models.PostableAlerts(batch)), t.opts...)
	t.m.latency.Observe(time.Since(start).Seconds())

	if err == nil || status/100 == 2 {
		t.m.sent.Add(float64(len(batch)))
		return false, nil
	}
	if ctx.Err() != nil {
		return true, fmt.Errorf("posting %d alerts: %w", len(batch), err)
	}
	t.m.errors.Inc()
	if status == 0 {
		return true, fmt.Errorf("posting %d alerts: %w", len(batch), err)
	}
	retry = status/100 == 5 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout
	return retry, fmt.Errorf("posting %d alerts: HTTP %d: %w", len(batch), status, err)
}

// markDown logs the transition to failing once, not on every retry.
func (t *target) markDown(err error) {
	if t.down {
		return
	}
	t.down, t.downSince = true, time.Now()
	t.logger.Warn("alertmanager unreachable, retrying", "err", err)
}

// markUp logs the recovery from a failing state.
func (t *target) markUp() {
	if !t.down {
		return
	}
	t.down = false
	t.logger.Info("alertmanager reachable again", "down_for", time.Since(t.downSince).Round(time.Millisecond))
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
