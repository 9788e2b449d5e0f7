package sentinel.dns.generated_domain_test

import data.dns.generated_domain.testdata
import data.sentinel.dns.generated_domain

# The flows are DNS lookups of shop/recommendation, as the engine measured
# them (testdata/flows.jsonl, `make fixtures`).

# The shipped thresholds and bigrams: the cases below are about them.
dns_data := object.union(data.data.dns, {
	"internal_zones": ["cluster.local", "internal"],
	"public_suffixes": ["co.uk", "com.au"],
	"allowed_suffixes": ["cluster.local", "amazonaws.com", "cloudfront.net", "hashed-cdn.example"],
	"dga_min_label_length": 12,
	"dga_max_common_bigram_ratio": 0.45,
	"dga_min_letter_pairs": 8,
	"dga_min_digit_groups": 3,
})

test_random_letters_alert if {
	generated_domain.violation == {{
		"id": "DNSGeneratedDomain",
		"severity": "warning",
		"title": "DNS lookup of an algorithmically generated domain",
		"policy": "sentinel.dns.generated_domain",
		"summary": `shop/recommendation looked up "xjwqkzpbmtrvh.com", whose name looks algorithmically generated (1 of 12 letter pairs common)`,
		"description": generated_domain.violation[_].description,
		"mitre": "T1568.002",
	}} with input as testdata.random_letters with data.data.dns as dns_data
}

# Names in the style of known DGA families (Cryptolocker, Ramnit, Necurs,
# Tinba, Qakbot).
test_dga_family_names_alert if {
	every name in [
		"dga_qgrkvevybtvckk_biz",
		"dga_bkjqxjqmeklmwfe_com",
		"dga_lidvkdiwcqfkgsmtpqke_net",
		"dga_hjkpbfqjtvxs_com",
		"dga_fhxvbkjhjklonk_org",
		"dga_pjwlsjbbqxmlc_cc",
	] {
		count(generated_domain.violation) == 1 with input as testdata[name] with data.data.dns as dns_data
	}
}

test_scattered_digits_alert if {
	some v in generated_domain.violation with input as testdata.scattered_digits with data.data.dns as dns_data
	v.summary == `shop/recommendation looked up "a1b2c3d4e5f6g7.net", whose name looks algorithmically generated (7 digit groups)`
}

test_both_indicators_make_one_violation if {
	count(generated_domain.violation) == 1 with input as testdata.both_indicators with data.data.dns as dns_data
	some v in generated_domain.violation with input as testdata.both_indicators with data.data.dns as dns_data
	v.summary == `shop/recommendation looked up "1u4ofq61gbpiy1ehi0pdxtu0p6.net", whose name looks algorithmically generated (5 of 12 letter pairs common, 7 digit groups)`
}

test_registrable_label_under_a_multi_label_suffix if {
	some v in generated_domain.violation with input as testdata.random_letters_under_co_uk with data.data.dns as dns_data
	contains(v.summary, `looked up "xjwqkzpbmtrvh.co.uk"`)
}

# Every ordinary_* flow: storage.googleapis.com, www.strengthsfinder.com,
# marksandspencer.co.uk, covid19-vaccine-2021.example, … (16 names).
test_no_alert_on_ordinary_names if {
	ordinary := [name | some name, _ in testdata; startswith(name, "ordinary_")]
	count(ordinary) == 16
	every name in ordinary {
		count(generated_domain.violation) == 0 with input as testdata[name] with data.data.dns as dns_data
	}
}

# Random labels below the registrable one are tunnels' and CDNs' business,
# not generated domains.
test_random_subdomain_labels_do_not_count if {
	count(generated_domain.violation) == 0 with input as testdata.random_subdomain_label with data.data.dns as dns_data
}

test_no_alert_under_internal_zones_or_allowed_suffixes if {
	every name in ["random_under_cluster_local", "random_under_internal", "random_under_allowed_suffix"] {
		count(generated_domain.violation) == 0 with input as testdata[name] with data.data.dns as dns_data
	}
}

test_no_alert_on_short_labels if {
	every name in ["short_label", "bare_random_label", "bare_suffix"] {
		count(generated_domain.violation) == 0 with input as testdata[name] with data.data.dns as dns_data
	}
}

test_no_alert_on_punycode if {
	count(generated_domain.violation) == 0 with input as testdata.punycode with data.data.dns as dns_data
}

# A label of mostly digits has too few letter pairs to judge them.
test_few_letter_pairs_are_not_judged if {
	count(generated_domain.violation) == 0 with input as testdata.mostly_digits with data.data.dns as dns_data
}

test_no_alert_on_responses if {
	count(generated_domain.violation) == 0 with input as testdata.random_letters_nxdomain with data.data.dns as dns_data
}
