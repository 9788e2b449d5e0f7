# METADATA
# title: Checks of the DNS tunables
# description: >-
#   The DNS policies compare data.data.dns with plain lookups against names
#   the engine normalised, query types as Hubble spells them and letter
#   pairs of lower-case labels. These tests fail on an edit that would
#   otherwise silently stop matching, or make two policies judge one flow.
package sentinel.data.dns_test

normalised_name(name) if {
	name == lower(name)
	not startswith(name, ".")
	not endswith(name, ".")
	name != ""
}

dns := data.data.dns

test_domain_lists_are_normalised if {
	every name in array.concat(
		array.concat(dns.internal_zones, dns.public_suffixes),
		dns.nxdomain_allowed_suffixes,
	) {
		normalised_name(name)
	}
	every name, _ in object.union(dns.query_type_allowed_domains, dns.deny_domains) {
		normalised_name(name)
	}
}

# A single-label suffix is the default; listing one would push every
# registrable label one level down.
test_public_suffixes_have_more_than_one_label if {
	every suffix in dns.public_suffixes {
		contains(suffix, ".")
	}
}

# Every deny-listed domain says why (the alert quotes it); one under an
# internal zone or an allowed suffix would be contradictory.
test_deny_domains_have_reasons_and_are_not_allowed_elsewhere if {
	every name, reason in dns.deny_domains {
		is_string(reason)
		reason != ""
		not name in dns.internal_zones
		not name in dns.allowed_suffixes
	}
}

test_query_types_are_spelt_as_hubble_does if {
	every qtype in dns.unusual_query_types {
		qtype == upper(qtype)
	}
	every allowlist in [dns.query_type_allowed_sources, dns.query_type_allowed_first_labels, dns.query_type_allowed_domains] {
		every _, qtypes in allowlist {
			every qtype in qtypes {
				qtype in dns.unusual_query_types
			}
		}
	}
}

# Zone transfers have their own policy; one flow, one alert.
test_zone_transfers_are_not_unusual_query_types if {
	not "AXFR" in dns.unusual_query_types
	not "IXFR" in dns.unusual_query_types
}

test_first_labels_are_lower_case if {
	every label, _ in dns.query_type_allowed_first_labels {
		label == lower(label)
		not contains(label, ".")
	}
}

test_common_bigrams_are_lower_case_letter_pairs if {
	every pair in dns.dga_common_bigrams {
		regex.match(`^[a-z]{2}$`, pair)
	}
	count({pair | some pair in dns.dga_common_bigrams}) == count(dns.dga_common_bigrams)
}

test_dga_thresholds_are_sane if {
	dns.dga_max_common_bigram_ratio > 0
	dns.dga_max_common_bigram_ratio < 1
	dns.dga_min_label_length > 1
	dns.dga_min_letter_pairs < dns.dga_min_label_length
	dns.dga_min_digit_groups > 1
}

test_a_badly_written_name_is_caught if {
	not normalised_name("Cluster.Local")
	not normalised_name(".internal")
	not normalised_name("oastify.com.")
}
