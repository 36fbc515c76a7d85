{{/*
The read API (issue: consumers and retention) is served by the worker on a
port of its own. These helpers are included by worker/deployment.yaml.
*/}}

{{/* Name of the Secret holding READ_API_KEYS. */}}
{{- define "webhook-ingestor.readAPISecretName" -}}
{{- if .Values.readAPI.existingSecret }}
{{- .Values.readAPI.existingSecret }}
{{- else }}
{{- include "webhook-ingestor.fullname" . }}-read-api
{{- end }}
{{- end }}

{{/* The worker container's read API port (nothing when the API is off). */}}
{{- define "webhook-ingestor.readAPIPort" -}}
{{- if .Values.readAPI.enabled }}
- name: read-api
  containerPort: {{ .Values.readAPI.port }}
  protocol: TCP
{{- end }}
{{- end }}

{{/* The worker's environment for the read API and retention. */}}
{{- define "webhook-ingestor.readAPIEnv" -}}
{{- $r := .Values.retention }}
- name: RETENTION
  value: {{ $r.events | default "off" | quote }}
- name: DEDUP_RETENTION
  value: {{ $r.dedup | quote }}
- name: PARTITIONS_AHEAD
  value: {{ $r.partitionsAhead | toString | quote }}
- name: MAINTENANCE_INTERVAL
  value: {{ $r.maintenanceInterval | quote }}
{{- if .Values.readAPI.enabled }}
- name: READ_API_ADDR
  value: {{ printf ":%d" (int .Values.readAPI.port) | quote }}
- name: READ_API_MAX_WAIT
  value: {{ printf "%ds" (int .Values.readAPI.maxWaitSeconds) | quote }}
- name: READ_API_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ include "webhook-ingestor.readAPISecretName" . }}
      key: {{ .Values.readAPI.existingSecretKey }}
{{- end }}
{{- end }}

{{/* Pod annotation that restarts the workers when the chart-created key Secret changes (key rotation). */}}
{{- define "webhook-ingestor.readAPIChecksum" -}}
{{- if and .Values.readAPI.enabled (not .Values.readAPI.existingSecret) }}
checksum/read-api-secret: {{ include (print $.Template.BasePath "/readapi/secret.yaml") . | sha256sum }}
{{- end }}
{{- end }}
