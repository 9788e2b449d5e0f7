package schema

import (
	"github.com/hubble-sentinel/hubble-sentinel/engine/facts"
)

// The schema of what input.Builder.Document adds under input.SentinelKey.
// Its keys are spelled out here as in package input; TestEveryFieldMatches
// fails when the two disagree on a key or a type.

// field is one property of a sentinel object.
type field struct {
	name     string
	schema   map[string]any
	optional bool // absent unless the flow has it
}

// object is a closed object: a policy referencing any other key fails to
// type-check.
func object(description string, fields ...field) map[string]any {
	props := make(map[string]any, len(fields))
	var required []string
	for _, f := range fields {
		props[f.name] = f.schema
		if !f.optional {
			required = append(required, f.name)
		}
	}
	return map[string]any{
		"type":                 "object",
		"description":          description,
		"properties":           props,
		"required":             required,
		"additionalProperties": false,
	}
}

func typed(typ, description string) map[string]any {
	return map[string]any{"type": typ, "description": description}
}

func stringArray(description string) map[string]any {
	return map[string]any{"type": "array", "items": map[string]any{"type": "string"}, "description": description}
}

func sentinel() map[string]any {
	return object("What the engine measured about the flow (not a Flow field). Go measures, Rego judges: "+
		"prefer these normalised facts to parsing the flow in a policy.",
		field{name: "source", schema: endpoint("The source of the flow, normalised.", false)},
		field{name: "destination", schema: endpoint("The destination of the flow, normalised.", true)},
		field{name: "protocol", schema: map[string]any{
			"type": "string",
			"enum": []string{"TCP", "UDP", "SCTP", "ICMPv4", "ICMPv6", "VRRP", "IGMP", ""},
			"description": "The layer-4 protocol, the name of the l4 field Hubble set " +
				`(TCP, UDP, SCTP, ICMPv4, ICMPv6, VRRP, IGMP); "" when the flow has no l4.`,
		}},
		field{name: "destination_port", schema: port("The layer-4 destination port; 0 when the protocol has none.")},
		field{name: "initiated", schema: typed("boolean", "True when the flow goes from the side that opened the connection "+
			"or sent the request (the client) to the other (the server): the one notion of direction that policies, profiles "+
			"and alerts share. direction.rule says what decided it. Connection and request policies lead with "+
			"input.sentinel.initiated == true; a policy on answers (DNS responses, HTTP responses) reads the client "+
			"from the side direction.initiator does not name.")},
		field{name: "direction", schema: object("How the engine decided initiated.",
			field{name: "initiator", schema: map[string]any{"type": "string", "enum": []string{"source", "destination"},
				"description": `The side that initiated: "source" when initiated is true, else "destination".`}},
			field{name: "rule", schema: map[string]any{"type": "string",
				"enum": []string{facts.RuleIsReply, facts.RuleReply, facts.RuleL7Type, facts.RuleTCPFlags, facts.RuleICMP, facts.RulePorts, facts.RuleDefault},
				"description": "What decided, in this order: is_reply (Cilium said so), reply (the deprecated field said reply), " +
					"l7_type (REQUEST or RESPONSE), tcp_flags (SYN opens, SYN-ACK answers), icmp (echo request or reply), " +
					"ports (an ephemeral port, 32768 and up, facing a lower one is the client's; else the lower port is the server's), " +
					"default (nothing said: the source initiated)."}},
		)},
		field{name: "service_port", schema: port("The server's port: destination_port when initiated, else the source port; " +
			"0 when the protocol has none. A reply's destination_port is the client's ephemeral port.")},
		field{name: "http", optional: true, schema: object("Present for HTTP flows (l7.http): the request's URL taken apart.",
			field{name: "method", schema: typed("string", "The HTTP method as Hubble reported it (GET).")},
			field{name: "path", schema: typed("string", `The URL path as servers route it: path parameters (";jsessionid=…") removed, percent-decoded.`)},
			field{name: "raw_path", schema: typed("string", "The URL path as sent, percent-encoded, path parameters included.")},
			field{name: "query", schema: typed("string", `The raw query string, without "?"; "" when none. May hold secrets: never put it in a summary.`)},
			field{name: "host", schema: typed("string", `The URL's host (with its port, if any), else the Host or :authority header; "" when none.`)},
			field{name: "user_agent", schema: typed("string", `The User-Agent request header; "" when absent.`)},
			field{name: "plain", schema: typed("boolean", `True when the request has nothing a payload could hide in: no query, `+
				`and a raw path of letters, digits and "/._~-" only, without "..". Policies looking for payloads lead with plain == false.`)},
			field{name: "headers_plain", schema: typed("boolean", "True when no header value (l7.http.headers, within the bounds) holds any of the characters "+
				"$ { } < > ` | \\ that an expression, lookup or markup payload needs (a Log4j ${jndi:…}, a template, a script tag). "+
				"Policies scanning header values lead with headers_plain == false.")},
			field{name: "text", schema: typed("string", `The raw path and query as the injection policies match them, lower case, one per line, `+
				`each also percent-decoded ("+" as a space) once and, when that left an escape, twice, one form per line; a target without escapes `+
				`or "+" as sent ("/search\nq=shoes"). What the library's request.text computes from raw_path and query, measured in Go. `+
				`Holds the query: may hold secrets, never put it in a summary.`)},
			field{name: "specials", schema: typed("string", `The characters of text outside the plain set of ordinary targets `+
				`(letters, digits, "/._~=&%+,_-" and the line breaks), in order: "" for page=2&sort=name, " " for q=red+shoes, "'" for q=levi%27s. `+
				`What the library's request.specials computes. Policies looking for a trigger character lead with contains(input.sentinel.http.specials, "$"), `+
				`which the engine checks before any Rego runs.`)},
			field{name: "normalized_path", schema: typed("string", `path as the path policies compare it: lower case, with repeated slashes `+
				`and "/./" segments collapsed, so /ACTUATOR, //actuator and /./actuator all read /actuator. What the library's request.path computes, `+
				`measured in Go; a test of it (strings.any_suffix_match(request.path, …)) is checked before any Rego runs.`)},
			field{name: "truncated", schema: typed("boolean", `True when the request exceeded a bound and was cut, prefix kept: `+
				`the URL (8 KiB, l7.http.url), raw_path or query (2 KiB each), host (1 KiB), more than 64 headers, a header name (256 B) or value (4 KiB). `+
				`path, raw_path, query, user_agent and l7.http are then the cut request. An oversized request is suspicious in itself.`)},
		)},
		field{name: "dns", optional: true, schema: object("Present for DNS flows (l7.dns): the query name measured.",
			field{name: "query", schema: typed("string", `The query name without its trailing dot; "" when none.`)},
			field{name: "domains", schema: stringArray("The query name normalised (lower case) and each of its parent domains " +
				"(a.pool.example.com, pool.example.com, example.com, com), each once; empty when there is no query. " +
				"Match a domain list with `some d in input.sentinel.dns.domains; d in list`.")},
			field{name: "labels", schema: stringArray("The labels of the query name, in order; empty when there is no query. They may be exfiltrated data: never put them in a summary.")},
			field{name: "max_label_length", schema: map[string]any{"type": "integer", "minimum": 0,
				"description": "The length in bytes of the longest label."}},
			field{name: "max_label_entropy", schema: map[string]any{"type": "number", "minimum": 0,
				"description": "The highest Shannon entropy of a label, in bits per character, to three decimals. " +
					"Base32/base64-encoded data scores near 4 to 5, words near 3."}},
			field{name: "qtypes", schema: stringArray("The query types (A, AAAA, TXT…), as in l7.dns.qtypes.")},
			field{name: "truncated", schema: typed("boolean", "True when the query name was longer than 1 KiB and was cut, prefix kept.")},
		)},
		field{name: "baseline", optional: true, schema: baseline()},
		field{name: "profile", optional: true, schema: object("What the engine's profiles knew about each side before this flow. "+
			"The engine always sets it; hand-written test inputs may leave it out.",
			field{name: "source", schema: profile("The source's profile.")},
			field{name: "destination", schema: profile("The destination's profile.")},
		)},
	)
}

// endpoint mirrors input.endpointValue.
func endpoint(description string, destination bool) map[string]any {
	fields := []field{
		{name: "kind", schema: map[string]any{
			"type": "string",
			"enum": []string{
				facts.KindPod, facts.KindWorld, facts.KindHost, facts.KindRemoteNode, facts.KindKubeAPIServer,
				facts.KindHealth, facts.KindInit, facts.KindIngress, facts.KindUnmanaged, facts.KindUnknown,
			},
			"description": "What the endpoint is: from its reserved: labels (kube-apiserver winning over host), else pod " +
				"when it has a namespace or pod name, else from its reserved numeric identity; unknown when nothing says.",
		}},
		{name: "namespace", schema: typed("string", `The Kubernetes namespace; "" when not a pod or unknown.`)},
		{name: "workload", schema: typed("string", "The owning workload: workloads[0].name, else the pod name without its "+
			`ReplicaSet, DaemonSet, Job or StatefulSet suffix; "" when not a pod.`)},
		{name: "pod", schema: typed("string", `The pod name; "" when not a pod.`)},
		{name: "ip", schema: typed("string", `The address, IP.source or IP.destination of the flow; "" when the flow has none.`)},
		{name: "identity", schema: map[string]any{"type": "integer", "minimum": 0, "maximum": 1<<32 - 1,
			"description": "The Cilium security identity (2 is world, 1 host); 0 when unknown."}},
	}
	if destination {
		fields = append(fields,
			field{name: "fqdn", schema: typed("string", `The first of destination_names (DNS-aware egress), normalised (lower case, no trailing dot); "" when none.`)},
			field{name: "names", schema: stringArray("The names the destination is known by, normalised (lower case, no port, " +
				"brackets or trailing dot), each once: fqdn, the HTTP host, the DNS query.")},
			field{name: "domains", schema: stringArray("Every name in names and each of its parent domains " +
				"(a.pool.example.com, pool.example.com, example.com, com): match a domain list with " +
				"`some d in input.sentinel.destination.domains; d in list`.")},
		)
	}
	return object(description, fields...)
}

func number(description string) map[string]any {
	return map[string]any{"type": "number", "minimum": 0, "description": description}
}

// baseline mirrors input.baselineValue.
func baseline() map[string]any {
	return object("What the learned baselines say of this flow, from the client's side (the side that initiated; see initiated). "+
		"Go measures over sliding minutes of event time; the policies in policies/baseline judge, with thresholds in data. "+
		"The engine always sets it; hand-written test inputs may leave it out.",
		field{name: "learning", schema: typed("boolean", "The client's workload is in its learning period (--baseline.learning-period "+
			"from its namespace's first flow, or from its own when it came later): baselines record, they do not judge, and the new_* facts stay false.")},
		field{name: "known_edge", schema: typed("boolean", "The client had this edge (peer, protocol, service port) before this flow.")},
		field{name: "learned_edge", schema: typed("boolean", "The edge was learned during the learning period, or has been seen for a whole period since: "+
			"a learnable policy does not alert on it.")},
		field{name: "new_peer", schema: typed("boolean", "After learning: the client never contacted this peer before.")},
		field{name: "new_port", schema: typed("boolean", "After learning: a known peer, on a protocol and port never used before.")},
		field{name: "new_endpoint", schema: typed("boolean", "After learning: on a known edge, an L7 endpoint (method and path template) never called before.")},
		field{name: "new_domain", schema: typed("boolean", "After learning: a DNS query for a registered domain (eTLD+1) the client never looked up.")},
		field{name: "peer", schema: typed("string", "The edge's peer: namespace/workload, fqdn:<name> or ip:<prefix> for the Internet, reserved:<kind>.")},
		field{name: "endpoint", schema: typed("string", `The L7 endpoint on the edge, "GET /product/{id}": identifiers and positions learned `+
			`to be high-cardinality are placeholders ({num}, {uuid}, {hex}, {id}, {var}); "" for non-HTTP flows.`)},
		field{name: "latency", schema: object("Response latency of the endpoint (from L7 responses).",
			field{name: "ms", schema: number("Recent latency, a short average of the last few responses, in ms.")},
			field{name: "baseline_ms", schema: number("Learned latency in ms (a long average of log latency that spikes do not teach).")},
			field{name: "ratio", schema: number("ms / baseline_ms; 0 without a baseline.")},
			field{name: "deviations", schema: number("How far the recent log latency lies above the learned one, in mean absolute " +
				"deviations of it: a spike on a steady path is many, the same ratio on a path that always varies is few.")},
			field{name: "samples", schema: map[string]any{"type": "integer", "minimum": 0, "description": "Responses the baseline learned from."}},
		)},
		field{name: "errors", schema: object("Error shares of the endpoint's responses over the sliding minute.",
			field{name: "ratio", schema: number("Share of 5xx responses.")},
			field{name: "baseline_ratio", schema: number("Learned share of 5xx responses.")},
			field{name: "client_ratio", schema: number("Share of 4xx responses.")},
			field{name: "baseline_client_ratio", schema: number("Learned share of 4xx responses.")},
			field{name: "responses", schema: number("Responses in the sliding minute.")},
		)},
		field{name: "rate", schema: object("Requests of this client to the endpoint.",
			field{name: "per_min", schema: number("Requests over the sliding minute.")},
			field{name: "baseline_per_min", schema: number("Learned requests per minute.")},
		)},
		field{name: "fanout", schema: object("What the client reached in the current minute.",
			field{name: "ips", schema: number("Distinct addresses it tried to reach.")},
			field{name: "ports", schema: number("The most distinct ports it tried on one address.")},
			field{name: "baseline_ips", schema: number("Learned distinct addresses per minute.")},
			field{name: "baseline_ports", schema: number("Learned most ports on one address per minute.")},
			field{name: "refused_ratio", schema: number("Share of its connection attempts answered with RST over the sliding minute.")},
			field{name: "dropped_ratio", schema: number("Share of its attempts dropped over the sliding minute.")},
		)},
		field{name: "auth_failures", schema: object("401 and 403 answers of the server's endpoint, every client together (world included).",
			field{name: "per_min", schema: number("Over the sliding minute.")},
			field{name: "baseline_per_min", schema: number("Learned per minute.")},
			field{name: "sources", schema: number("Distinct clients (workloads, or addresses for the Internet) that failed this minute.")},
		)},
		field{name: "drops", schema: object("The client's dropped attempts.",
			field{name: "per_min", schema: number("Over the sliding minute.")},
			field{name: "baseline_per_min", schema: number("Learned per minute.")},
		)},
		field{name: "dns", schema: object("What the client's resolvers answered.",
			field{name: "nxdomain_ratio", schema: number("Share of NXDOMAIN answers over the sliding minute.")},
			field{name: "baseline_nxdomain_ratio", schema: number("Learned share of NXDOMAIN answers.")},
		)},
	)
}

// profile mirrors input.profileValue.
func profile(description string) map[string]any {
	return object(description,
		field{name: "flows", schema: map[string]any{"type": "integer", "minimum": 0,
			"description": "Flows the identity took part in before this one, on either side."}},
		field{name: "first_seen", schema: map[string]any{"type": "string", "pattern": `^$|^[0-9]{4}-[0-9]{2}-[0-9]{2}T`,
			"description": `When the identity was first seen, RFC 3339 in UTC; "" for an identity never seen before.`}},
		field{name: "peers", schema: map[string]any{"type": "integer", "minimum": 0,
			"description": "Distinct peers the identity had in its role on this flow (the client's servers, " +
				"the server's clients; see initiated), up to the profile's limit."}},
		field{name: "new_peer", schema: typed("boolean", "The other side was not yet among those peers. "+
			"Profiles learn each edge from the client's side, so a reply teaches the same edge as its request. "+
			"False once the profile is full.")},
		field{name: "new_port", schema: typed("boolean", "The service port (service_port, not 0) was not yet among the identity's "+
			"ports in its role. False once the profile is full.")},
	)
}

func port(description string) map[string]any {
	return map[string]any{"type": "integer", "minimum": 0, "maximum": 1<<32 - 1, "description": description}
}
