package sentinel.http.secret_in_query_test

import data.http.secret_in_query.testdata
import data.sentinel.http.request_test.with_query
import data.sentinel.http.secret_in_query

# The flows are HTTP requests to the frontend, from the Internet unless named
# otherwise, as the engine measured them (testdata/flows.jsonl, `make
# fixtures`); each case states its query (request_test.with_query), as the
# engine masks query values in fixtures.

http_data := object.union(data.data.http, {
	"secret_query_params": ["token", "access_token", "password", "auth", "session"],
	"secret_query_min_value_length": 8,
	"secret_query_placeholder_values": ["hubble_redacted", "[redacted]", "true", "false"],
	"secret_query_exempt_params": ["sig"],
	"secret_query_exempt_param_prefixes": ["x-amz-"],
	"secret_query_allowed_params_by_workload": {"monitoring/grafana": ["auth_token"]},
})

jwt := "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"

test_access_token_alerts_without_its_value if {
	secret_in_query.violation == {{
		"id": "HTTPSecretInQueryString",
		"severity": "warning",
		"title": "Credentials in an HTTP query string",
		"policy": "sentinel.http.secret_in_query",
		"summary": "shop/ad sent HTTP GET /api/orders to shop/frontend with credentials in the query string: access_token",
		"description": secret_in_query.violation[_].description,
		"mitre": "T1552",
	}} with input as with_query(testdata.orders_with_query_from_pod, "page=2&access_token=s3cr3t-t0k3n-value")
		with data.data.http as http_data
}

test_names_are_compared_without_case if {
	some v in secret_in_query.violation with input as with_query(testdata.login_with_query, "user=bob&Password=hunter22")
		with data.data.http as http_data
	endswith(v.summary, ": Password")
	not contains(v.summary, "hunter22")
}

test_credential_shaped_values_alert_under_any_name if {
	every flow_query_kind in [
		["api_with_query", "q=AKIAIOSFODNN7EXAMPLE", "q (aws_access_key_id)"],
		["api_with_query", concat("", ["x=", jwt]), "x (jwt)"],
		["api_with_query", "x=ghp_abcdefghijklmnopqrstuvwxyz0123456789", "x (github_token)"],
		["hook_with_query", "t=xoxb-123456789012-abcdefghij", "t (slack_token)"],
		["pay_with_query", "k=sk_live_abcdefghijklmnop1234", "k (stripe_live_key)"],
		["ci_with_query", "t=glpat-abcdefghijklmnopqrst", "t (gitlab_token)"],
		["k_with_query", "pem=-----BEGIN+RSA+PRIVATE+KEY-----MIIE", "pem (private_key)"],
	] {
		some v in secret_in_query.violation with input as with_query(testdata[flow_query_kind[0]], flow_query_kind[1])
			with data.data.http as http_data
		endswith(v.summary, flow_query_kind[2])
	}
}

test_a_credential_name_is_not_listed_twice if {
	some v in secret_in_query.violation with input as with_query(testdata.api_with_query, concat("", ["auth=Bearer%20", jwt]))
		with data.data.http as http_data
	endswith(v.summary, ": auth")
}

test_a_stray_percent_sign_does_not_hide_the_token if {
	count(secret_in_query.violation) == 1 with input as with_query(testdata.api_with_query, "token=abc%zz123456789")
		with data.data.http as http_data
}

test_empty_short_and_placeholder_values_do_not_alert if {
	every query in [
		"token=",
		"token",
		"token=HUBBLE_REDACTED",
		"token=[REDACTED]",
		"token=%5BREDACTED%5D",
		"auth=true",
		"session=new",
	] {
		count(secret_in_query.violation) == 0 with input as with_query(testdata.api_with_query, query)
			with data.data.http as http_data
	}
}

test_ordinary_queries_do_not_alert if {
	every flow_query in [
		["api_with_query", "page_token=abcdef0123456789abcdef"],
		["api_with_query", "nextPageToken=abcdef0123456789"],
		["search_with_query", "q=red+shoes&utm_source=google&utm_medium=cpc&utm_campaign=brand_eu"],
		["search_with_query", "q=x&gclid=Cj0KCQjw7ZO0BhDYARIsAFttkCh"],
		["products_with_query", "page=1&sort=newest"],
		["api_with_query", "id=AKIA"],
		["api_with_query", "id=0123456789abcdef0123456789abcdef"],
	] {
		count(secret_in_query.violation) == 0 with input as with_query(testdata[flow_query[0]], flow_query[1])
			with data.data.http as http_data
	}
	count(secret_in_query.violation) == 0 with input as testdata.shopper
		with data.data.http as http_data
}

test_presigned_urls_do_not_alert if {
	count(secret_in_query.violation) == 0 with input as with_query(
		testdata.product_image_with_query,
		"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20260101%2Feu-west-1%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	)
		with data.data.http as http_data
	count(secret_in_query.violation) == 0 with input as with_query(testdata.blob_with_query, "sv=2021-06-08&sig=abcdefghijklmnop%3D")
		with data.data.http as http_data
}

test_the_shipped_exemptions_cover_presigned_urls if {
	count(secret_in_query.violation) == 0 with input as with_query(
		testdata.bucket_key_with_query,
		"X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Security-Token=abcdefghijklmnopqrstuvwxyz&X-Amz-Signature=abcdef0123456789abcdef",
	)
}

test_workloads_may_take_parameters_by_design if {
	count(secret_in_query.violation) == 0 with input as with_query(testdata.live_ws_to_grafana, "auth_token=abcdefghijklmnop1234")
		with data.data.http as object.union(http_data, {"secret_query_params": ["auth_token"]})
	count(secret_in_query.violation) == 1 with input as with_query(testdata.live_ws_to_frontend, "auth_token=abcdefghijklmnop1234")
		with data.data.http as object.union(http_data, {"secret_query_params": ["auth_token"]})
}

test_no_alert_on_the_response if {
	count(secret_in_query.violation) == 0 with input as with_query(testdata.post_api_response, "token=s3cr3t-t0k3n-value")
		with data.data.http as http_data
}
