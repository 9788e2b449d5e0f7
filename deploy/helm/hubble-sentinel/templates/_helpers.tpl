{{- define "hubble-sentinel.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "hubble-sentinel.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "hubble-sentinel.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hubble-sentinel.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "hubble-sentinel.labels" -}}
{{ include "hubble-sentinel.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The bundle server's host and port, from the values or the URL. */}}
{{- define "hubble-sentinel.bundleHost" -}}
{{- $u := urlParse .Values.policies.bundle.url -}}
{{- .Values.policies.bundle.host | default (regexReplaceAll ":[0-9]+$" $u.host "") -}}
{{- end -}}
{{- define "hubble-sentinel.bundlePort" -}}
{{- $u := urlParse .Values.policies.bundle.url -}}
{{- $p := regexFind ":[0-9]+$" $u.host | trimPrefix ":" -}}
{{- if .Values.policies.bundle.port -}}{{ .Values.policies.bundle.port }}
{{- else if $p -}}{{ $p }}
{{- else if eq $u.scheme "http" -}}80
{{- else -}}443
{{- end -}}
{{- end -}}
