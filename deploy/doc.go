// Package deploy holds hubble-sentinel's Kubernetes manifests; its tests decode them into the real Kubernetes types.
package deploy
