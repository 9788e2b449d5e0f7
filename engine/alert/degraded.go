package alert

import (
	"fmt"
	"time"
)

// AlertPolicyDegraded fires while a policy cannot judge flows: it timed
// out, failed or broke the output contract on some (LabelReason names
// which; they resolve once it has not failed for the resolve timeout), or
// it was quarantined, taken out of evaluation until the policies are
// reloaded (reason "quarantined", held until then). The other policies
// judge on.
const AlertPolicyDegraded = "SentinelPolicyDegraded"

// ReasonQuarantined is the reason of a SentinelPolicyDegraded whose policy
// was taken out of evaluation.
const ReasonQuarantined = "quarantined"

// PolicyDegradedLabels are the labels of the SentinelPolicyDegraded of
// policy id (the policy's alertname) for reason.
func PolicyDegradedLabels(id, reason string) map[string]string {
	return map[string]string{LabelAlertname: AlertPolicyDegraded, LabelSeverity: "warning", LabelPolicy: id, LabelReason: reason}
}

// PolicyDegraded is the alert of a policy that could not judge a flow at
// now. file is the policy's file, detail what failed (free of flow
// values).
func PolicyDegraded(now time.Time, id, file, reason, detail string) Alert {
	summary := fmt.Sprintf("Policy %s (%s) could not judge some flows: %s", id, file, reason)
	description := "The other policies judged these flows; this one did not, so its detections are missing for them. " +
		"count is the flows it failed on. Last failure: " + detail
	if reason == ReasonQuarantined {
		summary = fmt.Sprintf("Policy %s (%s) is quarantined: it kept failing and no longer judges flows", id, file)
		description = "It failed on too many flows (see --policies.eval-timeout and --policies.max-failures) and was taken out " +
			"of evaluation until the policies are reloaded; fix it and reload (SIGHUP or an edit in --policies.dir). Last failure: " + detail
	}
	return Alert{
		Labels:      PolicyDegradedLabels(id, reason),
		Annotations: map[string]string{AnnotationSummary: summary, AnnotationDescription: description},
		StartsAt:    now,
		Occurrence:  &Occurrence{Time: now},
	}
}
