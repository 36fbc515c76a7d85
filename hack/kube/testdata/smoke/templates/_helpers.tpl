{{- define "smoke.selector" -}}
app.kubernetes.io/name: smoke
app.kubernetes.io/instance: {{ .Release.Name }}
{{- with .Values.selectorExtra }}
smoke.test/extra: {{ . }}
{{- end }}
{{- end }}
{{- define "smoke.labels" -}}
{{ include "smoke.selector" . }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version | replace "+" "_" }}
{{- end }}
{{- define "smoke.pod" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: 65532
  seccompProfile: {type: RuntimeDefault}
containers:
  - name: app
    image: "{{ .root.Values.image.repository }}:{{ .root.Values.image.tag }}"
    args: {{ .args | toJson }}
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities: {drop: [ALL]}
    resources:
      requests: {cpu: 10m, memory: 16Mi}
      limits: {cpu: 100m, memory: 32Mi}
{{- end }}
