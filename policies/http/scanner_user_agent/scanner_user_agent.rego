# METADATA
# title: HTTP request from a vulnerability scanner
# description: >-
#   An HTTP request's User-Agent names a vulnerability scanner, fuzzer or
#   brute-forcer (sqlmap, Nikto, Nuclei, ZGrab, Nmap's scripting engine,
#   gobuster, ffuf, WPScan, Hydra, …), listed in
#   data.data.http.scanner_user_agents. From the Internet this is
#   reconnaissance of an exposed service: check which paths the source
#   asked for and what the service answered. From inside the cluster it is
#   an attacker's tooling on a compromised pod, or an authorised scan: find
#   out who runs it, and add an exception for the scanner's workload if it
#   is sanctioned. Sophisticated attackers change the User-Agent, so the
#   absence of this alert proves nothing.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1595/002/
#   - ref: https://attack.mitre.org/techniques/T1595/003/
# custom:
#   id: HTTPScannerUserAgent
#   severity: warning
#   mitre: T1595.002
#   tags: [http, reconnaissance, scanner]
package sentinel.http.scanner_user_agent

import data.sentinel.http.request
import data.sentinel.lib

# Most scanners put their name first ("sqlmap/1.7", "Nuclei - …",
# "gobuster/3.6"): one prefix match of the whole User-Agent against the
# list, in Go. The body leads with the conditions OPA's rule index checks
# (an HTTP request).
violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.l7.type == "REQUEST"
	input.l7.http
	strings.any_prefix_match(lower(input.sentinel.http.user_agent), data.data.http.scanner_user_agents)
	count(scanners) > 0
}

# Others pose as a browser and name themselves further on ("Mozilla/5.00
# (Nikto/2.1.6)", "Mozilla/5.0 zgrab/0.x"): their words are matched. The
# index checks the "Mozilla/" prefix, so the service-to-service clients of a
# cluster (gRPC, probes, scrapers) never pay for the split.
violation contains lib.violation(rego.metadata.chain(), summary) if {
	input.l7.type == "REQUEST"
	startswith(input.sentinel.http.user_agent, "Mozilla/")
	input.l7.http
	strings.any_prefix_match(words, data.data.http.scanner_user_agents)
	count(scanners) > 0
}

# words are the User-Agent's words, lower case, split at spaces and "(":
# "Mozilla/5.00 (Nikto/2.1.6)" has the word "nikto/2.1.6)".
words := split(replace(lower(input.sentinel.http.user_agent), "(", " "), " ")

summary := sprintf("%s sent %s to %s as %s", [
	lib.endpoint(input.sentinel.source),
	request.line,
	lib.endpoint(input.sentinel.destination),
	concat(", ", sort(scanners)),
])

# scanners are the listed tokens a word starts with, followed by something
# other than a letter: "hydra)" is Hydra, "hydrangea-client/1.0" is not.
scanners contains scanner if {
	some word in words
	some scanner in data.data.http.scanner_user_agents
	startswith(word, scanner)
	not regex.match(`^[a-z]`, substring(word, count(scanner), 1))
}
