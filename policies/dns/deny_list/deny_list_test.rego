package sentinel.dns.deny_list_test

import data.sentinel.dns.deny_list
import data.sentinel.dns.names_test

dns_data := {"deny_domains": {
	"oastify.com": "Burp Collaborator out-of-band callback",
	"dnslog.cn": "DNS out-of-band callback",
	"ngrok-free.app": "ngrok tunnel",
	"m.pipedream.net": "RequestBin endpoints",
	"pipedream.net": "Pipedream",
}}

# log4shell is the lookup a Log4Shell payload makes: the stolen value in the
# labels under a Burp Collaborator subdomain.
log4shell := names_test.request("ip-10-0-1-31.shop-recommendation.x7k2q9.OASTIFY.com", ["A"])

test_oast_callback_alerts if {
	deny_list.violation == {{
		"id": "DNSQueryForDenyListedDomain",
		"severity": "critical",
		"title": "DNS lookup of a deny-listed domain",
		"policy": "sentinel.dns.deny_list",
		"summary": `shop/recommendation looked up a name under the deny-listed "oastify.com" (Burp Collaborator out-of-band callback)`,
		"description": deny_list.violation[_].description,
		"mitre": "T1071.004",
	}} with input as log4shell with data.data.dns as dns_data
}

test_the_domain_itself_alerts if {
	count(deny_list.violation) == 1 with input as names_test.request("dnslog.cn", ["A"]) with data.data.dns as dns_data
	count(deny_list.violation) == 1 with input as names_test.request("abc-123.ngrok-free.app", ["AAAA"]) with data.data.dns as dns_data
}

test_nested_listed_domains_make_one_violation if {
	count(deny_list.violation) == 1 with input as names_test.request("e1a2.m.pipedream.net", ["A"]) with data.data.dns as dns_data
	some v in deny_list.violation with input as names_test.request("e1a2.m.pipedream.net", ["A"]) with data.data.dns as dns_data
	v.summary == `shop/recommendation looked up a name under the deny-listed "m.pipedream.net" (RequestBin endpoints), "pipedream.net" (Pipedream)`
}

test_no_alert_on_lookalikes if {
	every query in ["notoastify.com", "oastify.com.evil.example", "dnslog.cn.example.org", "api.stripe.com"] {
		count(deny_list.violation) == 0 with input as names_test.request(query, ["A"]) with data.data.dns as dns_data
	}
}

# Only the query counts, not the resolver's own name.
test_resolver_name_does_not_count if {
	count(deny_list.violation) == 0 with input as names_test.with_resolver_name(names_test.request("api.stripe.com", ["A"]), "resolver.dnslog.cn")
		with data.data.dns as dns_data
}

test_no_alert_on_responses if {
	count(deny_list.violation) == 0 with input as names_test.response("x.oastify.com", ["A"], 0) with data.data.dns as dns_data
}
