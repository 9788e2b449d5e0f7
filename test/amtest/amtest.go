// Package amtest runs a real Alertmanager process on loopback for tests.
package amtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
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

// binary builds Alertmanager once per test process: `go tool -n` compiles the
// tool version pinned in go.mod on first use and prints the cached path.
var binary = sync.OnceValues(func() (string, error) {
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

// Alertmanager is a running Alertmanager process owned by one test.
type Alertmanager struct {
	// URL is the base URL of the Alertmanager, e.g. http://127.0.0.1:40123,
	// as a user would configure it in hubble-sentinel.
	URL *url.URL

	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has exited
	logPath string
	api     *client.AlertmanagerAPI
	stop    sync.Once
}

// Start builds and starts an Alertmanager on a free loopback port with its
// own storage and clustering disabled, and returns once it reports ready.
// The process is killed when the test ends, and its log is added to the test
// output if the test failed, since that is usually where the reason is.
func Start(t testing.TB) *Alertmanager {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(startTimeout)
	for attempt := 1; ; attempt++ {
		am, err := start(t, bin, deadline)
		if err == nil {
			return am
		}
		if attempt == startAttempts || time.Now().After(deadline) {
			t.Fatalf("starting alertmanager: %v", err)
		}
		t.Logf("starting alertmanager (attempt %d): %v; retrying", attempt, err)
	}
}

// start runs one attempt of Start. It registers the cleanup before waiting
// for readiness so that a process that never becomes ready is still killed.
func start(t testing.TB, bin string, deadline time.Time) (*Alertmanager, error) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		return nil, fmt.Errorf("writing config: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	logPath := filepath.Join(dir, "alertmanager.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("creating log file: %w", err)
	}
	defer logFile.Close() // the child has its own descriptor

	cmd := exec.Command(bin,
		"--config.file="+cfgPath,
		"--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--cluster.listen-address=",
		"--log.level=debug",
	)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}

	u := &url.URL{Scheme: "http", Host: addr}
	am := &Alertmanager{
		URL:     u,
		cmd:     cmd,
		exited:  make(chan struct{}),
		logPath: logPath,
		api: client.NewHTTPClientWithConfig(strfmt.Default, client.DefaultTransportConfig().
			WithHost(u.Host).
			WithBasePath("/api/v2").
			WithSchemes([]string{u.Scheme})),
	}
	go func() {
		_ = cmd.Wait() // the exit status of a killed test process is not interesting
		close(am.exited)
	}()
	t.Cleanup(func() {
		am.Stop()
		if t.Failed() {
			am.dumpLog(t)
		}
	})

	if err := am.waitReady(deadline); err != nil {
		am.Stop()
		return nil, err
	}
	return am, nil
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
func (a *Alertmanager) waitReady(deadline time.Time) error {
	ready := a.URL.JoinPath("/-/ready").String()
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
		case <-a.exited:
			return fmt.Errorf("alertmanager exited before becoming ready (%s)", a.cmd.ProcessState)
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("alertmanager at %s not ready after %s", a.URL, startTimeout)
		}
	}
}

// Alerts returns the alerts Alertmanager currently holds, through the same
// API v2 client a real integration would use. Each filter is a matcher such
// as `alertname="X"`. Resolved alerts are not returned, as in Alertmanager's
// own API.
func (a *Alertmanager) Alerts(ctx context.Context, filter ...string) ([]*models.GettableAlert, error) {
	resp, err := a.api.Alert.GetAlerts(amalert.NewGetAlertsParamsWithContext(ctx).WithFilter(filter))
	if err != nil {
		return nil, fmt.Errorf("getting alerts from %s: %w", a.URL, err)
	}
	return resp.Payload, nil
}

// Stop kills the process and waits for it to exit, so that afterwards its
// port refuses connections: that is how tests simulate an unreachable
// Alertmanager. Stop is safe to call more than once.
func (a *Alertmanager) Stop() {
	a.stop.Do(func() {
		_ = a.cmd.Process.Kill() // fails only if the process already exited
		<-a.exited
	})
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
