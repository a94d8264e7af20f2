{{/* Names and labels shared by every object of the chart. */}}

{{/* The objects' name: the release name, with the chart's name appended unless
it is already in it; 63 characters at most (a DNS label). */}}
{{- define "face-service.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* What the Service, the PodDisruptionBudget and the ServiceMonitor select
pods by: fixed for the Deployment's life (a selector cannot change). */}}
{{- define "face-service.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "face-service.labels" -}}
{{ include "face-service.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}
