package app

import (
	"context"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/hubble-sentinel/hubble-sentinel/engine/alert"
	"github.com/hubble-sentinel/hubble-sentinel/engine/alertmanager"
)

// senders is run's Alertmanager sender, replaceable while it runs (a
// configuration reload with new URLs, TLS or auth): the aggregator sends
// through it, and it hands alerts to the current sender, or logs them when
// no Alertmanager is configured. Each sender has its own registry, which
// senders gathers, since a new sender registers the same metrics anew.
type senders struct {
	logger *slog.Logger
	log    alert.Notifier

	mu    sync.RWMutex
	conds alert.Conditions
	cur   *alertmanager.Sender
	reg   *prometheus.Registry
	ctx   context.Context // run's, once Run has started
	stop  context.CancelFunc
	done  chan struct{}
}

var (
	_ alert.Notifier      = (*senders)(nil)
	_ prometheus.Gatherer = (*senders)(nil)
)

func newSenders(logger *slog.Logger) *senders {
	return &senders{logger: logger, log: logNotifier{logger.With("component", "alerts")}}
}

// build is a sender for urls and ao on a registry of its own, nil when
// urls is empty.
func (s *senders) build(urls []string, ao AlertmanagerOptions, conds alert.Conditions) (*alertmanager.Sender, *prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	snd, err := newSender(urls, ao, s.logger, reg)
	if err != nil || snd == nil {
		return nil, nil, err
	}
	if conds != nil {
		snd.SetConditions(conds)
	}
	return snd, reg, nil
}

// setConditions makes the current sender, and every later one, raise
// SentinelDeliveryFailing through c.
func (s *senders) setConditions(c alert.Conditions) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conds = c
	if s.cur != nil {
		s.cur.SetConditions(c)
	}
}

// Send hands the alerts to the current sender; it holds the read lock so
// that a replaced sender is never handed an alert after it is closed.
func (s *senders) Send(alerts ...alert.Alert) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.cur == nil {
		s.log.Send(alerts...)
		return
	}
	s.cur.Send(alerts...)
}

// Gather is the current sender's metrics.
func (s *senders) Gather() ([]*dto.MetricFamily, error) {
	s.mu.RLock()
	reg := s.reg
	s.mu.RUnlock()
	if reg == nil {
		return nil, nil
	}
	return reg.Gather()
}

// Run runs the current sender, and each that replaces it, until ctx ends;
// then the last one makes its last delivery attempt and its spool closes.
func (s *senders) Run(ctx context.Context) error {
	s.mu.Lock()
	s.ctx = ctx
	s.startLocked()
	s.mu.Unlock()
	<-ctx.Done()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
	return nil
}

// Close releases the current sender's spool when Run never ran.
func (s *senders) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil || s.ctx != nil {
		return nil
	}
	return s.cur.Close()
}

func (s *senders) startLocked() {
	if s.cur == nil || s.ctx == nil {
		return
	}
	ctx, stop := context.WithCancel(s.ctx)
	done := make(chan struct{})
	snd := s.cur
	go func() {
		defer close(done)
		_ = snd.Run(ctx)
	}()
	s.stop, s.done = stop, done
}

// stopLocked stops the running sender (it makes a last attempt to deliver
// what it holds, bounded by two seconds) and closes its spool.
func (s *senders) stopLocked() {
	if s.cur == nil {
		return
	}
	if s.stop != nil {
		s.stop()
		<-s.done
		s.stop, s.done = nil, nil
	}
	if err := s.cur.Close(); err != nil {
		s.logger.Error("closing the alertmanager spool", "err", err)
	}
}

// set installs the first sender, before Run.
func (s *senders) set(snd *alertmanager.Sender, reg *prometheus.Registry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur, s.reg = snd, reg
}

// replace stops the running sender and starts one for urls and ao, then
// hands it the alerts firing now so that a new Alertmanager has them at
// once. The old sender is stopped first because the two would share a spool
// directory; should the new one fail to start, the old settings are
// restored and the error returned.
func (s *senders) replace(urls []string, ao AlertmanagerOptions, oldURLs []string, old AlertmanagerOptions, firing func() []alert.Alert) error {
	s.mu.Lock()
	replaced := s.cur
	s.stopLocked()
	if replaced != nil {
		replaced.Release()
	}
	snd, reg, err := s.build(urls, ao, s.conds)
	if err != nil {
		var rerr error
		if snd, reg, rerr = s.build(oldURLs, old, s.conds); rerr != nil {
			s.logger.Error("restoring the previous alertmanager settings failed: alerts are only logged", "err", rerr)
		}
	}
	s.cur, s.reg = snd, reg
	s.startLocked()
	s.mu.Unlock()
	if err == nil {
		if now := firing(); len(now) > 0 {
			s.Send(now...)
		}
	}
	return err
}
