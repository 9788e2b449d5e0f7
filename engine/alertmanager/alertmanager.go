// Package alertmanager delivers alerts to every configured Alertmanager through its API v2, through an on-disk spool that outlives outages and restarts.
package alertmanager

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hubble-sentinel/hubble-sentinel/engine/alert"
	"github.com/hubble-sentinel/hubble-sentinel/engine/redact"
)

// Defaults for the zero values of Config.
const (
	DefaultBatchSize = 64
	DefaultTimeout   = 10 * time.Second
	// DefaultBackoffMin and DefaultBackoffMax bound the wait between
	// attempts to deliver to an Alertmanager that fails: short, so that a
	// recovered Alertmanager is noticed within seconds. Retrying costs a
	// refused connection; nothing is given up meanwhile.
	DefaultBackoffMin = 100 * time.Millisecond
	DefaultBackoffMax = 5 * time.Second
	// DefaultSpoolMaxBytes bounds a spool on disk, DefaultMemoryMaxBytes
	// one in memory.
	DefaultSpoolMaxBytes  = 256 << 20
	DefaultMemoryMaxBytes = 64 << 20
	// DefaultFailingAfter is how long an Alertmanager may fail before
	// SentinelDeliveryFailing fires.
	DefaultFailingAfter = time.Minute
)

const (
	// flushTimeout bounds the final delivery attempt on shutdown, so a down
	// Alertmanager cannot hold up process exit.
	flushTimeout = 2 * time.Second
	// readWindow is how many spooled alerts a worker reads at once: after
	// an outage, the versions of one incident re-sent meanwhile are
	// coalesced within it into the latest.
	readWindow = 8
	// syncInterval is how often appended alerts are synced to disk.
	syncInterval = time.Second
)

// ErrAlreadyRunning is returned by a second call to Run: each Alertmanager
// must have exactly one reader of the spool, or alerts would be sent out
// of order.
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
	// PathPrefix is put before every URL's own path, as Prometheus'
	// alertmanager_config path_prefix. Only API v2 exists.
	PathPrefix string
	// HTTP is how to authenticate and secure the connections.
	HTTP HTTPConfig
	// BatchSize is the maximum number of alerts per POST (default 64).
	BatchSize int
	// Timeout bounds each request (default 10s).
	Timeout time.Duration
	// BackoffMin and BackoffMax bound the exponential, jittered wait between
	// attempts (defaults 100ms and 5s). An alert is retried until it is
	// delivered or the spool's bound pushes it out.
	BackoffMin, BackoffMax time.Duration
	// SpoolPath is the directory alerts are spooled in until every
	// Alertmanager has them, so that an outage of any length within
	// SpoolMaxBytes, or a restart of hubble-sentinel (kill -9 included),
	// loses none. Empty keeps the spool in memory: outages are survived,
	// restarts are not.
	SpoolPath string
	// SpoolMaxBytes bounds the spool; beyond it the oldest alerts are
	// dropped and counted (reason spool_full). Defaults: 256 MiB on disk,
	// 64 MiB in memory.
	SpoolMaxBytes int64
	// FailingAfter is how long an Alertmanager may fail before
	// SentinelDeliveryFailing fires (default 1m); see SetConditions.
	FailingAfter time.Duration
}

// Drop reasons, the values of the reason label of alerts_dropped_total.
// They must all stay at 0.
const (
	ReasonInvalid    = "invalid"
	ReasonRejected   = "rejected"
	ReasonSpoolFull  = "spool_full"
	ReasonSpoolError = "spool_error"
	ReasonCorrupt    = "corrupt"
	ReasonShutdown   = "shutdown"
)

var reasons = []string{ReasonInvalid, ReasonRejected, ReasonSpoolFull, ReasonSpoolError, ReasonCorrupt, ReasonShutdown}

// Sender spools alerts and delivers them to every configured Alertmanager.
// Each Alertmanager has its own cursor in the spool and its own goroutine,
// so one that is down or slow never delays delivery to the others, and
// catches up, in order, when it is back.
type Sender struct {
	logger  *slog.Logger
	targets []*target
	spool   *spool
	running atomic.Bool
	now     func() time.Time

	condMu     sync.Mutex
	conditions alert.Conditions
}

// New validates cfg, fills in defaults, opens the spool and prepares one
// reader per Alertmanager. The caller names the component on logger, as for
// every component; a nil logger discards. Metrics are registered with reg;
// a nil reg leaves them unregistered. Nothing is sent until Run is called;
// Close releases the spool once Run has returned.
func New(cfg Config, logger *slog.Logger, reg prometheus.Registerer) (*Sender, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Sender{logger: logger, now: time.Now}
	seen := make(map[string]bool, len(cfg.URLs))
	for _, u := range cfg.URLs {
		t, err := newTarget(u, cfg, s, logger)
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
	cursors := make([]*cursor, 0, len(s.targets))
	for _, t := range s.targets {
		t.m = m.forTarget(t.url)
		cursors = append(cursors, &cursor{id: t.id, wake: t.wake, drop: t.drop})
	}
	s.spool, err = openSpool(cfg.SpoolPath, cfg.SpoolMaxBytes, cursors, logger.With("spool", cfg.SpoolPath))
	if err != nil {
		return nil, err
	}
	m.spoolMetrics(s.spool, s.targets)
	if cfg.SpoolPath != "" {
		for _, t := range s.targets {
			if n, oldest := s.spool.pending(t.id); n > 0 {
				logger.Info("alerts spooled before the restart will be delivered", "url", t.url, "alerts", n, "oldest", oldest.UTC())
			}
		}
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
		{"timeout", int64(c.Timeout)},
		{"minimum backoff", int64(c.BackoffMin)},
		{"maximum backoff", int64(c.BackoffMax)},
		{"spool size bound", c.SpoolMaxBytes},
		{"failing-after period", int64(c.FailingAfter)},
	} {
		if f.val < 0 {
			return c, fmt.Errorf("alertmanager %s must not be negative", f.name)
		}
	}
	setDefault(&c.BatchSize, DefaultBatchSize)
	setDefault(&c.Timeout, DefaultTimeout)
	setDefault(&c.BackoffMin, DefaultBackoffMin)
	setDefault(&c.BackoffMax, DefaultBackoffMax)
	setDefault(&c.FailingAfter, DefaultFailingAfter)
	if c.SpoolPath != "" {
		setDefault(&c.SpoolMaxBytes, DefaultSpoolMaxBytes)
	} else {
		setDefault(&c.SpoolMaxBytes, DefaultMemoryMaxBytes)
	}
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

// SetConditions makes the sender raise SentinelDeliveryFailing through c
// while an Alertmanager fails for longer than Config.FailingAfter, and
// release it when it accepts alerts again. The alert itself is spooled
// like any other: the Alertmanagers that answer get it at once.
func (s *Sender) SetConditions(c alert.Conditions) {
	s.condMu.Lock()
	defer s.condMu.Unlock()
	s.conditions = c
}

func (s *Sender) conditionsOrNil() alert.Conditions {
	s.condMu.Lock()
	defer s.condMu.Unlock()
	return s.conditions
}

// Send spools the alerts for every Alertmanager and returns without
// waiting for delivery, so that a slow Alertmanager never stalls flow
// processing. Annotations are scrubbed of anything secret-shaped before
// they are written anywhere. Alerts Alertmanager would reject (no non-empty
// label, or ending before they start) are dropped here with reason
// "invalid", because Alertmanager rejects the whole request and would take
// valid alerts down with them.
func (s *Sender) Send(alerts ...alert.Alert) {
	payloads := make([][]byte, 0, len(alerts))
	for _, a := range alerts {
		if err := validate(a); err != nil {
			s.logger.Warn("dropping invalid alert", "alertname", a.Labels[alert.LabelAlertname], "err", err)
			s.dropAll(ReasonInvalid, 1)
			continue
		}
		b, err := json.Marshal(Postable(scrub(a)))
		if err != nil {
			s.logger.Warn("dropping an alert that does not encode", "alertname", a.Labels[alert.LabelAlertname], "err", err)
			s.dropAll(ReasonInvalid, 1)
			continue
		}
		payloads = append(payloads, b)
	}
	if len(payloads) == 0 {
		return
	}
	n, err := s.spool.append(s.now(), payloads)
	if err != nil {
		lost := len(payloads) - n
		reason := ReasonSpoolError
		if errors.Is(err, errClosed) {
			reason = ReasonShutdown
		}
		s.logger.Error("could not spool alerts; they are lost", "alerts", lost, "err", err)
		s.dropAll(reason, lost)
	}
}

func (s *Sender) dropAll(reason string, n int) {
	for _, t := range s.targets {
		t.m.dropped[reason].Add(float64(n))
	}
}

// scrub masks anything secret-shaped left in the annotations. Alerts are
// built from redacted text already; this is the last line before disk.
func scrub(a alert.Alert) alert.Alert {
	if len(a.Annotations) == 0 {
		return a
	}
	ann := make(map[string]string, len(a.Annotations))
	for k, v := range a.Annotations {
		ann[k] = redact.String(v, nil)
	}
	a.Annotations = ann
	return a
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

// Run delivers spooled alerts until ctx is done, with one goroutine per
// Alertmanager. On cancellation it makes one last attempt, bounded by two
// seconds, to deliver what is pending; what is still pending then stays in
// a spool on disk for the next start (in memory it is counted as dropped
// with reason "shutdown"). It returns nil. Run may be called only once.
func (s *Sender) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return ErrAlreadyRunning
	}
	var wg sync.WaitGroup
	for _, t := range s.targets {
		wg.Go(func() { t.run(ctx) })
	}
	wg.Go(func() {
		tick := time.NewTicker(syncInterval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if err := s.spool.sync(); err != nil {
					s.logger.Warn("syncing the alertmanager spool", "err", err)
				}
			}
		}
	})
	wg.Wait()
	if err := s.spool.sync(); err != nil {
		s.logger.Warn("syncing the alertmanager spool", "err", err)
	}
	return nil
}

// Release resolves the SentinelDeliveryFailing conditions the sender
// holds. Call it once Run has returned, when a new sender replaces this
// one (a configuration reload): an Alertmanager still failing is the new
// sender's to raise again, and one dropped from the configuration must not
// stay firing.
func (s *Sender) Release() {
	c := s.conditionsOrNil()
	if c == nil {
		return
	}
	for _, t := range s.targets {
		if t.failing {
			t.failing = false
			c.Release(time.Now(), t.failingLabels())
		}
	}
}

// Close releases the spool. Alerts sent after it are dropped and counted.
func (s *Sender) Close() error { return s.spool.close() }

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

// targetID names an Alertmanager's cursor in the spool: stable across
// restarts and credential changes, free of credentials.
func targetID(redacted string) string {
	sum := sha256.Sum256([]byte(redacted))
	return hex.EncodeToString(sum[:8])
}
