# METADATA
# title: Checks of the tunable data
# description: >-
#   Policies match names and paths in data with plain lookups, so the lists
#   must hold them normalised: lower case, names without a leading or
#   trailing dot, paths starting with a slash. These tests fail on an edit
#   that would otherwise silently stop matching.
package sentinel.data_test

normalised_name(name) if {
	name == lower(name)
	not startswith(name, ".")
	not endswith(name, ".")
	name != ""
}

test_metadata_names_are_normalised if {
	every name in data.data.egress.metadata_names {
		normalised_name(name)
	}
}

test_mining_pool_domains_are_normalised if {
	every name in data.data.egress.mining_pool_domains {
		normalised_name(name)
	}
}

test_dns_allowed_suffixes_are_normalised if {
	every name in data.data.dns.allowed_suffixes {
		normalised_name(name)
	}
}

test_admin_path_prefixes_are_lower_case_paths if {
	every p in array.concat(data.data.http.admin_path_prefixes, data.data.http.admin_path_exceptions) {
		p == lower(p)
		startswith(p, "/")
	}
}

test_a_badly_written_name_is_caught if {
	not normalised_name("Pool.Example.com")
	not normalised_name(".example.com")
	not normalised_name("example.com.")
}
