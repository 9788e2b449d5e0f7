# METADATA
# title: Shared helpers for detective policies
# description: >-
#   Builds the violation objects of the output contract from a policy's
#   package metadata, applies the exceptions, and answers the questions many
#   policies ask of a flow (which side is the client, is an address in a
#   range, is a side listed) so that every policy asks them the same way.
#   What Go measured (direction, names, domains) policies read from
#   input.sentinel directly.
package sentinel.lib

# METADATA
# description: >-
#   violation builds one element of a policy's violation set from the
#   annotation chain of the rule that calls it (rego.metadata.chain()) and a
#   one-line summary of this flow. Identity, severity, title, description and
#   MITRE technique come from the package-scope METADATA block, so a policy
#   never repeats them. A missing field falls back to a default rather than
#   making the violation undefined: a policy with incomplete metadata still
#   alerts instead of going silent. The violation is undefined when one of
#   the exceptions in data.data.exceptions covers this flow, so every policy
#   that reports through this function honours them.
violation(chain, summary) := v if {
	some entry in chain
	entry.annotations.scope == "package"
	annotations := entry.annotations
	custom := object.get(annotations, "custom", {})
	policy := package_path(entry.path)
	v := {
		"id": object.get(custom, "id", policy),
		"severity": object.get(custom, "severity", "warning"),
		"title": object.get(annotations, "title", policy),
		"policy": policy,
		"summary": summary,
		"description": object.get(annotations, "description", ""),
		"mitre": object.get(custom, "mitre", ""),
	}
	not excepted(v.id)
}

# METADATA
# description: >-
#   excepted holds when an entry of data.data.exceptions covers the current
#   flow for the policy with this id. As in Falco's exceptions, an entry names
#   the fields it constrains; every field it sets must match (a list matches
#   when any element does) and fields it leaves out match anything. An entry
#   without policies applies to every policy. It is evaluated only for flows
#   that already violate a policy, so it costs nothing on the others.
#   Entries speak from the client's point of view: source_* name the side
#   that opened the connection or sent the request (client), destination_*
#   the side that answers (server) and destination_ports its service port,
#   whichever way this flow goes. So one entry covers a request and its
#   response (a DNS answer, an HTTP response) alike.
excepted(id) if {
	some exception in object.get(data.data, "exceptions", [])
	exception_covers(exception, id)
}

exception_covers(exception, id) if {
	matches(exception, "policies", id)
	matches(exception, "source_namespaces", client.namespace)
	matches(exception, "source_workloads", workload_key(client))
	matches(exception, "destination_namespaces", server.namespace)
	matches(exception, "destination_workloads", workload_key(server))
	matches(exception, "destination_ports", input.sentinel.service_port)
	matches_domain(exception)
	matches_cidr(exception)
}

# matches holds when the exception leaves field out (or empty), or lists
# value in it.
matches(exception, field, _) if count(object.get(exception, field, [])) == 0

matches(exception, field, value) if value in exception[field]

matches_domain(exception) if count(object.get(exception, "destination_names", [])) == 0

matches_domain(exception) if {
	some d in server_domains
	d in exception.destination_names
}

matches_cidr(exception) if count(object.get(exception, "destination_cidrs", [])) == 0

matches_cidr(exception) if ip_in_cidrs(server.ip, exception.destination_cidrs)

# server_domains are the engine's names of the server and their parent
# domains (input.sentinel.destination.domains): its DNS-aware name (fqdn),
# the HTTP host, the DNS query. The engine measures the host and the query
# in both directions, but fqdn is always the flow's destination's: on a
# reply it names the client, and then the reply has no server names.
server_domains := input.sentinel.destination.domains if input.sentinel.initiated == true

server_domains := input.sentinel.destination.domains if {
	input.sentinel.initiated == false
	input.sentinel.destination.fqdn == ""
}

# package_path is the dotted package name of an annotation path. OPA reports
# paths without the data root (["sentinel", "egress", "x"]); a leading "data"
# is dropped too, should a version report it.
package_path(path) := trim_prefix(concat(".", path), "data.")

# ip_in_cidrs holds when ip lies in one of cidrs. Addresses of the other IP
# family never match.
ip_in_cidrs(ip, cidrs) if {
	some cidr in cidrs
	net.cidr_contains(cidr, ip)
}

# endpoint names one side of a flow for a summary: namespace/workload for
# pods, else its kind and IP address.
endpoint(side) := sprintf("%s/%s", [side.namespace, side.workload]) if {
	side.namespace != ""
	side.workload != ""
} else := sprintf("%s %s", [object.get(side, "kind", "unknown"), object.get(side, "ip", "")])

# workload_key is the "namespace/workload" key that per-workload tunables use.
workload_key(side) := sprintf("%s/%s", [object.get(side, "namespace", ""), object.get(side, "workload", "")])

# listed holds when side (input.sentinel.source or .destination) is named in
# keys by its namespace ("kube-system") or as a workload ("shop/cart").
# Sides without a namespace (the node, the Internet) are never listed.
listed(side, keys) if {
	side.namespace != ""
	side.namespace in keys
}

listed(side, keys) if {
	side.namespace != ""
	workload_key(side) in keys
}

# client is the side of the flow that opened the connection or sent the
# request, as the engine measured it (input.sentinel.initiated): the source
# of a request, the destination of a reply. Policies that judge answers
# (DNS responses, HTTP responses) name and except the client through it.
client := input.sentinel.source if input.sentinel.initiated == true

client := input.sentinel.destination if input.sentinel.initiated == false

# server is the side that accepted the connection or answers the request.
server := input.sentinel.destination if input.sentinel.initiated == true

server := input.sentinel.source if input.sentinel.initiated == false
