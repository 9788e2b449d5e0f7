# METADATA
# title: Checks of the baseline tunables
# description: >-
#   The baseline policies compare measured values with data.data.baseline.
#   These tests fail on an edit that would make a policy fire on every flow
#   (a zero floor) or on none (a kind the engine never reports).
package sentinel.data.baseline_test

baseline := data.data.baseline

kinds := {"pod", "world", "host", "remote-node", "kube-apiserver", "health", "init", "ingress", "unmanaged", "unknown"}

test_kinds_are_engine_kinds if {
	every kind in array.concat(baseline.new_peer_client_kinds, baseline.new_peer_server_kinds) {
		kind in kinds
	}
}

test_floors_are_positive if {
	every key in [
		"latency_ratio", "latency_min_ms", "latency_min_samples", "latency_min_deviations",
		"error_ratio_increase", "error_min_responses", "rate_factor", "rate_min_per_min",
		"scan_min_ports", "scan_factor", "sweep_min_ips", "sweep_factor",
		"stuffing_min_per_min", "stuffing_min_sources", "stuffing_factor",
		"drops_min_per_min", "drops_factor",
	] {
		baseline[key] > 0
	}
}

test_factors_are_above_one if {
	every key in ["latency_ratio", "rate_factor", "scan_factor", "sweep_factor", "stuffing_factor", "drops_factor"] {
		baseline[key] > 1
	}
}

test_an_error_increase_is_a_share if {
	baseline.error_ratio_increase < 1
}
