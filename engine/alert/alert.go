// Package alert defines hubble-sentinel's alerts and turns policy violations into them.
package alert

import "time"

// Label names of the alert schema. They are a contract: users route and
// silence on them, so they never change meaning.
const (
	LabelAlertname            = "alertname"
	LabelSeverity             = "severity"
	LabelPolicy               = "policy"
	LabelSourceNamespace      = "source_namespace"
	LabelSourceWorkload       = "source_workload"
	LabelSourcePod            = "source_pod"
	LabelSourceIP             = "source_ip"
	LabelDestinationNamespace = "destination_namespace"
	LabelDestinationWorkload  = "destination_workload"
	LabelDestinationPod       = "destination_pod"
	LabelDestinationIP        = "destination_ip"
	LabelDestinationFQDN      = "destination_fqdn"
	LabelDestinationPort      = "destination_port"
	LabelProtocol             = "protocol"
)

// Annotation names carried by every alert.
const (
	AnnotationSummary       = "summary"
	AnnotationDescription   = "description"
	AnnotationHubbleObserve = "hubble_observe"
)

// Alert is one alert as hubble-sentinel hands it to Alertmanager. Labels
// identify it (Alertmanager deduplicates on them); annotations describe it.
type Alert struct {
	Labels       map[string]string
	Annotations  map[string]string
	StartsAt     time.Time
	EndsAt       time.Time
	GeneratorURL string
}

// Resolved reports whether the alert has ended at time now.
func (a Alert) Resolved(now time.Time) bool {
	return !a.EndsAt.IsZero() && !a.EndsAt.After(now)
}
