package alert

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"

	"github.com/hubble-sentinel/hubble-sentinel/engine/input"
	"github.com/hubble-sentinel/hubble-sentinel/engine/policy"
	"github.com/hubble-sentinel/hubble-sentinel/engine/redact"
)

// AnnotationMITRE names the MITRE ATT&CK technique, when the policy gives one.
const AnnotationMITRE = "mitre_attack"

// Build turns a violation of flow f (with measured facts fa) into an alert.
// Labels come from what Go measured, never from the policy's free text, so
// they stay bounded and routable; free text is scrubbed of the flow's
// secrets.
func Build(v policy.Violation, f *flowpb.Flow, fa *input.Facts) Alert {
	labels := make(map[string]string, 12)
	set := func(k, v string) {
		if v != "" {
			labels[k] = v
		}
	}
	set(LabelAlertname, v.ID)
	set(LabelSeverity, v.Severity)
	set(LabelPolicy, v.Policy)
	if fa.Source.Kind == input.KindPod {
		set(LabelSourceNamespace, fa.Source.Namespace)
		set(LabelSourceWorkload, fa.Source.Workload)
		set(LabelSourcePod, fa.Source.Pod)
	} else {
		set(LabelSourceIP, fa.Source.IP)
	}
	if fa.Destination.Kind == input.KindPod {
		set(LabelDestinationNamespace, fa.Destination.Namespace)
		set(LabelDestinationWorkload, fa.Destination.Workload)
		set(LabelDestinationPod, fa.Destination.Pod)
	} else {
		set(LabelDestinationIP, fa.Destination.IP)
		set(LabelDestinationFQDN, destinationFQDN(fa))
	}
	// A reply's destination port is the client's ephemeral port: as a label
	// it would split one alert into thousands.
	if fa.DestinationPort != 0 && !fa.Reply {
		set(LabelDestinationPort, strconv.FormatUint(uint64(fa.DestinationPort), 10))
	}
	set(LabelProtocol, strings.ToLower(fa.Protocol))

	secrets := redact.Secrets(f)
	summary := v.Summary
	if summary == "" {
		summary = v.Title
	}
	annotations := map[string]string{
		AnnotationSummary:       redact.String(summary, secrets),
		AnnotationDescription:   redact.String(v.Description, secrets),
		AnnotationHubbleObserve: HubbleObserve(f, fa),
	}
	if v.MITRE != "" {
		annotations[AnnotationMITRE] = v.MITRE
	}
	return Alert{
		Labels:      labels,
		Annotations: annotations,
		StartsAt:    f.GetTime().AsTime(),
	}
}

// destinationFQDN is the name the destination was reached by: Hubble's
// DNS-aware name, else the HTTP host when it is a name, not an address.
func destinationFQDN(fa *input.Facts) string {
	if fa.Destination.FQDN != "" {
		return fa.Destination.FQDN
	}
	if fa.HTTP == nil {
		return ""
	}
	host := input.NormaliseHost(fa.HTTP.Host)
	if _, err := netip.ParseAddr(host); err == nil {
		return ""
	}
	return host
}

// HubbleObserve returns a `hubble observe` command line that shows the same
// traffic, so the responder can go from alert to flows in one paste.
func HubbleObserve(f *flowpb.Flow, fa *input.Facts) string {
	args := []string{"hubble", "observe"}
	if t := f.GetTime(); t != nil {
		args = append(args, "--since", t.AsTime().Add(-time.Minute).UTC().Format(time.RFC3339))
	}
	args = append(args, side("from", &fa.Source)...)
	args = append(args, side("to", &fa.Destination)...)
	if fa.DestinationPort != 0 && !fa.Reply {
		args = append(args, "--to-port", strconv.FormatUint(uint64(fa.DestinationPort), 10))
	}
	if fa.Protocol != "" {
		args = append(args, "--protocol", strings.ToLower(fa.Protocol))
	}
	if v := f.GetVerdict(); v == flowpb.Verdict_DROPPED || v == flowpb.Verdict_ERROR {
		args = append(args, "--verdict", v.String())
	}
	return strings.Join(args, " ")
}

func side(dir string, e *input.Endpoint) []string {
	switch {
	case e.Kind == input.KindPod && e.Pod != "":
		return []string{"--" + dir + "-pod", e.Namespace + "/" + e.Pod}
	case e.IP != "":
		return []string{"--" + dir + "-ip", e.IP}
	case e.FQDN != "":
		return []string{"--" + dir + "-fqdn", e.FQDN}
	case e.Kind != input.KindPod && e.Kind != "":
		return []string{"--" + dir + "-label", "reserved:" + e.Kind}
	}
	return nil
}
