package input

import (
	"strconv"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/hubble-sentinel/hubble-sentinel/engine/facts"
	"github.com/hubble-sentinel/hubble-sentinel/engine/profile"
)

// part is one field the sentinel document writes of a part T of what the
// engine measured (an endpoint, the request, the DNS query, the
// baseline): its key and its value. The document (sentinelValue) and a
// Lazy's getters (sentinelGetter) both write it from these tables.
type part[T any] struct {
	key *ast.Term
	of  func(c *conv, v *T) *ast.Term
}

// partsObject is the object of v's parts, in order.
func partsObject[T any](c *conv, parts []part[T], v *T) ast.Object {
	at := len(c.items)
	for _, p := range parts {
		c.push(p.key, p.of(c, v))
	}
	return c.object(at)
}

// partNamed is the part of parts whose key is name.
func partNamed[T any](parts []part[T], name string) (part[T], bool) {
	for _, p := range parts {
		if string(p.key.Value.(ast.String)) == name {
			return p, true
		}
	}
	return part[T]{}, false
}

// sourceParts and destinationParts are a measured endpoint's fields (the
// destination with its names).
var (
	sourceParts = []part[facts.Endpoint]{
		{keyKind, func(c *conv, e *facts.Endpoint) *ast.Term { return c.word(e.Kind) }},
		{keyNamespace, func(_ *conv, e *facts.Endpoint) *ast.Term { return ast.InternedTerm(e.Namespace) }},
		{keyWorkload, func(c *conv, e *facts.Endpoint) *ast.Term { return c.str(e.Workload) }},
		{keyPod, func(c *conv, e *facts.Endpoint) *ast.Term { return c.str(e.Pod) }},
		{keyIP, func(c *conv, e *facts.Endpoint) *ast.Term { return c.str(e.IP) }},
		{keyIdentity, func(c *conv, e *facts.Endpoint) *ast.Term { return c.int(int64(e.Identity)) }},
	}
	destinationParts = append(sourceParts[:len(sourceParts):len(sourceParts)],
		part[facts.Endpoint]{keyFQDN, func(c *conv, e *facts.Endpoint) *ast.Term { return c.str(e.FQDN) }},
		part[facts.Endpoint]{keyNames, func(c *conv, e *facts.Endpoint) *ast.Term { return c.strings(e.Names) }},
		part[facts.Endpoint]{keyDomains, func(c *conv, e *facts.Endpoint) *ast.Term { return c.strings(e.Domains) }},
	)
)

// httpParts are sentinel.http's fields.
var httpParts = []part[facts.HTTP]{
	{keyMethod, func(c *conv, h *facts.HTTP) *ast.Term { return c.word(h.Method) }},
	{keyPath, func(c *conv, h *facts.HTTP) *ast.Term { return c.str(h.Path) }},
	{keyRawPath, func(c *conv, h *facts.HTTP) *ast.Term { return c.str(h.RawPath) }},
	{keyQuery, func(c *conv, h *facts.HTTP) *ast.Term { return c.str(h.Query) }},
	{keyHost, func(c *conv, h *facts.HTTP) *ast.Term { return c.str(h.Host) }},
	{keyUserAgent, func(c *conv, h *facts.HTTP) *ast.Term { return c.str(h.UserAgent) }},
	{keyPlain, func(_ *conv, h *facts.HTTP) *ast.Term { return ast.InternedTerm(h.Plain) }},
	{keyHeadersPlain, func(_ *conv, h *facts.HTTP) *ast.Term { return ast.InternedTerm(h.HeadersPlain) }},
	{keyTruncated, func(_ *conv, h *facts.HTTP) *ast.Term { return ast.InternedTerm(h.Truncated) }},
	{keyText, func(c *conv, h *facts.HTTP) *ast.Term { return c.str(h.Text) }},
	{keySpecials, func(c *conv, h *facts.HTTP) *ast.Term { return c.str(h.Specials) }},
	{keyNormalizedPath, func(c *conv, h *facts.HTTP) *ast.Term { return c.str(h.NormalizedPath) }},
}

// dnsParts are sentinel.dns's fields.
var dnsParts = []part[facts.DNS]{
	{keyQuery, func(c *conv, d *facts.DNS) *ast.Term { return c.str(d.Query) }},
	{keyDomains, func(c *conv, d *facts.DNS) *ast.Term { return c.strings(d.Domains) }},
	{keyLabels, func(c *conv, d *facts.DNS) *ast.Term { return c.strings(d.Labels) }},
	{keyMaxLabelLength, func(_ *conv, d *facts.DNS) *ast.Term { return ast.InternedTerm(d.MaxLabelLength) }},
	{keyMaxLabelEntropy, func(c *conv, d *facts.DNS) *ast.Term {
		return c.term(ast.Number(strconv.FormatFloat(d.MaxLabelEntropy, 'f', 3, 64)))
	}},
	{keyQtypes, func(c *conv, d *facts.DNS) *ast.Term {
		qtypes := make([]*ast.Term, len(d.Qtypes))
		for i, q := range d.Qtypes {
			qtypes[i] = c.word(q)
		}
		return c.term(ast.NewArray(qtypes...))
	}},
	{keyTruncated, func(_ *conv, d *facts.DNS) *ast.Term { return ast.InternedTerm(d.Truncated) }},
}

// baselineParts are sentinel.baseline's fields but its measurement groups
// (see measurements).
var baselineParts = []part[profile.Baseline]{
	{keyLearning, func(_ *conv, b *profile.Baseline) *ast.Term { return ast.InternedTerm(b.Learning) }},
	{keyKnownEdge, func(_ *conv, b *profile.Baseline) *ast.Term { return ast.InternedTerm(b.KnownEdge) }},
	{keyLearnedEdge, func(_ *conv, b *profile.Baseline) *ast.Term { return ast.InternedTerm(b.LearnedEdge) }},
	{keyNewPeer, func(_ *conv, b *profile.Baseline) *ast.Term { return ast.InternedTerm(b.NewPeer) }},
	{keyNewPort, func(_ *conv, b *profile.Baseline) *ast.Term { return ast.InternedTerm(b.NewPort) }},
	{keyNewEndpoint, func(_ *conv, b *profile.Baseline) *ast.Term { return ast.InternedTerm(b.NewEndpoint) }},
	{keyNewDomain, func(_ *conv, b *profile.Baseline) *ast.Term { return ast.InternedTerm(b.NewDomain) }},
	{keyPeer, func(c *conv, b *profile.Baseline) *ast.Term { return c.str(b.Peer) }},
	{keyEndpoint, func(c *conv, b *profile.Baseline) *ast.Term { return c.str(b.Endpoint) }},
}
