package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// values reads a YAML values document.
func values(t *testing.T, doc string) map[string]any {
	t.Helper()
	v := map[string]any{}
	require.NoError(t, yaml.Unmarshal([]byte(doc), &v))
	return v
}

func TestHelmChartRenders(t *testing.T) {
	known := runFlags(t)
	for _, tc := range []struct {
		name, release, namespace, values string
		// needs names a flag the binary must have for this case to run
		// (a feature landing separately).
		needs  string
		expect func(t *testing.T, o objects, flags map[string][]string)
	}{
		{
			name: "defaults", release: "hubble-sentinel", namespace: "kube-system",
			expect: func(t *testing.T, o objects, flags map[string][]string) {
				require.Equal(t, "hubble-sentinel", o.Deployments[0].Name)
				require.Equal(t, []string{"hubble-relay.kube-system.svc:80"}, flags["hubble.address"])
				require.NotContains(t, flags, "hubble.tls.ca-file")
				require.Equal(t, []string{"/var/lib/hubble-sentinel/spool"}, flags["alertmanager.spool-path"])
				require.Equal(t, []string{"/var/lib/hubble-sentinel/baselines.snap"}, flags["baseline.path"])
				require.Len(t, o.Claims, 1)
				require.Len(t, o.Budgets, 1)
				require.Len(t, o.ServiceMonitors, 1)
				require.Len(t, o.PrometheusRules, 1)
				require.Len(t, o.NetworkPolicies, 1)
				require.ElementsMatch(t, []string{"4245", "9093", "53"}, egressPorts(o.NetworkPolicies[0]))
				require.Empty(t, o.ConfigMaps)
			},
		},
		{
			name: "tls, emptyDir, no prometheus-operator", release: "sentinel", namespace: "observability",
			values: `
relay:
  address: hubble-relay.kube-system.svc:443
  tls: {enabled: true}
persistence: {enabled: false, emptyDirSizeLimit: 512Mi}
serviceMonitor: {enabled: false}
prometheusRule: {enabled: false}
logFormat: logfmt
`,
			expect: func(t *testing.T, o objects, flags map[string][]string) {
				require.Equal(t, "sentinel-hubble-sentinel", o.Deployments[0].Name)
				require.Equal(t, "observability", o.Deployments[0].Namespace)
				require.Equal(t, []string{"/etc/hubble-sentinel/tls/ca.crt"}, flags["hubble.tls.ca-file"])
				require.Equal(t, []string{"ui.hubble-relay.cilium.io"}, flags["hubble.tls.server-name"])
				require.NotContains(t, flags, "hubble.tls.cert-file")
				require.Empty(t, o.Claims)
				require.Empty(t, o.ServiceMonitors)
				require.Empty(t, o.PrometheusRules)
				data := volume(o, "data")
				require.Equal(t, "512Mi", data.EmptyDir.SizeLimit.String())
				require.Equal(t, []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}, volume(o, "tls").Secret.Items, "TLS needs only the CA")
			},
		},
		{
			name: "mtls, signed bundle, two alertmanagers", release: "hubble-sentinel-prod", namespace: "security",
			values: `
relay:
  address: hubble-relay.kube-system.svc:443
  tls: {enabled: true, mtls: true, secretName: relay-client}
alertmanager:
  urls: [http://am-0.monitoring:9093, http://am-1.monitoring:9093]
policies:
  bundle:
    url: https://bundles.example.com:8443/hubble/bundle.tar.gz
    verificationKeySecret: bundle-signing
extraArgs: [--baseline.learning-period=48h]
resources:
  requests: {cpu: "2", memory: 2Gi}
  limits: {cpu: "4", memory: 4Gi}
`,
			expect: func(t *testing.T, o objects, flags map[string][]string) {
				require.Equal(t, "hubble-sentinel-prod", o.Deployments[0].Name, "a release named after the chart keeps its name")
				for _, f := range []string{"hubble.tls.ca-file", "hubble.tls.cert-file", "hubble.tls.key-file", "hubble.tls.server-name"} {
					require.Contains(t, flags, f)
				}
				require.Equal(t, "relay-client", volume(o, "tls").Secret.SecretName)
				require.Empty(t, volume(o, "tls").Secret.Items, "mTLS mounts the whole secret")
				require.Len(t, flags["alertmanager.url"], 2)
				require.Equal(t, []string{"https://bundles.example.com:8443/hubble/bundle.tar.gz"}, flags["policies.bundle"])
				require.Equal(t, []string{"/etc/hubble-sentinel/bundle-key/verification.pem"}, flags["policies.bundle.verification-key-file"])
				require.Equal(t, []string{"48h"}, flags["baseline.learning-period"])
				cnp := o.NetworkPolicies[0]
				require.ElementsMatch(t, []string{"4245", "9093", "53", "8443"}, egressPorts(cnp))
				var fqdns []string
				for _, e := range cnp.Spec.Egress {
					for _, f := range e.ToFQDNs {
						fqdns = append(fqdns, f.MatchName)
					}
				}
				require.Equal(t, []string{"bundles.example.com"}, fqdns, "egress to the bundle server by name")
				require.Equal(t, "4", o.Deployments[0].Spec.Template.Spec.Containers[0].Resources.Limits.Cpu().String())
			},
		},
		{
			name: "policies from a ConfigMap, no network policy or budget", release: "hs", namespace: "kube-system",
			values: `
policies: {configMap: my-policies}
networkPolicy: {enabled: false}
podDisruptionBudget: {enabled: false}
`,
			expect: func(t *testing.T, o objects, flags map[string][]string) {
				require.Equal(t, []string{"/etc/hubble-sentinel/policies"}, flags["policies.dir"])
				require.Equal(t, "my-policies", volume(o, "policies").ConfigMap.Name)
				require.NotContains(t, flags, "policies.bundle")
				require.Empty(t, o.NetworkPolicies)
				require.Empty(t, o.Budgets)
			},
		},
		{
			name: "config file", release: "hubble-sentinel", namespace: "kube-system", needs: "config.file",
			values: `
config:
  enabled: true
  content:
    alerts:
      resolve_after: 10m
`,
			expect: func(t *testing.T, o objects, flags map[string][]string) {
				require.Len(t, o.ConfigMaps, 1)
				require.Equal(t, []string{"/etc/hubble-sentinel/config/config.yaml"}, flags["config.file"])
				require.Contains(t, o.ConfigMaps[0].Data["config.yaml"], "resolve_after: 10m")
				require.Contains(t, o.Deployments[0].Spec.Template.Annotations, "checksum/config", "a changed config rolls the pod")
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needs != "" && !known[tc.needs] {
				t.Skipf("the binary has no --%s yet", tc.needs)
			}
			ms, err := renderHelm(t, tc.release, tc.namespace, values(t, tc.values))
			require.NoError(t, err)
			o := decode(t, ms)
			_, flags := check(t, o, known)
			for _, cm := range o.ConfigMaps {
				configCheck(t, cm.Data["config.yaml"])
			}
			for _, m := range ms {
				require.Contains(t, string(m.YAML), "namespace: "+tc.namespace, "%s is in the release's namespace", m)
			}
			tc.expect(t, o, flags)
		})
	}
}

// volume is the Deployment's volume named name.
func volume(o objects, name string) corev1.Volume {
	for _, v := range o.Deployments[0].Spec.Template.Spec.Volumes {
		if v.Name == name {
			return v
		}
	}
	return corev1.Volume{}
}

func TestHelmRejectsBadValues(t *testing.T) {
	for _, tc := range []struct{ name, values, err string }{
		{"unknown key", "replicas: 2", "replicas"},
		{"misspelt nested key", "relay: {tls: {enable: true}}", "enable"},
		{"log format", "logFormat: text", "logFormat"},
		{"alertmanager url without scheme", "alertmanager: {urls: [alertmanager:9093]}", "urls"},
		{"flag without dashes", "extraArgs: [baseline.learning-period=1h]", "extraArgs"},
		{"two policy sources", "policies: {configMap: p, bundle: {url: 'https://b/x.tar.gz'}}", "exclusive"},
		{"mtls without tls", "relay: {tls: {mtls: true}}", "relay.tls.mtls needs relay.tls.enabled"},
		{"memory request missing", "resources: {requests: {memory: null}}", "memory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := renderHelm(t, "hubble-sentinel", "kube-system", values(t, tc.values))
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.err)
		})
	}
}

// TestPrometheusRulesAgree: the chart's rules are the kustomize base's, but
// for the job, named after the release's Service.
func TestPrometheusRulesAgree(t *testing.T) {
	k := decode(t, renderKustomize(t, "kustomize/overlays/plaintext")).PrometheusRules[0]
	ms, err := renderHelm(t, "prod", "kube-system", nil)
	require.NoError(t, err)
	h := decode(t, ms).PrometheusRules[0]
	kb, err := yaml.Marshal(k.Spec)
	require.NoError(t, err)
	hb, err := yaml.Marshal(h.Spec)
	require.NoError(t, err)
	require.Contains(t, string(hb), `job="prod-hubble-sentinel"`)
	require.Equal(t, string(kb), strings.ReplaceAll(string(hb), `job="prod-hubble-sentinel"`, `job="hubble-sentinel"`))
}

// configCheck runs `hubble-sentinel config check` on a rendered config.
func configCheck(t *testing.T, content string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	out, err := exec.Command(binary(t), "config", "check", path).CombinedOutput()
	require.NoError(t, err, "config check of the rendered config:\n%s\n%s", content, out)
}

// TestHelmConfigExample: the chart renders deploy/config.example.yaml (every
// key) into its ConfigMap unchanged in meaning: config check accepts it.
func TestHelmConfigExample(t *testing.T) {
	if !runFlags(t)["config.file"] {
		t.Skip("the binary has no --config.file yet")
	}
	b, err := os.ReadFile("config.example.yaml")
	require.NoError(t, err)
	content := map[string]any{}
	require.NoError(t, yaml.Unmarshal(b, &content))
	ms, err := renderHelm(t, "hubble-sentinel", "kube-system", map[string]any{"config": map[string]any{"enabled": true, "content": content}})
	require.NoError(t, err)
	o := decode(t, ms)
	require.Len(t, o.ConfigMaps, 1)
	rendered := map[string]any{}
	require.NoError(t, yaml.Unmarshal([]byte(o.ConfigMaps[0].Data["config.yaml"]), &rendered))
	require.Equal(t, content, rendered)
	configCheck(t, o.ConfigMaps[0].Data["config.yaml"])
}
