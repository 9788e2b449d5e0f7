package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hubble-sentinel/hubble-sentinel/test/shopmesh"
)

// Alert is one line of `hubble-sentinel replay` output: an Alertmanager
// PostableAlert.
type Alert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
}

// ParseAlerts reads alerts, one JSON object a line; blank lines are skipped.
func ParseAlerts(r io.Reader) ([]Alert, error) {
	var out []Alert
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 4<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var a Alert
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			return out, fmt.Errorf("alert line %d: %w", n, err)
		}
		if a.Labels["alertname"] == "" || a.StartsAt.IsZero() {
			return out, fmt.Errorf("alert line %d: no alertname or startsAt: %s", n, line)
		}
		out = append(out, a)
	}
	return out, sc.Err()
}

// has reports whether the alert's label k is want or, when no label has
// that name, its annotation k is, or the annotation listing the values k
// took (k+"s": "a, b, … (12 in all)") holds it: labels that identify a
// pod, a port or an address move to annotations, and an incident's actor
// still identifies the alert.
func (a Alert) has(k, want string) bool {
	if v, ok := a.Labels[k]; ok {
		return v == want
	}
	if v, ok := a.Annotations[k]; ok && v == want {
		return true
	}
	for v := range strings.SplitSeq(a.Annotations[k+"s"], ",") {
		if strings.TrimSpace(v) == want {
			return true
		}
	}
	return false
}

// otherSide turns a source_ label name into its destination_ one and back.
func otherSide(k string) string {
	if rest, ok := strings.CutPrefix(k, "source_"); ok {
		return "destination_" + rest
	}
	if rest, ok := strings.CutPrefix(k, "destination_"); ok {
		return "source_" + rest
	}
	return k
}

// Matches reports whether the alert carries every label of actor, as an
// alert on a flow in the initiating direction does, or the two sides the
// other way round, as an alert on a reply or an HTTP response does. An
// empty actor matches nothing.
func Matches(actor map[string]string, a Alert) bool {
	if len(actor) == 0 {
		return false
	}
	for _, swap := range []bool{false, true} {
		ok := true
		for k, want := range actor {
			if swap {
				k = otherSide(k)
			}
			if !a.has(k, want) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// Result is how one incident fared.
type Result struct {
	Incident shopmesh.Incident
	Detected bool
	// Delay is from the incident's start to the first matching alert.
	Delay time.Duration
	// Alerts counts the matching alerts, Alertnames them by alertname.
	Alerts     int
	Alertnames map[string]int
}

// Expected reports whether an alert of one of the policies meant to catch
// the incident matched it.
func (r Result) Expected() bool {
	for _, name := range r.Incident.Expect {
		if r.Alertnames[name] > 0 {
			return true
		}
	}
	return false
}

// FPGroup is the alerts that matched no incident with one alertname and
// the same workloads on both sides.
type FPGroup struct {
	Alertname, Source, Destination string
	Alerts                         int
	// Learning and Judging count the group's alerts that started before
	// and after the end of the learning period.
	Learning, Judging int
	First             time.Time
	Summary           string // the first alert's summary annotation
}

// Report is the score of one replay.
type Report struct {
	Start, LearningEnd time.Time
	Alerts             int
	Results            []Result
	FalsePositives     []FPGroup
	// Own are hubble-sentinel's alerts about itself (throttling, blind
	// spots), which judge no traffic: neither detections nor false
	// positives.
	Own []Alert
}

// ownAlert reports whether a is one of hubble-sentinel's alerts about
// itself.
func ownAlert(a Alert) bool { return strings.HasPrefix(a.Labels["alertname"], "Sentinel") }

// Score matches alerts to incidents: an alert detects an incident when it
// matches the incident's actor (Matches) and starts in [Start, End+grace].
// Alerts that detect no incident are false positives, grouped by alertname
// and the namespace/workload labels of both sides; hubble-sentinel's own
// alerts are set aside.
func Score(incidents []shopmesh.Incident, alerts []Alert, start, learningEnd time.Time, grace time.Duration) Report {
	r := Report{Start: start, LearningEnd: learningEnd, Alerts: len(alerts)}
	for _, in := range incidents {
		r.Results = append(r.Results, Result{Incident: in, Alertnames: map[string]int{}})
	}
	groups := map[string]*FPGroup{}
	for _, a := range alerts {
		if ownAlert(a) {
			r.Own = append(r.Own, a)
			continue
		}
		matched := false
		for i := range r.Results {
			res := &r.Results[i]
			in := res.Incident
			if a.StartsAt.Before(in.Start) || a.StartsAt.After(in.End.Add(grace)) || !Matches(in.Actor, a) {
				continue
			}
			matched = true
			delay := a.StartsAt.Sub(in.Start)
			if !res.Detected || delay < res.Delay {
				res.Delay = delay
			}
			res.Detected = true
			res.Alerts++
			res.Alertnames[a.Labels["alertname"]]++
		}
		if matched {
			continue
		}
		g := FPGroup{Alertname: a.Labels["alertname"], Source: side(a, "source_"), Destination: side(a, "destination_")}
		key := g.Alertname + "\x00" + g.Source + "\x00" + g.Destination
		if groups[key] == nil {
			g.First, g.Summary = a.StartsAt, a.Annotations["summary"]
			groups[key] = &g
		}
		fp := groups[key]
		fp.Alerts++
		if a.StartsAt.Before(learningEnd) {
			fp.Learning++
		} else {
			fp.Judging++
		}
		if a.StartsAt.Before(fp.First) {
			fp.First, fp.Summary = a.StartsAt, a.Annotations["summary"]
		}
	}
	for _, k := range slices.Sorted(maps.Keys(groups)) {
		r.FalsePositives = append(r.FalsePositives, *groups[k])
	}
	return r
}

// side is an alert's namespace/workload on one side, or "-" when that side
// is not a workload (the Internet, a node).
func side(a Alert, prefix string) string {
	ns, wl := a.Labels[prefix+"namespace"], a.Labels[prefix+"workload"]
	switch {
	case ns == "" && wl == "":
		return "-"
	case wl == "":
		return ns
	}
	return ns + "/" + wl
}

// Detected is the number of incidents detected.
func (r Report) Detected() int {
	n := 0
	for _, res := range r.Results {
		if res.Detected {
			n++
		}
	}
	return n
}

// MedianDelay is the median detection delay of the detected incidents;
// false when none was.
func (r Report) MedianDelay() (time.Duration, bool) {
	var d []time.Duration
	for _, res := range r.Results {
		if res.Detected {
			d = append(d, res.Delay)
		}
	}
	if len(d) == 0 {
		return 0, false
	}
	slices.Sort(d)
	if len(d)%2 == 1 {
		return d[len(d)/2], true
	}
	return (d[len(d)/2-1] + d[len(d)/2]) / 2, true
}

// FPGroups counts the false-positive groups: all of them, those with an
// alert that started while learning, and those with one after.
func (r Report) FPGroups() (all, learning, judging int) {
	for _, g := range r.FalsePositives {
		if g.Learning > 0 {
			learning++
		}
		if g.Judging > 0 {
			judging++
		}
	}
	return len(r.FalsePositives), learning, judging
}

// Targets are what -strict requires.
type Targets struct {
	MaxMedianDelay time.Duration
	MaxFPGroups    int
}

// Failures lists the ways the report misses the targets.
func (r Report) Failures(t Targets) []string {
	var out []string
	for _, res := range r.Results {
		if !res.Detected {
			out = append(out, "missed "+res.Incident.Name)
		}
	}
	if d, ok := r.MedianDelay(); ok && d > t.MaxMedianDelay {
		out = append(out, fmt.Sprintf("median delay %s > %s", round(d), t.MaxMedianDelay))
	}
	if n, _, _ := r.FPGroups(); n > t.MaxFPGroups {
		out = append(out, fmt.Sprintf("%d false-positive groups > %d", n, t.MaxFPGroups))
	}
	return out
}

// Summary is the report's last line.
func (r Report) Summary() string {
	delay := "n/a"
	if d, ok := r.MedianDelay(); ok {
		delay = round(d).String()
	}
	all, learning, judging := r.FPGroups()
	return fmt.Sprintf("detected %d/%d, median delay %s, FP groups %d (%d during learning, %d after)",
		r.Detected(), len(r.Results), delay, all, learning, judging)
}

func round(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}

// offset prints t as minutes:seconds since the scenario's start.
func (r Report) offset(t time.Time) string {
	d := t.Sub(r.Start)
	return fmt.Sprintf("%02d:%02d", int(d/time.Minute), int(d%time.Minute/time.Second))
}

// Print writes the report as tables and the summary line.
func (r Report) Print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "INCIDENT\tWINDOW\tRESULT\tDELAY\tALERTS\tEXPECTED\tALERTNAMES\n")
	for _, res := range r.Results {
		in := res.Incident
		result, delay := "MISSED", "-"
		if res.Detected {
			result, delay = "detected", round(res.Delay).String()
		}
		expected := "no"
		if res.Expected() {
			expected = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s-%s\t%s\t%s\t%d\t%s %s\t%s\n", in.Name, r.offset(in.Start), r.offset(in.End), result, delay,
			res.Alerts, expected, strings.Join(in.Expect, ","), counts(res.Alertnames))
	}
	fmt.Fprintf(tw, "\nFALSE POSITIVES (learning ends at %s)\t\t\t\t\t\t\n", r.offset(r.LearningEnd))
	fmt.Fprintf(tw, "ALERTNAME\tSOURCE\tDESTINATION\tALERTS\tLEARNING\tAFTER\tFIRST / SUMMARY\n")
	if len(r.FalsePositives) == 0 {
		fmt.Fprintf(tw, "(none)\t\t\t\t\t\t\n")
	}
	for _, g := range r.FalsePositives {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s %s\n", g.Alertname, g.Source, g.Destination, g.Alerts, g.Learning, g.Judging,
			r.offset(g.First), truncate(g.Summary, 110))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Own) > 0 {
		fmt.Fprintf(w, "\nHUBBLE-SENTINEL'S OWN ALERTS (not scored)\n")
		for _, a := range r.Own {
			fmt.Fprintf(w, "%s %s %s: %s\n", r.offset(a.StartsAt), a.Labels["alertname"], a.Labels["policy"], truncate(a.Annotations["summary"], 120))
		}
	}
	_, err := fmt.Fprintf(w, "\n%d alerts; %s\n", r.Alerts, r.Summary())
	return err
}

// counts renders name counts as "a×2 b×1", most first.
func counts(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	names := slices.Collect(maps.Keys(m))
	sort.Slice(names, func(i, j int) bool {
		if m[names[i]] != m[names[j]] {
			return m[names[i]] > m[names[j]]
		}
		return names[i] < names[j]
	})
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s×%d", n, m[n])
	}
	return strings.Join(parts, " ")
}

func truncate(s string, n int) string {
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
