package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/test/logtest"
	"github.com/hubble-sentinel/hubble-sentinel/test/loopback"
)

// start runs the binary until the test ends.
func start(t *testing.T, args ...string) *logtest.Buffer {
	t.Helper()
	out := &logtest.Buffer{}
	cmd := exec.Command(binary(t), args...)
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%v:\n%s", args, out)
		}
	})
	return out
}

// scrape parses the families /metrics serves.
func scrape(t *testing.T, url string) (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(bytes.NewReader(b))
}

var (
	registeredOnce sync.Once
	registered     map[string]*dto.MetricFamily
)

// registeredMetrics are the metric families a real `hubble-sentinel run`
// serves: following the built-in demo relay, with a config file, a closed
// Alertmanager port and, beside the bundled policies, one that runs out of
// time on every flow of the demo (not on the sample inputs the load check
// judges), so that the vectors that only appear
// once a label value is seen (policy failures and quarantine, delivery
// failures, config reloads) are there too.
func registeredMetrics(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	registeredOnce.Do(func() { registered = runAndScrape(t) })
	require.NotEmpty(t, registered, "the metrics were scraped (see the first test that asked)")
	return registered
}

func runAndScrape(t *testing.T) map[string]*dto.MetricFamily {
	dir := t.TempDir()
	policies := filepath.Join(dir, "policies")
	require.NoError(t, os.CopyFS(policies, os.DirFS(filepath.Join("..", "policies"))))
	broken := filepath.Join(policies, "custom", "broken", "broken.rego")
	require.NoError(t, os.MkdirAll(filepath.Dir(broken), 0o755))
	require.NoError(t, os.WriteFile(broken, []byte(`# METADATA
# title: Broken
# custom:
#   id: Broken
#   severity: warning
package sentinel.custom.broken

# The sample inputs the load check judges are of 2026-03-14; the demo's
# flows are of today: on these the policy runs out of time.
violation contains {"msg": "never"} if {
	input.time > "2026-06"
	some i in numbers.range(1, 99999)
	some j in numbers.range(1, 99999)
	i * j == -1
}
`), 0o600))
	args := []string{"run"}
	if runFlags(t)["config.file"] {
		cfg := filepath.Join(dir, "config.yaml")
		require.NoError(t, os.WriteFile(cfg, []byte("alerts:\n  resolve_after: 5m\n"), 0o600))
		args = append(args, "--config.file", cfg)
	}

	relay := loopback.FreeT(t)
	start(t, "demo", "--demo.listen-address", relay, "--demo.duration", "2m", "--demo.rate", "200")
	web := loopback.FreeT(t)
	start(t, append(args, "--hubble.address", relay, "--web.listen-address", web,
		"--alertmanager.url", "http://"+loopback.FreeT(t), "--policies.dir", policies, "--policies.max-failures", "3", "--policies.eval-timeout", "20ms",
		"--baseline.path", filepath.Join(dir, "baselines.snap"), "--alertmanager.spool-path", filepath.Join(dir, "spool"))...)
	var mfs map[string]*dto.MetricFamily
	require.Eventually(t, func() bool {
		var err error
		mfs, err = scrape(t, "http://"+web+"/metrics")
		return err == nil && mfs["hubble_sentinel_policy_quarantined"] != nil && mfs["hubble_sentinel_policy_failures_total"] != nil &&
			mfs["hubble_sentinel_engine_flows_processed_total"].GetMetric()[0].GetCounter().GetValue() > 100
	}, 90*time.Second, 250*time.Millisecond, "the run judges demo flows and quarantines the broken policy")
	return mfs
}

// names are the series names the families expose: a histogram's or a
// summary's _bucket, _sum and _count (and the family name for quantiles).
func names(mfs map[string]*dto.MetricFamily) map[string]dto.MetricType {
	out := map[string]dto.MetricType{}
	for name, mf := range mfs {
		out[name] = mf.GetType()
		switch mf.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				out[name+s] = mf.GetType()
			}
			delete(out, name)
		case dto.MetricType_SUMMARY:
			out[name+"_sum"], out[name+"_count"] = mf.GetType(), mf.GetType()
		}
	}
	return out
}

// TestMetricsLint: every family the binary serves passes promlint, is in
// the one namespace (but Go's and the process's own), and has bounded
// label values (no label with more than 64 values in a demo run).
func TestMetricsLint(t *testing.T) {
	mfs := registeredMetrics(t)
	var list []*dto.MetricFamily
	for _, mf := range mfs {
		list = append(list, mf)
	}
	problems, err := promlint.NewWithMetricFamilies(list).Lint()
	require.NoError(t, err)
	require.Empty(t, problems, "promlint")
	for name, mf := range mfs {
		if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") || strings.HasPrefix(name, "promhttp_") {
			continue
		}
		require.True(t, strings.HasPrefix(name, "hubble_sentinel_"), "%s is in the hubble_sentinel namespace", name)
		values := map[string]map[string]bool{}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if values[l.GetName()] == nil {
					values[l.GetName()] = map[string]bool{}
				}
				values[l.GetName()][l.GetValue()] = true
			}
		}
		for l, vs := range values {
			require.LessOrEqual(t, len(vs), 64, "%s{%s} is bounded", name, l)
		}
	}
	// The metrics the dashboard's flow panels need, by verdict and type.
	require.Contains(t, mfs, "hubble_sentinel_engine_flows_total")
}

// promqlWords are PromQL's functions, aggregations and keywords: words of
// an expression that are not metric names.
var promqlWords = map[string]bool{
	"sum": true, "min": true, "max": true, "avg": true, "count": true, "topk": true, "bottomk": true, "quantile": true, "stddev": true,
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true, "bool": true,
	"and": true, "or": true, "unless": true, "offset": true,
	"rate": true, "irate": true, "increase": true, "delta": true, "deriv": true, "absent": true, "absent_over_time": true,
	"histogram_quantile": true, "clamp_min": true, "clamp_max": true, "max_over_time": true, "min_over_time": true, "avg_over_time": true,
	"time": true, "vector": true, "label_values": true, "changes": true, "resets": true,
}

var (
	promqlString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promqlMatchers = regexp.MustCompile(`\{[^}]*\}`)
	promqlRange    = regexp.MustCompile(`\[[^\]]*\]`)
	promqlGrouping = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promqlWord     = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
)

// metricNames extracts the metric names a PromQL expression selects: its
// words once strings, label matchers, ranges and grouping labels are cut,
// less functions and keywords. (Prometheus' own parser,
// github.com/prometheus/prometheus/promql/parser, would add a heavy module
// for this one use.)
func metricNames(expr string) []string {
	e := promqlString.ReplaceAllString(expr, `""`)
	e = promqlMatchers.ReplaceAllString(e, " ")
	e = promqlRange.ReplaceAllString(e, " ")
	e = promqlGrouping.ReplaceAllString(e, " ")
	var out []string
	for _, loc := range promqlWord.FindAllStringIndex(e, -1) {
		w := e[loc[0]:loc[1]]
		if promqlWords[w] || (loc[0] > 0 && (e[loc[0]-1] == '$' || (e[loc[0]-1] >= '0' && e[loc[0]-1] <= '9') || e[loc[0]-1] == '.')) {
			continue // a variable, or a number's exponent or unit
		}
		out = append(out, w)
	}
	return out
}

func TestMetricNamesExtraction(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`sum by (verdict) (rate(a_total{job=~"$job", x="sum(b)"}[$__rate_interval]))`, []string{"a_total"}},
		{`histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m])))`, []string{"h_bucket"}},
		{`absent(up{job="x"} == 1)`, []string{"up"}},
		{`a / on (pod) group_left b > 1e3`, []string{"a", "b"}},
		{`max by (namespace, pod) (g) == 0`, []string{"g"}},
	} {
		require.Equal(t, tc.want, metricNames(tc.expr), tc.expr)
	}
}

// checkExpr asserts every metric an expression selects is served.
func checkExpr(t *testing.T, where, expr string, served map[string]dto.MetricType) {
	t.Helper()
	ns := metricNames(expr)
	require.NotEmpty(t, ns, "%s: %s selects no metric", where, expr)
	for _, n := range ns {
		if n == "up" {
			continue // Prometheus' own, per scrape
		}
		_, ok := served[n]
		require.True(t, ok, "%s: %s uses %s, which hubble-sentinel does not serve", where, expr, n)
	}
}

func TestPrometheusRuleMetricsExist(t *testing.T) {
	served := names(registeredMetrics(t))
	rules := decode(t, renderKustomize(t, "kustomize/overlays/plaintext")).PrometheusRules[0]
	var alerts []string
	for _, g := range rules.Spec.Groups {
		for _, r := range g.Rules {
			checkExpr(t, r.Alert, r.Expr.String(), served)
			require.Contains(t, []string{"critical", "warning"}, r.Labels["severity"], r.Alert)
			require.NotEmpty(t, r.Annotations["summary"], r.Alert)
			alerts = append(alerts, r.Alert)
		}
	}
	for _, a := range []string{"HubbleSentinelDown", "HubbleSentinelLagging", "HubbleSentinelLostEvents", "HubbleSentinelDeliveryFailing",
		"HubbleSentinelPolicyLoadFailed", "HubbleSentinelConfigLoadFailed"} {
		require.Contains(t, alerts, a)
	}
}

// dashboard is the part of a Grafana dashboard the test reads.
type dashboard struct {
	SchemaVersion int `json:"schemaVersion"`
	Templating    struct {
		List []struct {
			Name, Type string
			Query      any `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		Title      string `json:"title"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
		Targets []struct {
			Expr       string `json:"expr"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
		} `json:"targets"`
	} `json:"panels"`
}

func TestDashboard(t *testing.T) {
	served := names(registeredMetrics(t))
	b, err := os.ReadFile(filepath.Join("grafana", "hubble-sentinel.json"))
	require.NoError(t, err)
	var d dashboard
	dec := json.NewDecoder(bytes.NewReader(b))
	require.NoError(t, dec.Decode(&d))
	require.GreaterOrEqual(t, d.SchemaVersion, 39)
	require.True(t, slices.ContainsFunc(d.Templating.List, func(v struct {
		Name, Type string
		Query      any `json:"query"`
	}) bool {
		return v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus"
	}), "a ${datasource} variable")
	used := map[string]bool{}
	require.NotEmpty(t, d.Panels)
	for _, p := range d.Panels {
		require.NotEmpty(t, p.Targets, "panel %q has queries", p.Title)
		require.Equal(t, "${datasource}", p.Datasource.UID, p.Title)
		for _, tg := range p.Targets {
			require.Equal(t, "${datasource}", tg.Datasource.UID, p.Title)
			checkExpr(t, p.Title, tg.Expr, served)
			for _, n := range metricNames(tg.Expr) {
				used[n] = true
			}
		}
	}
	for _, m := range []string{
		"hubble_sentinel_engine_flows_total",                        // flows/s by verdict and type
		"hubble_sentinel_engine_evaluation_duration_seconds_bucket", // evaluation latency
		"hubble_sentinel_policy_decision_cache_lookups_total",       // cache hit ratio
		"hubble_sentinel_hubble_event_lag_seconds",                  // lag
		"hubble_sentinel_hubble_flows_missed_total",                 // lost events
		"hubble_sentinel_alerts_firing",                             // incidents firing
		"hubble_sentinel_alertmanager_requests_total",               // delivery
		"hubble_sentinel_alertmanager_spool_oldest_age_seconds",     // spool
	} {
		require.True(t, used[m], "the dashboard shows %s", m)
	}
}
