{{/* Names and labels shared by the templates. */}}
{{- define "intent-observe.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 52 | trimSuffix "-" -}}
{{- end -}}

{{- define "intent-observe.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "intent-observe.image" -}}
{{- printf "%s:%s" .repository .tag -}}
{{- end -}}

{{/* Kafka topic of one team and signal: <prefix>.<team>.<signal> */}}
{{- define "intent-observe.topic" -}}
{{- printf "%s.%s.%s" .root.Values.kafka.topicPrefix .team .signal -}}
{{- end -}}

{{- define "intent-observe.teamNames" -}}
{{- range .Values.teams }}{{ .name }},{{ end -}}
{{- end -}}
