// Package alert defines hubble-sentinel's alerts and turns policy violations into them.
package alert

import "time"

// Label names of the alert schema. They are a contract: users route and
// silence on them, so they never change meaning. Which of them identify an
// incident is the policy's grouping (see Grouping); the others, when they
// vary within the incident, are summarised in annotations.
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
	// LabelCluster names the Hubble source (the cluster) an alert is
	// about, when hubble-sentinel follows several. It identifies the
	// incident (Grouping never drops it): the same workload's incidents in
	// two clusters are two alerts. Absent with a single unnamed source.
	LabelCluster = "cluster"
)

// Labels of hubble-sentinel's own alerts, beside alertname and severity.
const (
	// LabelReason says which blind spot a SentinelVisibilityGap is about;
	// its values are bounded (the Reason* constants).
	LabelReason = "reason"
	// LabelAlertmanager names the Alertmanager a SentinelDeliveryFailing is
	// about, as configured, with credentials redacted.
	LabelAlertmanager = "alertmanager"
)

// Annotation names.
const (
	AnnotationSummary       = "summary"
	AnnotationDescription   = "description"
	AnnotationHubbleObserve = "hubble_observe"
	// AnnotationMITRE names the MITRE ATT&CK technique, when the policy
	// gives one.
	AnnotationMITRE = "mitre_attack"
	// AnnotationCount is how many violating flows the incident has had.
	AnnotationCount = "count"
	// AnnotationFirstSeen and AnnotationLastSeen are the event times of
	// its first and latest violating flows (RFC 3339, UTC).
	AnnotationFirstSeen = "first_seen"
	AnnotationLastSeen  = "last_seen"
	// AnnotationSampleFlow is the incident's first violating flow on one
	// line, secrets masked.
	AnnotationSampleFlow = "sample_flow"
	// AnnotationSourcePod and AnnotationDestinationPod are the pods of the
	// sample flow: labels until pods stopped identifying incidents.
	AnnotationSourcePod      = "source_pod"
	AnnotationDestinationPod = "destination_pod"
	// AnnotationFoldedIncidents lists, on SentinelAlertsThrottled, the
	// incidents folded into it and how many in all.
	AnnotationFoldedIncidents = "folded_incidents"
	// AnnotationReason says why, on hubble-sentinel's own alerts.
	AnnotationReason = "reason"
)

// ValuesAnnotation names the annotation that lists the values a label took
// within an incident when it is not one of the incident's labels:
// source_pods, destination_pods, destination_ports, source_ips, … It holds
// the first values seen and, when there were more, how many in all:
// "22, 80, 443, … (200 in all)".
func ValuesAnnotation(label string) string { return label + "s" }

// Alert is one alert as hubble-sentinel hands it to Alertmanager. Labels
// identify it (Alertmanager deduplicates on them); annotations describe it.
type Alert struct {
	Labels       map[string]string
	Annotations  map[string]string
	StartsAt     time.Time
	EndsAt       time.Time
	GeneratorURL string
	// Occurrence is what one violating flow adds to its incident, for the
	// Aggregator; Build sets it, alerts sent on leave it nil.
	Occurrence *Occurrence
}

// Resolved reports whether the alert has ended at time now.
func (a Alert) Resolved(now time.Time) bool {
	return !a.EndsAt.IsZero() && !a.EndsAt.After(now)
}

// Occurrence is one violating flow of an incident: what the aggregator
// needs to group it by the policy's labels and to summarise what varies.
type Occurrence struct {
	// Labels are every schema label measured from the flow, the ones the
	// default grouping leaves out (pods, addresses) included.
	Labels map[string]string
	// Time is the flow's event time.
	Time time.Time
	// Sample is the flow on one line, secrets masked.
	Sample string
	// Flow says how to find the flow again in Hubble.
	Flow FlowRef
	// Count is how many events the occurrence stands for (flows Hubble
	// lost, say); 0 is one.
	Count uint64
}

// FlowRef is what hubble observe and Hubble UI need to show a flow's
// traffic.
type FlowRef struct {
	Source, Destination Side
	Verdict             string
}

// Side is one end of a flow as the alert names it.
type Side struct {
	Kind                     string // pod, world, host, … (facts.Kind*)
	Namespace, Workload, Pod string
	IP, FQDN                 string
}
