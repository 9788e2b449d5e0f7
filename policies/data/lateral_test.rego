# METADATA
# title: Checks of the lateral-movement tunables
# description: >-
#   The lateral policies look sources, destinations and ports up in
#   data.data.lateral as they are written, so a typo (an upper-case
#   namespace, a port written as a name, a misspelt key) silently stops an
#   allowlist entry from matching. These tests fail on such an edit.
package sentinel.lateral_data_test

# A source or destination is a namespace (a DNS label) or
# "namespace/workload" (a workload name is a DNS subdomain).
source_pattern := `^[a-z0-9]([-a-z0-9]*[a-z0-9])?(/[a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$`

# A sensitive-port allowlist key names a destination, optionally with a port.
destination_pattern := `^[a-z0-9]([-a-z0-9]*[a-z0-9])?(/[a-z0-9]([-a-z0-9.]*[a-z0-9])?)?(:[0-9]{1,5})?$`

valid_source(s) if regex.match(source_pattern, s)

valid_port(p) if {
	is_number(p)
	p == floor(p)
	p >= 1
	p <= 65535
}

valid_port_key(k) if {
	regex.match(`^[1-9][0-9]{0,4}$`, k)
	valid_port(to_number(k))
}

test_source_lists_name_namespaces_or_workloads if {
	every key in ["apiserver_allowed_sources", "isolation_infra_sources", "node_allowed_sources"] {
		every s in data.data.lateral[key] {
			valid_source(s)
		}
	}
}

test_sensitive_ports_are_port_numbers_with_names if {
	every port, name in data.data.lateral.sensitive_ports {
		valid_port_key(port)
		is_string(name)
		name != ""
	}
}

test_sensitive_port_allowlist_keys_and_sources if {
	every destination, sources in data.data.lateral.sensitive_port_allowed_sources {
		regex.match(destination_pattern, destination)
		is_array(sources)
		every s in sources {
			valid_source(s)
		}
	}
}

test_namespace_isolation_entries if {
	every namespace, entry in data.data.lateral.namespace_isolation {
		regex.match(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`, namespace)
		is_object(entry)
		every key, _ in entry {
			key in {"allowed_sources", "allowed_ports"}
		}
		every s in object.get(entry, "allowed_sources", []) {
			valid_source(s)
		}
		every p in object.get(entry, "allowed_ports", []) {
			valid_port(p)
		}
	}
}

test_node_ports if {
	every p in data.data.lateral.node_allowed_ports {
		valid_port(p)
	}
	every source, ports in data.data.lateral.node_allowed_ports_by_source {
		valid_source(source)
		every p in ports {
			valid_port(p)
		}
	}
}

test_badly_written_entries_are_caught if {
	not valid_source("Kube-System")
	not valid_source("shop/")
	not valid_source("shop/cart/x")
	not valid_source("shop:5432")
	not regex.match(destination_pattern, "shop-data/postgres:pg")
	not valid_port_key("ssh")
	not valid_port_key("022")
	not valid_port_key("70000")
	not valid_port("22")
	not valid_port(0)
}
