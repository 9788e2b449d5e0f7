package alert

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// byCluster indexes alerts by their cluster label ("" when absent).
func byCluster(t *testing.T, as []Alert) map[string]Alert {
	t.Helper()
	out := map[string]Alert{}
	for _, a := range as {
		c := a.Labels[LabelCluster]
		require.NotContains(t, out, c, "one alert per cluster")
		out[c] = a
	}
	return out
}

func TestClusterLabelsIncidents(t *testing.T) {
	catalog := map[string]string{"source_namespace": "shop", "source_workload": "catalog", "source_pod": "catalog-1", "destination_port": "22"}
	for _, tc := range []struct {
		name          string
		groupBy, drop []string // neither: the policy declares no grouping
	}{
		{name: "default grouping"},
		{name: "drop_labels", drop: []string{"source_namespace", "source_workload", "destination_port", "protocol"}},
		{name: "group_by", groupBy: []string{"source_namespace"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			agg, rec, _ := newAgg(t, eventClock)
			if tc.groupBy != nil || tc.drop != nil {
				g, err := NewGrouping(tc.groupBy, tc.drop, nil)
				require.NoError(t, err)
				agg.SetGroupings(Groupings{"A": g})
			}
			eu, us := Cluster{Sink: agg, Name: "prod-eu"}, Cluster{Sink: agg, Name: "prod-us"}
			eu.Observe(t0, violation(t0, catalog))
			us.Observe(t0, violation(t0, catalog))
			eu.Observe(t0.Add(time.Second), violation(t0.Add(time.Second), catalog))
			got := byCluster(t, rec.take())
			require.Len(t, got, 2, "the same workload's incident in two clusters is two alerts")
			for _, c := range []string{"prod-eu", "prod-us"} {
				require.Equal(t, c, got[c].Labels[LabelCluster])
				require.NotContains(t, got[c].Annotations, ValuesAnnotation(LabelCluster), "cluster is identity, never summarised")
				other := got["prod-eu"].Labels
				if c == "prod-eu" {
					other = got["prod-us"].Labels
				}
				require.Equal(t, without(other, LabelCluster), without(got[c].Labels, LabelCluster), "they differ only by cluster")
			}
			require.Len(t, agg.Active(), 2)
			require.Equal(t, "2", byCluster(t, agg.Active())["prod-eu"].Annotations[AnnotationCount])

			// The wrapper does not change what it was given.
			v := violation(t0, catalog)
			eu.Observe(t0, v)
			require.NotContains(t, v.Labels, LabelCluster)
			require.NotContains(t, v.Occurrence.Labels, LabelCluster)
		})
	}
}

func TestClusterIsNeverDroppedNorListed(t *testing.T) {
	for _, decl := range [][3][]string{
		{nil, {"cluster"}, nil},
		{{"cluster"}, nil, nil},
		{nil, nil, {"cluster"}},
	} {
		_, err := NewGrouping(decl[0], decl[1], decl[2])
		require.ErrorIs(t, err, ErrGrouping)
		require.ErrorContains(t, err, "cluster always identifies an incident")
	}
	g, err := NewGrouping([]string{"source_namespace"}, nil, nil)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"alertname": "A", "cluster": "c", "source_namespace": "shop"},
		g.Identity(map[string]string{"alertname": "A", "cluster": "c", "source_namespace": "shop", "source_workload": "w"}))
	require.NotContains(t, g.Identity(map[string]string{"alertname": "A"}), LabelCluster, "no cluster, no label")
}

func TestClusterPolicyDegradedIsProcessWide(t *testing.T) {
	agg, rec, _ := newAgg(t, eventClock)
	eu, us := Cluster{Sink: agg, Name: "prod-eu"}, Cluster{Sink: agg, Name: "prod-us"}
	eu.Observe(t0, PolicyDegraded(t0, "A", "a.rego", "timeout", "deadline"))
	us.Observe(t0, PolicyDegraded(t0, "A", "a.rego", "timeout", "deadline"))
	got := rec.take()
	require.Len(t, got, 1, "the policy set is shared: one alert, whichever source's flow it failed on")
	require.Equal(t, PolicyDegradedLabels("A", "timeout"), got[0].Labels)

	eu.Hold(t0, PolicyDegraded(t0, "A", "a.rego", ReasonQuarantined, "x"))
	us.Hold(t0, PolicyDegraded(t0, "A", "a.rego", ReasonQuarantined, "x"))
	require.NotContains(t, rec.take()[0].Labels, LabelCluster)
	require.True(t, us.Release(t0, PolicyDegradedLabels("A", ReasonQuarantined)), "either source's engine releases it")
	require.False(t, eu.Release(t0, PolicyDegradedLabels("A", ReasonQuarantined)))
}

func TestClusterVisibility(t *testing.T) {
	agg, rec, _ := newAgg(t, eventClock)
	eu := NewVisibility(Cluster{Sink: agg, Name: "prod-eu"}, time.Minute, nil)
	us := NewVisibility(Cluster{Sink: agg, Name: "prod-us"}, time.Minute, nil)

	eu.Lost(t0, ReasonRelayDisconnected, "relay-eu:4245", "connection refused")
	us.Lost(t0, ReasonRelayDisconnected, "relay-us:4245", "connection refused")
	us.Restored(t0.Add(time.Second), ReasonRelayDisconnected, "relay-us:4245")
	eu.Check(t0.Add(time.Minute))
	us.Check(t0.Add(time.Minute))
	got := rec.take()
	require.Len(t, got, 1, "only the cluster still disconnected")
	want := VisibilityLabels(ReasonRelayDisconnected)
	want[LabelCluster] = "prod-eu"
	require.Equal(t, want, got[0].Labels)

	us.Missed(t0, ReasonLostEvents, "node-a", 10, "")
	eu.Missed(t0, ReasonLostEvents, "node-a", 20, "")
	missed := byCluster(t, rec.take())
	require.Len(t, missed, 2, "each cluster's lost events are its own alert")
	require.Equal(t, "prod-us", missed["prod-us"].Labels[LabelCluster])

	eu.Restored(t0.Add(2*time.Minute), ReasonRelayDisconnected, "relay-eu:4245")
	got = rec.take()
	require.Len(t, got, 1)
	require.Equal(t, "prod-eu", got[0].Labels[LabelCluster])
	require.True(t, got[0].Resolved(t0.Add(2*time.Minute)), "the release finds the labelled alert")
}

func TestClusterThrottlesEachCluster(t *testing.T) {
	cfg := eventClock
	cfg.MaxIncidentsPerPolicy = 2
	agg, rec, _ := newAgg(t, cfg)
	eu, us := Cluster{Sink: agg, Name: "prod-eu"}, Cluster{Sink: agg, Name: "prod-us"}
	for _, wl := range []string{"w1", "w2", "w3", "w4"} {
		eu.Observe(t0, violation(t0, map[string]string{"source_namespace": "shop", "source_workload": wl}))
	}
	got := rec.take()
	require.Len(t, got, 3, "two incidents, then the throttle alert")
	require.Equal(t, map[string]string{"alertname": AlertAlertsThrottled, "severity": "warning", "policy": "sentinel.a.a", "cluster": "prod-eu"}, got[2].Labels)

	us.Observe(t0, violation(t0, map[string]string{"source_namespace": "shop", "source_workload": "w1"}))
	got = rec.take()
	require.Len(t, got, 1)
	require.Equal(t, "A", got[0].Labels[LabelAlertname], "a flood in one cluster does not throttle the other")
	require.Equal(t, "prod-us", got[0].Labels[LabelCluster])
}
