package sentinel.http.admin_paths_test

import data.http.admin_paths.testdata
import data.sentinel.http.admin_paths

http_data := {
	"admin_path_prefixes": ["/actuator", "/debug/pprof", "/admin", "/.env", "/.git", "/server-status"],
	"admin_path_exceptions": ["/actuator/health", "/actuator/prometheus"],
}

# The flows are HTTP requests to the frontend, from the Internet unless named
# otherwise, as the engine measured them (testdata/flows.jsonl, `make
# fixtures`). actuator_env mirrors the shopmesh attack: an Internet client
# asks the frontend for Spring Boot's environment dump.

test_shopmesh_attack_alerts if {
	admin_paths.violation == {{
		"id": "HTTPAdminEndpointAccess",
		"severity": "warning",
		"title": "Request to an administrative or debug HTTP endpoint",
		"policy": "sentinel.http.admin_paths",
		"summary": "world 203.0.113.77 sent HTTP GET /actuator/env to shop/frontend",
		"description": admin_paths.violation[_].description,
		"mitre": "T1190",
	}} with input as testdata.actuator_env with data.data.http as http_data
}

test_alerts_on_each_prefix if {
	every name in ["debug_pprof_heap", "admin", "admin_users", "dotenv", "git_config", "server_status"] {
		count(admin_paths.violation) == 1 with input as testdata[name] with data.data.http as http_data
	}
}

test_alerts_case_insensitively_and_on_repeated_slashes if {
	every name in ["upper_case_actuator", "repeated_slash_heapdump", "mixed_case_pprof"] {
		count(admin_paths.violation) == 1 with input as testdata[name] with data.data.http as http_data
	}
}

test_alerts_on_internal_callers_too if {
	some v in admin_paths.violation with input as testdata.actuator_env_from_pod with data.data.http as http_data
	startswith(v.summary, "shop/ad sent")
}

test_no_alert_on_exceptions if {
	every name in ["actuator_health", "actuator_health_liveness", "mixed_case_prometheus"] {
		count(admin_paths.violation) == 0 with input as testdata[name] with data.data.http as http_data
	}
}

test_no_alert_on_shop_paths if {
	every name in [
		"shop_root", "shop_product", "shop_cart", "shop_checkout", "shop_set_currency", "shop_logo", "shop_healthz",
		"shop_administrators_guide",
	] {
		count(admin_paths.violation) == 0 with input as testdata[name] with data.data.http as http_data
	}
}

test_no_alert_on_response if {
	count(admin_paths.violation) == 0 with input as testdata.actuator_env_response with data.data.http as http_data
}

test_no_alert_without_http if {
	count(admin_paths.violation) == 0 with input as object.union(object.remove(testdata.actuator_env, ["l7"]), {"l7": {"type": "REQUEST", "dns": {"query": "admin."}}})
		with data.data.http as http_data
}

test_alerts_on_dot_segments_that_hide_the_prefix if {
	every name in ["dot_segment_actuator", "dot_segment_admin"] {
		count(admin_paths.violation) == 1 with input as testdata[name] with data.data.http as http_data
	}
}

test_the_shipped_prefixes_cover_common_probes if {
	every name in ["wp_login", "server_status", "git_config", "dotenv", "debug_pprof_goroutine", "tomcat_manager", "jolokia_list", "phpinfo", "aws_credentials"] {
		count(admin_paths.violation) == 1 with input as testdata[name]
	}
}

test_the_shipped_exceptions_cover_probes_and_scrapes if {
	every name in ["actuator_health_readiness", "actuator_prometheus", "healthz", "metrics"] {
		count(admin_paths.violation) == 0 with input as testdata[name]
	}
}
