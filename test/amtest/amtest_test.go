package amtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/test/amtest"
)

func post(t *testing.T, am *amtest.Alertmanager, hc *http.Client, alerts ...*models.PostableAlert) int {
	t.Helper()
	b, err := json.Marshal(alerts)
	require.NoError(t, err)
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Post(am.URL.JoinPath("/api/v2/alerts").String(), "application/json", bytes.NewReader(b))
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

func alertNamed(name string, end time.Time) *models.PostableAlert {
	return &models.PostableAlert{
		Alert:    models.Alert{Labels: models.LabelSet{"alertname": name}},
		StartsAt: strfmt.DateTime(time.Now().Add(-time.Minute)),
		EndsAt:   strfmt.DateTime(end),
	}
}

func TestStartAlertsStop(t *testing.T) {
	am := amtest.Start(t)
	require.Equal(t, "127.0.0.1", am.URL.Hostname())

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	alerts, err := am.Alerts(ctx)
	require.NoError(t, err)
	require.Empty(t, alerts, "a fresh Alertmanager holds no alerts")

	_, err = am.Alerts(ctx, `alertname=~"["`)
	require.Error(t, err, "an invalid matcher is reported by the API")

	require.Equal(t, http.StatusOK, post(t, am, nil, alertNamed("Firing", time.Now().Add(time.Hour)), alertNamed("Resolved", time.Now().Add(-time.Second))))
	alerts, err = am.Alerts(ctx)
	require.NoError(t, err)
	require.Len(t, alerts, 1, "the API lists only the firing one")
	got := am.Received()
	require.Len(t, got, 2, "Received has both")
	require.Equal(t, "Resolved", got[1].Alert.Labels["alertname"])

	am.Stop()
	am.Stop() // idempotent
	_, err = am.Alerts(ctx)
	require.Error(t, err, "a stopped Alertmanager is unreachable")

	am.Restart()
	alerts, err = am.Alerts(ctx)
	require.NoError(t, err, "back on the same URL")
	require.Empty(t, alerts, "alerts do not survive an Alertmanager restart")
	require.Len(t, am.Received(), 2, "what it received is remembered across restarts")
}

func TestFrontRequiresAuth(t *testing.T) {
	am := amtest.StartWith(t, amtest.Options{BearerToken: "t0ken"})
	require.Equal(t, http.StatusUnauthorized, post(t, am, nil, alertNamed("NoToken", time.Time{})))
	_, err := am.Alerts(t.Context())
	require.NoError(t, err, "the helper's own client authenticates")
	require.Empty(t, am.Received())
}
