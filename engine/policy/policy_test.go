package policy

import (
	"context"
	"testing"
	"testing/fstest"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/stretchr/testify/require"
)

const lib = `package sentinel.lib

violation(chain, summary) := {
	"id": pkg.annotations.custom.id,
	"severity": pkg.annotations.custom.severity,
	"title": pkg.annotations.title,
	"policy": concat(".", pkg.path),
	"summary": summary,
	"description": object.get(pkg.annotations, "description", ""),
	"mitre": object.get(pkg.annotations.custom, "mitre", ""),
} if {
	some pkg in chain
	pkg.annotations.scope == "package"
}
`

const portPolicy = `# METADATA
# title: Bad port
# description: A flow went to a port listed as bad in data.
# custom:
#   id: BadPort
#   severity: warning
#   mitre: T1571
package sentinel.test.bad_port

import data.sentinel.lib

violation contains lib.violation(rego.metadata.chain(), sprintf("port %d", [input.sentinel.destination_port])) if {
	input.sentinel.destination_port in data.data.test.bad_ports
}
`

const dropPolicy = `# METADATA
# title: Dropped
# description: Dropped flow.
# custom:
#   id: Dropped
#   severity: info
package sentinel.test.dropped

import data.sentinel.lib

violation contains lib.violation(rego.metadata.chain(), "dropped") if input.verdict == "DROPPED"
`

func fsWith(files map[string]string) fstest.MapFS {
	m := fstest.MapFS{}
	for k, v := range files {
		m[k] = &fstest.MapFile{Data: []byte(v)}
	}
	return m
}

func base() map[string]string {
	return map[string]string{
		"lib/lib.rego":                     lib,
		"test/bad_port/bad_port.rego":      portPolicy,
		"test/bad_port/bad_port_test.rego": "package sentinel.test.bad_port_test\n\ntest_x if true\n",
		"test/dropped/dropped.rego":        dropPolicy,
		"data/test.yaml":                   "test:\n  bad_ports: [4444]\n",
		"README.md":                        "# not a policy\n",
	}
}

func parseInput(t *testing.T, js string) ast.Value {
	t.Helper()
	v, err := ast.ValueFromReader(stringsReader(js))
	require.NoError(t, err)
	return v
}

func TestLoadAndEval(t *testing.T) {
	set, err := Load(context.Background(), fsWith(base()), ".")
	require.NoError(t, err)
	require.Equal(t, []Info{
		{ID: "BadPort", Severity: "warning", Title: "Bad port", Package: "sentinel.test.bad_port", File: "test/bad_port/bad_port.rego"},
		{ID: "Dropped", Severity: "info", Title: "Dropped", Package: "sentinel.test.dropped", File: "test/dropped/dropped.rego"},
	}, set.Policies())

	for _, tc := range []struct {
		name  string
		input string
		want  []Violation
	}{
		{"benign", `{"verdict":"FORWARDED","sentinel":{"destination_port":443}}`, nil},
		{"bad port from data", `{"verdict":"FORWARDED","sentinel":{"destination_port":4444}}`, []Violation{{
			ID: "BadPort", Severity: "warning", Title: "Bad port", Policy: "sentinel.test.bad_port",
			Summary: "port 4444", Description: "A flow went to a port listed as bad in data.", MITRE: "T1571",
		}}},
		{"two policies", `{"verdict":"DROPPED","sentinel":{"destination_port":4444}}`, []Violation{
			{ID: "BadPort", Severity: "warning", Title: "Bad port", Policy: "sentinel.test.bad_port",
				Summary: "port 4444", Description: "A flow went to a port listed as bad in data.", MITRE: "T1571"},
			{ID: "Dropped", Severity: "info", Title: "Dropped", Policy: "sentinel.test.dropped",
				Summary: "dropped", Description: "Dropped flow."},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := set.Eval(context.Background(), parseInput(t, tc.input))
			require.NoError(t, err)
			require.ElementsMatch(t, tc.want, got)
		})
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		files   map[string]string
		wantErr []string
	}{
		{"syntax error names file and line", map[string]string{
			"test/broken/broken.rego": "package sentinel.test.broken\n\nviolation contains x if {\n\tx := \n}\n",
		}, []string{"test/broken/broken.rego:5", "rego_parse_error"}},
		{"http.send refused by the sandbox", map[string]string{
			"test/net/net.rego": "# METADATA\n# title: Net\n# custom:\n#   id: Net\n#   severity: info\npackage sentinel.test.net\n\nviolation contains \"x\" if {\n\thttp.send({\"method\": \"get\", \"url\": \"http://example.com\"}).status_code == 200\n}\n",
		}, []string{"test/net/net.rego:9", "undefined function http.send"}},
		{"time.now_ns refused by the sandbox", map[string]string{
			"test/clock/clock.rego": "# METADATA\n# title: Clock\n# custom:\n#   id: Clock\n#   severity: info\npackage sentinel.test.clock\n\nviolation contains \"x\" if time.now_ns() > 0\n",
		}, []string{"test/clock/clock.rego:8", "undefined function time.now_ns"}},
		{"missing id", map[string]string{
			"test/noid/noid.rego": "# METADATA\n# title: No id\n# custom:\n#   severity: info\npackage sentinel.test.noid\n\nviolation contains \"x\" if false\n",
		}, []string{"test/noid/noid.rego", "custom.id is missing"}},
		{"bad severity", map[string]string{
			"test/sev/sev.rego": "# METADATA\n# title: Sev\n# custom:\n#   id: Sev\n#   severity: urgent\npackage sentinel.test.sev\n\nviolation contains \"x\" if false\n",
		}, []string{"custom.severity \"urgent\" must be one of critical, warning, info"}},
		{"not PascalCase", map[string]string{
			"test/case/case.rego": "# METADATA\n# title: Case\n# custom:\n#   id: bad_case\n#   severity: info\npackage sentinel.test.casey\n\nviolation contains \"x\" if false\n",
		}, []string{"must be PascalCase"}},
		{"duplicate id", map[string]string{
			"test/dup/dup.rego": "# METADATA\n# title: Dup\n# custom:\n#   id: Dropped\n#   severity: info\npackage sentinel.test.dup\n\nviolation contains \"x\" if false\n",
		}, []string{"policy id Dropped is used by both"}},
		{"exceptions not a list", map[string]string{
			"data/exceptions.yaml": "exceptions: {name: x}\n",
		}, []string{"data.data.exceptions must be a list"}},
		{"exception without reason", map[string]string{
			"data/exceptions.yaml": "exceptions:\n  - name: scanner\n    policies: [BadPort]\n",
		}, []string{"data.data.exceptions[0]: scanner: reason is required"}},
		{"exception without name", map[string]string{
			"data/exceptions.yaml": "exceptions:\n  - reason: because\n",
		}, []string{"data.data.exceptions[0]: name is required"}},
		{"exception with a misspelt field", map[string]string{
			"data/exceptions.yaml": "exceptions:\n  - {name: a, reason: b, source_namespace: [shop]}\n",
		}, []string{`a: unknown field "source_namespace"`}},
		{"exception for an unknown policy id", map[string]string{
			"data/exceptions.yaml": "exceptions:\n  - {name: a, reason: b, policies: [BadPorts]}\n",
		}, []string{`a: policies: no loaded policy has id "BadPorts"`}},
		{"exception field not a list", map[string]string{
			"data/exceptions.yaml": "exceptions:\n  - {name: a, reason: b, destination_ports: 22}\n",
		}, []string{"a: destination_ports must be a list"}},
		{"exception with a bad port", map[string]string{
			"data/exceptions.yaml": "exceptions:\n  - {name: a, reason: b, destination_ports: [\"22\", 70000]}\n",
		}, []string{"a: destination_ports: 22 is not a port number"}},
		{"exception with a bad workload", map[string]string{
			"data/exceptions.yaml": "exceptions:\n  - {name: a, reason: b, source_workloads: [frontend]}\n",
		}, []string{`a: source_workloads: "frontend" is not namespace/workload`}},
		{"exception with an unnormalised name", map[string]string{
			"data/exceptions.yaml": "exceptions:\n  - {name: a, reason: b, destination_names: [Example.com.]}\n",
		}, []string{`a: destination_names: "Example.com." must be lower case`}},
		{"exception with a bad cidr", map[string]string{
			"data/exceptions.yaml": "exceptions:\n  - {name: a, reason: b, destination_cidrs: [10.0.0.0/33]}\n",
		}, []string{`a: destination_cidrs: "10.0.0.0/33"`}},
		{"exception with an empty string", map[string]string{
			"data/exceptions.yaml": "exceptions:\n  - {name: a, reason: b, source_namespaces: [\"\"]}\n",
		}, []string{"a: source_namespaces:  is not a non-empty string"}},
		{"corrupt data", map[string]string{
			"data/test.yaml": "test: [unclosed\n",
		}, []string{"data/test.yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := base()
			for k, v := range tc.files {
				files[k] = v
			}
			_, err := Load(context.Background(), fsWith(files), ".")
			require.Error(t, err)
			for _, w := range tc.wantErr {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestLoadExceptions(t *testing.T) {
	files := base()
	files["data/exceptions.yaml"] = `exceptions:
  - name: scanner
    reason: the weekly scan
    policies: [BadPort, Dropped]
    source_workloads: [secops/zap]
    destination_ports: [4444]
    destination_cidrs: [10.0.0.0/8]
    destination_names: [example.com]
  - name: everything from monitoring
    reason: scrapes
    source_namespaces: [monitoring]
`
	set, err := Load(context.Background(), fsWith(files), ".")
	require.NoError(t, err)
	require.Equal(t, []Exception{
		{Name: "scanner", Reason: "the weekly scan", Policies: []string{"BadPort", "Dropped"}},
		{Name: "everything from monitoring", Reason: "scrapes"},
	}, set.Exceptions())
}

func TestLoadEmpty(t *testing.T) {
	_, err := Load(context.Background(), fsWith(map[string]string{"lib/lib.rego": lib}), ".")
	require.ErrorIs(t, err, ErrNoPolicies)
}

func TestSandboxDropsNondeterministicBuiltins(t *testing.T) {
	names := map[string]bool{}
	for _, b := range Sandbox().Builtins {
		names[b.Name] = true
	}
	for _, n := range []string{"http.send", "net.lookup_ip_addr", "opa.runtime", "time.now_ns", "rand.intn", "uuid.rfc4122"} {
		require.False(t, names[n], n)
	}
	for _, n := range []string{"net.cidr_contains", "regex.match", "sprintf", "startswith"} {
		require.True(t, names[n], n)
	}
	require.NotNil(t, Sandbox().AllowNet)
	require.Empty(t, Sandbox().AllowNet)
}

func TestTestRunsRegoTests(t *testing.T) {
	files := base()
	files["test/bad_port/bad_port_test.rego"] = `package sentinel.test.bad_port_test

import data.sentinel.test.bad_port

test_bad_port_alerts if {
	count(bad_port.violation) == 1 with input as {"sentinel": {"destination_port": 4444}}
}

test_other_port_is_quiet if {
	count(bad_port.violation) == 0 with input as {"sentinel": {"destination_port": 443}}
}
`
	report, err := Test(context.Background(), fsWith(files), ".", TestOptions{Coverage: true})
	require.NoError(t, err)
	require.NoError(t, report.Err())
	require.Len(t, report.Results, 2)
	require.Equal(t, "data.sentinel.test.bad_port_test.test_bad_port_alerts", report.Results[0].Name)
	require.Equal(t, "test/bad_port/bad_port_test.rego:5", report.Results[0].Location)
	require.NotNil(t, report.Coverage)
	require.Equal(t, 100.0, report.Coverage.Files["test/bad_port/bad_port.rego"].Coverage)
	require.Less(t, report.Coverage.Files["test/dropped/dropped.rego"].Coverage, 100.0, "no test evaluates the dropped policy's body")

	files["test/bad_port/bad_port_test.rego"] += `
test_wrong_expectation if {
	count(bad_port.violation) == 0 with input as {"sentinel": {"destination_port": 4444}}
}

test_undefined if {
	to_number("x") == 1
}
`
	report, err = Test(context.Background(), fsWith(files), ".", TestOptions{})
	require.NoError(t, err)
	require.Len(t, report.Failed(), 2)
	require.Nil(t, report.Coverage)
	msg := report.Err().Error()
	require.Contains(t, msg, "2 of 4 policy tests failed")
	require.Contains(t, msg, "test/bad_port/bad_port_test.rego:13: data.sentinel.test.bad_port_test.test_wrong_expectation failed")
	require.Contains(t, msg, "test_undefined failed", "a builtin error is undefined, as when the engine evaluates")

	report, err = Test(context.Background(), fsWith(files), ".", TestOptions{Run: "other_port"})
	require.NoError(t, err)
	require.Len(t, report.Results, 1)
	require.NoError(t, report.Err())
}

func TestTestUsesTheSandbox(t *testing.T) {
	files := base()
	files["test/bad_port/bad_port_test.rego"] = "package sentinel.test.bad_port_test\n\ntest_clock if time.now_ns() > 0\n"
	_, err := Test(context.Background(), fsWith(files), ".", TestOptions{})
	require.ErrorContains(t, err, "test/bad_port/bad_port_test.rego:3")
	require.ErrorContains(t, err, "undefined function time.now_ns")
}

// Each builtin with side effects or non-deterministic results is refused at
// load, naming file and line; deterministic builtins stay available.
func TestLoadRefusesEveryUnsandboxedBuiltin(t *testing.T) {
	for _, tc := range []struct {
		builtin, expr string
		allowed       bool
	}{
		{"http.send", `http.send({"method": "get", "url": "http://169.254.169.254/"}).status_code == 200`, false},
		{"net.lookup_ip_addr", `count(net.lookup_ip_addr("example.com")) > 0`, false},
		{"opa.runtime", `opa.runtime().env.HOME != ""`, false},
		{"time.now_ns", `time.now_ns() > 0`, false},
		{"rand.intn", `rand.intn("x", 10) == 3`, false},
		{"uuid.rfc4122", `uuid.rfc4122("x") != ""`, false},
		{"regex.match", `regex.match("^a", "abc")`, true},
		{"net.cidr_contains", `net.cidr_contains("10.0.0.0/8", "10.1.2.3")`, true},
	} {
		t.Run(tc.builtin, func(t *testing.T) {
			files := base()
			files["test/side/side.rego"] = "# METADATA\n# title: Side\n# custom:\n#   id: Side\n#   severity: info\npackage sentinel.test.side\n\nviolation contains {\"id\": \"Side\"} if {\n\t" + tc.expr + "\n}\n"
			_, err := Load(context.Background(), fsWith(files), ".")
			if tc.allowed {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, "test/side/side.rego:9")
			require.ErrorContains(t, err, "undefined function "+tc.builtin)
		})
	}
}
