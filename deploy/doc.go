// Package deploy holds hubble-sentinel's Kubernetes packaging (kustomize, Helm chart, Grafana dashboard); its tests render them and decode them into the real types.
package deploy
