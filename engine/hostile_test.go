package engine

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/hubble-sentinel/hubble-sentinel/engine/alert"
	"github.com/hubble-sentinel/hubble-sentinel/engine/facts"
	"github.com/hubble-sentinel/hubble-sentinel/engine/policy"
	"github.com/hubble-sentinel/hubble-sentinel/policies"
)

// hostileRequest is an HTTP request from the Internet to the shop's
// frontend, as Hubble reports it at the frontend's L7 proxy, for rawURL.
func hostileRequest(t testing.TB, rawURL string, headers ...*flowpb.HTTPHeader) *flowpb.Flow {
	t.Helper()
	f := &flowpb.Flow{}
	require.NoError(t, protojson.Unmarshal([]byte(`{"uuid":"hostile","time":"2026-03-14T09:00:00Z","verdict":"FORWARDED","Type":"L7","is_reply":false,
		"traffic_direction":"INGRESS","event_type":{"type":129},"IP":{"source":"203.0.113.77","destination":"10.0.1.11","ipVersion":"IPv4"},
		"l4":{"TCP":{"source_port":51234,"destination_port":8080}},"source":{"identity":2,"labels":["reserved:world"]},
		"destination":{"identity":30211,"namespace":"shop","pod_name":"frontend-7d9f8b6c5d-x2k9q","labels":["k8s:app=frontend","k8s:io.kubernetes.pod.namespace=shop"],
		"workloads":[{"name":"frontend","kind":"Deployment"}]},"l7":{"type":"REQUEST","http":{"method":"GET","protocol":"HTTP/1.1"}}}`), f))
	f.GetL7().GetHttp().Url = rawURL
	f.GetL7().GetHttp().Headers = headers
	return f
}

// injectionURL is a percent-encoded SQL injection in the query, n bytes
// long or a little more.
func injectionURL(n int) string {
	payload := url.QueryEscape("1' UNION SELECT username, password FROM users-- ")
	var b strings.Builder
	b.WriteString("http://frontend.shop:8080/product?id=")
	for b.Len() < n {
		b.WriteString(payload)
	}
	return b.String()
}

func newBenchEngine(b *testing.B) *Engine {
	agg := alert.NewAggregator(alert.DefaultAggregatorConfig, alert.Notifiers{}, slog.New(slog.DiscardHandler), nil)
	e, err := New(Config{FlowClock: true}, bundled(b), agg, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(b, err)
	return e
}

// BenchmarkHostileURL is the whole per-flow path for a normal HTTP request
// and for percent-encoded SQL injection URLs of growing size: with the
// input bounds, the 6.4 MB one costs about what the 8 KB one does.
func BenchmarkHostileURL(b *testing.B) {
	for _, tc := range []struct {
		name string
		url  string
	}{
		{"normal", "http://frontend.shop:8080/product/42?currency=EUR"},
		{"injection-1KB", injectionURL(1 << 10)},
		{"injection-2KB", injectionURL(2 << 10)},
		{"injection-4KB", injectionURL(4 << 10)},
		{"injection-8KB", injectionURL(8 << 10)},
		{"injection-64KB", injectionURL(64 << 10)},
		{"injection-6.4MB", injectionURL(6400 << 10)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			e := newBenchEngine(b)
			f := hostileRequest(b, tc.url)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				require.NoError(b, e.Process(ctx, f))
			}
		})
	}
}

// TestEvasionVariantsAreDetected: an admin-path probe written the ways
// Go's url.Parse refuses (or reads differently) is still judged by
// HTTPAdminEndpointAccess through the bundled policies, and none of the
// secrets the URLs carry reaches the alert.
func TestEvasionVariantsAreDetected(t *testing.T) {
	for _, tc := range []struct {
		name, url string
		secrets   []string
	}{
		{"normal", "http://frontend.shop:8080/actuator/env", nil},
		{"bad port", "http://frontend.shop:80a/actuator/env", nil},
		{"space in host", "http://frontend shop:8080/actuator/env", nil},
		{"invalid escape", "http://frontend.shop:8080/actuator/env%zz", nil},
		{"broken IPv6", "http://[fd00::1/actuator/env", nil},
		{"userinfo with slash and space", "http://admin:S3CRET/pa ss@frontend.shop:8080/actuator/env", []string{"S3CRET", "pa ss"}},
		{"path parameter", "http://frontend.shop:8080/actuator;jsessionid=S3SSIONID42/env;token=T0KENVALUE", []string{"S3SSIONID42", "T0KENVALUE"}},
		{"query secret and bad port", "http://frontend.shop:x/actuator/env?token=QS3CRETQ&x=%zz", []string{"QS3CRETQ"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := url.Parse(tc.url)
			if tc.name != "normal" && tc.name != "path parameter" {
				require.Error(t, err, "the variant must be one Go's parser refuses")
			}
			rec := &recordingAggregator{}
			e, err := New(Config{FlowClock: true}, bundled(t), rec, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
			require.NoError(t, err)
			require.NoError(t, e.Process(context.Background(), hostileRequest(t, tc.url)))
			var ids []string
			for _, a := range rec.alerts {
				ids = append(ids, a.Labels[alert.LabelAlertname])
				out, err := json.Marshal(a)
				require.NoError(t, err)
				for _, s := range tc.secrets {
					require.NotContains(t, string(out), s)
				}
			}
			require.Contains(t, ids, "HTTPAdminEndpointAccess")
		})
	}
}

// TestOversizedRequestIsBoundedAndStillJudged: a 6.4 MB injection URL is
// cut to the bounds, marked truncated, and the injection in its prefix is
// still found.
func TestOversizedRequestIsBoundedAndStillJudged(t *testing.T) {
	rec := &recordingAggregator{}
	// A budget no loaded machine exceeds: this test is about the bounds
	// (the budget has tests of its own), and a busy CI machine running the
	// race detector can take over the default 100 ms on the injection scan.
	e, err := New(Config{FlowClock: true}, unhurried(t, 0), rec, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(t, err)
	f := hostileRequest(t, injectionURL(6400<<10))
	fa, doc := e.Input(f, time.Now())
	require.True(t, fa.HTTP.Truncated)
	require.LessOrEqual(t, len(fa.HTTP.Query), facts.MaxQueryBytes)
	js, err := ast.JSON(doc)
	require.NoError(t, err)
	out, err := json.Marshal(js)
	require.NoError(t, err)
	require.Less(t, len(out), 64<<10, "the document is bounded")
	require.NoError(t, e.Process(context.Background(), f))
	var ids []string
	for _, a := range rec.alerts {
		ids = append(ids, a.Labels[alert.LabelAlertname])
	}
	require.Contains(t, ids, "HTTPSQLInjectionAttempt")
	require.Contains(t, ids, "HTTPOversizedRequest")
}

// unhurried loads the bundled policies with an evaluation budget of a
// minute and the given decision cache size.
func unhurried(t testing.TB, cacheSize int) *policy.Set {
	t.Helper()
	set, err := policy.Load(context.Background(), policies.FS, ".",
		policy.WithBudget(policy.Budget{Timeout: time.Minute}), policy.WithCacheSize(cacheSize))
	require.NoError(t, err)
	return set
}
