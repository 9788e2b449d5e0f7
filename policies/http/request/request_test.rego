package sentinel.http.request_test

import data.http.request.testdata
import data.sentinel.http.request

# The flows are HTTP requests from the Internet to the shop's frontend, as
# Hubble reports them at the frontend's ingress L7 proxy, measured by the
# engine (testdata/flows.jsonl, `make fixtures`). Every HTTP policy's tests
# take their flows from their own testdata the same way, and share the
# helpers below.

# with_query gives a flow the query string query, as sent. The engine masks
# every query value when it writes a fixture (testdata/inputs.json holds
# "q=[REDACTED]"), so a test states the query it judges here, as a literal.
# The flow must not be plain (a query of its own, or an escape in its path):
# sentinel.http.plain, which any query makes false, then stays as measured.
# What the engine measures of the query (sentinel.http.text and specials)
# is measured again, by the library's own computation of it, which
# TestRequestTextIsTheLibrarys holds equal to the engine's.
with_query(doc, query) := object.union(bare, {"sentinel": {"http": {"text": text, "specials": specials}}}) if {
	doc.sentinel.http.plain == false
	query != ""
	http := object.remove(object.union(doc.sentinel.http, {"query": query}), ["text", "specials"])
	bare := object.union(object.remove(doc, ["sentinel"]), {"sentinel": object.union(object.remove(doc.sentinel, ["http"]), {"http": http})})
	text := request.text with input as bare
	specials := request.specials with input as bare
}

# with_header adds a header to the request, and keeps
# sentinel.http.headers_plain as the engine would measure it. The engine
# measures the User-Agent too; flows with another one have their own
# fixture.
with_header(doc, key, value) := object.union(doc, {
	"l7": {"http": {"headers": array.concat(doc.l7.http.headers, [{"key": key, "value": value}])}},
	"sentinel": {"http": {"headers_plain": headers_plain(doc, value)}},
}) if {
	lower(key) != "user-agent"
}

# headers_plain is false once a value with one of the characters the
# engine looks for (${}<>`|\) is added.
headers_plain(_, value) := false if regex.match(special_header_characters, value)

headers_plain(doc, value) := doc.sentinel.http.headers_plain if not regex.match(special_header_characters, value)

special_header_characters := "[${}<>`|\\\\]"

test_path_is_lower_case if {
	request.path == "/actuator/env" with input as testdata.upper_case_path
	request.path == "/actuator/env" with input as unmeasured(testdata.upper_case_path)
}

test_path_collapses_repeated_slashes_and_dot_segments if {
	every name in ["repeated_slashes", "dot_segments", "dot_segments_and_repeated_slashes"] {
		request.path == "/actuator/env" with input as testdata[name]
		request.path == "/actuator/env" with input as unmeasured(testdata[name])
	}
}

# unmeasured is doc without the path the engine measured
# (sentinel.http.normalized_path), as a hand-written input may be:
# request.path computes it.
unmeasured(doc) := object.union(object.remove(doc, ["sentinel"]), {"sentinel": object.union(
	object.remove(doc.sentinel, ["http"]),
	{"http": object.remove(doc.sentinel.http, ["normalized_path"])},
)})

# A plain path needs neither decoding nor collapsing.
test_plain_paths_are_read_as_they_are if {
	request.path == "/plain" with input as testdata.plain_path
	request.path == "/plain" with input as unmeasured(testdata.plain_path)
	request.path_text == "/plain" with input as testdata.plain_path
	request.text == "/plain" with input as testdata.plain_path
	request.specials == "" with input as testdata.plain_path
}

test_text_holds_the_target_as_sent_and_decoded_once_and_twice if {
	request.text == "/a%2527b\n/a%27b\n/a'b\nq=%2522x%2522+y\nq=%22x%22 y\nq=\"x\" y" with input as with_query(testdata.encoded_twice_with_query, "q=%2522x%2522+y")
}

test_text_is_the_path_alone_without_a_query if {
	request.text == "/a%3cb\n/a<b" with input as testdata.escaped_angle_bracket
}

test_text_decodes_plus_signs_in_queries_and_letters if {
	request.query_text == "q=%55nion+select\nq=union select" with input as with_query(testdata.s_with_query, "q=%55NION+SELECT")
	request.query_text == "q=a+b\nq=a b" with input as with_query(testdata.s_with_query, "q=a+b")
	request.path_text == "/plain" with input as testdata.plain_path
	request.path_text == "/c++" with input as testdata.plus_signs_in_path
}

test_a_stray_percent_sign_does_not_stop_decoding if {
	request.decode("100%+cotton%27s") == "100% cotton's"
	request.decode("%zz%27%") == "%zz'%"
	request.decode("%a%27") == "%a'"
	request.decode("%%41") == "%A"
	request.decode("q=%%") == "q=%%"
	request.text == "/s\nq=%%27or+1=1\nq=%'or 1=1\nq=%'or 1=1" with input as with_query(testdata.s_with_query, "q=%%27or+1=1")
}

test_specials_are_the_unusual_characters_in_order if {
	request.specials == "" with input as with_query(testdata.category_with_query, "page=2&sort=price_desc")
	request.specials == " " with input as with_query(testdata.search_with_query, "q=red+shoes")
	request.specials == "'" with input as with_query(testdata.search_with_query, "q=levi%27s")
	request.specials == "<" with input as testdata.escaped_angle_bracket
}

test_params_are_decoded_pairs if {
	request.params == {["Token", "a b"], ["x", ""], ["y", "1=2"], ["z", "'"]} with input as with_query(testdata.p_with_query, "Token=a+b&x&y=1=2&&z=%27")
}

test_query_object_comes_from_go_when_it_can if {
	request.query_object == {"a": ["1", "2"], "b": ["x y"]} with input as with_query(testdata.p_with_query, "a=1&b=x+y&a=2")
}

test_query_object_is_rebuilt_when_a_percent_sign_is_stray if {
	request.query_object == {"a": ["100%", "2"], "token": ["s3cr3t"]} with input as with_query(testdata.p_with_query, "a=100%&token=s3cr3t&a=2")
}

test_matching_names_the_patterns_that_match if {
	request.matching({"quote": "'", "angle": "<", "none": "zzz"}) == {"quote", "angle"} with input as with_query(testdata.escaped_angle_bracket_with_query, "q=%27")
}

test_places_say_where_patterns_match if {
	request.places({"quote": "'"}) == "query" with input as with_query(testdata.a_with_query, "q=%27")
	request.places({"quote": "'"}) == "path" with input as testdata.quote_in_path
	request.places({"quote": "'"}) == "path and query" with input as with_query(testdata.quote_in_path, "q=%27")
}

test_places_fall_back_to_the_request_for_a_match_across_path_and_query if {
	request.places({"across": `b\nq`}) == "request" with input as with_query(testdata.b_with_query, "q=1")
}

test_line_names_method_and_decoded_path_never_the_query if {
	request.line == "HTTP POST /a b" with input as testdata.post_with_escaped_space
}

test_line_keeps_to_one_line if {
	request.line == "HTTP GET /a\\nb\\r\\tc" with input as testdata.encoded_line_breaks
}

test_line_cuts_long_paths if {
	count(testdata.long_path.sentinel.http.path) == 301
	count(request.line) == count("HTTP GET ") + 200 with input as testdata.long_path
}

test_helpers_shape_the_flow if {
	d := with_query(testdata.search_with_query, "q=red+shoes")
	d.sentinel.http.query == "q=red+shoes"
	d.sentinel.http.path == "/search"
	d.sentinel.http.plain == false
	{"key": "X-Api-Version", "value": "1"} in with_header(d, "X-Api-Version", "1").l7.http.headers
	with_header(d, "X-Api-Version", "1").sentinel.http.headers_plain == true
	with_header(d, "X-Api-Version", "${jndi:x}").sentinel.http.headers_plain == false
	with_header(d, "Referer", "<b>").sentinel.http.headers_plain == false
}

# A query on a plain flow would contradict its measured sentinel.http.plain;
# the User-Agent header is measured too.
test_helpers_refuse_to_contradict_the_engine if {
	not with_query(testdata.shopper, "q=1")
	not with_query(testdata.search_with_query, "")
	not with_header(testdata.shopper, "User-Agent", "sqlmap/1.7")
}
