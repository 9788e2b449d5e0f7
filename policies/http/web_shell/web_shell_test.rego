package sentinel.http.web_shell_test

import data.sentinel.http.request_test.get
import data.sentinel.http.request_test.response
import data.sentinel.http.web_shell

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
	}} with input as get("/uploads/c99.php")
		with data.data.http as http_data
}

test_shell_names_match_in_any_case_and_directory if {
	every target in ["/wp-content/uploads/shell.php", "/SHELL.PHP", "/images//cmd.jsp", "/c99.php?x=1"] {
		count(web_shell.violation) == 1 with input as get(target)
			with data.data.http as http_data
	}
}

test_a_script_driven_with_a_command_alerts if {
	some v in web_shell.violation with input as get("/uploads/x.jsp?CMD=whoami&Exec=1")
		with data.data.http as http_data
	endswith(v.summary, "with a command in parameter cmd, exec")
}

test_a_known_shell_with_a_command_names_it if {
	some v in web_shell.violation with input as get("/shell.php?cmd=id")
		with data.data.http as http_data
	endswith(v.summary, "/shell.php to shop/frontend with a command in parameter cmd")
}

test_ordinary_scripts_and_look_alikes_do_not_alert if {
	every target in ["/index.php?page=2", "/cart", "/shell.php.txt", "/help/cmd", "/api/commands?cmd=list", "/index.php"] {
		count(web_shell.violation) == 0 with input as get(target)
			with data.data.http as http_data
	}
}

test_the_shipped_list_knows_common_shells if {
	every target in ["/wso.php", "/b374k.php", "/uploads/cmd.aspx", "/jspspy.jsp"] {
		count(web_shell.violation) == 1 with input as get(target)
	}
}

test_no_alert_on_the_response if {
	count(web_shell.violation) == 0 with input as response(get("/uploads/c99.php"))
		with data.data.http as http_data
}
