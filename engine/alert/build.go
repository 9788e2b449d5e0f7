package alert

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/hubble-sentinel/hubble-sentinel/engine/facts"
	"github.com/hubble-sentinel/hubble-sentinel/engine/redact"
)

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
//
// The alert's labels are the default grouping's identity; its Occurrence
// carries every label measured, so that the Aggregator can group by the
// policy's own labels and summarise the rest.
func Build(v Violation, fa *facts.Flow) Alert {
	all := make(map[string]string, 14)
	set := func(k, v string) {
		if v != "" {
			all[k] = v
		}
	}
	set(LabelAlertname, v.ID)
	set(LabelSeverity, v.Severity)
	set(LabelPolicy, v.Policy)
	// The incident's source is the client, its destination the server,
	// whichever way the flow went, as the policies' exceptions read them:
	// a request and its reply belong to one incident.
	ref := FlowRef{Source: sideOf(fa.Client(), ""), Destination: sideOf(fa.Server(), serverFQDN(fa)), Verdict: fa.Verdict}
	for _, s := range []struct {
		side                            *Side
		ns, workload, pod, ip, fqdnName string
	}{
		{&ref.Source, LabelSourceNamespace, LabelSourceWorkload, LabelSourcePod, LabelSourceIP, ""},
		{&ref.Destination, LabelDestinationNamespace, LabelDestinationWorkload, LabelDestinationPod, LabelDestinationIP, LabelDestinationFQDN},
	} {
		if s.side.Kind == facts.KindPod {
			set(s.ns, s.side.Namespace)
			set(s.workload, s.side.Workload)
			set(s.pod, s.side.Pod)
			continue
		}
		set(s.ip, s.side.IP)
		if s.fqdnName != "" {
			set(s.fqdnName, s.side.FQDN)
		}
	}
	// The server's port: a reply's destination port is the client's
	// ephemeral port, which would split one incident into thousands.
	if p := fa.ServicePort(); p != 0 {
		set(LabelDestinationPort, strconv.FormatUint(uint64(p), 10))
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
	labels := DefaultGrouping.Identity(all)
	annotations := map[string]string{
		AnnotationSummary:       redact.String(summary, secrets),
		AnnotationDescription:   redact.String(v.Description, secrets),
		AnnotationHubbleObserve: HubbleObserve(ref, labels, fa.Time),
	}
	if v.MITRE != "" {
		annotations[AnnotationMITRE] = v.MITRE
	}
	return Alert{
		Labels:      labels,
		Annotations: annotations,
		StartsAt:    fa.Time,
		Occurrence: &Occurrence{
			Labels: all,
			Time:   fa.Time,
			Sample: SampleFlow(fa, secrets),
			Flow:   ref,
		},
	}
}

func sideOf(e *facts.Endpoint, fqdn string) Side {
	s := Side{Kind: e.Kind, IP: e.IP, FQDN: fqdn}
	if e.Kind == facts.KindPod {
		s.Namespace, s.Workload, s.Pod = e.Namespace, e.Workload, e.Pod
	}
	return s
}

// serverFQDN is the name the server was reached by: on a request, Hubble's
// DNS-aware name of the destination, else the HTTP host when it is a name,
// not an address; on a reply, the HTTP host only (Hubble's names there are
// the client's).
func serverFQDN(fa *facts.Flow) string {
	if fa.Direction.Initiated && fa.Destination.FQDN != "" {
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

// HubbleObserve returns a `hubble observe` command line that shows the
// incident's traffic from since on (less a minute, for clock skew), so the
// responder can go from alert to flows in one paste. A side is named as
// the incident's labels name it: by pod, else by namespace and workload,
// else by name or address; a side they leave out (the world's rotating
// addresses, say) by its reserved identity.
func HubbleObserve(ref FlowRef, identity map[string]string, since time.Time) string {
	args := []string{"hubble", "observe"}
	if !since.IsZero() {
		args = append(args, "--since", since.Add(-time.Minute).UTC().Format(time.RFC3339))
	}
	args = append(args, observeSide("from", &ref.Source, identity[LabelSourceNamespace], identity[LabelSourceWorkload],
		identity[LabelSourcePod], identity[LabelSourceIP], "")...)
	args = append(args, observeSide("to", &ref.Destination, identity[LabelDestinationNamespace], identity[LabelDestinationWorkload],
		identity[LabelDestinationPod], identity[LabelDestinationIP], identity[LabelDestinationFQDN])...)
	if p := identity[LabelDestinationPort]; p != "" {
		args = append(args, "--to-port", p)
	}
	if p := identity[LabelProtocol]; p != "" {
		args = append(args, "--protocol", p)
	}
	if v := ref.Verdict; v == "DROPPED" || v == "ERROR" {
		args = append(args, "--verdict", v)
	}
	return strings.Join(args, " ")
}

func observeSide(dir string, s *Side, ns, workload, pod, ip, fqdn string) []string {
	switch {
	case pod != "":
		return []string{"--" + dir + "-pod", ns + "/" + pod}
	case workload != "":
		return []string{"--" + dir + "-namespace", ns, "--" + dir + "-workload", workload}
	case ip != "":
		return []string{"--" + dir + "-ip", ip}
	case fqdn != "":
		return []string{"--" + dir + "-fqdn", fqdn}
	case ns != "":
		return []string{"--" + dir + "-namespace", ns}
	case s.Kind != facts.KindPod && s.Kind != "":
		return []string{"--" + dir + "-label", "reserved:" + s.Kind}
	}
	return nil
}

// maxSample bounds the sample flow annotation.
const maxSample = 512

// SampleFlow describes the flow on one line, as a responder reads it:
// time, sides with ports, protocol, verdict and what L7 said, with the
// flow's secrets (and anything secret-shaped) masked.
func SampleFlow(fa *facts.Flow, secrets []string) string {
	var b strings.Builder
	if !fa.Time.IsZero() {
		b.WriteString(fa.Time.UTC().Format(time.RFC3339Nano))
		b.WriteByte(' ')
	}
	b.WriteString(sampleSide(&fa.Source, fa.SourcePort))
	b.WriteString(" -> ")
	b.WriteString(sampleSide(&fa.Destination, fa.DestinationPort))
	if fa.Protocol != "" {
		b.WriteString(" " + fa.Protocol)
	}
	if fa.Verdict != "" {
		b.WriteString(" " + fa.Verdict)
	}
	if fa.DropReason != "" {
		b.WriteString(" (" + fa.DropReason + ")")
	}
	if fa.L7Type != "" {
		b.WriteString(" " + fa.L7Type)
	}
	if h := fa.HTTP; h != nil {
		b.WriteString(" " + h.Method)
		target := h.RawPath
		if target == "" {
			target = h.Path
		}
		if h.Query != "" {
			target += "?" + h.Query
		}
		if h.Host != "" {
			target = "//" + h.Host + target
		}
		b.WriteString(" " + redact.URL(target))
		if h.Code != 0 {
			b.WriteString(" " + strconv.FormatUint(uint64(h.Code), 10))
		}
	}
	if d := fa.DNS; d != nil && d.Query != "" {
		b.WriteString(" DNS " + d.Query)
		if len(d.Qtypes) > 0 {
			b.WriteString(" " + strings.Join(d.Qtypes, ","))
		}
		if d.Rcode != 0 {
			b.WriteString(" rcode=" + strconv.FormatUint(uint64(d.Rcode), 10))
		}
	}
	s := redact.String(b.String(), secrets)
	if len(s) > maxSample {
		s = s[:maxSample] + "…"
	}
	return s
}

func sampleSide(e *facts.Endpoint, port uint32) string {
	addr := e.IP
	if port != 0 {
		addr += ":" + strconv.FormatUint(uint64(port), 10)
	}
	name := e.Kind
	if e.Kind == facts.KindPod && e.Pod != "" {
		name = e.Namespace + "/" + e.Pod
	}
	switch {
	case name == "":
		return addr
	case addr == "":
		return name
	}
	return name + " (" + addr + ")"
}
