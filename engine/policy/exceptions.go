package policy

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
)

// Exception is one entry of data.data.exceptions: traffic every policy it
// names lets pass (see policies/data/exceptions.yaml). Rego applies them
// (sentinel.lib.violation); the engine only checks them at load, because a
// misspelt field or policy id would otherwise make an exception silently
// match nothing or everything.
type Exception struct {
	Name     string
	Reason   string
	Policies []string // empty: every policy
}

// exceptionFields are the fields an exception may set, and whether their
// values are names that must be written normalised.
var exceptionFields = map[string]string{
	"name":                   "text",
	"reason":                 "text",
	"policies":               "ids",
	"source_namespaces":      "strings",
	"source_workloads":       "workloads",
	"destination_namespaces": "strings",
	"destination_workloads":  "workloads",
	"destination_names":      "names",
	"destination_cidrs":      "cidrs",
	"destination_ports":      "ports",
}

// exceptions reads and checks data.data.exceptions against the loaded
// policies.
func exceptions(data map[string]any, ps []Info) ([]Exception, error) {
	d, _ := data["data"].(map[string]any)
	raw, ok := d["exceptions"]
	if !ok || raw == nil {
		return nil, nil
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, fmt.Errorf("data.data.exceptions must be a list of exceptions, not %T", raw)
	}
	out := make([]Exception, 0, len(list))
	for i, item := range list {
		e, err := exception(item, ps)
		if err != nil {
			return nil, fmt.Errorf("data.data.exceptions[%d]: %w", i, err)
		}
		out = append(out, e)
	}
	return out, nil
}

func exception(item any, ps []Info) (Exception, error) {
	m, ok := item.(map[string]any)
	if !ok {
		return Exception{}, fmt.Errorf("must be an object, not %T", item)
	}
	var e Exception
	e.Name, _ = m["name"].(string)
	e.Reason, _ = m["reason"].(string)
	switch {
	case strings.TrimSpace(e.Name) == "":
		return e, fmt.Errorf("name is required")
	case strings.TrimSpace(e.Reason) == "":
		return e, fmt.Errorf("%s: reason is required", e.Name)
	}
	for _, field := range slices.Sorted(maps.Keys(m)) {
		kind, known := exceptionFields[field]
		if !known {
			return e, fmt.Errorf("%s: unknown field %q (known: %s)", e.Name, field, strings.Join(slices.Sorted(maps.Keys(exceptionFields)), ", "))
		}
		if kind == "text" {
			continue
		}
		values, ok := m[field].([]any)
		if !ok {
			return e, fmt.Errorf("%s: %s must be a list, not %T", e.Name, field, m[field])
		}
		for _, v := range values {
			if err := checkValue(kind, v, ps); err != nil {
				return e, fmt.Errorf("%s: %s: %w", e.Name, field, err)
			}
			if kind == "ids" {
				e.Policies = append(e.Policies, v.(string))
			}
		}
	}
	return e, nil
}

func checkValue(kind string, v any, ps []Info) error {
	if kind == "ports" {
		n, ok := v.(json.Number)
		if p, err := n.Int64(); !ok || err != nil || p < 0 || p > 65535 {
			return fmt.Errorf("%v is not a port number", v)
		}
		return nil
	}
	s, ok := v.(string)
	if !ok || s == "" {
		return fmt.Errorf("%v is not a non-empty string", v)
	}
	switch kind {
	case "ids":
		if !slices.ContainsFunc(ps, func(p Info) bool { return p.ID == s }) {
			return fmt.Errorf("no loaded policy has id %q", s)
		}
	case "workloads":
		if ns, w, ok := strings.Cut(s, "/"); !ok || ns == "" || w == "" {
			return fmt.Errorf("%q is not namespace/workload", s)
		}
	case "names":
		if s != strings.ToLower(s) || strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") {
			return fmt.Errorf("%q must be lower case without a leading or trailing dot", s)
		}
	case "cidrs":
		if _, err := netip.ParsePrefix(s); err != nil {
			return fmt.Errorf("%q: %w", s, err)
		}
	}
	return nil
}
