package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name, report string
		wantErr      string
		wantOut      []string
	}{
		{"all covered", `{"files":{"a/a.rego":{"covered_lines":10,"coverage":100},"a/a_test.rego":{"covered_lines":3,"not_covered_lines":3,"coverage":50}},"coverage":90}`,
			"", []string{"every policy file at least 90%"}},
		{"one file below", `{"files":{"a/a.rego":{"covered_lines":8,"not_covered_lines":2,"coverage":80,"not_covered":[{"start":{"row":4},"end":{"row":5}},{"start":{"row":5},"end":{"row":5}},{"start":{"row":9},"end":{"row":9}},{"start":{"row":11},"end":{"row":11}},{"start":{"row":12},"end":{"row":12}}]},"b/b.rego":{"covered_lines":9,"not_covered_lines":1,"coverage":90}}}`,
			"1 policy files below 90%", []string{"a/a.rego: 80.0% < 90% (not covered: lines 4-5, line 9, lines 11-12)"}},
		{"zero coverage is omitted from the JSON", `{"files":{"a/a.rego":{"not_covered_lines":4}}}`,
			"1 policy files below", []string{"a/a.rego: 0.0%"}},
		{"no files", `{"files":{}}`, "lists no files", nil},
		{"not json", `PASS: 3/3`, "reading the coverage report", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := check(strings.NewReader(tc.report), &out, 90)
			if tc.wantErr == "" {
				require.NoError(t, err)
			} else {
				require.ErrorContains(t, err, tc.wantErr)
			}
			for _, w := range tc.wantOut {
				require.Contains(t, out.String(), w)
			}
		})
	}
}
