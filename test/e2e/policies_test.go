package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/policies"
	"github.com/hubble-sentinel/hubble-sentinel/test/amtest"
	"github.com/hubble-sentinel/hubble-sentinel/test/loopback"
)

// userPolicy is a policy a user added to the bundled set: category
// "custom", with body as its violation rule.
func userPolicy(t *testing.T, dir, id, name, body string) string {
	t.Helper()
	file := filepath.Join(dir, "custom", name, name+".rego")
	require.NoError(t, os.MkdirAll(filepath.Dir(file), 0o755))
	src := "# METADATA\n# title: " + id + "\n# custom:\n#   id: " + id + "\n#   severity: warning\npackage sentinel.custom." + name +
		"\n\nimport data.sentinel.lib\n\n" + body + "\n"
	require.NoError(t, os.WriteFile(file, []byte(src), 0o600))
	return file
}

// toPort is the benign flow sent to another port, as an attacker could.
func toPort(port uint32, n int) *flowpb.Flow {
	f := benign()
	f.Uuid = fmt.Sprintf("6c1d1e9e-2222-4a43-9d0e-%012d", int(port)*100+n)
	f.L4 = &flowpb.Layer4{Protocol: &flowpb.Layer4_TCP{TCP: &flowpb.TCP{SourcePort: 43200 + uint32(n), DestinationPort: port}}}
	return f
}

// A policy that is expensive on flows an attacker can send is cut off by
// the budget and quarantined, a policy whose output breaks the contract on
// some flows is reported, and the bundled policies keep alerting through
// both; a rule that can only produce non-objects is refused by reload.
func TestHostilePoliciesCannotBlindTheRest(t *testing.T) {
	am := amtest.Start(t)
	dir := t.TempDir()
	require.NoError(t, policies.WriteTo(dir))
	userPolicy(t, dir, "CustomSlow", "slow", `violation contains lib.violation(rego.metadata.chain(), "never") if {
	input.l4.TCP.destination_port == 6666
	some i in numbers.range(1, 99999)
	some j in numbers.range(1, 99999)
	i * j == -1
}`)
	userPolicy(t, dir, "CustomShape", "shape", `violation contains json.unmarshal("[1]") if input.l4.TCP.destination_port == 7777`)

	flows := []*flowpb.Flow{benign()}
	for i := range 5 {
		flows = append(flows, toPort(6666, i))
	}
	flows = append(flows, toPort(7777, 0), metadataTheft())
	relayAddr := loopback.FreeT(t)
	serveRelay(t, relayAddr, nil, flows...)
	web := loopback.FreeT(t)
	p := start(t, "run", "--hubble.address", relayAddr, "--policies.dir", dir, "--web.listen-address", web,
		"--alertmanager.url", am.URL.String(), "--policies.eval-timeout", "50ms", "--policies.max-failures", "3")

	// The bundled policies judged the flow after the hostile ones.
	waitForAlert(t, am, "EgressToCloudMetadata", 60*time.Second)

	var degraded []*models.GettableAlert
	require.Eventually(t, func() bool {
		var err error
		degraded, err = am.Alerts(context.Background(), `alertname="SentinelPolicyDegraded"`)
		return err == nil && len(degraded) == 3
	}, 60*time.Second, 200*time.Millisecond, "SentinelPolicyDegraded for the slow policy (timeouts, quarantine) and the bad output")
	byKey := map[string]*models.GettableAlert{}
	for _, a := range degraded {
		byKey[a.Labels["policy"]+"/"+a.Labels["reason"]] = a
	}
	require.Contains(t, byKey, "CustomSlow/timeout")
	require.Contains(t, byKey, "CustomSlow/quarantined")
	require.Contains(t, byKey, "CustomShape/output")
	require.Contains(t, byKey["CustomShape/output"].Annotations["description"], "violation is an array, want an object")
	require.Contains(t, byKey["CustomSlow/quarantined"].Annotations["summary"], "custom/slow/slow.rego")

	m := metrics(t, web)
	require.Contains(t, m, `hubble_sentinel_policy_quarantined{policy="CustomSlow"} 1`)
	require.Contains(t, m, `hubble_sentinel_policy_failures_total{policy="CustomSlow",reason="timeout"} 3`)
	require.Contains(t, m, `hubble_sentinel_policy_failures_total{policy="CustomShape",reason="output"} 1`)
	require.Contains(t, m, "hubble_sentinel_engine_flows_processed_total 8")
	require.Equal(t, http.StatusOK, httpStatus("http://"+web+"/readyz"))
	require.Contains(t, p.log(), "policy quarantined")
	require.Contains(t, p.log(), "file=custom/slow/slow.rego")

	// A rule that can only produce strings is refused by reload; the
	// running set stays.
	bad := userPolicy(t, dir, "CustomString", "string", `violation contains input.source.namespace if input.verdict == "DROPPED"`)
	got := waitForAlert(t, am, "SentinelPolicyLoadFailed", 60*time.Second)
	const refused = "custom/string/string.rego: package sentinel.custom.string: violation produces string, want objects"
	require.Contains(t, got.Annotations["description"], refused)
	// policy check refuses it too, before it could run.
	out, err := exec.Command(binary(t), "policy", "check", dir).CombinedOutput()
	require.Error(t, err, "policy check must fail:\n%s", out)
	require.Contains(t, string(out), refused)
	require.NoError(t, os.Remove(bad))
	require.NoError(t, os.RemoveAll(filepath.Dir(bad)))

	// The reload of the fixed directory ends the quarantine.
	require.Eventually(t, func() bool {
		alerts, err := am.Alerts(context.Background(), `alertname="SentinelPolicyDegraded"`, `reason="quarantined"`)
		return err == nil && len(alerts) == 0
	}, 60*time.Second, 200*time.Millisecond, "a reload resolves the quarantine")
	require.True(t, p.running())
	require.False(t, strings.Contains(p.log(), "panic"))
}
