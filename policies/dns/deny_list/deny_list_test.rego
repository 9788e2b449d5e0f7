package sentinel.dns.deny_list_test

import data.dns.deny_list.testdata
import data.sentinel.dns.deny_list

# The flows are DNS lookups of shop/recommendation, as the engine measured
# them (testdata/flows.jsonl, `make fixtures`).

dns_data := {"deny_domains": {
	"oastify.com": "Burp Collaborator out-of-band callback",
	"dnslog.cn": "DNS out-of-band callback",
	"ngrok-free.app": "ngrok tunnel",
	"m.pipedream.net": "RequestBin endpoints",
	"pipedream.net": "Pipedream",
}}

# oast_callback is the lookup a Log4Shell payload makes: the stolen value in
# the labels under a Burp Collaborator subdomain, in mixed case.
test_oast_callback_alerts if {
	deny_list.violation == {{
		"id": "DNSQueryForDenyListedDomain",
		"severity": "critical",
		"title": "DNS lookup of a deny-listed domain",
		"policy": "sentinel.dns.deny_list",
		"summary": `shop/recommendation looked up a name under the deny-listed "oastify.com" (Burp Collaborator out-of-band callback)`,
		"description": deny_list.violation[_].description,
		"mitre": "T1071.004",
	}} with input as testdata.oast_callback with data.data.dns as dns_data
}

test_the_domain_itself_alerts if {
	count(deny_list.violation) == 1 with input as testdata.dnslog with data.data.dns as dns_data
	count(deny_list.violation) == 1 with input as testdata.ngrok_tunnel with data.data.dns as dns_data
}

test_nested_listed_domains_make_one_violation if {
	count(deny_list.violation) == 1 with input as testdata.nested_pipedream with data.data.dns as dns_data
	some v in deny_list.violation with input as testdata.nested_pipedream with data.data.dns as dns_data
	v.summary == `shop/recommendation looked up a name under the deny-listed "m.pipedream.net" (RequestBin endpoints), "pipedream.net" (Pipedream)`
}

# notoastify.com, oastify.com.evil.example, dnslog.cn.example.org and
# api.stripe.com.
test_no_alert_on_lookalikes if {
	every name in ["lookalike_prefix", "lookalike_listed_labels", "lookalike_dnslog_labels", "api_stripe_com"] {
		count(deny_list.violation) == 0 with input as testdata[name] with data.data.dns as dns_data
	}
}

# Only the query counts, not the resolver's own name (resolver.dnslog.cn).
test_resolver_name_does_not_count if {
	count(deny_list.violation) == 0 with input as testdata.api_stripe_com_to_dnslog_resolver with data.data.dns as dns_data
}

test_no_alert_on_responses if {
	count(deny_list.violation) == 0 with input as testdata.oast_callback_answer with data.data.dns as dns_data
}
