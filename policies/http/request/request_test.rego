package sentinel.http.request_test

import data.sentinel.http.request

# shopper is an HTTP request from the Internet to the shop's frontend, the
# shape every HTTP policy test starts from: a browser's GET as Hubble
# reports it at the frontend's ingress L7 proxy, with the facts the engine
# measures.
shopper := {
	"verdict": "FORWARDED",
	"Type": "L7",
	"is_reply": false,
	"traffic_direction": "INGRESS",
	"IP": {"source": "203.0.113.77", "destination": "10.0.1.11", "ipVersion": "IPv4"},
	"l4": {"TCP": {"source_port": 51234, "destination_port": 8080}},
	"source": {"identity": 2, "labels": ["reserved:world"]},
	"destination": {"identity": 30211, "namespace": "shop", "pod_name": "frontend-7d9f8b6c5d-x2k9q"},
	"l7": {"type": "REQUEST", "http": {
		"method": "GET",
		"url": "http://shop.example.com/",
		"protocol": "HTTP/1.1",
		"headers": [
			{"key": "Accept", "value": "text/html,application/xhtml+xml"},
			{"key": "Cookie", "value": "HUBBLE_REDACTED"},
			{"key": "User-Agent", "value": browser},
			{"key": "X-Request-Id", "value": "0f6d4c1e-9a8b-4c1d-8e2f-3a4b5c6d7e8f"},
		],
	}},
	"sentinel": {
		"source": {"kind": "world", "namespace": "", "workload": "", "pod": "", "ip": "203.0.113.77", "identity": 2},
		"destination": {
			"kind": "pod", "namespace": "shop", "workload": "frontend", "pod": "frontend-7d9f8b6c5d-x2k9q",
			"ip": "10.0.1.11", "identity": 30211, "fqdn": "", "names": ["shop.example.com"], "domains": ["shop.example.com", "example.com", "com"],
		},
		"protocol": "TCP",
		"destination_port": 8080,
		"http": {"method": "GET", "path": "/", "raw_path": "/", "query": "", "host": "shop.example.com", "user_agent": browser, "plain": true},
	},
}

browser := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"

# call builds a request for target ("/path?query", as sent on the wire)
# with method, measured as the engine does: the path decoded once ("+"
# stays a plus sign), the raw path and query as sent.
call(method, target) := object.union(shopper, {
	"l7": {"http": {"method": method, "url": concat("", ["http://shop.example.com", target])}},
	"sentinel": {"http": {
		"method": method,
		"path": path_of(raw_path),
		"raw_path": raw_path,
		"query": query,
		"plain": is_plain(raw_path, query),
	}},
}) if {
	raw_path := split(target, "?")[0]
	query := substring(target, count(raw_path) + 1, -1)
}

# is_plain mirrors the engine's sentinel.http.plain (engine/input
# TestHTTPPlain): no query, and a raw path of letters, digits and "/._~-"
# only, without "..".
is_plain(raw_path, query) if {
	query == ""
	not regex.match(`[^0-9A-Za-z/._~-]|\.\.`, raw_path)
}

else := false

get(target) := call("GET", target)

# path_of decodes a raw path as Go's url.Parse does, keeping "+"; a path
# with an invalid escape stays as sent, as in the engine's fallback.
path_of(raw) := p if {
	p := urlquery.decode(replace(raw, "+", "%2B"))
} else := raw

# with_user_agent replaces the User-Agent header and the measured fact.
with_user_agent(doc, ua) := object.union(doc, {
	"l7": {"http": {"headers": array.concat(
		[h | some h in doc.l7.http.headers; h.key != "User-Agent"],
		[{"key": "User-Agent", "value": ua}],
	)}},
	"sentinel": {"http": {"user_agent": ua}},
})

# with_header adds a header to the request.
with_header(doc, key, value) := object.union(doc, {"l7": {"http": {"headers": array.concat(doc.l7.http.headers, [{"key": key, "value": value}])}}})

# response is the response half of the exchange for doc.
response(doc) := object.union(doc, {
	"is_reply": true,
	"traffic_direction": "EGRESS",
	"l7": {"type": "RESPONSE", "http": {"code": 200}},
})

# from_pod makes an in-cluster workload the request's source.
from_pod(doc) := object.union(doc, {"sentinel": {"source": {
	"kind": "pod", "namespace": "shop", "workload": "ad", "pod": "ad-5c7d9f8b6c-k2x9q", "ip": "10.0.1.40", "identity": 30244,
}}})

test_path_is_lower_case if {
	request.path == "/actuator/env" with input as get("/ACTUATOR/Env")
}

test_path_collapses_repeated_slashes_and_dot_segments if {
	every target in ["//actuator//env", "/./actuator/./env", "/.//actuator/.//./env"] {
		request.path == "/actuator/env" with input as get(target)
	}
}

# The cases of the engine's TestHTTPPlain, and more.
test_fixture_marks_plain_requests_as_the_engine_does if {
	every target in ["/", "/product/OLJCESPC7Z", "/hipstershop.CartService/GetCart", "/static/img/logo-v1.2.png", "/~user/x_y"] {
		get(target).sentinel.http.plain == true
	}
	every target in ["/search?q=shoes", "/a%20b", "/it's", "/a b", "/static/../x", "/a;b", "/a+b"] {
		get(target).sentinel.http.plain == false
	}
}

test_text_holds_the_target_as_sent_and_decoded_once_and_twice if {
	request.text == "/a%2527b\n/a%27b\n/a'b\nq=%2522x%2522+y\nq=%22x%22 y\nq=\"x\" y" with input as get("/a%2527b?q=%2522x%2522+y")
}

test_text_is_the_path_alone_without_a_query if {
	request.text == "/a%3cb\n/a<b" with input as get("/a%3Cb")
}

test_text_decodes_plus_signs_in_queries_and_letters if {
	request.query_text == "q=%55nion+select\nq=union select" with input as get("/s?q=%55NION+SELECT")
	request.query_text == "q=a+b\nq=a b" with input as get("/s?q=a+b")
	request.path_text == "/plain" with input as get("/plain")
	request.path_text == "/c++" with input as get("/C++")
}

test_a_stray_percent_sign_does_not_stop_decoding if {
	request.decode("100%+cotton%27s") == "100% cotton's"
	request.decode("%zz%27%") == "%zz'%"
	request.decode("%a%27") == "%a'"
}

test_specials_are_the_unusual_characters_in_order if {
	request.specials == "" with input as get("/category/shoes?page=2&sort=price_desc")
	request.specials == " " with input as get("/search?q=red+shoes")
	request.specials == "'" with input as get("/search?q=levi%27s")
	request.specials == "<" with input as get("/a%3Cb")
}

test_params_are_decoded_pairs if {
	request.params == {["Token", "a b"], ["x", ""], ["y", "1=2"], ["z", "'"]} with input as get("/p?Token=a+b&x&y=1=2&&z=%27")
}

test_query_object_comes_from_go_when_it_can if {
	request.query_object == {"a": ["1", "2"], "b": ["x y"]} with input as get("/p?a=1&b=x+y&a=2")
}

test_query_object_is_rebuilt_when_a_percent_sign_is_stray if {
	request.query_object == {"a": ["100%", "2"], "token": ["s3cr3t"]} with input as get("/p?a=100%&token=s3cr3t&a=2")
}

test_matching_names_the_patterns_that_match if {
	request.matching({"quote": "'", "angle": "<", "none": "zzz"}) == {"quote", "angle"} with input as get("/a%3Cb?q=%27")
}

test_places_say_where_patterns_match if {
	request.places({"quote": "'"}) == "query" with input as get("/a?q=%27")
	request.places({"quote": "'"}) == "path" with input as get("/a'b")
	request.places({"quote": "'"}) == "path and query" with input as get("/a'b?q=%27")
}

test_places_fall_back_to_the_request_for_a_match_across_path_and_query if {
	request.places({"across": `b\nq`}) == "request" with input as get("/b?q=1")
}

test_line_names_method_and_decoded_path_never_the_query if {
	request.line == "HTTP POST /a b" with input as call("POST", "/a%20b?token=s3cr3t")
}

test_line_keeps_to_one_line if {
	request.line == "HTTP GET /a\\nb\\r\\tc" with input as get("/a%0Ab%0D%09c")
}

test_line_cuts_long_paths if {
	long := concat("", ["/", concat("", ["a" | some _ in numbers.range(1, 300)])])
	count(request.line) == count("HTTP GET ") + 200 with input as get(long)
}

test_builders_shape_the_flow if {
	d := get("/a%20b?q=1")
	d.sentinel.http.path == "/a b"
	d.sentinel.http.raw_path == "/a%20b"
	d.sentinel.http.query == "q=1"
	d.l7.http.url == "http://shop.example.com/a%20b?q=1"
	get("/bad%zz").sentinel.http.path == "/bad%zz"
	with_user_agent(d, "x").sentinel.http.user_agent == "x"
	{"key": "User-Agent", "value": "x"} in with_user_agent(d, "x").l7.http.headers
	{"key": "X-Api-Version", "value": "1"} in with_header(d, "X-Api-Version", "1").l7.http.headers
	response(d).l7.type == "RESPONSE"
	from_pod(d).sentinel.source.workload == "ad"
}
