package deploy

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// documents splits a multi-document YAML file.
func documents(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var out [][]byte
	for _, d := range bytes.Split(b, []byte("\n---\n")) {
		if len(bytes.TrimSpace(d)) > 0 {
			out = append(out, d)
		}
	}
	return out
}

func TestManifestsDecodeStrictly(t *testing.T) {
	var dep appsv1.Deployment
	var svc corev1.Service
	var sa corev1.ServiceAccount
	for _, d := range documents(t, filepath.Join("kubernetes", "hubble-sentinel.yaml")) {
		var meta struct{ Kind string }
		require.NoError(t, yaml.Unmarshal(d, &meta))
		var target any
		switch meta.Kind {
		case "Deployment":
			target = &dep
		case "Service":
			target = &svc
		case "ServiceAccount":
			target = &sa
		default:
			t.Fatalf("unexpected kind %q", meta.Kind)
		}
		require.NoError(t, yaml.UnmarshalStrict(d, target), meta.Kind)
	}

	require.Equal(t, "hubble-sentinel", sa.Name)
	require.Equal(t, sa.Name, dep.Spec.Template.Spec.ServiceAccountName)
	require.Equal(t, dep.Spec.Selector.MatchLabels, dep.Spec.Template.Labels)
	require.Equal(t, svc.Spec.Selector, dep.Spec.Template.Labels)

	c := dep.Spec.Template.Spec.Containers[0]
	require.Equal(t, "run", c.Args[0])
	flags := map[string]string{}
	for _, a := range c.Args[1:] {
		k, v, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		flags[k] = v
	}
	for _, f := range []string{"hubble.address", "hubble.tls.ca-file", "hubble.tls.cert-file", "hubble.tls.key-file", "hubble.tls.server-name", "alertmanager.url", "web.listen-address"} {
		require.Contains(t, flags, f)
	}
	// Certificates referenced by flags are in the mounted secret.
	mount := c.VolumeMounts[0].MountPath
	for _, f := range []string{"hubble.tls.ca-file", "hubble.tls.cert-file", "hubble.tls.key-file"} {
		require.True(t, strings.HasPrefix(flags[f], mount+"/"), f)
	}
	require.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path)
	require.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)
	require.True(t, slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == c.ReadinessProbe.HTTPGet.Port.StrVal }))
	require.True(t, strings.HasSuffix(flags["web.listen-address"], ":9966"))
	require.False(t, *c.SecurityContext.AllowPrivilegeEscalation)
	require.True(t, *c.SecurityContext.ReadOnlyRootFilesystem)
	require.True(t, *dep.Spec.Template.Spec.SecurityContext.RunAsNonRoot)
}

// TestFlagsExist keeps the manifest honest: every flag it passes must be a
// flag the command defines.
func TestFlagsExist(t *testing.T) {
	main, err := os.ReadFile(filepath.Join("..", "cmd", "hubble-sentinel", "main.go"))
	require.NoError(t, err)
	for _, d := range documents(t, filepath.Join("kubernetes", "hubble-sentinel.yaml")) {
		var dep appsv1.Deployment
		if yaml.Unmarshal(d, &dep) != nil || dep.Kind != "Deployment" {
			continue
		}
		for _, a := range dep.Spec.Template.Spec.Containers[0].Args[1:] {
			k, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
			require.Contains(t, string(main), `"`+k+`"`, "flag --%s is not defined by cmd/hubble-sentinel", k)
		}
	}
}
