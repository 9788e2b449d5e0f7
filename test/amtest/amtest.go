// Package amtest runs a real Alertmanager process on loopback for tests.
package amtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/client"
	amalert "github.com/prometheus/alertmanager/api/v2/client/alert"
	"github.com/prometheus/alertmanager/api/v2/models"
)

// startTimeout bounds building and starting Alertmanager. It is generous
// because the first `go tool` build of Alertmanager takes minutes on a small
// machine; later runs use the cached binary and are ready in about a second.
const startTimeout = 3 * time.Minute

// startAttempts is how many times Start retries on a fresh port when the
// process exits before becoming ready, which happens when another process
// takes the free port between our probe and Alertmanager's bind.
const startAttempts = 3

// config routes every alert to a receiver without integrations, so
// Alertmanager stores and groups alerts but never notifies anyone. The short
// group timings make grouping effects visible within a test.
const config = `route:
  receiver: blackhole
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: blackhole
`

// BinaryEnv names the Alertmanager binary to run instead of asking `go
// tool`; the Makefile sets it to the one it built, so a test built with
// other flags (-race needs cgo) does not compile Alertmanager again.
const BinaryEnv = "HUBBLE_SENTINEL_ALERTMANAGER"

// binary builds Alertmanager once per test process: `go tool -n` compiles the
// tool version pinned in go.mod on first use and prints the cached path.
var binary = sync.OnceValues(func() (string, error) {
	if path := os.Getenv(BinaryEnv); path != "" {
		return path, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "tool", "-n", "alertmanager")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("building alertmanager with go tool in %s: %w\n%s", root, err, stderr.Bytes())
	}
	path := string(bytes.TrimSpace(out))
	if path == "" {
		return "", fmt.Errorf("go tool -n alertmanager printed no path\n%s", stderr.Bytes())
	}
	return path, nil
})

// moduleRoot walks up from the working directory to the directory holding
// go.mod, because tests run in their package directory but `go tool` must run
// inside the module that declares the tool.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("finding module root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Options put a front before the Alertmanager as a reverse proxy in a
// production setup does: TLS and authentication. The zero value serves
// plain HTTP without authentication.
type Options struct {
	// TLS, when set, makes the URL https and the front serve it;
	// ClientTLS is what the helper's own client (Alerts) presents, a client
	// certificate when TLS requires one.
	TLS       *tls.Config
	ClientTLS *tls.Config
	// BasicAuth (user, password) or BearerToken, when set, are required of
	// every request; others get 401.
	BasicAuth   [2]string
	BearerToken string
}

// Received is one alert an Alertmanager accepted (HTTP 200 to its POST).
type Received struct {
	At    time.Time
	Alert *models.PostableAlert
}

// Alertmanager is a running Alertmanager process owned by one test, behind
// a front on its public URL that records every alert it accepts: resolved
// ones included, which its API no longer lists.
type Alertmanager struct {
	// URL is the base URL of the Alertmanager, e.g. http://127.0.0.1:40123,
	// as a user would configure it in hubble-sentinel.
	URL *url.URL

	t       testing.TB
	opts    Options
	dir     string
	api     *client.AlertmanagerAPI
	logPath string

	mu       sync.Mutex
	proc     *process // nil while stopped
	front    *http.Server
	received []Received
	rejected int
}

// process is one run of the Alertmanager binary.
type process struct {
	cmd    *exec.Cmd
	addr   string
	exited chan struct{}
	stop   sync.Once
}

// Start builds and starts an Alertmanager on a free loopback port with its
// own storage and clustering disabled, and returns once it reports ready.
// The process is killed when the test ends, and its log is added to the test
// output if the test failed, since that is usually where the reason is.
func Start(t testing.TB) *Alertmanager { return StartWith(t, Options{}) }

// StartWith is Start with a front requiring TLS or authentication.
func StartWith(t testing.TB, opts Options) *Alertmanager {
	t.Helper()
	a := &Alertmanager{t: t, opts: opts, dir: t.TempDir()}
	a.logPath = filepath.Join(a.dir, "alertmanager.log")
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	scheme := "http"
	if opts.TLS != nil {
		scheme = "https"
	}
	a.URL = &url.URL{Scheme: scheme, Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	cfg := client.DefaultTransportConfig().WithHost(a.URL.Host).WithBasePath("/api/v2").WithSchemes([]string{scheme})
	a.api = client.NewHTTPClientWithConfig(strfmt.Default, cfg)
	t.Cleanup(func() {
		a.Stop()
		if t.Failed() {
			a.dumpLog(t)
		}
	})
	a.Restart()
	return a
}

// Restart starts the Alertmanager again on the same URL after Stop, with
// the same storage, as a restarted Alertmanager would be. It is how tests
// end an outage.
func (a *Alertmanager) Restart() {
	a.t.Helper()
	bin, err := binary()
	if err != nil {
		a.t.Fatal(err)
	}
	deadline := time.Now().Add(startTimeout)
	for attempt := 1; ; attempt++ {
		p, err := a.startProcess(bin, deadline)
		if err == nil {
			if err := a.serveFront(p); err != nil {
				p.kill()
				a.t.Fatalf("alertmanager front on %s: %v", a.URL.Host, err)
			}
			return
		}
		if attempt == startAttempts || time.Now().After(deadline) {
			a.t.Fatalf("starting alertmanager: %v", err)
		}
		a.t.Logf("starting alertmanager (attempt %d): %v; retrying", attempt, err)
	}
}

// startProcess runs the binary on a free internal port and waits for it
// to be ready.
func (a *Alertmanager) startProcess(bin string, deadline time.Time) (*process, error) {
	cfgPath := filepath.Join(a.dir, "alertmanager.yml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		return nil, fmt.Errorf("writing config: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	logFile, err := os.OpenFile(a.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening log file: %w", err)
	}
	defer logFile.Close() // the child has its own descriptor

	cmd := exec.Command(bin,
		"--config.file="+cfgPath,
		"--storage.path="+filepath.Join(a.dir, "data"),
		"--web.listen-address="+addr,
		"--cluster.listen-address=",
		"--log.level=debug",
	)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	p := &process{cmd: cmd, addr: addr, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait() // the exit status of a killed test process is not interesting
		close(p.exited)
	}()
	if err := p.waitReady(deadline); err != nil {
		p.kill()
		return nil, err
	}
	return p, nil
}

// serveFront listens on the public URL and forwards to p, checking TLS and
// authentication and recording accepted alerts.
func (a *Alertmanager) serveFront(p *process) error {
	var lis net.Listener
	var err error
	for range 50 { // the port of a front just closed may linger briefly
		if lis, err = net.Listen("tcp", a.URL.Host); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	if a.opts.TLS != nil {
		lis = tls.NewListener(lis, a.opts.TLS)
	}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: p.addr})
	type postedKey struct{}
	rp.ModifyResponse = func(resp *http.Response) error {
		posted, ok := resp.Request.Context().Value(postedKey{}).(models.PostableAlerts)
		if !ok {
			return nil
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		if resp.StatusCode != http.StatusOK {
			a.rejected += len(posted)
			return nil
		}
		now := time.Now()
		for _, al := range posted {
			a.received = append(a.received, Received{At: now, Alert: al})
		}
		return nil
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.authorized(r) {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPost && r.URL.Path == "/api/v2/alerts" {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			var posted models.PostableAlerts
			if json.Unmarshal(body, &posted) == nil {
				r = r.WithContext(context.WithValue(r.Context(), postedKey{}, posted))
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(lis) }()
	a.mu.Lock()
	a.proc, a.front = p, srv
	a.mu.Unlock()
	return nil
}

func (a *Alertmanager) authorized(r *http.Request) bool {
	if user := a.opts.BasicAuth[0]; user != "" {
		u, p, ok := r.BasicAuth()
		return ok && u == user && p == a.opts.BasicAuth[1]
	}
	if tok := a.opts.BearerToken; tok != "" {
		return r.Header.Get("Authorization") == "Bearer "+tok
	}
	return true
}

// freePort asks the kernel for a free loopback port. The port is released
// before Alertmanager binds it, so Start retries if someone else takes it.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls /-/ready, which Alertmanager answers with 200 only once it
// has loaded its configuration and serves the API.
func (p *process) waitReady(deadline time.Time) error {
	ready := "http://" + p.addr + "/-/ready"
	hc := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := hc.Get(ready)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("alertmanager exited before becoming ready (%s)", p.cmd.ProcessState)
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("alertmanager at %s not ready after %s", p.addr, startTimeout)
		}
	}
}

func (p *process) kill() {
	p.stop.Do(func() {
		_ = p.cmd.Process.Kill() // fails only if the process already exited
		<-p.exited
	})
}

// Alerts returns the alerts Alertmanager currently holds, through the same
// API v2 client a real integration would use. Each filter is a matcher such
// as `alertname="X"`. Resolved alerts are not returned, as in Alertmanager's
// own API; Received has them.
func (a *Alertmanager) Alerts(ctx context.Context, filter ...string) ([]*models.GettableAlert, error) {
	params := amalert.NewGetAlertsParamsWithContext(ctx).WithFilter(filter)
	if a.opts.TLS != nil || a.opts.BasicAuth[0] != "" || a.opts.BearerToken != "" {
		params = params.WithHTTPClient(a.client())
	}
	resp, err := a.api.Alert.GetAlerts(params)
	if err != nil {
		return nil, fmt.Errorf("getting alerts from %s: %w", a.URL, err)
	}
	return resp.Payload, nil
}

// client is an HTTP client that passes the front: it trusts its
// certificate and authenticates.
func (a *Alertmanager) client() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if a.opts.TLS != nil {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the test's own front
		if a.opts.ClientTLS != nil {
			tr.TLSClientConfig = a.opts.ClientTLS.Clone()
		}
	}
	return &http.Client{Transport: authTransport{next: tr, opts: a.opts}}
}

type authTransport struct {
	next http.RoundTripper
	opts Options
}

func (t authTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	switch {
	case t.opts.BasicAuth[0] != "":
		r.SetBasicAuth(t.opts.BasicAuth[0], t.opts.BasicAuth[1])
	case t.opts.BearerToken != "":
		r.Header.Set("Authorization", "Bearer "+t.opts.BearerToken)
	}
	return t.next.RoundTrip(r)
}

// Received returns every alert the Alertmanager accepted so far, in the
// order it accepted them, across restarts.
func (a *Alertmanager) Received() []Received {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Received(nil), a.received...)
}

// Rejected is how many posted alerts the Alertmanager refused.
func (a *Alertmanager) Rejected() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.rejected
}

// Stop kills the process and closes its front, and waits for both, so that
// afterwards its URL refuses connections: that is how tests simulate an
// unreachable Alertmanager. Stop is safe to call more than once.
func (a *Alertmanager) Stop() {
	a.mu.Lock()
	p, front := a.proc, a.front
	a.proc, a.front = nil, nil
	a.mu.Unlock()
	if front != nil {
		_ = front.Close()
	}
	if p != nil {
		p.kill()
	}
}

// dumpLog adds the Alertmanager's log to the test output.
func (a *Alertmanager) dumpLog(t testing.TB) {
	b, err := os.ReadFile(a.logPath)
	if err != nil {
		t.Logf("reading alertmanager log: %v", err)
		return
	}
	t.Logf("alertmanager %s log:\n%s", a.URL, b)
}
