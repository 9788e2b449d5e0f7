# METADATA
# title: Checks of the HTTP policies' tunable data
# description: >-
#   The HTTP policies compare lower-case request text with their lists and
#   patterns as they are, and skip patterns when a request lacks the trigger
#   characters and keywords. These tests fail on an edit that would
#   otherwise silently stop matching: an upper-case pattern or keyword, a
#   regular expression that does not compile, a scanner token that would
#   flag an ordinary client.
package sentinel.http_data_test

http := data.data.http

# unescaped is a pattern without its escapes (\s, \W, \x60, \.), so that
# the letters left are the ones it matches literally.
unescaped(pattern) := regex.replace(pattern, `\\(?:x[0-9a-fA-F]{2}|[A-Za-z]|.)`, "")

lower_case_pattern(pattern) if {
	regex.is_valid(pattern)
	unescaped(pattern) == lower(unescaped(pattern))
}

test_request_patterns_compile_and_are_lower_case if {
	every patterns in [http.sqli_patterns, http.xss_patterns, http.cmdi_patterns, http.traversal_path_patterns, http.traversal_query_patterns] {
		count(patterns) > 0
		every pattern in patterns {
			lower_case_pattern(pattern)
		}
	}
	every pattern in [http.log4shell_pattern, http.traversal_encodings, http.ssrf_pattern] {
		lower_case_pattern(pattern)
	}
}

test_a_pattern_with_upper_case_letters_is_caught if {
	not lower_case_pattern(`\bUNION\s+select`)
	lower_case_pattern(`\bunion\W+select\x60`)
	not lower_case_pattern(`(unclosed`)
}

# The traversal encodings start with a literal "%", which lets the regex
# engine skip to the first escape instead of trying every position.
test_traversal_encodings_start_with_a_percent_sign if {
	startswith(http.traversal_encodings, "%")
}

test_secret_value_patterns_compile if {
	count(http.secret_query_value_patterns) > 0
	every pattern in http.secret_query_value_patterns {
		regex.is_valid(pattern)
	}
}

test_word_lists_are_lower_case_and_not_empty if {
	every list in [
		http.sqli_keywords, http.xss_keywords, http.cmdi_keywords, http.ssrf_keywords,
		http.traversal_files, http.scanner_user_agents, http.secret_query_params,
		http.secret_query_placeholder_values, http.secret_query_exempt_params,
		http.secret_query_exempt_param_prefixes,
		http.webshell_path_suffixes, http.webshell_script_extensions,
		http.webshell_command_params, http.ssrf_exempt_params,
	] {
		count(list) > 0
		every word in list {
			word == lower(word)
			word != ""
		}
	}
}

test_file_and_path_lists_are_shaped_as_compared if {
	every file in http.traversal_files {
		regex.match(`^[/\\]`, file)
	}
	every suffix in http.webshell_path_suffixes {
		startswith(suffix, "/")
	}
	every extension in http.webshell_script_extensions {
		startswith(extension, ".")
	}
}

test_methods_are_upper_case if {
	every methods in [http.allowed_methods, http.dangerous_methods_allowed_by_workload] {
		every _, list in methods {
			every method in list {
				method == upper(method)
			}
		}
	}
}

test_workload_keys_are_namespace_slash_workload if {
	every map in [http.allowed_methods, http.dangerous_methods_allowed_by_workload, http.secret_query_allowed_params_by_workload] {
		every key, _ in map {
			regex.match(`^[a-z0-9-]+/[a-z0-9.-]+$`, key)
		}
	}
}

# The clients every cluster is full of: a scanner token that is a prefix
# of one of their words would flag them all.
test_scanner_tokens_spare_ordinary_clients if {
	every ua in [
		"curl/8.5.0", "wget/1.21.4", "python-requests/2.31.0", "python-urllib3/2.2.1",
		"go-http-client/1.1", "go-http-client/2.0", "prometheus/2.53.0", "kube-probe/1.30",
		"grpc-go/1.64.0", "okhttp/4.12.0", "envoy/1.30.1", "apache-httpclient/4.5.14 (java/17.0.9)",
		"mozilla/5.0 (windows nt 10.0; win64; x64) applewebkit/537.36 (khtml, like gecko) chrome/126.0.0.0 safari/537.36",
		"mozilla/5.0 (compatible; googlebot/2.1; +http://www.google.com/bot.html)",
		"elb-healthchecker/2.0", "kubernetes/v1.30.0", "kubectl/v1.30.0 (linux/amd64) kubernetes/7c48c2b",
		"node-fetch/1.0 (+https://github.com/bitinn/node-fetch)", "axios/1.7.2", "java/17.0.9", "ruby", "dart:io",
	] {
		not strings.any_prefix_match(split(replace(ua, "(", " "), " "), http.scanner_user_agents)
	}
}

test_secret_thresholds_are_sane if {
	http.secret_query_min_value_length >= 1
	every name in http.secret_query_exempt_params {
		not name in http.secret_query_params
	}
	every name in http.secret_query_params {
		not strings.any_prefix_match(name, http.secret_query_exempt_param_prefixes)
	}
}
