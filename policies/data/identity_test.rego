# METADATA
# title: Checks of the identity tunables
# description: >-
#   The identity policies compare data.data.identity with the engine's
#   endpoint kinds, Hubble's enum names and "namespace/workload" keys. These
#   tests fail on an edit that would otherwise silently match nothing, or
#   make two policies judge one drop.
package sentinel.data.identity_test

identity := data.data.identity

kinds := {"pod", "world", "host", "remote-node", "kube-apiserver", "health", "init", "ingress", "unmanaged", "unknown"}

# A key is a namespace or "namespace/workload", as lib.workload_key builds.
workload_or_namespace(key) if regex.match(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(/[a-z0-9]([-.a-z0-9]*[a-z0-9])?)?$`, key)

test_keys_are_namespaces_or_workloads if {
	every key in array.concat(
		array.concat(identity.mutual_auth_required, identity.encryption_required),
		identity.unmanaged_allowed_destinations,
	) {
		workload_or_namespace(key)
	}
}

test_auth_types_are_hubble_enum_names if {
	every auth in identity.mutual_auth_types {
		auth in {"SPIRE", "TEST_ALWAYS_FAIL"}
	}
}

test_exempt_kinds_are_engine_kinds if {
	every kind in identity.mutual_auth_exempt_source_kinds {
		kind in kinds
	}
}

test_allowed_source_cidrs_are_valid if {
	every cidr in identity.unmanaged_allowed_source_cidrs {
		net.cidr_is_valid(cidr)
	}
}

# PolicyDeniedDrop judges the policy drop reasons; a reason in both lists
# would raise two alerts for one drop.
test_spoofing_reasons_are_not_policy_reasons if {
	every reason in identity.spoofing_drop_reasons {
		reason == upper(reason)
		not reason in data.data.network.policy_drop_reasons
	}
}

test_a_badly_written_key_is_caught if {
	not workload_or_namespace("Shop/Checkout")
	not workload_or_namespace("shop/")
	not workload_or_namespace("/checkout")
	workload_or_namespace("shop")
	workload_or_namespace("shop-data/postgres")
}
