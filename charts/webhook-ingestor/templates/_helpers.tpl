{{/*
Expand the name of the chart.
*/}}
{{- define "webhook-ingestor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name, truncated so that "<fullname>-<component>-<hash>" stays a valid name.
*/}}
{{- define "webhook-ingestor.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "webhook-ingestor.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels. Never used in selectors (helm.sh/chart and the version change on upgrade).
*/}}
{{- define "webhook-ingestor.labels" -}}
helm.sh/chart: {{ include "webhook-ingestor.chart" . }}
{{ include "webhook-ingestor.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: webhook-ingestor
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "webhook-ingestor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "webhook-ingestor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Per-component labels: call with (dict "ctx" $ "component" "ingress").
*/}}
{{- define "webhook-ingestor.componentLabels" -}}
{{ include "webhook-ingestor.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "webhook-ingestor.componentSelectorLabels" -}}
{{ include "webhook-ingestor.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "webhook-ingestor.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "webhook-ingestor.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The Secret both binaries read their secret settings from (envFrom).
*/}}
{{- define "webhook-ingestor.secretName" -}}
{{- if .Values.secrets.existingSecret }}
{{- .Values.secrets.existingSecret }}
{{- else }}
{{- include "webhook-ingestor.fullname" . }}
{{- end }}
{{- end }}

{{/*
Image reference: call with (dict "ctx" $ "image" .Values.ingress.image).
A digest wins over a tag; the tag defaults to the chart's appVersion.
*/}}
{{- define "webhook-ingestor.image" -}}
{{- $g := .ctx.Values.image -}}
{{- $registry := .image.registry | default $g.registry -}}
{{- $repo := .image.repository -}}
{{- $ref := ternary $repo (printf "%s/%s" $registry $repo) (empty $registry) -}}
{{- $digest := .image.digest | default $g.digest -}}
{{- if $digest -}}
{{- printf "%s@%s" $ref $digest -}}
{{- else -}}
{{- printf "%s:%s" $ref (.image.tag | default $g.tag | default .ctx.Chart.AppVersion) -}}
{{- end -}}
{{- end }}

{{/*
Pod-level security context, restricted-PSS compliant.
*/}}
{{- define "webhook-ingestor.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext }}
{{- end }}

{{- define "webhook-ingestor.containerSecurityContext" -}}
{{- toYaml .Values.containerSecurityContext }}
{{- end }}

{{/*
PDB spec body: call with the component's pdb values. Exactly one of
minAvailable / maxUnavailable (the API server rejects both).
*/}}
{{- define "webhook-ingestor.pdbSpec" -}}
{{- if and (not (kindIs "invalid" .minAvailable)) (not (kindIs "invalid" .maxUnavailable)) }}
{{- fail "pdb: set either minAvailable or maxUnavailable, not both" }}
{{- end }}
{{- if not (kindIs "invalid" .minAvailable) }}
minAvailable: {{ .minAvailable }}
{{- else }}
maxUnavailable: {{ .maxUnavailable | default 1 }}
{{- end }}
{{- with .unhealthyPodEvictionPolicy }}
unhealthyPodEvictionPolicy: {{ . }}
{{- end }}
{{- end }}

{{/*
Topology spread: call with (dict "ctx" $ "component" "ingress").
*/}}
{{- define "webhook-ingestor.topologySpread" -}}
{{- range .ctx.Values.topologySpread.topologyKeys }}
- maxSkew: {{ $.ctx.Values.topologySpread.maxSkew }}
  topologyKey: {{ . }}
  whenUnsatisfiable: {{ $.ctx.Values.topologySpread.whenUnsatisfiable }}
  labelSelector:
    matchLabels:
      {{- include "webhook-ingestor.componentSelectorLabels" (dict "ctx" $.ctx "component" $.component) | nindent 6 }}
  matchLabelKeys:
    - pod-template-hash
{{- end }}
{{- end }}

{{/*
Graceful shutdown guard: the grace period must exceed everything the pod
does after it is told to stop, else the kubelet SIGKILLs in-flight work.
Call with (dict "grace" N "preStop" N "drain" N "shutdown" N "component" "x").
*/}}
{{- define "webhook-ingestor.checkGrace" -}}
{{- $need := add .preStop .drain .shutdown }}
{{- if le (int .grace) (int $need) }}
{{- fail (printf "%s.terminationGracePeriodSeconds (%d) must exceed preStopSleepSeconds + drainDelaySeconds + shutdownTimeoutSeconds (%d)" .component (int .grace) (int $need)) }}
{{- end }}
{{- end }}
