# METADATA
# title: Shared helpers for detective policies
# description: >-
#   Builds the violation objects of the output contract from a policy's
#   package metadata, and answers the questions many policies ask of a flow
#   (is it a reply, which names does its destination have, is an address
#   internal) so that every policy asks them the same way.
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
excepted(id) if {
	some exception in object.get(data.data, "exceptions", [])
	exception_covers(exception, id)
}

exception_covers(exception, id) if {
	matches(exception, "policies", id)
	matches(exception, "source_namespaces", input.sentinel.source.namespace)
	matches(exception, "source_workloads", workload_key(input.sentinel.source))
	matches(exception, "destination_namespaces", input.sentinel.destination.namespace)
	matches(exception, "destination_workloads", workload_key(input.sentinel.destination))
	matches(exception, "destination_ports", input.sentinel.destination_port)
	matches_domain(exception)
	matches_cidr(exception)
}

# matches holds when the exception leaves field out (or empty), or lists
# value in it.
matches(exception, field, _) if count(object.get(exception, field, [])) == 0

matches(exception, field, value) if value in exception[field]

matches_domain(exception) if count(object.get(exception, "destination_names", [])) == 0

matches_domain(exception) if {
	some d in input.sentinel.destination.domains
	d in exception.destination_names
}

matches_cidr(exception) if count(object.get(exception, "destination_cidrs", [])) == 0

matches_cidr(exception) if ip_in_cidrs(input.sentinel.destination.ip, exception.destination_cidrs)

# package_path is the dotted package name of an annotation path. OPA reports
# paths without the data root (["sentinel", "egress", "x"]); a leading "data"
# is dropped too, should a version report it.
package_path(path) := trim_prefix(concat(".", path), "data.")

# is_request holds for the request half of an L7 exchange. A violation rule
# writes the condition inline instead (input.l7.type == "REQUEST"): OPA's rule
# index sees through equalities in the rule's own body, not through calls.
is_request if input.l7.type == "REQUEST"

# is_reply holds when Cilium marked the flow as the reply direction. is_reply
# may be absent (unknown) on drops and on some trace points; older agents only
# set the deprecated reply field.
is_reply if input.is_reply == true

is_reply if input.reply == true

# not_reply holds for flows in the initiating direction, and for flows whose
# direction Cilium does not know (drops): those are treated as initiated by
# their source.
not_reply if not is_reply

# ip_in_cidrs holds when ip lies in one of cidrs. Addresses of the other IP
# family never match.
ip_in_cidrs(ip, cidrs) if {
	some cidr in cidrs
	net.cidr_contains(cidr, ip)
}

# hostname normalises a DNS name or an HTTP host for comparison: lower case,
# without a port, IPv6 brackets or a trailing dot.
hostname(host) := trim_suffix(lower(trim_prefix(split(host, "]")[0], "[")), ".") if {
	startswith(host, "[")
}

hostname(host) := trim_suffix(lower(split(host, ":")[0]), ".") if {
	not startswith(host, "[")
	strings.count(host, ":") == 1
}

hostname(host) := trim_suffix(lower(host), ".") if {
	not startswith(host, "[")
	strings.count(host, ":") != 1
}

# name_in_domains holds when name is one of domains or a subdomain of one.
# Domains may be written with or without a leading or trailing dot. It
# normalises every name and domain on each call; on the per-flow path, match
# a list of normalised domains against the engine's parent domains instead:
# some d in input.sentinel.destination.domains; d in list.
name_in_domains(name, domains) if {
	some domain in domains
	d := trim(lower(domain), ".")
	d != ""
	name_in_domain(hostname(name), d)
}

# name_in_domain holds when name is domain or a subdomain of it. Both are
# compared as they are: pass normalised names (lower case, no trailing dot).
name_in_domain(name, domain) if name == domain

name_in_domain(name, domain) if endswith(name, concat("", [".", domain]))

# destination_names are the names this flow's destination is known by: the
# DNS-aware egress name, the HTTP host and the DNS query, normalised. The
# engine measures them (input.sentinel.destination.names); policies iterate
# that array directly rather than building this set on every flow.
destination_names contains name if some name in input.sentinel.destination.names

# endpoint names one side of a flow for a summary: namespace/workload for
# pods, else its kind and IP address.
endpoint(side) := sprintf("%s/%s", [side.namespace, side.workload]) if {
	side.namespace != ""
	side.workload != ""
} else := sprintf("%s %s", [object.get(side, "kind", "unknown"), object.get(side, "ip", "")])

# workload_key is the "namespace/workload" key that per-workload tunables use.
workload_key(side) := sprintf("%s/%s", [object.get(side, "namespace", ""), object.get(side, "workload", "")])

# METADATA
# description: >-
#   initiated holds for a flow in the initiating direction. Cilium says so
#   with is_reply (or the deprecated reply of older agents) on most trace
#   points, but not on all: older agents leave both out on overlay and stack
#   trace points, and the GKE sample captures hold replies such as a pod's
#   SYN-ACK from port 9080 to a remote node's port 58950 with no direction.
#   When Cilium does not say, the packet decides: a TCP SYN without ACK is
#   an initiation, a SYN-ACK a reply, an ICMP echo reply a reply, and
#   otherwise a flow from a lower port to a higher one is a server
#   answering a client's ephemeral port. The last guess can take a
#   client's data packet to a service on a high port for a reply; the
#   connection's SYN is still seen as an initiation.
initiated if input.is_reply == false

initiated if {
	not direction_known
	not looks_like_reply
}

# direction_known holds when Cilium said which way the flow goes. The
# deprecated reply field is left out when false, so only true says anything.
direction_known if is_boolean(input.is_reply)

direction_known if input.reply == true

looks_like_reply if {
	input.l4.TCP.flags.SYN
	input.l4.TCP.flags.ACK
}

looks_like_reply if {
	not input.l4.TCP.flags.SYN
	source_port < input.sentinel.destination_port
}

looks_like_reply if input.l4.ICMPv4.type == 0 # echo reply

looks_like_reply if input.l4.ICMPv6.type == 129 # echo reply

source_port := input.l4.TCP.source_port

source_port := input.l4.UDP.source_port

source_port := input.l4.SCTP.source_port

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
