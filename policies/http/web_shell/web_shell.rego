# METADATA
# title: Request for a web shell
# description: >-
#   An HTTP request asked for a well-known web shell (c99.php, wso.php,
#   b374k.php, cmd.jsp, shell.aspx, …), or drove a server-side script with
#   a command parameter (upload.php?cmd=id). Scanners look for shells left
#   by earlier intruders; an attacker who planted one uses it to run
#   commands. Check the response to the same request (same ports,
#   X-Request-Id): a 200 means the file exists, and the destination pod is
#   compromised: isolate it, find how the file got there (an upload
#   endpoint, a writable web root) and rebuild from the image.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1505/003/
#   - ref: https://attack.mitre.org/techniques/T1190/
#   - ref: https://cwe.mitre.org/data/definitions/553.html
# custom:
#   id: HTTPWebShellAccess
#   severity: warning
#   mitre: T1505.003
#   tags: [http, persistence, web-shell]
package sentinel.http.web_shell

import data.sentinel.http.request
import data.sentinel.lib

# A known web shell's file name: one suffix match against the shared
# normalised path. The body leads with the conditions OPA's rule index
# checks (an HTTP request).
violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.l7.type == "REQUEST"
	input.l7.http
	strings.any_suffix_match(request.path, data.data.http.webshell_path_suffixes)
}

# A server-side script with a command parameter.
violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.l7.type == "REQUEST"
	input.l7.http
	input.sentinel.http.query != ""
	strings.any_suffix_match(request.path, data.data.http.webshell_script_extensions)
	count(command_params) > 0
}

# command_params are the query's parameters named like a web shell's
# command, lower case.
command_params contains lower(name) if {
	some name, _ in request.query_object
	lower(name) in data.data.http.webshell_command_params
}

summary := sprintf("%s sent %s to %s%s", [
	lib.endpoint(input.sentinel.source),
	request.line,
	lib.endpoint(input.sentinel.destination),
	commanded,
])

commanded := sprintf(" with a command in parameter %s", [concat(", ", sort(command_params))]) if {
	count(command_params) > 0
} else := ""
