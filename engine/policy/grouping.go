package policy

import (
	"fmt"

	"github.com/hubble-sentinel/hubble-sentinel/engine/alert"
)

// METADATA keys under custom: that declare which labels identify a
// policy's incident (see alert.NewGrouping, Info.Grouping and
// Set.Groupings):
//
//	custom:
//	  group_by: [source_namespace, source_workload]   # exactly these
//	  drop_labels: [destination_port]                 # the default without these
//	  add_labels: [source_ip]                         # the default with these
const (
	MetaGroupBy    = "group_by"
	MetaDropLabels = "drop_labels"
	MetaAddLabels  = "add_labels"
)

// groupingOf reads the grouping keys of a METADATA custom block; ok is
// false when it has none.
func groupingOf(custom map[string]any) (g alert.Grouping, ok bool, err error) {
	lists := map[string][]string{}
	for _, key := range []string{MetaGroupBy, MetaDropLabels, MetaAddLabels} {
		v, present := custom[key]
		if !present {
			continue
		}
		ok = true
		l, err := stringList(v)
		if err != nil {
			return alert.Grouping{}, false, fmt.Errorf("%s: %w", key, err)
		}
		lists[key] = l
	}
	if !ok {
		return alert.Grouping{}, false, nil
	}
	g, err = alert.NewGrouping(lists[MetaGroupBy], lists[MetaDropLabels], lists[MetaAddLabels])
	if err != nil {
		return alert.Grouping{}, false, err
	}
	return g, true, nil
}

func stringList(v any) ([]string, error) {
	items, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("want a list of label names, got %T", v)
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		s, ok := it.(string)
		if !ok {
			return nil, fmt.Errorf("want label names, got %v (%T)", it, it)
		}
		out = append(out, s)
	}
	return out, nil
}
