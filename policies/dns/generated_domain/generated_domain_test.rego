package sentinel.dns.generated_domain_test

import data.sentinel.dns.generated_domain
import data.sentinel.dns.names_test

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

lookup(query) := names_test.request(query, ["A"])

test_random_letters_alert if {
	generated_domain.violation == {{
		"id": "DNSGeneratedDomain",
		"severity": "warning",
		"title": "DNS lookup of an algorithmically generated domain",
		"policy": "sentinel.dns.generated_domain",
		"summary": `shop/recommendation looked up "xjwqkzpbmtrvh.com", whose name looks algorithmically generated (1 of 12 letter pairs common)`,
		"description": generated_domain.violation[_].description,
		"mitre": "T1568.002",
	}} with input as lookup("www.xjwqkzpbmtrvh.com") with data.data.dns as dns_data
}

# Names in the style of known DGA families (Cryptolocker, Ramnit, Necurs,
# Tinba, Qakbot).
test_dga_family_names_alert if {
	every query in [
		"qgrkvevybtvckk.biz",
		"bkjqxjqmeklmwfe.com",
		"lidvkdiwcqfkgsmtpqke.net",
		"hjkpbfqjtvxs.com",
		"fhxvbkjhjklonk.org",
		"pjwlsjbbqxmlc.cc",
	] {
		count(generated_domain.violation) == 1 with input as lookup(query) with data.data.dns as dns_data
	}
}

test_scattered_digits_alert if {
	some v in generated_domain.violation with input as lookup("a1b2c3d4e5f6g7.net") with data.data.dns as dns_data
	v.summary == `shop/recommendation looked up "a1b2c3d4e5f6g7.net", whose name looks algorithmically generated (7 digit groups)`
}

test_both_indicators_make_one_violation if {
	count(generated_domain.violation) == 1 with input as lookup("1u4ofq61gbpiy1ehi0pdxtu0p6.net") with data.data.dns as dns_data
	some v in generated_domain.violation with input as lookup("1u4ofq61gbpiy1ehi0pdxtu0p6.net") with data.data.dns as dns_data
	v.summary == `shop/recommendation looked up "1u4ofq61gbpiy1ehi0pdxtu0p6.net", whose name looks algorithmically generated (5 of 12 letter pairs common, 7 digit groups)`
}

test_registrable_label_under_a_multi_label_suffix if {
	some v in generated_domain.violation with input as lookup("mail.xjwqkzpbmtrvh.co.uk") with data.data.dns as dns_data
	contains(v.summary, `looked up "xjwqkzpbmtrvh.co.uk"`)
}

test_no_alert_on_ordinary_names if {
	every query in [
		"storage.googleapis.com",
		"api.stripe.com",
		"ip-10-0-0-11.eu-west-1.compute.internal",
		"fonts.gstatic.com",
		"d1a2b3c4d5e6f7.cloudfront.net",
		"lh3.googleusercontent.com",
		"www.strengthsfinder.com",
		"www.msftconnecttest.com",
		"cdn.stackpathdns.com",
		"marksandspencer.co.uk",
		"covid19-vaccine-2021.example",
		"alpha-myqnapcloud.com",
		"www.cybozu-global.com",
		"www.dragonflybsd.org",
		"sky.blackbaudcdn.net",
		"contextgraph.googleapis.com",
	] {
		count(generated_domain.violation) == 0 with input as lookup(query) with data.data.dns as dns_data
	}
}

# Random labels below the registrable one are tunnels' and CDNs' business,
# not generated domains.
test_random_subdomain_labels_do_not_count if {
	count(generated_domain.violation) == 0 with input as lookup("xjwqkzpbmtrvh.example.com") with data.data.dns as dns_data
}

test_no_alert_under_internal_zones_or_allowed_suffixes if {
	every query in [
		"xjwqkzpbmtrvh.shop.svc.cluster.local",
		"xjwqkzpbmtrvh.c.my-project.internal",
		"xjwqkzpbmtrvh.hashed-cdn.example",
	] {
		count(generated_domain.violation) == 0 with input as lookup(query) with data.data.dns as dns_data
	}
}

test_no_alert_on_short_labels if {
	every query in ["xjwqkzpbmtr.com", "xjwqkzpbmtrvh", "co.uk"] {
		count(generated_domain.violation) == 0 with input as lookup(query) with data.data.dns as dns_data
	}
}

test_no_alert_on_punycode if {
	count(generated_domain.violation) == 0 with input as lookup("xn--mgbh0fb2lqbl.com") with data.data.dns as dns_data
}

# A label of mostly digits has too few letter pairs to judge them.
test_few_letter_pairs_are_not_judged if {
	count(generated_domain.violation) == 0 with input as lookup("201912345678qz.com") with data.data.dns as dns_data
}

test_no_alert_on_responses if {
	count(generated_domain.violation) == 0 with input as names_test.response("xjwqkzpbmtrvh.com", ["A"], 3) with data.data.dns as dns_data
}
