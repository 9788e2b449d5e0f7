package sentinel.http.web_shell_test

import data.http.web_shell.testdata
import data.sentinel.http.request_test.with_query
import data.sentinel.http.web_shell

# The flows are HTTP requests from the Internet to the frontend, as the
# engine measured them (testdata/flows.jsonl, `make fixtures`); a case with a
# query states it (request_test.with_query).

http_data := {
	"webshell_path_suffixes": ["/c99.php", "/shell.php", "/cmd.jsp"],
	"webshell_script_extensions": [".php", ".jsp", ".aspx"],
	"webshell_command_params": ["cmd", "exec"],
}

test_known_shell_alerts if {
	web_shell.violation == {{
		"id": "HTTPWebShellAccess",
		"severity": "warning",
		"title": "Request for a web shell",
		"policy": "sentinel.http.web_shell",
		"summary": "world 203.0.113.77 sent HTTP GET /uploads/c99.php to shop/frontend",
		"description": web_shell.violation[_].description,
		"mitre": "T1505.003",
	}} with input as testdata.c99_in_uploads
		with data.data.http as http_data
}

test_shell_names_match_in_any_case_and_directory if {
	every flow in [
		testdata.shell_in_wordpress_uploads,
		testdata.upper_case_shell,
		testdata.cmd_jsp_after_repeated_slash,
		with_query(testdata.c99_with_query, "x=1"),
	] {
		count(web_shell.violation) == 1 with input as flow
			with data.data.http as http_data
	}
}

test_a_script_driven_with_a_command_alerts if {
	some v in web_shell.violation with input as with_query(testdata.jsp_with_query, "CMD=whoami&Exec=1")
		with data.data.http as http_data
	endswith(v.summary, "with a command in parameter cmd, exec")
}

test_a_known_shell_with_a_command_names_it if {
	some v in web_shell.violation with input as with_query(testdata.shell_with_query, "cmd=id")
		with data.data.http as http_data
	endswith(v.summary, "/shell.php to shop/frontend with a command in parameter cmd")
}

test_ordinary_scripts_and_look_alikes_do_not_alert if {
	every flow in [
		with_query(testdata.index_with_query, "page=2"),
		testdata.cart,
		testdata.shell_txt,
		testdata.help_cmd,
		with_query(testdata.commands_with_query, "cmd=list"),
		testdata.index_php,
	] {
		count(web_shell.violation) == 0 with input as flow
			with data.data.http as http_data
	}
}

test_the_shipped_list_knows_common_shells if {
	every name in ["wso", "b374k", "cmd_aspx_in_uploads", "jspspy"] {
		count(web_shell.violation) == 1 with input as testdata[name]
	}
}

test_no_alert_on_the_response if {
	count(web_shell.violation) == 0 with input as testdata.c99_response
		with data.data.http as http_data
}
