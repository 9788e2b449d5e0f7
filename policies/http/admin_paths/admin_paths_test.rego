package sentinel.http.admin_paths_test

import data.sentinel.http.admin_paths

http_data := {
	"admin_path_prefixes": ["/actuator", "/debug/pprof", "/admin", "/.env", "/.git", "/server-status"],
	"admin_path_exceptions": ["/actuator/health", "/actuator/prometheus"],
}

# world_actuator mirrors the shopmesh attack: an Internet client asks the
# frontend for Spring Boot's environment dump.
world_actuator := {
	"verdict": "FORWARDED",
	"Type": "L7",
	"is_reply": false,
	"traffic_direction": "INGRESS",
	"IP": {"source": "203.0.113.77", "destination": "10.0.1.11", "ipVersion": "IPv4"},
	"l4": {"TCP": {"source_port": 51234, "destination_port": 8080}},
	"source": {"identity": 2, "labels": ["reserved:world"]},
	"l7": {"type": "REQUEST", "http": {"method": "GET", "url": "http://frontend.shop:8080/actuator/env", "protocol": "HTTP/1.1"}},
	"sentinel": {
		"source": {"kind": "world", "namespace": "", "workload": "", "pod": "", "ip": "203.0.113.77", "identity": 2},
		"destination": {"kind": "pod", "namespace": "shop", "workload": "frontend", "pod": "frontend-7d9f8b6c5d-x2k9q", "ip": "10.0.1.11", "identity": 30211, "fqdn": ""},
		"protocol": "TCP",
		"destination_port": 8080,
		"http": {"method": "GET", "path": "/actuator/env", "raw_path": "/actuator/env", "query": "", "host": "frontend.shop:8080"},
	},
}

# request builds the same request for another path.
request(path) := object.union(world_actuator, {"sentinel": {"http": {"path": path, "raw_path": path}}})

test_shopmesh_attack_alerts if {
	admin_paths.violation == {{
		"id": "HTTPAdminEndpointAccess",
		"severity": "warning",
		"title": "Request to an administrative or debug HTTP endpoint",
		"policy": "sentinel.http.admin_paths",
		"summary": "world 203.0.113.77 sent HTTP GET /actuator/env to shop/frontend",
		"description": admin_paths.violation[_].description,
		"mitre": "T1190",
	}} with input as world_actuator with data.data.http as http_data
}

test_alerts_on_each_prefix if {
	every path in ["/debug/pprof/heap", "/admin", "/admin/users", "/.env", "/.git/config", "/server-status"] {
		count(admin_paths.violation) == 1 with input as request(path) with data.data.http as http_data
	}
}

test_alerts_case_insensitively_and_on_repeated_slashes if {
	every path in ["/ACTUATOR/env", "//actuator/heapdump", "/Debug//PPROF/"] {
		count(admin_paths.violation) == 1 with input as request(path) with data.data.http as http_data
	}
}

test_alerts_on_internal_callers_too if {
	some v in admin_paths.violation with input as object.union(world_actuator, {"sentinel": {"source": {
		"kind": "pod", "namespace": "shop", "workload": "ad", "ip": "10.0.1.40",
	}}})
		with data.data.http as http_data
	startswith(v.summary, "shop/ad sent")
}

test_no_alert_on_exceptions if {
	every path in ["/actuator/health", "/actuator/health/liveness", "/Actuator/Prometheus"] {
		count(admin_paths.violation) == 0 with input as request(path) with data.data.http as http_data
	}
}

test_no_alert_on_shop_paths if {
	every path in ["/", "/product/OLJCESPC7Z", "/cart", "/cart/checkout", "/setCurrency", "/static/img/logo.png", "/_healthz", "/api/administrators-guide"] {
		count(admin_paths.violation) == 0 with input as request(path) with data.data.http as http_data
	}
}

test_no_alert_on_response if {
	count(admin_paths.violation) == 0 with input as object.union(world_actuator, {"is_reply": true, "l7": {"type": "RESPONSE"}})
		with data.data.http as http_data
}

test_no_alert_without_http if {
	count(admin_paths.violation) == 0 with input as object.union(object.remove(world_actuator, ["l7"]), {"l7": {"type": "REQUEST", "dns": {"query": "admin."}}})
		with data.data.http as http_data
}

test_alerts_on_dot_segments_that_hide_the_prefix if {
	every path in ["/./actuator/env", "/.//admin"] {
		count(admin_paths.violation) == 1 with input as request(path) with data.data.http as http_data
	}
}

test_the_shipped_prefixes_cover_common_probes if {
	every path in ["/wp-login.php", "/server-status", "/.git/config", "/.env", "/debug/pprof/goroutine", "/manager/html", "/jolokia/list", "/phpinfo.php", "/.aws/credentials"] {
		count(admin_paths.violation) == 1 with input as request(path)
	}
}

test_the_shipped_exceptions_cover_probes_and_scrapes if {
	every path in ["/actuator/health/readiness", "/actuator/prometheus", "/healthz", "/metrics"] {
		count(admin_paths.violation) == 0 with input as request(path)
	}
}
