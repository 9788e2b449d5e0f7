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
			field{name: "path", schema: typed("string", "The URL path, percent-decoded.")},
			field{name: "raw_path", schema: typed("string", "The URL path as sent, percent-encoded.")},
			field{name: "query", schema: typed("string", `The raw query string, without "?"; "" when none. May hold secrets: never put it in a summary.`)},
			field{name: "host", schema: typed("string", `The URL's host (with its port, if any), else the Host or :authority header; "" when none.`)},
			field{name: "user_agent", schema: typed("string", `The User-Agent request header; "" when absent.`)},
			field{name: "plain", schema: typed("boolean", `True when the request has nothing a payload could hide in: no query, `+
				`and a raw path of letters, digits and "/._~-" only, without "..". Policies looking for payloads lead with plain == false.`)},
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
		)},
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
