package alertmanager

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/engine/alert"
)

func TestNew(t *testing.T) {
	am := mustParse(t, "http://am:9093")
	for _, tc := range []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "defaults", cfg: Config{URLs: []*url.URL{am}}},
		{name: "no URL", cfg: Config{}, wantErr: "no alertmanager URL"},
		{name: "nil URL", cfg: Config{URLs: []*url.URL{nil}}, wantErr: "nil"},
		{name: "no scheme", cfg: Config{URLs: []*url.URL{mustParse(t, "am:9093")}}, wantErr: "scheme"},
		{name: "unsupported scheme", cfg: Config{URLs: []*url.URL{mustParse(t, "ftp://am:9093")}}, wantErr: "scheme"},
		{name: "no host", cfg: Config{URLs: []*url.URL{mustParse(t, "http:///alertmanager")}}, wantErr: "no host"},
		{name: "duplicate", cfg: Config{URLs: []*url.URL{am, mustParse(t, "http://am:9093")}}, wantErr: "twice"},
		{name: "negative", cfg: Config{URLs: []*url.URL{am}, SpoolMaxBytes: -1}, wantErr: "spool size bound"},
		{name: "missing CA file", cfg: Config{URLs: []*url.URL{am}, HTTP: HTTPConfig{CAFile: "/nonexistent/ca.crt"}}, wantErr: "/nonexistent/ca.crt"},
		{name: "certificate without key", cfg: Config{URLs: []*url.URL{am}, HTTP: HTTPConfig{CertFile: "c.crt"}}, wantErr: "both a certificate file and a key file"},
		{name: "password without user", cfg: Config{URLs: []*url.URL{am}, HTTP: HTTPConfig{BasicAuthPasswordFile: "p"}}, wantErr: "needs a username"},
		{name: "two basic auths", cfg: Config{URLs: []*url.URL{mustParse(t, "http://u:s3cret@am:9093")}, HTTP: HTTPConfig{BasicAuthUsername: "u", BasicAuthPasswordFile: "p"}}, wantErr: "both in the URL and by flags"},
		{name: "basic and bearer", cfg: Config{URLs: []*url.URL{am}, HTTP: HTTPConfig{BasicAuthUsername: "u", BasicAuthPasswordFile: "p", BearerTokenFile: "t"}}, wantErr: "mutually exclusive"},
		{name: "backoff inverted", cfg: Config{URLs: []*url.URL{am}, BackoffMin: time.Minute, BackoffMax: time.Second}, wantErr: "backoff"},
		{
			name:    "password redacted in errors",
			cfg:     Config{URLs: []*url.URL{mustParse(t, "ftp://user:s3cret@am:9093")}},
			wantErr: "ftp://user:xxxxx@am:9093",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.cfg, nil, nil)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				require.NotContains(t, err.Error(), "s3cret")
				return
			}
			require.NoError(t, err)
			require.Len(t, s.targets, 1)
			tg := s.targets[0]
			require.Equal(t, DefaultBatchSize, tg.batchSize)
			require.Equal(t, DefaultTimeout, tg.timeout)
			require.Equal(t, DefaultBackoffMin, tg.backoffMin)
			require.Equal(t, DefaultBackoffMax, tg.backoffMax)
			require.Equal(t, DefaultFailingAfter, tg.failingAfter)
			require.True(t, tg.inMemory)
			require.Equal(t, int64(DefaultMemoryMaxBytes), s.spool.maxBytes)
			require.NoError(t, s.Close())
		})
	}
}

func TestRunTwice(t *testing.T) {
	h := newHarness(t, Config{URLs: []*url.URL{closedURL(t)}})
	h.run(t)
	require.Eventually(t, h.running.Load, time.Second, time.Millisecond)
	require.ErrorIs(t, h.Run(t.Context()), ErrAlreadyRunning)
}

func TestPostable(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 123e6, time.UTC)
	end := start.Add(5 * time.Minute)
	for _, tc := range []struct {
		name     string
		in       alert.Alert
		want     *models.PostableAlert
		wantJSON string // checked when set
	}{
		{
			name: "all fields",
			in: alert.Alert{
				Labels:       map[string]string{"alertname": "EgressToUnknownFQDN", "severity": "critical"},
				Annotations:  map[string]string{"summary": "pod talked to evil.example"},
				StartsAt:     start,
				EndsAt:       end,
				GeneratorURL: "http://sentinel:8080/policies/egress",
			},
			want: &models.PostableAlert{
				Alert: models.Alert{
					Labels:       models.LabelSet{"alertname": "EgressToUnknownFQDN", "severity": "critical"},
					GeneratorURL: "http://sentinel:8080/policies/egress",
				},
				Annotations: models.LabelSet{"summary": "pod talked to evil.example"},
				StartsAt:    strfmt.DateTime(start),
				EndsAt:      strfmt.DateTime(end),
			},
			wantJSON: `{
				"labels": {"alertname": "EgressToUnknownFQDN", "severity": "critical"},
				"annotations": {"summary": "pod talked to evil.example"},
				"startsAt": "2026-03-01T12:00:00.123Z",
				"endsAt": "2026-03-01T12:05:00.123Z",
				"generatorURL": "http://sentinel:8080/policies/egress"
			}`,
		},
		{
			name: "zero times left unset",
			in:   alert.Alert{Labels: map[string]string{"alertname": "A"}},
			want: &models.PostableAlert{Alert: models.Alert{Labels: models.LabelSet{"alertname": "A"}}},
		},
		{
			name: "only end set",
			in:   alert.Alert{Labels: map[string]string{"alertname": "A"}, EndsAt: end},
			want: &models.PostableAlert{Alert: models.Alert{Labels: models.LabelSet{"alertname": "A"}}, EndsAt: strfmt.DateTime(end)},
		},
		{
			name: "nil maps give empty labels and no annotations",
			in:   alert.Alert{},
			want: &models.PostableAlert{Alert: models.Alert{Labels: models.LabelSet{}}},
			wantJSON: `{
				"labels": {},
				"startsAt": "0001-01-01T00:00:00.000Z",
				"endsAt": "0001-01-01T00:00:00.000Z"
			}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Postable(tc.in)

			// The result must not share maps with the input.
			for k := range tc.in.Labels {
				tc.in.Labels[k] = "mutated"
			}
			for k := range tc.in.Annotations {
				tc.in.Annotations[k] = "mutated"
			}

			require.Equal(t, tc.want, got)
			require.True(t, time.Time(got.StartsAt).Equal(time.Time(tc.want.StartsAt)))
			if tc.wantJSON != "" {
				b, err := json.Marshal(got)
				require.NoError(t, err)
				require.JSONEq(t, tc.wantJSON, string(b))
			}
		})
	}
}

func TestSendDropsInvalidAlerts(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name        string
		alert       alert.Alert
		wantInvalid bool
	}{
		{name: "valid", alert: named("Valid")},
		{name: "no labels", alert: alert.Alert{StartsAt: now}, wantInvalid: true},
		{name: "only empty label values", alert: alert.Alert{Labels: map[string]string{"alertname": ""}}, wantInvalid: true},
		{
			name:        "ends before it starts",
			alert:       alert.Alert{Labels: map[string]string{"alertname": "A"}, StartsAt: now, EndsAt: now.Add(-time.Second)},
			wantInvalid: true,
		},
		{name: "resolved", alert: alert.Alert{Labels: map[string]string{"alertname": "A"}, StartsAt: now.Add(-time.Hour), EndsAt: now}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := closedURL(t), mustParse(t, "http://other:9093")
			h := newHarness(t, Config{URLs: []*url.URL{a, b}})
			h.Send(tc.alert)

			wantDropped, wantQueued := 0.0, 1.0
			if tc.wantInvalid {
				wantDropped, wantQueued = 1, 0
			}
			for _, u := range []*url.URL{a, b} {
				require.Equal(t, wantDropped, h.metric(t, "hubble_sentinel_alertmanager_alerts_dropped_total",
					"alertmanager", u.String(), "reason", ReasonInvalid), u.String())
				require.Equal(t, wantQueued, h.metric(t, "hubble_sentinel_alertmanager_queue_length",
					"alertmanager", u.String()), u.String())
			}
			require.Equal(t, tc.wantInvalid, len(h.log.Lines("dropping invalid alert")) == 1)
		})
	}
}

// fakeAM is an httptest Alertmanager API answering with a scripted sequence
// of statuses; the last one repeats.
type fakeAM struct {
	statuses    []int
	contentType string
	body        string // error body
	hangFirst   bool   // the first request never gets an answer
	prefix      string
	user, pass  string
	bearer      string

	requests atomic.Int32
	mu       sync.Mutex
	received []string // alertnames of accepted alerts
}

func (f *fakeAM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := int(f.requests.Add(1))
	if r.Method != http.MethodPost || r.URL.Path != f.prefix+"/api/v2/alerts" {
		http.NotFound(w, r)
		return
	}
	f.mu.Lock()
	bearer := f.bearer
	f.mu.Unlock()
	if bearer != "" && r.Header.Get("Authorization") != "Bearer "+bearer {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if f.user != "" {
		if user, pass, ok := r.BasicAuth(); !ok || user != f.user || pass != f.pass {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
	}
	var alerts models.PostableAlerts
	if err := json.NewDecoder(r.Body).Decode(&alerts); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if f.hangFirst && n == 1 {
		// The server notices the client giving up only once the body has
		// been read, hence after decoding.
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		return
	}
	status := f.statuses[min(n, len(f.statuses))-1]
	if status != http.StatusOK {
		w.Header().Set("Content-Type", f.contentType)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, f.body)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range alerts {
		f.received = append(f.received, a.Labels[alert.LabelAlertname])
	}
	w.WriteHeader(http.StatusOK)
}

func TestResponseClassification(t *testing.T) {
	type counts map[string]float64
	for _, tc := range []struct {
		name         string
		am           *fakeAM
		userinfo     string
		timeout      time.Duration
		http         HTTPConfig
		files        map[string]string // written to a temporary directory the HTTPConfig's files are in
		pathPrefix   string
		wantRequests int32
		wantSent     float64
		wantErrors   float64
		wantDropped  counts
		wantLogs     []string
	}{
		{
			name:         "accepted",
			am:           &fakeAM{statuses: []int{200}},
			wantRequests: 1, wantSent: 2,
		},
		{
			name:         "path prefix",
			am:           &fakeAM{statuses: []int{200}, prefix: "/alertmanager"},
			wantRequests: 1, wantSent: 2,
		},
		{
			name:         "basic auth from URL",
			am:           &fakeAM{statuses: []int{200}, user: "sentinel", pass: "s3cret"},
			userinfo:     "sentinel:s3cret",
			wantRequests: 1, wantSent: 2,
		},
		{
			name: "400 is rejected, not retried",
			am: &fakeAM{
				statuses: []int{400}, contentType: "application/json",
				body: `"start time must be before end time"`,
			},
			wantRequests: 1, wantErrors: 1,
			wantDropped: counts{ReasonRejected: 2},
			wantLogs:    []string{"alertmanager rejected alerts", "start time must be before end time"},
		},
		{
			name: "400 with an unexpected body is still rejected",
			am: &fakeAM{
				statuses: []int{400}, contentType: "application/json",
				body: `{"error": "not the API's error format"}`,
			},
			wantRequests: 1, wantErrors: 1,
			wantDropped: counts{ReasonRejected: 2},
			wantLogs:    []string{"alertmanager rejected alerts", "HTTP 400"},
		},
		{
			name:         "wrong credentials are rejected",
			am:           &fakeAM{statuses: []int{200}, user: "sentinel", pass: "s3cret"},
			userinfo:     "sentinel:wrong",
			wantRequests: 1, wantErrors: 1,
			wantDropped: counts{ReasonRejected: 2},
			wantLogs:    []string{"HTTP 401"},
		},
		{
			name:         "503 is retried",
			am:           &fakeAM{statuses: []int{503, 200}, contentType: "text/plain", body: "overloaded"},
			wantRequests: 2, wantSent: 2, wantErrors: 1,
			wantLogs: []string{"alertmanager unreachable, retrying", "alertmanager reachable again"},
		},
		{
			name:         "500 is retried",
			am:           &fakeAM{statuses: []int{500, 500, 200}, contentType: "application/json", body: `"storage failed"`},
			wantRequests: 3, wantSent: 2, wantErrors: 2,
			wantLogs: []string{"storage failed"},
		},
		{
			name:         "429 is retried",
			am:           &fakeAM{statuses: []int{429, 200}, contentType: "text/plain", body: "slow down"},
			wantRequests: 2, wantSent: 2, wantErrors: 1,
		},
		{
			name:         "timeout is retried",
			am:           &fakeAM{statuses: []int{200}, hangFirst: true},
			timeout:      500 * time.Millisecond,
			wantRequests: 2, wantSent: 2, wantErrors: 1,
			wantLogs: []string{"deadline exceeded"},
		},
		{
			name:         "basic auth from a password file",
			am:           &fakeAM{statuses: []int{200}, user: "sentinel", pass: "s3cret"},
			http:         HTTPConfig{BasicAuthUsername: "sentinel", BasicAuthPasswordFile: "password"},
			files:        map[string]string{"password": "s3cret\n"},
			wantRequests: 1, wantSent: 2,
		},
		{
			name:         "bearer token from a file",
			am:           &fakeAM{statuses: []int{200}, bearer: "t0ken-s3cret"},
			http:         HTTPConfig{BearerTokenFile: "token"},
			files:        map[string]string{"token": "t0ken-s3cret"},
			wantRequests: 1, wantSent: 2,
		},
		{
			name:         "path prefix by configuration",
			am:           &fakeAM{statuses: []int{200}, prefix: "/am"},
			pathPrefix:   "/am",
			wantRequests: 1, wantSent: 2,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.am)
			t.Cleanup(srv.Close)
			u := mustParse(t, srv.URL+tc.am.prefix)
			if tc.pathPrefix != "" {
				u = mustParse(t, srv.URL)
			}
			dir := t.TempDir()
			for name, content := range tc.files {
				require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600))
			}
			for _, f := range []*string{&tc.http.BasicAuthPasswordFile, &tc.http.BearerTokenFile} {
				if *f != "" {
					*f = filepath.Join(dir, *f)
				}
			}
			if tc.userinfo != "" {
				user, pass, _ := strings.Cut(tc.userinfo, ":")
				u.User = url.UserPassword(user, pass)
			}
			h := newHarness(t, Config{
				URLs:       []*url.URL{u},
				Timeout:    tc.timeout,
				BackoffMin: 10 * time.Millisecond,
				BackoffMax: 20 * time.Millisecond,
				HTTP:       tc.http,
				PathPrefix: tc.pathPrefix,
			})
			h.run(t)
			h.Send(named("first"), named("second"))

			label := []string{"alertmanager", u.Redacted()}
			accounted := func() float64 {
				n := h.metric(t, "hubble_sentinel_alertmanager_alerts_sent_total", label...)
				for _, r := range reasons {
					n += h.metric(t, "hubble_sentinel_alertmanager_alerts_dropped_total", append(label, "reason", r)...)
				}
				return n
			}
			require.Eventually(t, func() bool { return accounted() == 2 }, 5*time.Second, 5*time.Millisecond)
			time.Sleep(100 * time.Millisecond) // room for a retry that must not happen

			require.Equal(t, tc.wantRequests, tc.am.requests.Load())
			require.Equal(t, tc.wantSent, h.metric(t, "hubble_sentinel_alertmanager_alerts_sent_total", label...))
			require.Equal(t, tc.wantErrors, h.metric(t, "hubble_sentinel_alertmanager_errors_total", label...))
			require.Equal(t, float64(tc.wantRequests), h.metric(t, "hubble_sentinel_alertmanager_latency_seconds", label...))
			require.Equal(t, tc.wantSent/2, h.metric(t, "hubble_sentinel_alertmanager_requests_total", append(label, "result", ResultSuccess)...))
			require.Equal(t, tc.wantDropped[ReasonRejected]/2, h.metric(t, "hubble_sentinel_alertmanager_requests_total", append(label, "result", ResultRejected)...))
			for _, r := range reasons {
				require.Equal(t, tc.wantDropped[r], h.metric(t, "hubble_sentinel_alertmanager_alerts_dropped_total", append(label, "reason", r)...), r)
			}
			if tc.wantSent > 0 {
				tc.am.mu.Lock()
				require.Equal(t, []string{"first", "second"}, tc.am.received)
				tc.am.mu.Unlock()
			}
			for _, want := range tc.wantLogs {
				require.Len(t, h.log.Lines(want), 1, want)
			}
			require.NotContains(t, h.log.String(), "s3cret")
			require.Zero(t, h.metric(t, "hubble_sentinel_alertmanager_queue_length", label...), "nothing left in the spool")
		})
	}
}
