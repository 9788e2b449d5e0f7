package app

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hubble-sentinel/hubble-sentinel/cmd/hubble-sentinel/internal/config"
	"github.com/hubble-sentinel/hubble-sentinel/engine/alert"
)

// DefaultHubbleAddress is the relay run follows when given none: the
// address `cilium hubble port-forward` listens on.
const DefaultHubbleAddress = config.DefaultHubbleAddress

// HubbleSource is one Hubble Relay run follows, from --hubble.address
// [NAME=]ADDRESS.
type HubbleSource struct {
	// Name is the cluster's name. A named source's alerts carry it as the
	// cluster label, its metrics too, and its position file and baseline
	// snapshot are its own (PATH.NAME). Only a single source may go
	// unnamed, and it then behaves as before names existed.
	Name    string
	Address string
}

// String is the flag form, [NAME=]ADDRESS.
func (s HubbleSource) String() string {
	if s.Name == "" {
		return s.Address
	}
	return s.Name + "=" + s.Address
}

// sourceName is what a cluster name may be: a short Prometheus label value
// that is also safe as a file name suffix.
var sourceName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$`)

// ParseHubbleSource parses [NAME=]ADDRESS. An '=' names the source only
// when what precedes it has no ':' or '/', so that an address (a unix
// socket path, say) is never mistaken for a name.
func ParseHubbleSource(v string) (HubbleSource, error) {
	var s HubbleSource
	s.Address = v
	if i := strings.IndexByte(v, '='); i >= 0 && !strings.ContainsAny(v[:i], ":/") {
		s.Name, s.Address = v[:i], v[i+1:]
		if !sourceName.MatchString(s.Name) {
			return HubbleSource{}, fmt.Errorf("cluster name %q must match %s", s.Name, sourceName)
		}
	}
	if s.Address == "" {
		return HubbleSource{}, errors.New("no address: want [NAME=]HOST:PORT or [NAME=]unix:///PATH")
	}
	return s, nil
}

// CheckHubbleSources refuses several sources unless each has its own name:
// the name is what tells their alerts, metrics and files apart. The error
// names the value at fault.
func CheckHubbleSources(srcs []HubbleSource) error {
	if len(srcs) < 2 {
		return nil
	}
	seen := map[string]bool{}
	for _, s := range srcs {
		switch {
		case s.Name == "":
			return fmt.Errorf("%q has no cluster name: with several --hubble.address values each needs one, NAME=%s", s.Address, s.Address)
		case seen[s.Name]:
			return fmt.Errorf("cluster name %q given twice (%q)", s.Name, s.String())
		}
		seen[s.Name] = true
	}
	return nil
}

// file is a per-source file beside path: PATH.NAME for a named source,
// path itself for an unnamed one (or when path is empty).
func (s HubbleSource) file(path string) string {
	if s.Name == "" || path == "" {
		return path
	}
	return path + "." + s.Name
}

// registerer is where the source's own metrics go: reg, with the cluster
// label on every series when the source is named.
func (s HubbleSource) registerer(reg prometheus.Registerer) prometheus.Registerer {
	if s.Name == "" {
		return reg
	}
	return prometheus.WrapRegistererWith(prometheus.Labels{alert.LabelCluster: s.Name}, reg)
}
