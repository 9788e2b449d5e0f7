package sentinel.dns.names_test

import data.dns.names.testdata
import data.sentinel.dns.names

# The flows are DNS requests from shop/recommendation to CoreDNS, as the
# engine measured them (testdata/flows.jsonl, `make fixtures`).

dns_data := {
	"internal_zones": ["cluster.local", "internal"],
	"public_suffixes": ["co.uk", "com.au"],
}

test_query_is_lower_case if {
	names.query == "www.example.com" with input as testdata.mixed_case
}

test_under_matches_the_zone_and_its_subdomains if {
	names.under(["example.com"]) with input as testdata.www_example_com
	names.under(["example.com"]) with input as testdata.example_com
	not names.under(["ample.com"]) with input as testdata.www_example_com
	not names.under(["www.example.com"]) with input as testdata.example_com
}

# The resolver's own name is among the destination's domains; it must not
# count as the query's.
test_under_ignores_the_resolvers_name if {
	not names.under(["dns.google"]) with input as testdata.www_example_com_to_dns_google
	names.under(["example.com"]) with input as testdata.www_example_com_to_dns_google
}

test_under_matches_whatever_case_the_client_sent if {
	names.under(["example.com"]) with input as testdata.mixed_case
	names.under(["www.example.com"]) with input as testdata.mixed_case
}

test_in_internal_zones if {
	names.in_internal_zones with input as testdata.search_path_cluster_local with data.data.dns as dns_data
	names.in_internal_zones with input as testdata.search_path_compute_internal with data.data.dns as dns_data
	not names.in_internal_zones with input as testdata.api_stripe_com with data.data.dns as dns_data
}

test_registrable_label_and_domain_under_a_tld if {
	names.registrable_label == "example" with input as testdata.deep_mixed_case with data.data.dns as dns_data
	names.registrable_domain == "example.com" with input as testdata.deep_mixed_case with data.data.dns as dns_data
}

test_registrable_label_and_domain_under_a_multi_label_suffix if {
	names.registrable_label == "example" with input as testdata.www_example_co_uk with data.data.dns as dns_data
	names.registrable_domain == "example.co.uk" with input as testdata.www_example_co_uk with data.data.dns as dns_data
	names.registrable_label == "co" with input as testdata.www_example_co_uk with data.data.dns as object.union(dns_data, {"public_suffixes": []})
}

test_no_registrable_label_for_a_suffix_or_a_bare_name if {
	not names.registrable_label with input as testdata.bare_suffix with data.data.dns as dns_data
	names.registrable_domain == "co.uk" with input as testdata.bare_suffix with data.data.dns as dns_data
	not names.registrable_label with input as testdata.bare_name with data.data.dns as dns_data
	names.registrable_domain == "redis" with input as testdata.bare_name with data.data.dns as dns_data
}
