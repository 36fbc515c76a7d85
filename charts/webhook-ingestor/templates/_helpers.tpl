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
A digest wins over a tag; the tag defaults to image.tag, then the chart's
appVersion. Digests are per component only: the two images are different
images, so one digest can never pin both.
*/}}
{{- define "webhook-ingestor.image" -}}
{{- $g := .ctx.Values.image -}}
{{- $registry := .image.registry | default $g.registry -}}
{{- $repo := .image.repository -}}
{{- $ref := ternary $repo (printf "%s/%s" $registry $repo) (empty $registry) -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $ref .image.digest -}}
{{- else -}}
{{- printf "%s:%s" $ref (.image.tag | default $g.tag | default .ctx.Chart.AppVersion) -}}
{{- end -}}
{{- end }}

{{/*
GOMEMLIMIT from a container's memory limit: call with (dict "limit" "256Mi"
"percent" 85). Prints the soft limit in MiB (e.g. "217MiB"), or nothing when
there is no limit. The Go runtime needs headroom below the cgroup limit for
memory it does not count (stacks in flight, the binary, page cache), so the
soft limit sits at 80-90 % of the hard one, never at 100 %.
*/}}
{{- define "webhook-ingestor.goMemLimit" -}}
{{- $limit := .limit | toString -}}
{{- if $limit -}}
{{- $num := regexFind "^[0-9]+(\\.[0-9]+)?" $limit -}}
{{- if not $num }}{{ fail (printf "resources.limits.memory %q: cannot read it as a quantity" $limit) }}{{ end -}}
{{- $unit := trimPrefix $num $limit -}}
{{- $mult := dict "" 1.0 "k" 1000.0 "K" 1000.0 "M" 1e6 "G" 1e9 "T" 1e12 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 -}}
{{- if not (hasKey $mult $unit) }}{{ fail (printf "resources.limits.memory %q: unit %q not understood (use Mi or Gi)" $limit $unit) }}{{ end -}}
{{- $bytes := mulf (float64 $num) (get $mult $unit) -}}
{{- printf "%dMiB" (int64 (floor (divf (mulf $bytes (float64 .percent)) 104857600.0))) -}}
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
SHUTDOWN_TIMEOUT is each binary's whole budget from SIGTERM to exit: the
ingress spends DRAIN_DELAY of it reporting unready while still serving, and
the rest finishing requests in flight, so DRAIN_DELAY must be below it (the
binary refuses to start otherwise: fail here instead of crash-looping).
Call with (dict "grace" N "preStop" N "drain" N "shutdown" N "component" "x").
*/}}
{{- define "webhook-ingestor.checkGrace" -}}
{{- if and (gt (int .preStop) 0) (gt (int .drain) 0) }}
{{- fail (printf "%s: set preStopSleepSeconds (%d) or drainDelaySeconds (%d), not both: each one alone keeps the pod serving while endpoints converge, together they drain twice" .component (int .preStop) (int .drain)) }}
{{- end }}
{{- if ge (int .drain) (int .shutdown) }}
{{- fail (printf "%s.drainDelaySeconds (%d) must be below shutdownTimeoutSeconds (%d): SHUTDOWN_TIMEOUT is the whole shutdown budget, drain included, and the ingress refuses DRAIN_DELAY >= SHUTDOWN_TIMEOUT at start" .component (int .drain) (int .shutdown)) }}
{{- end }}
{{- $need := add .preStop .shutdown }}
{{- if le (int .grace) (int $need) }}
{{- fail (printf "%s.terminationGracePeriodSeconds (%d) must exceed preStopSleepSeconds + shutdownTimeoutSeconds (%d)" .component (int .grace) (int $need)) }}
{{- end }}
{{- end }}

{{/*
The Redis LIST holding the pending tasks of the one asynq queue both binaries
use, "webhooks" (job.Queue in services/internal/job/job.go; not configurable).
services/internal/queue's TestChartPendingList enqueues a task and checks it
lands in this list.
*/}}
{{- define "webhook-ingestor.pendingList" -}}
asynq:{webhooks}:pending
{{- end }}
