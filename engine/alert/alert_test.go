package alert

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/hubble-sentinel/hubble-sentinel/engine/facts"
	"github.com/hubble-sentinel/hubble-sentinel/test/promtest"
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
			Method: "GET", Url: "http://admin:hunter22@metadata.google.internal/computeMetadata/v1/?token=t0k3nvalue&password=pa55word",
			Headers: []*flowpb.HTTPHeader{
				{Key: "Authorization", Value: "Bearer sup3rs3cr3t"},
				{Key: "Cookie", Value: "session=c00kiev4lue"},
			},
		}}},
	}
}

var secretValues = []string{"t0k3nvalue", "pa55word", "sup3rs3cr3t", "c00kiev4lue", "hunter22"}

func requireNoSecrets(t *testing.T, what string, texts ...string) {
	t.Helper()
	for _, s := range texts {
		for _, sec := range secretValues {
			require.NotContains(t, s, sec, what)
		}
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
		"destination_fqdn": "metadata.google.internal",
		"destination_port": "80",
		"protocol":         "tcp",
	}, a.Labels, "pods and, with a name, the address do not identify the incident")
	require.NotNil(t, a.Occurrence)
	require.Equal(t, "catalog-7d9f8b6c5d-x2k9q", a.Occurrence.Labels["source_pod"])
	require.Equal(t, "169.254.169.254", a.Occurrence.Labels["destination_ip"])
	require.Equal(t, t0, a.StartsAt)
	require.Equal(t, t0, a.Occurrence.Time)
	require.Equal(t, "desc", a.Annotations["description"])
	require.Equal(t, "T1552.005", a.Annotations[AnnotationMITRE])
	require.Equal(t, "hubble observe --since 2026-11-30T09:59:00Z --from-namespace shop --from-workload catalog --to-fqdn metadata.google.internal --to-port 80 --protocol tcp",
		a.Annotations["hubble_observe"])
	require.Contains(t, a.Occurrence.Sample, "shop/catalog-7d9f8b6c5d-x2k9q (10.0.1.5:40000) -> world (169.254.169.254:80) TCP FORWARDED REQUEST")
	require.Contains(t, a.Occurrence.Sample, "GET //metadata.google.internal/computeMetadata/v1/?token=[REDACTED]&password=[REDACTED]")
	requireNoSecrets(t, "alert text", a.Annotations["summary"], a.Occurrence.Sample)
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
			a := Build(Violation{ID: "X", Severity: "info", Policy: "sentinel.x.y"}, &fa)
			require.Equal(t, tc.want, a.Occurrence.Labels[LabelDestinationFQDN])
			if tc.want == "" {
				require.Equal(t, "169.254.169.254", a.Labels[LabelDestinationIP], "without a name the address identifies the destination")
			}
		})
	}
}

// TestBuildNamesClientAndServer: a request and its reply make the same
// labels, the client as source and the server as destination with its
// port; a world client's address is not a label.
func TestBuildNamesClientAndServer(t *testing.T) {
	pod := &flowpb.Endpoint{Identity: 1234, Namespace: "shop", PodName: "catalog-7d9f8b6c5d-x2k9q"}
	world := &flowpb.Endpoint{Identity: 2, Labels: []string{"reserved:world"}}
	flow := func(reply bool, src, dst *flowpb.Endpoint, srcIP, dstIP string, sport, dport uint32) *flowpb.Flow {
		return &flowpb.Flow{
			Time: timestamppb.New(t0), Verdict: flowpb.Verdict_DROPPED,
			IP:     &flowpb.IP{Source: srcIP, Destination: dstIP},
			L4:     &flowpb.Layer4{Protocol: &flowpb.Layer4_TCP{TCP: &flowpb.TCP{SourcePort: sport, DestinationPort: dport}}},
			Source: src, Destination: dst, IsReply: wrapperspb.Bool(reply),
		}
	}
	egress := map[string]string{"alertname": "X", "severity": "info", "policy": "sentinel.x.y",
		"source_namespace": "shop", "source_workload": "catalog", "destination_ip": "203.0.113.9", "destination_port": "443", "protocol": "tcp"}
	ingress := map[string]string{"alertname": "X", "severity": "info", "policy": "sentinel.x.y",
		"destination_namespace": "shop", "destination_workload": "catalog", "destination_port": "8080", "protocol": "tcp"}
	for _, tc := range []struct {
		name        string
		flow        *flowpb.Flow
		want        map[string]string
		wantObserve string
	}{
		{"egress request", flow(false, pod, world, "10.0.1.5", "203.0.113.9", 40000, 443), egress,
			"--from-namespace shop --from-workload catalog --to-ip 203.0.113.9 --to-port 443 --protocol tcp --verdict DROPPED"},
		{"egress reply", flow(true, world, pod, "203.0.113.9", "10.0.1.5", 443, 40000), egress,
			"--from-namespace shop --from-workload catalog --to-ip 203.0.113.9 --to-port 443 --protocol tcp --verdict DROPPED"},
		{"ingress request", flow(false, world, pod, "198.51.100.7", "10.0.1.5", 51000, 8080), ingress,
			"--from-label reserved:world --to-namespace shop --to-workload catalog --to-port 8080 --protocol tcp --verdict DROPPED"},
		{"ingress reply", flow(true, pod, world, "10.0.1.5", "198.51.100.7", 8080, 51000), ingress,
			"--from-label reserved:world --to-namespace shop --to-workload catalog --to-port 8080 --protocol tcp --verdict DROPPED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fa := facts.Measure(tc.flow)
			a := Build(Violation{ID: "X", Severity: "info", Policy: "sentinel.x.y"}, &fa)
			require.Equal(t, tc.want, a.Labels)
			require.True(t, strings.HasSuffix(a.Annotations["hubble_observe"], tc.wantObserve), a.Annotations["hubble_observe"])
		})
	}
}

func TestGrouping(t *testing.T) {
	flow := map[string]string{
		"alertname": "A", "severity": "warning", "policy": "sentinel.a.a",
		"source_namespace": "shop", "source_workload": "catalog", "source_pod": "catalog-1",
		"destination_ip": "1.2.3.4", "destination_fqdn": "evil.example", "destination_port": "443", "protocol": "tcp",
	}
	always := "alertname,policy,severity"
	for _, tc := range []struct {
		name              string
		groupBy, drop, ad []string
		flow              map[string]string
		want              string // label names of the identity besides alertname, severity, policy
		wantErr           string
	}{
		{name: "default", want: "destination_fqdn,destination_port,protocol,source_namespace,source_workload"},
		{name: "default without a workload names the pod", flow: without(flow, "source_workload"),
			want: "destination_fqdn,destination_port,protocol,source_namespace,source_pod"},
		{name: "default without a name keeps the address", flow: without(flow, "destination_fqdn"),
			want: "destination_ip,destination_port,protocol,source_namespace,source_workload"},
		{name: "port scan drops the port", drop: []string{"destination_port"},
			want: "destination_fqdn,protocol,source_namespace,source_workload"},
		{name: "sweep groups by client", groupBy: []string{"source_namespace", "source_workload"},
			want: "source_namespace,source_workload"},
		{name: "the address is the actor", ad: []string{"source_ip"}, flow: with(flow, "source_ip", "9.9.9.9"),
			want: "destination_fqdn,destination_port,protocol,source_ip,source_namespace,source_workload"},
		{name: "an added address is kept beside the name", ad: []string{"destination_ip"},
			want: "destination_fqdn,destination_ip,destination_port,protocol,source_namespace,source_workload"},
		{name: "dropping the workload drops the pod standing in for it", drop: []string{"source_workload"}, flow: without(flow, "source_workload"),
			want: "destination_fqdn,destination_port,protocol,source_namespace"},
		{name: "group_by excludes edits", groupBy: []string{"source_workload"}, drop: []string{"protocol"}, wantErr: "one or the other"},
		{name: "unknown label", drop: []string{"source_podd"}, wantErr: `unknown label "source_podd"`},
		{name: "always labels are not listed", groupBy: []string{"alertname"}, wantErr: "always identifies"},
		{name: "twice", ad: []string{"source_ip", "source_ip"}, wantErr: "twice"},
		{name: "dropped and added", drop: []string{"source_ip"}, ad: []string{"source_ip"}, wantErr: "both dropped and added"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := NewGrouping(tc.groupBy, tc.drop, tc.ad)
			if tc.wantErr != "" {
				require.ErrorIs(t, err, ErrGrouping)
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			in := tc.flow
			if in == nil {
				in = flow
			}
			id := g.Identity(in)
			var names []string
			for k := range id {
				if !strings.Contains(always, k) {
					names = append(names, k)
				}
				require.Equal(t, in[k], id[k])
			}
			require.ElementsMatch(t, strings.Split(tc.want, ","), names)
			for _, k := range strings.Split(always, ",") {
				require.Contains(t, id, k)
			}
		})
	}
	require.Equal(t, DefaultGrouping.Identity(flow), Grouping{}.Identity(flow), "the zero grouping is the default")
}

func without(m map[string]string, k string) map[string]string {
	out := map[string]string{}
	for kk, v := range m {
		if kk != k {
			out[kk] = v
		}
	}
	return out
}

func with(m map[string]string, k, v string) map[string]string {
	out := without(m, k)
	out[k] = v
	return out
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

// clock is a settable wall clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.now = t }

// violation is a flow's alert as Build makes it, from flow labels.
func violation(at time.Time, flowLabels map[string]string) Alert {
	all := map[string]string{"alertname": "A", "severity": "warning", "policy": "sentinel.a.a"}
	for k, v := range flowLabels {
		all[k] = v
	}
	return Alert{
		Labels:      DefaultGrouping.Identity(all),
		Annotations: map[string]string{AnnotationSummary: "a violation"},
		StartsAt:    at,
		Occurrence:  &Occurrence{Labels: all, Time: at, Sample: "sample at " + at.Format(time.RFC3339Nano)},
	}
}

func newAgg(t *testing.T, cfg AggregatorConfig) (*Aggregator, *recorder, *prometheus.Registry) {
	t.Helper()
	rec, reg := &recorder{}, prometheus.NewRegistry()
	return NewAggregator(cfg, rec, slog.New(slog.DiscardHandler), reg), rec, reg
}

var eventClock = AggregatorConfig{ResolveAfter: 5 * time.Minute, ResendInterval: time.Minute, SendResolved: true, StampEndsAt: true}

func TestAggregatorLifecycle(t *testing.T) {
	agg, rec, reg := newAgg(t, eventClock)
	pod := map[string]string{"source_namespace": "shop", "source_workload": "catalog", "source_pod": "catalog-1"}

	agg.Observe(t0, violation(t0, pod))
	got := rec.take()
	require.Len(t, got, 1, "first violation fires at once")
	require.Equal(t, t0, got[0].StartsAt)
	require.Equal(t, t0.Add(5*time.Minute), got[0].EndsAt, "endsAt is last seen + resolve timeout")
	require.Equal(t, "1", got[0].Annotations[AnnotationCount])
	require.Equal(t, "catalog-1", got[0].Annotations[AnnotationSourcePod])
	require.Equal(t, 1.0, promtest.Value(t, reg, "hubble_sentinel_alerts_firing", "severity", "warning"))

	for i := 1; i <= 30; i++ {
		at := t0.Add(time.Duration(i) * time.Second)
		agg.Observe(at, violation(at, map[string]string{"source_namespace": "shop", "source_workload": "catalog", "source_pod": fmt.Sprintf("catalog-%d", i%3+1)}))
	}
	require.Empty(t, rec.take(), "repeats are deduplicated")

	agg.Tick(t0.Add(61 * time.Second))
	got = rec.take()
	require.Len(t, got, 1, "re-sent after the resend interval")
	require.Equal(t, t0, got[0].StartsAt, "startsAt stays at the first violating flow")
	require.Equal(t, t0.Add(30*time.Second+5*time.Minute), got[0].EndsAt)
	require.Equal(t, "31", got[0].Annotations[AnnotationCount], "the count is brought up to date")
	require.Equal(t, "catalog-1, catalog-2, catalog-3", got[0].Annotations["source_pods"])
	require.Equal(t, "2026-11-30T10:00:00Z", got[0].Annotations[AnnotationFirstSeen])
	require.Equal(t, "2026-11-30T10:00:30Z", got[0].Annotations[AnnotationLastSeen])
	require.Equal(t, "sample at 2026-11-30T10:00:00Z", got[0].Annotations[AnnotationSampleFlow], "the sample is the first flow")

	agg.Tick(t0.Add(30*time.Second + 5*time.Minute))
	got = rec.take()
	require.Len(t, got, 1)
	require.Equal(t, t0.Add(30*time.Second+5*time.Minute), got[0].EndsAt, "resolved when quiet, at last violation + ResolveAfter")
	require.True(t, got[0].Resolved(t0.Add(time.Hour)))
	require.Empty(t, agg.Active())
	require.Zero(t, promtest.Value(t, reg, "hubble_sentinel_alerts_firing", "severity", "warning"))

	agg.Observe(t0.Add(time.Hour), violation(t0.Add(time.Hour), pod))
	got = rec.take()
	require.Len(t, got, 1, "fires again after resolving, with a new start")
	require.Equal(t, t0.Add(time.Hour), got[0].StartsAt)
}

// TestAggregatorWallClock: live, the firing window runs on the wall clock
// from when a violation is seen, so flows older than the resolve timeout
// (a resumed backlog) still fire, with startsAt at the flow.
func TestAggregatorWallClock(t *testing.T) {
	wall := &clock{now: t0.Add(time.Hour)}
	cfg := eventClock
	cfg.WallClock, cfg.Now = true, wall.Now
	agg, rec, _ := newAgg(t, cfg)

	old := t0 // an hour before the wall clock
	agg.Observe(old, violation(old, map[string]string{"source_namespace": "shop", "source_workload": "catalog"}))
	got := rec.take()
	require.Len(t, got, 1)
	require.Equal(t, old, got[0].StartsAt, "startsAt is the flow's time")
	require.Equal(t, wall.Now().Add(5*time.Minute), got[0].EndsAt, "endsAt is on the wall clock, in the future")
	require.False(t, got[0].Resolved(wall.Now()), "it fires")

	wall.Set(wall.Now().Add(4 * time.Minute))
	agg.Observe(old.Add(time.Second), violation(old.Add(time.Second), map[string]string{"source_namespace": "shop", "source_workload": "catalog"}))
	agg.Tick(wall.Now().Add(5*time.Minute - time.Second))
	got = rec.take()
	require.Len(t, got, 1, "a resend, not a resolution: seen 4 minutes after the first on the wall clock")
	require.False(t, got[0].Resolved(wall.Now()))

	agg.Tick(wall.Now().Add(5 * time.Minute))
	got = rec.take()
	require.Len(t, got, 1)
	require.True(t, got[0].Resolved(wall.Now().Add(5*time.Minute)), "resolves five wall-clock minutes after the last one was seen")
}

// TestAggregatorOneAlertPerIncident: 200 ports scanned by several pods of
// one workload, with the policy's grouping dropping the port, and 10,000
// violations of one kind, each make one alert whose annotations carry the
// count and what varied.
func TestAggregatorOneAlertPerIncident(t *testing.T) {
	agg, rec, _ := newAgg(t, eventClock)
	scan, err := NewGrouping(nil, []string{LabelDestinationPort}, nil)
	require.NoError(t, err)
	agg.SetGroupings(Groupings{"A": scan})
	for i := range 200 {
		at := t0.Add(time.Duration(i) * 100 * time.Millisecond)
		agg.Observe(at, violation(at, map[string]string{
			"source_namespace": "shop", "source_workload": "ad", "source_pod": fmt.Sprintf("ad-%d", i%4),
			"destination_namespace": "shop", "destination_workload": "orders-db", "destination_port": fmt.Sprint(1000 + i), "protocol": "tcp",
		}))
	}
	got := rec.take()
	require.Len(t, got, 1, "one alert for the scan")
	require.NotContains(t, got[0].Labels, LabelDestinationPort)
	require.Contains(t, got[0].Annotations[AnnotationHubbleObserve], "--from-namespace shop --from-workload ad --to-namespace shop --to-workload orders-db --protocol tcp")
	agg.Tick(t0.Add(2 * time.Minute))
	got = rec.take()
	require.Len(t, got, 1)
	require.Equal(t, "200", got[0].Annotations[AnnotationCount])
	require.Equal(t, "1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, … (200 in all)", got[0].Annotations["destination_ports"])
	require.Equal(t, "ad-0, ad-1, ad-2, ad-3", got[0].Annotations["source_pods"])

	agg.SetGroupings(nil)
	for i := range 10000 {
		at := t0.Add(time.Duration(i) * 5 * time.Millisecond)
		agg.Observe(at, violation(at, map[string]string{
			"source_namespace": "jobs", "source_workload": "report", "source_pod": fmt.Sprintf("report-%d", i%8),
			"destination_ip": "169.254.169.254", "destination_port": "80", "protocol": "tcp",
		}))
	}
	got = rec.take()
	require.Len(t, got, 1, "10,000 violations, one alert")
	agg.Tick(t0.Add(4 * time.Minute))
	var report Alert
	for _, a := range rec.take() {
		if a.Labels[LabelSourceWorkload] == "report" {
			report = a
		}
	}
	require.Equal(t, "10000", report.Annotations[AnnotationCount])
	require.Equal(t, "report-0, report-1, report-2, report-3, report-4, report-5, report-6, report-7", report.Annotations["source_pods"])
}

func TestValueSetBounds(t *testing.T) {
	var s valueSet
	for i := range distinctCap + 50 {
		s.add(fmt.Sprint(i))
		s.add(fmt.Sprint(i))
	}
	require.Equal(t, "0, 1, 2, … (more than 1000)", s.format(3))
	require.Len(t, s.first, DefaultMaxValues)
}

func TestAggregatorThrottle(t *testing.T) {
	cfg := eventClock
	cfg.MaxIncidentsPerPolicy, cfg.ThrottleInterval = 3, time.Minute
	agg, rec, reg := newAgg(t, cfg)
	for i := range 10 {
		at := t0.Add(time.Duration(i) * time.Second)
		agg.Observe(at, violation(at, map[string]string{"source_namespace": "shop", "source_workload": fmt.Sprintf("w%d", i)}))
		agg.Observe(at, violation(at, map[string]string{"source_namespace": "shop", "source_workload": fmt.Sprintf("w%d", i)}))
	}
	got := rec.take()
	require.Len(t, got, 4, "three incidents, then one throttle alert")
	th := got[3]
	require.Equal(t, map[string]string{"alertname": AlertAlertsThrottled, "severity": "warning", "policy": "sentinel.a.a"}, th.Labels)
	require.Contains(t, th.Annotations[AnnotationSummary], "Policy A (sentinel.a.a) is throttled")
	require.Equal(t, 14.0, promtest.Value(t, reg, "hubble_sentinel_alerts_throttled_total", "policy", "A"), "every folded violation is counted")

	agg.Tick(t0.Add(70 * time.Second))
	resent := rec.take()
	var throttled Alert
	for _, a := range resent {
		if a.Labels[LabelAlertname] == AlertAlertsThrottled {
			throttled = a
		}
	}
	require.Equal(t, "14", throttled.Annotations[AnnotationCount])
	require.Equal(t, "shop/w3 -> *, shop/w4 -> *, shop/w5 -> *, shop/w6 -> *, shop/w7 -> *, shop/w8 -> *, shop/w9 -> *", throttled.Annotations[AnnotationFoldedIncidents])

	at := t0.Add(2 * time.Minute)
	agg.Observe(at, violation(at, map[string]string{"source_namespace": "shop", "source_workload": "late"}))
	require.Len(t, rec.take(), 1, "a new interval opens incidents again")

	agg.Tick(t0.Add(9*time.Second + 5*time.Minute))
	var resolved []string
	for _, a := range rec.take() {
		if a.Resolved(t0.Add(time.Hour)) {
			resolved = append(resolved, a.Labels[LabelAlertname])
		}
	}
	require.Contains(t, resolved, AlertAlertsThrottled, "the throttle alert resolves once nothing more is folded")
}

func TestAggregatorMaxActiveFolds(t *testing.T) {
	cfg := eventClock
	cfg.MaxActive = 1
	agg, rec, reg := newAgg(t, cfg)
	agg.Observe(t0, violation(t0, map[string]string{"source_namespace": "a", "source_workload": "a"}))
	agg.Observe(t0, violation(t0, map[string]string{"source_namespace": "b", "source_workload": "b"}))
	got := rec.take()
	require.Len(t, got, 2)
	require.Equal(t, AlertAlertsThrottled, got[1].Labels[LabelAlertname], "nothing is dropped: the overflow is counted in the open")
	require.Contains(t, got[1].Annotations[AnnotationReason], "at most 1 incidents")
	require.Equal(t, 1.0, promtest.Value(t, reg, "hubble_sentinel_alerts_throttled_total", "policy", "A"))
}

func TestAggregatorHoldFiresUntilRelease(t *testing.T) {
	agg, rec, _ := newAgg(t, eventClock)
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
	require.Equal(t, map[string]string{"summary": "second error"}, got[0].Annotations, "no counts on a condition")
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

// TestAggregatorReportWhenDone is replay: each incident once, when over,
// with all it added up to, on the capture's clock and without endsAt.
func TestAggregatorReportWhenDone(t *testing.T) {
	agg, rec, _ := newAgg(t, AggregatorConfig{ResolveAfter: time.Minute, ReportWhenDone: true})
	for i := range 5 {
		at := t0.Add(time.Duration(i) * time.Second)
		agg.Observe(at, violation(at, map[string]string{"source_namespace": "shop", "source_workload": "a", "source_pod": fmt.Sprint("a-", i)}))
		agg.Tick(at)
	}
	at := t0.Add(30 * time.Second)
	agg.Observe(at, violation(at, map[string]string{"source_namespace": "shop", "source_workload": "b"}))
	require.Empty(t, rec.take(), "nothing is reported while incidents go on")

	agg.Tick(t0.Add(4*time.Second + time.Minute))
	got := rec.take()
	require.Len(t, got, 1, "a, quiet for a minute of flow time")
	require.Equal(t, "5", got[0].Annotations[AnnotationCount])
	require.Equal(t, "a-0, a-1, a-2, a-3, a-4", got[0].Annotations["source_pods"])
	require.Equal(t, t0, got[0].StartsAt)
	require.True(t, got[0].EndsAt.IsZero())

	agg.Flush(t0.Add(40 * time.Second))
	got = rec.take()
	require.Len(t, got, 1, "b, at the end of the capture")
	require.Equal(t, "b", got[0].Labels[LabelSourceWorkload])
	require.Empty(t, agg.Active())
}

func TestVisibility(t *testing.T) {
	agg, rec, _ := newAgg(t, eventClock)
	v := NewVisibility(agg, time.Minute, nil)

	v.Lost(t0, ReasonRelayDisconnected, "relay:4245", "connection refused")
	v.Check(t0.Add(59 * time.Second))
	require.Empty(t, rec.take(), "a disconnection shorter than the grace period is not an alert")
	v.Restored(t0.Add(59*time.Second), ReasonRelayDisconnected, "relay:4245")
	v.Check(t0.Add(2 * time.Minute))
	require.Empty(t, rec.take())

	v.Lost(t0.Add(10*time.Minute), ReasonRelayDisconnected, "relay:4245", "connection refused")
	v.Check(t0.Add(11 * time.Minute))
	got := rec.take()
	require.Len(t, got, 1)
	require.Equal(t, VisibilityLabels(ReasonRelayDisconnected), got[0].Labels)
	require.Equal(t, t0.Add(10*time.Minute), got[0].StartsAt, "it started when the relay went away")
	require.Contains(t, got[0].Annotations[AnnotationSummary], "Hubble Relay relay:4245 unreachable since 2026-11-30T10:10:00Z")
	v.Check(t0.Add(12 * time.Minute))
	require.Empty(t, rec.take(), "no repeat while nothing changes (the aggregator re-sends)")
	v.Restored(t0.Add(13*time.Minute), ReasonRelayDisconnected, "relay:4245")
	got = rec.take()
	require.Len(t, got, 1)
	require.True(t, got[0].Resolved(t0.Add(13*time.Minute)), "resolved when the stream is back")

	v.Lost(t0, ReasonNodeUnavailable, "node-a", "")
	v.Lost(t0, ReasonNodeUnavailable, "node-b", "")
	v.Check(t0.Add(time.Minute))
	got = rec.take()
	require.Len(t, got, 1)
	require.Contains(t, got[0].Annotations[AnnotationSummary], "2 Hubble node(s) unavailable")
	v.Restored(t0.Add(2*time.Minute), ReasonNodeUnavailable, "node-a")
	got = rec.take()
	require.Len(t, got, 1, "one node back: updated")
	require.Contains(t, got[0].Annotations[AnnotationSummary], "1 Hubble node(s) unavailable since 2026-11-30T10:00:00Z: node-b")
	require.False(t, got[0].Resolved(t0.Add(2*time.Minute)))
	v.Restored(t0.Add(3*time.Minute), ReasonNodeUnavailable, "node-b")
	got = rec.take()
	require.Len(t, got, 1)
	require.True(t, got[0].Resolved(t0.Add(3*time.Minute)))

	v.Missed(t0, ReasonLostEvents, "node-a", 120, "source PERF_EVENT_RING_BUFFER")
	v.Missed(t0.Add(time.Second), ReasonLostEvents, "node-b", 30, "")
	got = rec.take()
	require.Len(t, got, 1, "missed flows fire at once")
	agg.Tick(t0.Add(time.Minute + time.Second))
	got = rec.take()
	require.Len(t, got, 1)
	require.Equal(t, "150", got[0].Annotations[AnnotationCount], "the count is the flows missed")
	require.Equal(t, "node-a, node-b", got[0].Annotations["nodes"])
	agg.Tick(t0.Add(6 * time.Minute))
	got = rec.take()
	require.Len(t, got, 1)
	require.True(t, got[0].Resolved(t0.Add(6*time.Minute)), "resolves once nothing more is missed")
}

func TestHubbleUILink(t *testing.T) {
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   string
	}{
		{"workloads", map[string]string{"source_namespace": "shop", "source_workload": "catalog", "destination_fqdn": "evil.example", "destination_port": "443"},
			"https://hubble.example/ui/?flows-filter=to%3Adns%3Devil.example%2Cto%3Aport%3D443&namespace=shop"},
		{"pods", map[string]string{"source_namespace": "shop", "source_pod": "a-1", "destination_ip": "1.2.3.4"},
			"https://hubble.example/ui/?flows-filter=from%3Apod%3Da-1%2Cto%3Aip%3D1.2.3.4&namespace=shop"},
		{"server namespace", map[string]string{"source_ip": "9.9.9.9", "destination_namespace": "web"},
			"https://hubble.example/ui/?flows-filter=from%3Aip%3D9.9.9.9&namespace=web"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, HubbleUILink("https://hubble.example/ui/", tc.labels))
		})
	}
}

func TestGeneratorURL(t *testing.T) {
	cfg := eventClock
	cfg.HubbleUIURL = "http://hubble-ui.kube-system/"
	agg, rec, _ := newAgg(t, cfg)
	agg.Observe(t0, violation(t0, map[string]string{"source_namespace": "shop", "source_workload": "catalog"}))
	got := rec.take()
	require.Equal(t, "http://hubble-ui.kube-system/?namespace=shop", got[0].GeneratorURL)
}

func TestFingerprintIgnoresOrder(t *testing.T) {
	a := map[string]string{"a": "1", "b": "2"}
	b := map[string]string{"b": "2", "a": "1"}
	require.Equal(t, Fingerprint(a), Fingerprint(b))
	require.NotEqual(t, Fingerprint(a), Fingerprint(map[string]string{"a": "12"}))
	require.NotEqual(t, Fingerprint(map[string]string{"ab": "1"}), Fingerprint(map[string]string{"a": "b1"}))
}

// TestAggregatorRetune: a reload's new resolve timeout and resend interval
// apply to incidents already firing from the next tick on.
func TestAggregatorRetune(t *testing.T) {
	agg, rec, _ := newAgg(t, eventClock)
	pod := map[string]string{"source_namespace": "shop", "source_workload": "catalog", "source_pod": "catalog-1"}
	agg.Observe(t0, violation(t0, pod))
	require.Len(t, rec.take(), 1)
	agg.Tick(t0.Add(30 * time.Second))
	require.Empty(t, rec.take(), "not re-sent before the minute")

	agg.Retune(Tuning{ResolveAfter: 2 * time.Minute, ResendInterval: 20 * time.Second, MaxIncidentsPerPolicy: 1})
	agg.Tick(t0.Add(30 * time.Second))
	got := rec.take()
	require.Len(t, got, 1, "re-sent at the new interval")
	require.Equal(t, t0.Add(2*time.Minute), got[0].EndsAt, "endsAt at the new resolve timeout")
	agg.Observe(t0.Add(31*time.Second), violation(t0.Add(31*time.Second), map[string]string{"source_namespace": "shop", "source_workload": "cart"}))
	got = rec.take()
	require.Len(t, got, 1)
	require.Equal(t, AlertAlertsThrottled, got[0].Labels[LabelAlertname], "the new cap of one incident folds the second")
	agg.Tick(t0.Add(2 * time.Minute))
	require.NotEmpty(t, rec.take())
	require.Len(t, agg.Active(), 1, "resolved at the new timeout; only the throttle condition is left")

	agg.Retune(Tuning{})
	agg.Tick(t0.Add(3 * time.Minute))
	require.Equal(t, eventClock.ResolveAfter, agg.cfg.ResolveAfter, "zero values are the defaults")
	require.Equal(t, DefaultMaxIncidentsPerPolicy, agg.cfg.MaxIncidentsPerPolicy)
}
