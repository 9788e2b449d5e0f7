package amtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/test/amtest"
)

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

	am.Stop()
	am.Stop() // idempotent
	_, err = am.Alerts(ctx)
	require.Error(t, err, "a stopped Alertmanager is unreachable")
}
