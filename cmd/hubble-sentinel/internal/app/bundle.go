package app

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/config"

	"github.com/hubble-sentinel/hubble-sentinel/engine/policy"
)

// bundleTimeout bounds one bundle request, download included.
const bundleTimeout = time.Minute

// errNotModified: the bundle server answered 304, the running bundle is
// current.
var errNotModified = errors.New("bundle not modified")

// bundleSource fetches an OPA bundle from a file or an HTTP(S) URL, as
// OPA's bundle plugin does: with If-None-Match and the last ETag, within
// size and time limits, and verified when a key is configured.
type bundleSource struct {
	opts   BundleOptions
	url    *url.URL // nil: a file
	client *http.Client
	limits policy.BundleLimits
	logger *slog.Logger

	etag   string   // of the last bundle read, good or not
	digest [32]byte // of the last bundle read, for servers without ETags

	requests    *prometheus.CounterVec
	lastSuccess prometheus.Gauge
}

func newBundleSource(o BundleOptions, logger *slog.Logger) (*bundleSource, error) {
	s := &bundleSource{opts: o, limits: policy.DefaultBundleLimits, logger: logger}
	if strings.HasPrefix(o.Source, "http://") || strings.HasPrefix(o.Source, "https://") {
		u, err := url.Parse(o.Source)
		if err != nil {
			return nil, fmt.Errorf("--policies.bundle: %w", err)
		}
		s.url = u
		if (o.CertFile == "") != (o.KeyFile == "") {
			return nil, errors.New("--policies.bundle.tls: a client certificate needs both --policies.bundle.tls.cert-file and --policies.bundle.tls.key-file")
		}
		cfg := config.DefaultHTTPClientConfig
		cfg.TLSConfig = config.TLSConfig{CAFile: o.CAFile, CertFile: o.CertFile, KeyFile: o.KeyFile}
		if o.BearerTokenFile != "" {
			if u.User != nil {
				return nil, errors.New("--policies.bundle: basic auth in the URL and --policies.bundle.bearer-token-file are exclusive; use one")
			}
			cfg.Authorization = &config.Authorization{Type: "Bearer", CredentialsFile: o.BearerTokenFile}
		}
		rt, err := config.NewRoundTripperFromConfig(cfg, "policy-bundle")
		if err != nil {
			return nil, fmt.Errorf("--policies.bundle TLS or auth: %w", err)
		}
		s.client = &http.Client{Transport: rt, Timeout: bundleTimeout}
	} else if o.CAFile != "" || o.CertFile != "" || o.BearerTokenFile != "" {
		return nil, errors.New("--policies.bundle.tls.* and --policies.bundle.bearer-token-file apply to an http(s):// bundle URL, not a file")
	}
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "hubble_sentinel", Subsystem: "policy", Name: "bundle_requests_total",
		Help: "Policy bundle fetches, by result: ok (a bundle was read), not_modified (304), error.",
	}, []string{"result"})
	for _, r := range []string{"ok", "not_modified", "error"} {
		s.requests.WithLabelValues(r)
	}
	s.lastSuccess = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "hubble_sentinel", Subsystem: "policy", Name: "bundle_last_success_timestamp_seconds",
		Help: "When the policy bundle was last fetched successfully (read, or 304 not modified), in seconds since the epoch.",
	})
	return s, nil
}

// String is where the bundle comes from, credentials in the URL redacted.
func (s *bundleSource) String() string {
	if s.url != nil {
		return "bundle " + s.url.Redacted()
	}
	return "bundle " + s.opts.Source
}

// fetch reads the bundle. Unless force is set, a URL is asked with
// If-None-Match and the last ETag, and errNotModified is returned when it
// has not changed.
func (s *bundleSource) fetch(ctx context.Context, force bool) (*policy.Bundle, error) {
	b, err := s.read(ctx, force)
	switch {
	case errors.Is(err, errNotModified):
		s.requests.WithLabelValues("not_modified").Inc()
		s.lastSuccess.SetToCurrentTime()
	case err != nil:
		s.requests.WithLabelValues("error").Inc()
		err = fmt.Errorf("%s: %w", s, err)
	default:
		s.requests.WithLabelValues("ok").Inc()
		s.lastSuccess.SetToCurrentTime()
	}
	return b, err
}

func (s *bundleSource) read(ctx context.Context, force bool) (*policy.Bundle, error) {
	key, err := s.key()
	if err != nil {
		return nil, err
	}
	if s.url == nil {
		f, err := os.Open(s.opts.Source)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return policy.ReadBundle(f, s.limits, key)
	}
	ctx, cancel := context.WithTimeout(ctx, bundleTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/gzip, application/octet-stream")
	if s.etag != "" && !force {
		req.Header.Set("If-None-Match", s.etag)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		// The URL in url.Error is the request's, credentials and all.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotModified:
		return nil, errNotModified
	default:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("HTTP status %s", resp.Status)
	}
	// The ETag is kept even when the bundle turns out broken: the same
	// bytes would fail again, and the alert stays until a new one loads.
	s.etag = resp.Header.Get("ETag")
	h := sha256.New()
	b, err := policy.ReadBundle(io.TeeReader(resp.Body, h), s.limits, key)
	if err != nil {
		return nil, err
	}
	digest := [32]byte(h.Sum(nil))
	if digest == s.digest && !force {
		return nil, errNotModified // the same bytes again, without an ETag
	}
	s.digest = digest
	return b, nil
}

// key is the verification key, read on every fetch so a rotated key is
// used without a restart; nil when none is configured.
func (s *bundleSource) key() (*policy.BundleKey, error) {
	if s.opts.VerificationKeyFile == "" {
		return nil, nil
	}
	b, err := os.ReadFile(s.opts.VerificationKeyFile)
	if err != nil {
		return nil, fmt.Errorf("--policies.bundle.verification-key-file: %w", err)
	}
	return &policy.BundleKey{Key: b, KeyID: s.opts.VerificationKeyID, Scope: s.opts.VerificationScope}, nil
}

// poll sends on changes every interval, with up to a fifth of it as
// jitter so that many replicas do not hit the server at once, until ctx
// ends. The reloader then fetches with If-None-Match.
func (s *bundleSource) poll(ctx context.Context, changes chan<- struct{}) error {
	interval := s.opts.PollInterval
	if interval <= 0 {
		interval = DefaultBundlePollInterval
	}
	for {
		wait := interval + rand.N(interval/5+1)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
			select {
			case changes <- struct{}{}:
			default: // a fetch is already pending
			}
		}
	}
}
