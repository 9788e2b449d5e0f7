package alert

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/hubble-sentinel/hubble-sentinel/engine/facts"
	"github.com/hubble-sentinel/hubble-sentinel/engine/redact"
)

// AnnotationMITRE names the MITRE ATT&CK technique, when the policy gives one.
const AnnotationMITRE = "mitre_attack"

// Violation is one violation a policy found in a flow, as the policy
// engine reports it. It is declared here, field for field as the policy
// package's, so that delivering alerts never links the policy engine.
type Violation struct {
	ID          string
	Severity    string
	Title       string
	Policy      string
	Summary     string
	Description string
	MITRE       string
}

// Build turns a violation of a flow with measured facts fa into an alert.
// Labels come from what Go measured, never from the policy's free text, so
// they stay bounded and routable; free text is scrubbed of the secrets the
// flow carries, found once per flow by its facts.
func Build(v Violation, fa *facts.Flow) Alert {
	labels := make(map[string]string, 12)
	set := func(k, v string) {
		if v != "" {
			labels[k] = v
		}
	}
	set(LabelAlertname, v.ID)
	set(LabelSeverity, v.Severity)
	set(LabelPolicy, v.Policy)
	if fa.Source.Kind == facts.KindPod {
		set(LabelSourceNamespace, fa.Source.Namespace)
		set(LabelSourceWorkload, fa.Source.Workload)
		set(LabelSourcePod, fa.Source.Pod)
	} else {
		set(LabelSourceIP, fa.Source.IP)
	}
	if fa.Destination.Kind == facts.KindPod {
		set(LabelDestinationNamespace, fa.Destination.Namespace)
		set(LabelDestinationWorkload, fa.Destination.Workload)
		set(LabelDestinationPod, fa.Destination.Pod)
	} else {
		set(LabelDestinationIP, fa.Destination.IP)
		set(LabelDestinationFQDN, destinationFQDN(fa))
	}
	// A reply's destination port is the client's ephemeral port: as a label
	// it would split one alert into thousands.
	if fa.DestinationPort != 0 && fa.Direction.Initiated {
		set(LabelDestinationPort, strconv.FormatUint(uint64(fa.DestinationPort), 10))
	}
	set(LabelProtocol, strings.ToLower(fa.Protocol))

	var secrets []string
	if fa.HTTP != nil {
		secrets = fa.HTTP.Secrets()
	}
	summary := v.Summary
	if summary == "" {
		summary = v.Title
	}
	annotations := map[string]string{
		AnnotationSummary:       redact.String(summary, secrets),
		AnnotationDescription:   redact.String(v.Description, secrets),
		AnnotationHubbleObserve: HubbleObserve(fa),
	}
	if v.MITRE != "" {
		annotations[AnnotationMITRE] = v.MITRE
	}
	return Alert{
		Labels:      labels,
		Annotations: annotations,
		StartsAt:    fa.Time,
	}
}

// destinationFQDN is the name the destination was reached by: Hubble's
// DNS-aware name, else the HTTP host when it is a name, not an address.
func destinationFQDN(fa *facts.Flow) string {
	if fa.Destination.FQDN != "" {
		return fa.Destination.FQDN
	}
	if fa.HTTP == nil {
		return ""
	}
	host := facts.NormaliseHost(fa.HTTP.Host)
	if _, err := netip.ParseAddr(host); err == nil {
		return ""
	}
	return host
}

// HubbleObserve returns a `hubble observe` command line that shows the same
// traffic, so the responder can go from alert to flows in one paste.
func HubbleObserve(fa *facts.Flow) string {
	args := []string{"hubble", "observe"}
	if !fa.Time.IsZero() {
		args = append(args, "--since", fa.Time.Add(-time.Minute).UTC().Format(time.RFC3339))
	}
	args = append(args, side("from", &fa.Source)...)
	args = append(args, side("to", &fa.Destination)...)
	if fa.DestinationPort != 0 && fa.Direction.Initiated {
		args = append(args, "--to-port", strconv.FormatUint(uint64(fa.DestinationPort), 10))
	}
	if fa.Protocol != "" {
		args = append(args, "--protocol", strings.ToLower(fa.Protocol))
	}
	if v := fa.Verdict; v == "DROPPED" || v == "ERROR" {
		args = append(args, "--verdict", v)
	}
	return strings.Join(args, " ")
}

func side(dir string, e *facts.Endpoint) []string {
	switch {
	case e.Kind == facts.KindPod && e.Pod != "":
		return []string{"--" + dir + "-pod", e.Namespace + "/" + e.Pod}
	case e.IP != "":
		return []string{"--" + dir + "-ip", e.IP}
	case e.FQDN != "":
		return []string{"--" + dir + "-fqdn", e.FQDN}
	case e.Kind != facts.KindPod && e.Kind != "":
		return []string{"--" + dir + "-label", "reserved:" + e.Kind}
	}
	return nil
}
