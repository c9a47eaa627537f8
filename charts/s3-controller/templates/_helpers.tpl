{{/*
Shared helpers of every chart in charts/ (source: charts/_src/templates/_helpers.tpl;
charts/generate.py copies it into each chart: edit the source, then run `just charts`).
Each chart's _chart.tpl (generated) defines "aso.binary" and "aso.serviceTable".
*/}}

{{- define "aso.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "aso.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "aso.selectorLabels" -}}
app.kubernetes.io/name: {{ include "aso.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "aso.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "aso.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: aws-service-operator
{{- end }}

{{- define "aso.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "aso.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The namespace the operator watches: "" (all) with installScope cluster. */}}
{{- define "aso.watchNamespace" -}}
{{- if eq .Values.installScope "namespace" }}
{{- default .Release.Namespace .Values.watchNamespace }}
{{- else if .Values.watchNamespace }}
{{- fail "watchNamespace needs installScope: namespace (installScope: cluster watches every namespace)" }}
{{- end }}
{{- end }}

{{- define "aso.leaderElectionNamespace" -}}
{{- default .Release.Namespace .Values.leaderElection.namespace }}
{{- end }}

{{/* The services this release runs, as a JSON list: `controllers` (all-in-one) or every one in the chart. */}}
{{- define "aso.services" -}}
{{- $table := fromYaml (include "aso.serviceTable" .) }}
{{- $services := keys $table | sortAlpha }}
{{- if .Values.controllers }}
{{- range .Values.controllers }}
{{- if not (hasKey $table .) }}
{{- fail (printf "controllers: unknown service %q; known: %s" . (join ", " $services)) }}
{{- end }}
{{- end }}
{{- $services = .Values.controllers | uniq }}
{{- end }}
{{- toJson $services }}
{{- end }}

{{/*
The least-privilege rules for the watched resources: the operator's own kinds (with status and
finalizers), the kinds they refer to (read only), its output ConfigMaps (server-side applied) and
Events. Namespaces (get, for the deletion-policy annotation) and Leases are granted separately.
*/}}
{{- define "aso.rules" -}}
{{- $table := fromYaml (include "aso.serviceTable" .) }}
{{- $kinds := list }}
{{- $refs := list }}
{{- $objects := list }}
{{- range (include "aso.services" . | fromJsonArray) }}
{{- $entry := get $table . }}
{{- $kinds = concat $kinds $entry.kinds }}
{{- $refs = concat $refs ($entry.references | default list) }}
{{- $objects = concat $objects ($entry.objects | default list) }}
{{- end }}
{{- $refs = uniq $refs }}
{{- range $kinds }}
{{- $refs = without $refs . }}
{{- end }}
- apiGroups: ["service-operator.aws"]
  resources: {{ toJson $kinds }}
  verbs: ["get", "list", "watch", "patch", "update"]
- apiGroups: ["service-operator.aws"]
  resources:
  {{- range $kinds }}
  - {{ . }}/status
  {{- end }}
  verbs: ["patch"]
- apiGroups: ["service-operator.aws"]
  resources:
  {{- range $kinds }}
  - {{ . }}/finalizers
  {{- end }}
  verbs: ["update"]
{{- if $refs }}
- apiGroups: ["service-operator.aws"]
  resources: {{ toJson $refs }}
  verbs: ["get", "list", "watch"]
{{- end }}
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "watch", "create", "patch"]
{{- if $objects }}
# What the kinds make for apps besides the outputs (an S3 bucket's ExternalName Service).
- apiGroups: [""]
  resources: {{ toJson (uniq $objects) }}
  verbs: ["get", "create", "patch"]
{{- end }}
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{/* RUST_LOG: a bare level applies to the operator, with kube and the AWS SDK kept at warn. */}}
{{- define "aso.rustLog" -}}
{{- $level := .Values.log.level }}
{{- if or (contains "=" $level) (contains "," $level) }}
{{- $level }}
{{- else }}
{{- printf "%s,kube=warn,aws=warn" $level }}
{{- end }}
{{- end }}

{{/* awsCalls.rateLimits as --aws-rate-limit takes it: sns=10/20,sqs=50 */}}
{{- define "aso.rateLimits" -}}
{{- $pairs := list -}}
{{- range $service, $rate := . -}}
{{- $pairs = append $pairs (printf "%s=%s" $service $rate) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end -}}
