package alert

import (
	"log/slog"
	"sync"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/hubble-sentinel/hubble-sentinel/engine/facts"
)

var t0 = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)

func podToWorld() *flowpb.Flow {
	return &flowpb.Flow{
		Time:        timestamppb.New(t0),
		Verdict:     flowpb.Verdict_FORWARDED,
		IP:          &flowpb.IP{Source: "10.0.1.5", Destination: "169.254.169.254"},
		L4:          &flowpb.Layer4{Protocol: &flowpb.Layer4_TCP{TCP: &flowpb.TCP{SourcePort: 40000, DestinationPort: 80}}},
		Source:      &flowpb.Endpoint{Identity: 1234, Namespace: "shop", PodName: "catalog-7d9f8b6c5d-x2k9q"},
		Destination: &flowpb.Endpoint{Identity: 2, Labels: []string{"reserved:world"}},
		IsReply:     wrapperspb.Bool(false),
		L7: &flowpb.Layer7{Type: flowpb.L7FlowType_REQUEST, Record: &flowpb.Layer7_Http{Http: &flowpb.HTTP{
			Method: "GET", Url: "http://metadata.google.internal/computeMetadata/v1/?token=t0k3nvalue",
			Headers: []*flowpb.HTTPHeader{{Key: "Authorization", Value: "Bearer sup3rs3cr3t"}},
		}}},
	}
}

func TestBuild(t *testing.T) {
	f := podToWorld()
	fa := facts.Measure(f)
	v := Violation{
		ID: "EgressToCloudMetadata", Severity: "critical", Policy: "sentinel.egress.cloud_metadata",
		Title: "Egress to a cloud metadata endpoint", Summary: "shop/catalog fetched http://metadata.google.internal/?token=t0k3nvalue with Bearer sup3rs3cr3t",
		Description: "desc", MITRE: "T1552.005",
	}
	a := Build(v, &fa)
	require.Equal(t, map[string]string{
		"alertname":        "EgressToCloudMetadata",
		"severity":         "critical",
		"policy":           "sentinel.egress.cloud_metadata",
		"source_namespace": "shop",
		"source_workload":  "catalog",
		"source_pod":       "catalog-7d9f8b6c5d-x2k9q",
		"destination_ip":   "169.254.169.254",
		"destination_fqdn": "metadata.google.internal",
		"destination_port": "80",
		"protocol":         "tcp",
	}, a.Labels)
	require.Equal(t, t0, a.StartsAt)
	require.NotContains(t, a.Annotations["summary"], "t0k3nvalue")
	require.NotContains(t, a.Annotations["summary"], "sup3rs3cr3t")
	require.Equal(t, "desc", a.Annotations["description"])
	require.Equal(t, "T1552.005", a.Annotations[AnnotationMITRE])
	require.Equal(t, "hubble observe --since 2026-11-30T09:59:00Z --from-pod shop/catalog-7d9f8b6c5d-x2k9q --to-ip 169.254.169.254 --to-port 80 --protocol tcp",
		a.Annotations["hubble_observe"])
}

func TestDestinationFQDN(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"http://metadata.google.internal/x", "metadata.google.internal"},
		{"http://API.Example.com:8443/x", "api.example.com"},
		{"http://169.254.169.254/latest", ""},
		{"http://[fd00:ec2::254]:80/latest", ""},
		{"http://cafe.bad/", "cafe.bad"},
		{"/relative/path", ""},
	} {
		t.Run(tc.url, func(t *testing.T) {
			f := podToWorld()
			f.L7.GetHttp().Url = tc.url
			fa := facts.Measure(f)
			require.Equal(t, tc.want, Build(Violation{ID: "X", Severity: "info", Policy: "sentinel.x.y"}, &fa).Labels[LabelDestinationFQDN])
		})
	}
}

func TestBuildOmitsEmptyLabelsAndReplyPorts(t *testing.T) {
	f := podToWorld()
	f.IsReply = wrapperspb.Bool(true)
	f.Verdict = flowpb.Verdict_DROPPED
	f.L7 = nil
	f.Source = &flowpb.Endpoint{Identity: 2, Labels: []string{"reserved:world"}}
	fa := facts.Measure(f)
	a := Build(Violation{ID: "X", Severity: "info", Policy: "sentinel.x.y"}, &fa)
	require.Equal(t, map[string]string{
		"alertname": "X", "severity": "info", "policy": "sentinel.x.y",
		"source_ip": "10.0.1.5", "destination_ip": "169.254.169.254", "protocol": "tcp",
	}, a.Labels)
	require.Contains(t, a.Annotations["hubble_observe"], "--from-ip 10.0.1.5 --to-ip 169.254.169.254 --protocol tcp --verdict DROPPED")
}

type recorder struct {
	mu     sync.Mutex
	alerts []Alert
}

func (r *recorder) Send(as ...Alert) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.alerts = append(r.alerts, as...)
}

func (r *recorder) take() []Alert {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.alerts
	r.alerts = nil
	return out
}

func alertFor(pod string) Alert {
	return Alert{Labels: map[string]string{"alertname": "A", "severity": "warning", "source_pod": pod}}
}

func TestAggregatorLifecycle(t *testing.T) {
	rec := &recorder{}
	agg := NewAggregator(AggregatorConfig{ResolveAfter: 5 * time.Minute, ResendInterval: time.Minute, SendResolved: true, StampEndsAt: true},
		rec, slog.New(slog.DiscardHandler), prometheus.NewRegistry())

	a := alertFor("p1")
	a.StartsAt = t0
	agg.Observe(t0, a)
	got := rec.take()
	require.Len(t, got, 1, "first violation fires at once")
	require.Equal(t, t0, got[0].StartsAt)
	require.Equal(t, t0.Add(5*time.Minute), got[0].EndsAt)

	for i := 1; i <= 30; i++ {
		b := alertFor("p1")
		b.StartsAt = t0.Add(time.Duration(i) * time.Second)
		agg.Observe(t0.Add(time.Duration(i)*time.Second), b)
	}
	require.Empty(t, rec.take(), "repeats are deduplicated")

	agg.Tick(t0.Add(61 * time.Second))
	got = rec.take()
	require.Len(t, got, 1, "re-sent after the resend interval")
	require.Equal(t, t0, got[0].StartsAt, "startsAt stays at the first violating flow")
	require.Equal(t, t0.Add(61*time.Second+5*time.Minute), got[0].EndsAt)

	agg.Tick(t0.Add(30*time.Second + 5*time.Minute))
	got = rec.take()
	require.Len(t, got, 1)
	require.Equal(t, t0.Add(30*time.Second+5*time.Minute), got[0].EndsAt, "resolved when quiet, at last violation + ResolveAfter")
	require.True(t, got[0].Resolved(t0.Add(time.Hour)))
	require.Empty(t, agg.Active())

	c := alertFor("p1")
	c.StartsAt = t0.Add(time.Hour)
	agg.Observe(t0.Add(time.Hour), c)
	got = rec.take()
	require.Len(t, got, 1, "fires again after resolving, with a new start")
	require.Equal(t, t0.Add(time.Hour), got[0].StartsAt)
}

func TestAggregatorHoldFiresUntilRelease(t *testing.T) {
	rec := &recorder{}
	agg := NewAggregator(AggregatorConfig{ResolveAfter: 5 * time.Minute, ResendInterval: time.Minute, SendResolved: true, StampEndsAt: true},
		rec, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	held := Alert{Labels: map[string]string{"alertname": "SentinelPolicyLoadFailed", "severity": "warning"},
		Annotations: map[string]string{"summary": "first error"}, StartsAt: t0}

	require.False(t, agg.Release(t0, held.Labels), "nothing to release yet")
	require.Empty(t, rec.take())

	agg.Hold(t0, held)
	got := rec.take()
	require.Len(t, got, 1)
	require.Equal(t, t0.Add(5*time.Minute), got[0].EndsAt, "endsAt stamped so Alertmanager resolves it if the engine dies")

	second := held
	second.Annotations = map[string]string{"summary": "second error"}
	second.StartsAt = t0.Add(time.Minute)
	agg.Hold(t0.Add(time.Minute), second)
	got = rec.take()
	require.Len(t, got, 1, "a new error is sent at once")
	require.Equal(t, "second error", got[0].Annotations["summary"])
	require.Equal(t, t0, got[0].StartsAt, "it is the same condition, started at the first failure")

	agg.Tick(t0.Add(time.Hour))
	got = rec.take()
	require.Len(t, got, 1, "an hour later it is re-sent, not resolved")
	require.False(t, got[0].Resolved(t0.Add(time.Hour)))
	require.Len(t, agg.Active(), 1)

	require.True(t, agg.Release(t0.Add(2*time.Hour), held.Labels))
	got = rec.take()
	require.Len(t, got, 1)
	require.True(t, got[0].Resolved(t0.Add(2*time.Hour)), "released: sent resolved at once")
	require.Empty(t, agg.Active())
}

func TestAggregatorReplayMode(t *testing.T) {
	rec := &recorder{}
	agg := NewAggregator(AggregatorConfig{ResolveAfter: time.Minute}, rec, slog.New(slog.DiscardHandler), nil)
	agg.Observe(t0, alertFor("p1"))
	agg.Observe(t0, alertFor("p2"))
	agg.Tick(t0.Add(30 * time.Second))
	agg.Tick(t0.Add(2 * time.Minute))
	got := rec.take()
	require.Len(t, got, 2, "each alert once, no resends, no resolutions")
	for _, a := range got {
		require.True(t, a.EndsAt.IsZero())
	}
}

func TestAggregatorMaxActiveNeverDrops(t *testing.T) {
	rec := &recorder{}
	agg := NewAggregator(AggregatorConfig{ResolveAfter: time.Minute, MaxActive: 1}, rec, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	agg.Observe(t0, alertFor("p1"))
	agg.Observe(t0, alertFor("p2"))
	got := rec.take()
	require.Len(t, got, 2, "the overflowing alert is still sent")
	require.Equal(t, t0.Add(time.Minute), got[1].EndsAt, "with an end, since nothing will resolve it")
	require.Len(t, agg.Active(), 1)
}

func TestFingerprintIgnoresOrder(t *testing.T) {
	a := map[string]string{"a": "1", "b": "2"}
	b := map[string]string{"b": "2", "a": "1"}
	require.Equal(t, Fingerprint(a), Fingerprint(b))
	require.NotEqual(t, Fingerprint(a), Fingerprint(map[string]string{"a": "12"}))
	require.NotEqual(t, Fingerprint(map[string]string{"ab": "1"}), Fingerprint(map[string]string{"a": "b1"}))
}
