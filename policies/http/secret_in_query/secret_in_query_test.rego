package sentinel.http.secret_in_query_test

import data.sentinel.http.request_test.call
import data.sentinel.http.request_test.from_pod
import data.sentinel.http.request_test.get
import data.sentinel.http.request_test.response
import data.sentinel.http.secret_in_query

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
	}} with input as from_pod(get("/api/orders?page=2&access_token=s3cr3t-t0k3n-value"))
		with data.data.http as http_data
}

test_names_are_compared_without_case if {
	some v in secret_in_query.violation with input as get("/login?user=bob&Password=hunter22")
		with data.data.http as http_data
	endswith(v.summary, ": Password")
	not contains(v.summary, "hunter22")
}

test_credential_shaped_values_alert_under_any_name if {
	every target_kind in [
		["/api?q=AKIAIOSFODNN7EXAMPLE", "q (aws_access_key_id)"],
		[concat("", ["/api?x=", jwt]), "x (jwt)"],
		["/api?x=ghp_abcdefghijklmnopqrstuvwxyz0123456789", "x (github_token)"],
		["/hook?t=xoxb-123456789012-abcdefghij", "t (slack_token)"],
		["/pay?k=sk_live_abcdefghijklmnop1234", "k (stripe_live_key)"],
		["/ci?t=glpat-abcdefghijklmnopqrst", "t (gitlab_token)"],
		["/k?pem=-----BEGIN+RSA+PRIVATE+KEY-----MIIE", "pem (private_key)"],
	] {
		some v in secret_in_query.violation with input as get(target_kind[0])
			with data.data.http as http_data
		endswith(v.summary, target_kind[1])
	}
}

test_a_credential_name_is_not_listed_twice if {
	some v in secret_in_query.violation with input as get(concat("", ["/api?auth=Bearer%20", jwt]))
		with data.data.http as http_data
	endswith(v.summary, ": auth")
}

test_a_stray_percent_sign_does_not_hide_the_token if {
	count(secret_in_query.violation) == 1 with input as get("/api?token=abc%zz123456789")
		with data.data.http as http_data
}

test_empty_short_and_placeholder_values_do_not_alert if {
	every target in [
		"/api?token=",
		"/api?token",
		"/api?token=HUBBLE_REDACTED",
		"/api?token=[REDACTED]",
		"/api?token=%5BREDACTED%5D",
		"/api?auth=true",
		"/api?session=new",
	] {
		count(secret_in_query.violation) == 0 with input as get(target)
			with data.data.http as http_data
	}
}

test_ordinary_queries_do_not_alert if {
	every target in [
		"/api?page_token=abcdef0123456789abcdef",
		"/api?nextPageToken=abcdef0123456789",
		"/search?q=red+shoes&utm_source=google&utm_medium=cpc&utm_campaign=brand_eu",
		"/search?q=x&gclid=Cj0KCQjw7ZO0BhDYARIsAFttkCh",
		"/api/v1/products?page=1&sort=newest",
		"/api?id=AKIA",
		"/api?id=0123456789abcdef0123456789abcdef",
		"/",
	] {
		count(secret_in_query.violation) == 0 with input as get(target)
			with data.data.http as http_data
	}
}

test_presigned_urls_do_not_alert if {
	every target in [
		"/product-images/x.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20260101%2Feu-west-1%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"/blob?sv=2021-06-08&sig=abcdefghijklmnop%3D",
	] {
		count(secret_in_query.violation) == 0 with input as get(target)
			with data.data.http as http_data
	}
}

test_the_shipped_exemptions_cover_presigned_urls if {
	count(secret_in_query.violation) == 0 with input as get("/b/k?X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Security-Token=abcdefghijklmnopqrstuvwxyz&X-Amz-Signature=abcdef0123456789abcdef")
}

test_workloads_may_take_parameters_by_design if {
	grafana := object.union(get("/api/live/ws?auth_token=abcdefghijklmnop1234"), {"sentinel": {"destination": {"namespace": "monitoring", "workload": "grafana"}}})
	count(secret_in_query.violation) == 0 with input as grafana
		with data.data.http as object.union(http_data, {"secret_query_params": ["auth_token"]})
	count(secret_in_query.violation) == 1 with input as get("/api/live/ws?auth_token=abcdefghijklmnop1234")
		with data.data.http as object.union(http_data, {"secret_query_params": ["auth_token"]})
}

test_no_alert_on_the_response if {
	count(secret_in_query.violation) == 0 with input as response(call("POST", "/api?token=s3cr3t-t0k3n-value"))
		with data.data.http as http_data
}
