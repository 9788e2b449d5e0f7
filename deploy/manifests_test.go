package deploy

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	ciliumv2 "github.com/cilium/cilium/pkg/k8s/apis/cilium.io/v2"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// objects are rendered manifests decoded strictly (an unknown field is an
// error) into their real API types.
type objects struct {
	Deployments      []appsv1.Deployment
	Services         []corev1.Service
	ServiceAccounts  []corev1.ServiceAccount
	ConfigMaps       []corev1.ConfigMap
	Claims           []corev1.PersistentVolumeClaim
	Secrets          []corev1.Secret
	Budgets          []policyv1.PodDisruptionBudget
	ServiceMonitors  []monitoringv1.ServiceMonitor
	PrometheusRules  []monitoringv1.PrometheusRule
	NetworkPolicies  []ciliumv2.CiliumNetworkPolicy
	Kinds            []string
	CiliumRuleCounts []int
}

// decode decodes every manifest into the type of its apiVersion and kind;
// any other kind, or an unknown field, fails.
func decode(t *testing.T, ms []manifest) objects {
	t.Helper()
	var o objects
	for _, m := range ms {
		var meta struct {
			APIVersion string `json:"apiVersion"`
		}
		require.NoError(t, yaml.Unmarshal(m.YAML, &meta))
		o.Kinds = append(o.Kinds, m.Kind)
		var err error
		switch meta.APIVersion + " " + m.Kind {
		case "apps/v1 Deployment":
			err = decodeInto(m, &o.Deployments)
		case "v1 Service":
			err = decodeInto(m, &o.Services)
		case "v1 ServiceAccount":
			err = decodeInto(m, &o.ServiceAccounts)
		case "v1 ConfigMap":
			err = decodeInto(m, &o.ConfigMaps)
		case "v1 PersistentVolumeClaim":
			err = decodeInto(m, &o.Claims)
		case "v1 Secret":
			err = decodeInto(m, &o.Secrets)
		case "policy/v1 PodDisruptionBudget":
			err = decodeInto(m, &o.Budgets)
		case "monitoring.coreos.com/v1 ServiceMonitor":
			err = decodeInto(m, &o.ServiceMonitors)
		case "monitoring.coreos.com/v1 PrometheusRule":
			err = decodeInto(m, &o.PrometheusRules)
		case "cilium.io/v2 CiliumNetworkPolicy":
			err = decodeInto(m, &o.NetworkPolicies)
			if err == nil {
				// Cilium's agent parses and sanitizes the rule as it would
				// on import.
				cnp := &o.NetworkPolicies[len(o.NetworkPolicies)-1]
				rules, perr := cnp.Parse(slog.New(slog.DiscardHandler), "default")
				err = perr
				o.CiliumRuleCounts = append(o.CiliumRuleCounts, len(rules))
			}
		default:
			t.Fatalf("%s: unexpected %s %s", m, meta.APIVersion, m.Kind)
		}
		require.NoError(t, err, "%s:\n%s", m, m.YAML)
	}
	return o
}

func decodeInto[T any](m manifest, list *[]T) error {
	var v T
	if err := yaml.UnmarshalStrict(m.YAML, &v); err != nil {
		return fmt.Errorf("%s: %w", m, err)
	}
	*list = append(*list, v)
	return nil
}

// args parses a container's arguments after the command: flag name -> values.
func args(t *testing.T, c corev1.Container) map[string][]string {
	t.Helper()
	require.NotEmpty(t, c.Args)
	require.Equal(t, "run", c.Args[0], "the container runs the daemon")
	flags := map[string][]string{}
	for _, a := range c.Args[1:] {
		require.True(t, strings.HasPrefix(a, "--"), "argument %q is a --flag=value", a)
		k, v, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		flags[k] = append(flags[k], v)
	}
	return flags
}

// check asserts what every rendering must hold: one hardened Deployment
// whose flags exist in the binary, whose volumes, Secret, ConfigMap, claim
// and ServiceAccount are consistent, selected by its Service, budget,
// ServiceMonitor and network policy.
func check(t *testing.T, o objects, known map[string]bool) (appsv1.Deployment, map[string][]string) {
	t.Helper()
	require.Len(t, o.Deployments, 1)
	require.Len(t, o.Services, 1)
	require.Len(t, o.ServiceAccounts, 1)
	dep, svc, sa := o.Deployments[0], o.Services[0], o.ServiceAccounts[0]
	ns := dep.Namespace
	require.NotEmpty(t, ns, "every object has a namespace")
	for _, meta := range []string{svc.Namespace, sa.Namespace} {
		require.Equal(t, ns, meta)
	}
	require.EqualValues(t, 1, *dep.Spec.Replicas, "one replica: two would judge every flow twice")
	require.Equal(t, appsv1.RecreateDeploymentStrategyType, dep.Spec.Strategy.Type)
	tpl := dep.Spec.Template
	require.Equal(t, dep.Spec.Selector.MatchLabels, subset(tpl.Labels, dep.Spec.Selector.MatchLabels), "the selector selects the pods")
	require.Equal(t, svc.Spec.Selector, subset(tpl.Labels, svc.Spec.Selector), "the Service selects the pods")
	require.Equal(t, sa.Name, tpl.Spec.ServiceAccountName)
	require.False(t, *tpl.Spec.AutomountServiceAccountToken)

	// Hardening, on the pod and the container.
	ps := tpl.Spec.SecurityContext
	require.True(t, *ps.RunAsNonRoot)
	require.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, ps.SeccompProfile.Type)
	require.Len(t, tpl.Spec.Containers, 1)
	c := tpl.Spec.Containers[0]
	sc := c.SecurityContext
	require.True(t, *sc.RunAsNonRoot)
	require.True(t, *sc.ReadOnlyRootFilesystem)
	require.False(t, *sc.AllowPrivilegeEscalation)
	require.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
	require.Empty(t, sc.Capabilities.Add)
	require.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, sc.SeccompProfile.Type)
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		require.False(t, c.Resources.Requests.Name(r, "").IsZero(), "request %s", r)
		require.False(t, c.Resources.Limits.Name(r, "").IsZero(), "limit %s", r)
		require.LessOrEqual(t, c.Resources.Requests.Name(r, "").Cmp(*c.Resources.Limits.Name(r, "")), 0, "request %s within the limit", r)
	}

	// Every flag exists in the binary; the web address is reachable from
	// the probes, Prometheus and the Service.
	flags := args(t, c)
	for f := range flags {
		require.True(t, known[f], "flag --%s is not a flag of `hubble-sentinel run`", f)
	}
	require.Equal(t, []string{":9966"}, flags["web.listen-address"])
	require.NotEmpty(t, flags["hubble.address"])
	port := c.Ports[0]
	require.EqualValues(t, 9966, port.ContainerPort)
	require.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path)
	require.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)
	require.Equal(t, intstr.FromString(port.Name), c.ReadinessProbe.HTTPGet.Port)
	require.Equal(t, intstr.FromString(port.Name), c.LivenessProbe.HTTPGet.Port)
	require.Equal(t, intstr.FromString(port.Name), svc.Spec.Ports[0].TargetPort)

	// Files named by flags are on mounted volumes, and each volume's
	// source is rendered (claim, ConfigMap) or documented (Secret).
	volumes := map[string]corev1.Volume{}
	for _, v := range tpl.Spec.Volumes {
		volumes[v.Name] = v
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		require.Contains(t, volumes, m.Name, "mount %s has a volume", m.Name)
		mounts[m.MountPath] = m
	}
	for f, vs := range flags {
		if !strings.HasSuffix(f, "-file") && !strings.HasSuffix(f, "-path") && f != "baseline.path" && f != "policies.dir" {
			continue
		}
		for _, v := range vs {
			m, ok := mountOf(mounts, v)
			require.True(t, ok, "--%s=%s is on no mounted volume", f, v)
			if !strings.HasPrefix(f, "alertmanager.spool") && f != "baseline.path" {
				require.True(t, m.ReadOnly, "--%s=%s is read from a read-only mount", f, v)
			} else {
				require.False(t, m.ReadOnly, "--%s writes", f)
			}
		}
	}
	data := volumes["data"]
	require.NotNil(t, data.VolumeSource.PersistentVolumeClaim != nil || data.VolumeSource.EmptyDir != nil)
	if pvc := data.PersistentVolumeClaim; pvc != nil {
		require.Len(t, o.Claims, 1)
		require.Equal(t, o.Claims[0].Name, pvc.ClaimName)
		require.Equal(t, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, o.Claims[0].Spec.AccessModes)
	} else {
		require.NotNil(t, data.EmptyDir, "data is a claim or an emptyDir")
		require.NotNil(t, data.EmptyDir.SizeLimit, "the emptyDir fallback is bounded")
		require.Empty(t, o.Claims)
	}
	for _, v := range volumes {
		if cm := v.ConfigMap; cm != nil && v.Name == "config" {
			require.True(t, slices.ContainsFunc(o.ConfigMaps, func(c corev1.ConfigMap) bool { return c.Name == cm.Name }), "ConfigMap %s rendered", cm.Name)
		}
	}

	if len(o.Budgets) > 0 {
		require.Equal(t, subset(tpl.Labels, o.Budgets[0].Spec.Selector.MatchLabels), o.Budgets[0].Spec.Selector.MatchLabels)
		require.NotNil(t, o.Budgets[0].Spec.MaxUnavailable, "one replica: a budget that allows a drain")
	}
	for _, sm := range o.ServiceMonitors {
		require.Equal(t, subset(svc.Labels, sm.Spec.Selector.MatchLabels), sm.Spec.Selector.MatchLabels, "the ServiceMonitor selects the Service")
		require.Equal(t, port.Name, sm.Spec.Endpoints[0].Port)
		require.Equal(t, "/metrics", sm.Spec.Endpoints[0].Path)
	}
	for i, cnp := range o.NetworkPolicies {
		require.Equal(t, 1, o.CiliumRuleCounts[i])
		sel := cnp.Spec.EndpointSelector.LabelSelector.MatchLabels
		require.NotEmpty(t, sel)
		for k, v := range sel {
			// Cilium's parsed selector names each key's source ("any:").
			_, name, _ := strings.Cut(k, ":")
			require.Equal(t, v, tpl.Labels[name], "the network policy selects the pods (%s)", k)
		}
		require.Len(t, cnp.Spec.Ingress, 1, "ingress: the metrics port only")
		require.Equal(t, "9966", cnp.Spec.Ingress[0].ToPorts[0].Ports[0].Port)
	}
	return dep, flags
}

// subset is the entries of labels whose keys are in keys.
func subset(labels, keys map[string]string) map[string]string {
	out := map[string]string{}
	for k := range keys {
		if v, ok := labels[k]; ok {
			out[k] = v
		}
	}
	return out
}

// mountOf is the mount holding path (a file or directory).
func mountOf(mounts map[string]corev1.VolumeMount, path string) (corev1.VolumeMount, bool) {
	for p, m := range mounts {
		if path == p || strings.HasPrefix(path, strings.TrimSuffix(p, "/")+"/") {
			return m, true
		}
	}
	return corev1.VolumeMount{}, false
}

// egressPorts are the ports the network policy allows egress to.
func egressPorts(cnp ciliumv2.CiliumNetworkPolicy) []string {
	var ports []string
	for _, e := range cnp.Spec.Egress {
		for _, tp := range e.ToPorts {
			for _, p := range tp.Ports {
				ports = append(ports, p.Port)
			}
		}
	}
	return ports
}

func TestKustomizeOverlays(t *testing.T) {
	known := runFlags(t)
	for _, tc := range []struct {
		overlay     string
		address     string
		tlsFlags    []string
		secretItems int
	}{
		{"plaintext", "hubble-relay.kube-system.svc:80", nil, -1},
		{"tls", "hubble-relay.kube-system.svc:443", []string{"hubble.tls.ca-file", "hubble.tls.server-name"}, 1},
		{"mtls", "hubble-relay.kube-system.svc:443", []string{"hubble.tls.ca-file", "hubble.tls.cert-file", "hubble.tls.key-file", "hubble.tls.server-name"}, 0},
	} {
		t.Run(tc.overlay, func(t *testing.T) {
			o := decode(t, renderKustomize(t, "kustomize/overlays/"+tc.overlay))
			dep, flags := check(t, o, known)
			require.Equal(t, "kube-system", dep.Namespace, "next to hubble-relay")
			require.Equal(t, []string{tc.address}, flags["hubble.address"])
			require.Len(t, o.Claims, 1, "baselines and spool on a claim")
			require.Len(t, o.Budgets, 1)
			require.Len(t, o.ServiceMonitors, 1)
			require.Len(t, o.PrometheusRules, 1)
			require.Len(t, o.NetworkPolicies, 1)
			require.ElementsMatch(t, []string{"4245", "9093", "53"}, egressPorts(o.NetworkPolicies[0]))
			var got []string
			for f := range flags {
				if strings.HasPrefix(f, "hubble.tls.") {
					got = append(got, f)
				}
			}
			require.ElementsMatch(t, tc.tlsFlags, got)
			if tc.tlsFlags != nil {
				require.Equal(t, []string{"ui.hubble-relay.cilium.io"}, flags["hubble.tls.server-name"], "Relay's certificate is for *.hubble-relay.cilium.io")
				var secret *corev1.SecretVolumeSource
				for _, v := range dep.Spec.Template.Spec.Volumes {
					if v.Secret != nil {
						secret = v.Secret
					}
				}
				require.NotNil(t, secret)
				require.Equal(t, "hubble-sentinel-client-certs", secret.SecretName)
				require.Len(t, secret.Items, tc.secretItems)
			}
		})
	}
}
