package sentinel.baseline.credential_stuffing_test

import data.sentinel.baseline.credential_stuffing
import data.sentinel.baseline.fixture_test

stuffing := {"auth_failures": {"per_min": 240, "baseline_per_min": 2, "sources": 48}}

test_alerts_on_failures_from_many_clients if {
	credential_stuffing.violation == {{
		"id": "BaselineCredentialStuffing",
		"severity": "critical",
		"title": "Credential stuffing",
		"policy": "sentinel.baseline.credential_stuffing",
		"summary": "shop/frontend POST /login answered 240 authentication failures a minute to 48 clients (learned 2)",
		"description": credential_stuffing.violation[_].description,
		"mitre": "T1110.004",
	}} with input as fixture_test.judged("login_401_to_world", stuffing)
}

test_one_user_mistyping_is_not_stuffing if {
	count(credential_stuffing.violation) == 0 with input as fixture_test.judged("login_401_to_world", {"auth_failures": {"per_min": 30, "baseline_per_min": 1, "sources": 1}})
}

test_a_usual_failure_rate_is_not_stuffing if {
	count(credential_stuffing.violation) == 0 with input as fixture_test.judged("login_401_to_world", {"auth_failures": {"per_min": 30, "baseline_per_min": 20, "sources": 30}})
}

test_silent_while_learning if {
	count(credential_stuffing.violation) == 0 with input as fixture_test.learning("login_401_to_world", stuffing)
}
