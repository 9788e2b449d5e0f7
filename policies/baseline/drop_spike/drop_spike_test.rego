package sentinel.baseline.drop_spike_test

import data.sentinel.baseline.drop_spike
import data.sentinel.baseline.fixture_test

denied := {"drops": {"per_min": 60, "baseline_per_min": 0.2}}

test_alerts_on_a_spike_of_drops if {
	drop_spike.violation == {{
		"id": "BaselinePolicyDropSpike",
		"severity": "warning",
		"title": "Policy drops spike from one workload",
		"policy": "sentinel.baseline.drop_spike",
		"summary": "shop/frontend had 60 attempts dropped in a minute (learned 0.2)",
		"description": drop_spike.violation[_].description,
		"mitre": "T1046",
	}} with input as fixture_test.judged("frontend_syn_dropped", denied)
}

test_silent_on_forwarded_flows_and_usual_drops if {
	count(drop_spike.violation) == 0 with input as fixture_test.judged("cart_to_postgres_syn", denied)
	count(drop_spike.violation) == 0 with input as fixture_test.judged("frontend_syn_dropped", {"drops": {"per_min": 30, "baseline_per_min": 20}})
}

test_silent_while_learning if {
	count(drop_spike.violation) == 0 with input as fixture_test.learning("frontend_syn_dropped", denied)
}
