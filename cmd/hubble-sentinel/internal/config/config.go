// Package config is hubble-sentinel's configuration file (--config.file): a strictly parsed YAML schema, its defaults and its validation.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hubble-sentinel/hubble-sentinel/engine/alert"
	"github.com/hubble-sentinel/hubble-sentinel/engine/alertmanager"
	"github.com/hubble-sentinel/hubble-sentinel/engine/policy"
	"github.com/hubble-sentinel/hubble-sentinel/hubble"
)

// File is the whole configuration file. Every key has the default of the
// flag it stands for (see Default); deploy/config.example.yaml lists them.
type File struct {
	Hubble        Hubble        `yaml:"hubble"`
	Alertmanagers Alertmanagers `yaml:"alertmanagers"`
	Alerts        Alerts        `yaml:"alerts"`
	Baseline      Baseline      `yaml:"baseline"`
	Policies      Policies      `yaml:"policies"`
	Redact        Redact        `yaml:"redact"`
}

// Hubble is where flows come from (--hubble.*).
type Hubble struct {
	// Sources are the relays, one per cluster; several need distinct names.
	Sources []Source `yaml:"sources"`
	// TLS applies to every source.
	TLS HubbleTLS `yaml:"tls"`
	// Filters are server-side filters in hubble observe's words
	// (--hubble.filter); AllowFilters and DenyFilters are FlowFilter
	// objects (--hubble.allow-filter, --hubble.deny-filter).
	Filters      []string     `yaml:"filters"`
	AllowFilters []FlowFilter `yaml:"allow_filters"`
	DenyFilters  []FlowFilter `yaml:"deny_filters"`
}

// Source is one Hubble Relay (--hubble.address NAME=ADDRESS).
type Source struct {
	Name    string `yaml:"name"`
	Address string `yaml:"address"`
}

// HubbleTLS is --hubble.tls.*.
type HubbleTLS struct {
	Enabled            bool   `yaml:"enabled"`
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// Alertmanagers is where alerts go and how (--alertmanager.*).
type Alertmanagers struct {
	URLs            []string  `yaml:"urls"`
	PathPrefix      string    `yaml:"path_prefix"`
	Timeout         Duration  `yaml:"timeout"`
	FailingAfter    Duration  `yaml:"failing_after"`
	TLS             TLS       `yaml:"tls"`
	BasicAuth       BasicAuth `yaml:"basic_auth"`
	BearerTokenFile string    `yaml:"bearer_token_file"`
	SpoolPath       string    `yaml:"spool_path"`
	SpoolMaxBytes   ByteSize  `yaml:"spool_max_bytes"`
}

// TLS is a client's TLS settings.
type TLS struct {
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// BasicAuth is HTTP basic auth; the password is read from a file on every
// request and never written in this file.
type BasicAuth struct {
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
}

// Alerts tunes how violations become alerts (--alerts.*, --hubble.ui-url).
type Alerts struct {
	ResolveAfter          Duration `yaml:"resolve_after"`
	ResendInterval        Duration `yaml:"resend_interval"`
	MaxIncidentsPerPolicy int      `yaml:"max_incidents_per_policy"`
	HubbleUIURL           string   `yaml:"hubble_ui_url"`
	VisibilityGrace       Duration `yaml:"visibility_grace"`
}

// Baseline is learning (--baseline.*, --profiles.max).
type Baseline struct {
	LearningPeriod   Duration `yaml:"learning_period"`
	Path             string   `yaml:"path"`
	SnapshotInterval Duration `yaml:"snapshot_interval"`
	ProfilesMax      int      `yaml:"profiles_max"`
}

// Policies are where the policies come from and what they may cost
// (--policies.*).
type Policies struct {
	// Dir is a directory of Rego policies; empty: the bundled ones (or
	// Bundle, when its source is set; the two are exclusive).
	Dir               string   `yaml:"dir"`
	Bundle            Bundle   `yaml:"bundle"`
	Watch             bool     `yaml:"watch"`
	EvalTimeout       Duration `yaml:"eval_timeout"`
	MaxFailures       int      `yaml:"max_failures"`
	MaxCost           Duration `yaml:"max_cost"`
	DecisionCacheSize int      `yaml:"decision_cache_size"`
}

// Bundle is an OPA bundle (--policies.bundle*).
type Bundle struct {
	Source              string    `yaml:"source"`
	PollInterval        Duration  `yaml:"poll_interval"`
	TLS                 BundleTLS `yaml:"tls"`
	BearerTokenFile     string    `yaml:"bearer_token_file"`
	VerificationKeyFile string    `yaml:"verification_key_file"`
	VerificationKeyID   string    `yaml:"verification_key_id"`
	VerificationScope   string    `yaml:"verification_scope"`
}

// BundleTLS is the bundle server's TLS settings.
type BundleTLS struct {
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Redact adds to the built-in lists of secrets masked in alerts and logs
// (--redact.*).
type Redact struct {
	Headers   []string `yaml:"headers"`
	QueryKeys []string `yaml:"query_keys"`
}

// Defaults the command's flags share with the file, which a test in the
// command holds equal to the flags'.
const (
	DefaultHubbleAddress      = "localhost:4245"
	DefaultVisibilityGrace    = time.Minute
	DefaultPolicyMaxCost      = 10 * time.Millisecond
	DefaultBundlePollInterval = time.Minute
	DefaultProfilesMax        = 50000
	DefaultLearningPeriod     = 24 * time.Hour
	DefaultSnapshotInterval   = 5 * time.Minute
)

// Default is the configuration of a run without flags: what a key left
// out of the file stands for.
func Default() File {
	return File{
		Hubble: Hubble{Sources: []Source{{Address: DefaultHubbleAddress}}},
		Alertmanagers: Alertmanagers{
			Timeout: Duration(alertmanager.DefaultTimeout), FailingAfter: Duration(alertmanager.DefaultFailingAfter),
			SpoolMaxBytes: alertmanager.DefaultSpoolMaxBytes,
		},
		Alerts: Alerts{
			ResolveAfter: Duration(alert.DefaultAggregatorConfig.ResolveAfter), ResendInterval: Duration(alert.DefaultAggregatorConfig.ResendInterval),
			MaxIncidentsPerPolicy: alert.DefaultMaxIncidentsPerPolicy, VisibilityGrace: Duration(DefaultVisibilityGrace),
		},
		Baseline: Baseline{
			LearningPeriod: Duration(DefaultLearningPeriod), SnapshotInterval: Duration(DefaultSnapshotInterval), ProfilesMax: DefaultProfilesMax,
		},
		Policies: Policies{
			Bundle: Bundle{PollInterval: Duration(DefaultBundlePollInterval), VerificationKeyID: "default"},
			Watch:  true, EvalTimeout: Duration(policy.DefaultBudget.Timeout), MaxFailures: policy.DefaultBudget.Strikes,
			MaxCost: Duration(DefaultPolicyMaxCost), DecisionCacheSize: policy.DefaultCacheSize,
		},
	}
}

// Parse reads a configuration strictly: an unknown key, a value of the
// wrong type, a second document or an invalid setting is an error naming
// the key and its line. Keys left out keep their defaults.
func Parse(data []byte) (File, error) {
	f := Default()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(&f)
	switch {
	case errors.Is(err, io.EOF):
		// An empty file is the defaults.
	case err != nil:
		return File{}, cleanError(err)
	default:
		var extra yaml.Node
		if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
			return File{}, errors.New("more than one YAML document; want one")
		}
	}
	f.normalize()
	var root yaml.Node
	_ = yaml.Unmarshal(data, &root) // it decoded above
	if err := f.validate(lines{&root}); err != nil {
		return File{}, err
	}
	return f, nil
}

// Load reads and parses the file at path; its errors start with the path.
func Load(path string) (File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return File{}, err
	}
	f, err := Parse(data)
	if err != nil {
		return File{}, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// normalize makes an empty list nil, as a list left out is.
func (f *File) normalize() {
	for _, l := range []*[]string{&f.Hubble.Filters, &f.Alertmanagers.URLs, &f.Redact.Headers, &f.Redact.QueryKeys} {
		if len(*l) == 0 {
			*l = nil
		}
	}
	for _, l := range []*[]FlowFilter{&f.Hubble.AllowFilters, &f.Hubble.DenyFilters} {
		if len(*l) == 0 {
			*l = nil
		}
	}
}

// cleanError drops yaml's Go type names (config.Alerts) from its errors.
func cleanError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
	var out []string
	for _, l := range strings.Split(msg, "\n") {
		l = strings.TrimSpace(l)
		if i := strings.Index(l, " not found in type "); i >= 0 {
			if j := strings.Index(l, "field "); j >= 0 && j < i {
				l = l[:j] + fmt.Sprintf("unknown key %q", l[j+len("field "):i])
			}
		}
		if i := strings.Index(l, " into config."); i >= 0 {
			l = l[:i] + " (wrong type)"
		}
		if l != "" {
			out = append(out, l)
		}
	}
	return errors.New(strings.Join(out, "; "))
}

// lines finds the line of a key path in the parsed document, for errors.
type lines struct{ root *yaml.Node }

// at is "line N: key" for the key path (dotted, with [i] for list items),
// or just the key when it is not in the file (a default).
func (l lines) at(path string) string {
	n := l.root
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 0
	for _, part := range strings.Split(path, ".") {
		key, idx := part, -1
		if i := strings.IndexByte(part, '['); i >= 0 {
			key = part[:i]
			idx, _ = strconv.Atoi(strings.TrimSuffix(part[i+1:], "]"))
		}
		n = child(n, key)
		if n == nil {
			break
		}
		line = n.Line
		if idx >= 0 {
			if n.Kind != yaml.SequenceNode || idx >= len(n.Content) {
				break
			}
			n = n.Content[idx]
			line = n.Line
		}
	}
	if line == 0 {
		return path
	}
	return fmt.Sprintf("line %d: %s", line, path)
}

func child(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// validate checks what the schema cannot: every error found, each with
// its key and line.
func (f *File) validate(l lines) error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", l.at(path), fmt.Sprintf(format, args...)))
	}
	h := f.Hubble
	if len(h.Sources) == 0 {
		bad("hubble.sources", "want at least one source")
	}
	names := map[string]bool{}
	for i, s := range h.Sources {
		p := fmt.Sprintf("hubble.sources[%d]", i)
		if strings.TrimSpace(s.Address) == "" {
			bad(p+".address", "empty address")
		}
		if len(h.Sources) > 1 && s.Name == "" {
			bad(p+".name", "with several sources each needs a distinct cluster name")
		}
		if s.Name != "" && names[s.Name] {
			bad(p+".name", "cluster name %q given twice", s.Name)
		}
		names[s.Name] = true
	}
	if _, _, err := hubble.ObserveFilters(h.Filters); err != nil {
		bad("hubble.filters", "%v", err)
	}
	if (h.TLS.CertFile == "") != (h.TLS.KeyFile == "") {
		bad("hubble.tls", "cert_file and key_file go together")
	}
	am := f.Alertmanagers
	for i, s := range am.URLs {
		u, err := url.Parse(s)
		if err == nil && (u.Scheme != "http" && u.Scheme != "https" || u.Host == "") {
			err = errors.New("want an http:// or https:// URL with a host")
		}
		if err != nil {
			bad(fmt.Sprintf("alertmanagers.urls[%d]", i), "%v", err)
		}
	}
	if (am.TLS.CertFile == "") != (am.TLS.KeyFile == "") {
		bad("alertmanagers.tls", "cert_file and key_file go together")
	}
	if (am.BasicAuth.Username == "") != (am.BasicAuth.PasswordFile == "") {
		bad("alertmanagers.basic_auth", "username and password_file go together")
	}
	if am.BasicAuth.Username != "" && am.BearerTokenFile != "" {
		bad("alertmanagers.bearer_token_file", "basic_auth and bearer_token_file are exclusive")
	}
	positive := func(path string, d Duration) {
		if d <= 0 {
			bad(path, "want a positive duration, got %s", time.Duration(d))
		}
	}
	positive("alertmanagers.timeout", am.Timeout)
	positive("alertmanagers.failing_after", am.FailingAfter)
	if am.SpoolMaxBytes <= 0 {
		bad("alertmanagers.spool_max_bytes", "want a positive size")
	}
	a := f.Alerts
	positive("alerts.resolve_after", a.ResolveAfter)
	positive("alerts.resend_interval", a.ResendInterval)
	positive("alerts.visibility_grace", a.VisibilityGrace)
	if a.MaxIncidentsPerPolicy == 0 {
		bad("alerts.max_incidents_per_policy", "0 would open no incident; want a positive cap, or -1 for none")
	}
	if a.HubbleUIURL != "" {
		if u, err := url.Parse(a.HubbleUIURL); err != nil || u.Scheme == "" || u.Host == "" {
			bad("alerts.hubble_ui_url", "want an absolute URL, got %q", a.HubbleUIURL)
		}
	}
	b := f.Baseline
	positive("baseline.learning_period", b.LearningPeriod)
	positive("baseline.snapshot_interval", b.SnapshotInterval)
	if b.ProfilesMax <= 0 {
		bad("baseline.profiles_max", "want a positive number of workloads")
	}
	p := f.Policies
	if p.Dir != "" && p.Bundle.Source != "" {
		bad("policies.bundle.source", "policies.dir and policies.bundle.source are exclusive")
	}
	positive("policies.eval_timeout", p.EvalTimeout)
	positive("policies.bundle.poll_interval", p.Bundle.PollInterval)
	if p.MaxFailures <= 0 {
		bad("policies.max_failures", "want a positive number of flows")
	}
	if p.MaxCost < 0 {
		bad("policies.max_cost", "want 0 (no bound) or a positive duration")
	}
	if (p.Bundle.TLS.CertFile == "") != (p.Bundle.TLS.KeyFile == "") {
		bad("policies.bundle.tls", "cert_file and key_file go together")
	}
	for i, s := range f.Redact.Headers {
		if strings.TrimSpace(s) == "" || strings.ContainsAny(s, ",: ") {
			bad(fmt.Sprintf("redact.headers[%d]", i), "want one header name, got %q", s)
		}
	}
	for i, s := range f.Redact.QueryKeys {
		if strings.TrimSpace(s) == "" || strings.ContainsAny(s, ",=&;?# ") {
			bad(fmt.Sprintf("redact.query_keys[%d]", i), "want one parameter name, got %q", s)
		}
	}
	return errors.Join(errs...)
}

// Duration is a Go duration string in the file: "5m", "1h30m", "100ms".
type Duration time.Duration

// UnmarshalYAML parses a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a duration such as 5m", n.Line)
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: want a duration such as 5m, got %q", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// ByteSize is a size with an optional unit: 256MiB, 1GiB, 100MB, 4096.
type ByteSize int64

// UnmarshalYAML parses a size.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseSize(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil {
		return fmt.Errorf("line %d: want a positive size such as 256MiB, got %q", n.Line, n.Value)
	}
	*b = ByteSize(v)
	return nil
}

// ParseSize parses a size in bytes with an optional unit (KiB, MiB, GiB,
// KB, MB, GB, B), as --alertmanager.spool-max-bytes takes it.
func ParseSize(v string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	num, mult := v, int64(1)
	for _, u := range units {
		if strings.HasSuffix(v, u.suffix) {
			num, mult = strings.TrimSuffix(v, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("want a positive size such as 256MiB, got %q", v)
	}
	return n * mult, nil
}

// FlowFilter is a Hubble FlowFilter written as a YAML (or JSON) object
// with its protobuf JSON names: {source_pod: ["shop/"], verdict: [DROPPED]}.
type FlowFilter struct{ *flowpb.FlowFilter }

// UnmarshalYAML converts the object to JSON and parses it as a FlowFilter,
// unknown fields refused.
func (f *FlowFilter) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: want a FlowFilter object such as {source_pod: [\"shop/\"]}", n.Line)
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	js, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("line %d: not a FlowFilter: %w", n.Line, err)
	}
	var ff flowpb.FlowFilter
	if err := protojson.Unmarshal(js, &ff); err != nil {
		return fmt.Errorf("line %d: not a FlowFilter: %w", n.Line, err)
	}
	f.FlowFilter = &ff
	return nil
}

// Equal compares the filters' protobuf content (for tests and reloads).
func (f FlowFilter) Equal(g FlowFilter) bool {
	a, _ := protojson.Marshal(f.FlowFilter)
	b, _ := protojson.Marshal(g.FlowFilter)
	return bytes.Equal(a, b)
}

// MarshalYAML writes the filter as its protobuf JSON object.
func (f FlowFilter) MarshalYAML() (any, error) {
	js, err := protojson.Marshal(f.FlowFilter)
	if err != nil {
		return nil, err
	}
	var v map[string]any
	err = json.Unmarshal(js, &v)
	return v, err
}
