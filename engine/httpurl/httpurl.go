// Package httpurl splits a request URL into its parts without ever failing, so that what Go's url.Parse refuses (a bad port, a space in the host, %zz, broken IPv6, a password with "/") is still read: policies see the path and the redactor sees the secrets.
package httpurl

import "strings"

// URL is a request URL split into its parts, each as sent (nothing is
// decoded). A part the URL does not have is "".
type URL struct {
	Scheme string
	// Userinfo is what comes before "@" in the authority ("user:pass"),
	// User and Password its halves around the first ":".
	Userinfo       string
	User, Password string
	// Host is the authority without userinfo: host and port as sent,
	// brackets of an IPv6 literal included.
	Host string
	// Path is the path as sent, path parameters included
	// ("/a;jsessionid=x/b").
	Path string
	// Params are the path parameters of every segment, in order: the
	// ";name=value" parts servers such as Tomcat and Jetty strip before
	// routing and read as session identifiers.
	Params []Param
	// Query is what follows the first "?", up to a "#"; HasQuery tells
	// an empty query ("/a?") from none.
	Query    string
	HasQuery bool
	Fragment string
}

// Param is one path parameter; Value is "" when it has no "=".
type Param struct{ Name, Value string }

// Parse splits raw. The scheme is what precedes "://" when that holds no
// "/?#"; a URL that starts with "//" has an authority without scheme.
// Userinfo may hold a "/" or a space (a password Go refuses): the
// authority then runs to the last "@" before the query.
func Parse(raw string) URL {
	var u URL
	rest := raw
	if i := strings.Index(rest, "://"); i > 0 && !strings.ContainsAny(rest[:i], "/?#") {
		u.Scheme, rest = rest[:i], rest[i+1:]
	}
	if strings.HasPrefix(rest, "//") {
		rest = rest[2:]
		q := strings.IndexAny(rest, "?#")
		if q < 0 {
			q = len(rest)
		}
		start := strings.LastIndexByte(rest[:q], '@') + 1
		if start > 0 {
			u.Userinfo = rest[:start-1]
			u.User, u.Password, _ = strings.Cut(u.Userinfo, ":")
		}
		// A ";" ends the host too: "http://h;jsessionid=x" has a path
		// parameter, not a host with one.
		end := strings.IndexAny(rest[start:], "/?#;")
		if end < 0 {
			end = len(rest) - start
		}
		u.Host, rest = rest[start:start+end], rest[start+end:]
	}
	rest, u.Fragment, _ = strings.Cut(rest, "#")
	u.Path, u.Query, u.HasQuery = strings.Cut(rest, "?")
	u.Params = params(u.Path)
	return u
}

// maxParams bounds the path parameters read from one URL.
const maxParams = 64

// params returns the path parameters of path.
func params(path string) []Param {
	if !strings.Contains(path, ";") {
		return nil
	}
	var out []Param
	for seg := range strings.SplitSeq(path, "/") {
		_, ps, ok := strings.Cut(seg, ";")
		if !ok {
			continue
		}
		for p := range strings.SplitSeq(ps, ";") {
			if p == "" {
				continue
			}
			if len(out) == maxParams {
				return out
			}
			name, value, _ := strings.Cut(p, "=")
			out = append(out, Param{Name: name, Value: value})
		}
	}
	return out
}

// StripParams returns path without its path parameters, as servers route
// it: "/admin;jsessionid=x/env" is "/admin/env".
func StripParams(path string) string {
	if !strings.Contains(path, ";") {
		return path
	}
	var b strings.Builder
	b.Grow(len(path))
	for i, seg := range strings.Split(path, "/") {
		if i > 0 {
			b.WriteByte('/')
		}
		seg, _, _ = strings.Cut(seg, ";")
		b.WriteString(seg)
	}
	return b.String()
}
