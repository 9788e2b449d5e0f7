# METADATA
# title: Unauthenticated flow into a service that requires mutual authentication
# description: >-
#   Cilium admitted a connection into a workload listed in
#   data.data.identity.mutual_auth_required through a rule that required no
#   mutual authentication (no accepted auth_type such as SPIRE on the
#   ingress policy verdict), so the peer never proved its SPIFFE identity.
#   Often a broad allow rule added later. Find the rule that admitted the
#   peer, check the peer should reach the workload at all, and add
#   authentication.mode required to the rule.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1021/
#   - ref: https://docs.cilium.io/en/stable/network/servicemesh/mutual-authentication/mutual-authentication/
# custom:
#   id: UnauthenticatedFlowToProtectedService
#   severity: warning
#   mitre: T1021
#   tags: [identity, mutual-authentication, lateral-movement]
package sentinel.identity.mutual_auth

import data.sentinel.lib

# Hubble sets auth_type on policy verdict events (event type 5) only; the
# ingress verdict is the destination's policy admitting the connection.
# REDIRECTED is a verdict that also sent the flow to the L7 proxy.
violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.event_type.type == 5
	input.traffic_direction == "INGRESS"
	input.verdict in {"FORWARDED", "REDIRECTED"}
	input.sentinel.destination.kind == "pod"
	input.sentinel.initiated == true
	protected
	not authenticated
	not input.sentinel.source.kind in data.data.identity.mutual_auth_exempt_source_kinds
}

protected if input.sentinel.destination.namespace in data.data.identity.mutual_auth_required

protected if lib.workload_key(input.sentinel.destination) in data.data.identity.mutual_auth_required

# Hubble leaves auth_type out when it is DISABLED (the proto default).
authenticated if input.auth_type in data.data.identity.mutual_auth_types

summary := sprintf("%s reached %s on %s port %d through a policy that required no mutual authentication (auth_type %s)", [
	lib.endpoint(input.sentinel.source),
	lib.endpoint(input.sentinel.destination),
	input.sentinel.protocol,
	input.sentinel.destination_port,
	object.get(input, "auth_type", "DISABLED"),
])
