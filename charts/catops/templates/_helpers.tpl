{{/*
Chart name (app.kubernetes.io/name), "catops" unless nameOverride.
*/}}
{{- define "catops.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the namespaced objects (DaemonSet, ServiceAccount, Secret):
the release name when it already contains the chart name (release "catops"
gives "catops"), else "<release>-<chart>". Kubernetes names are at most 63
characters here.
*/}}
{{- define "catops.fullname" -}}
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

{{/*
Name of the cluster-scoped ClusterRole and ClusterRoleBinding: always
"<release>-<chart>" ("catops-catops"), the name the docs' debugging commands
use.
*/}}
{{- define "catops.clusterRoleName" -}}
{{- printf "%s-%s" .Release.Name (include "catops.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
chart label: name-version.
*/}}
{{- define "catops.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every object.
*/}}
{{- define "catops.labels" -}}
helm.sh/chart: {{ include "catops.chart" . }}
{{ include "catops.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels: immutable in a DaemonSet, so only name and instance (never
the chart version).
*/}}
{{- define "catops.selectorLabels" -}}
app.kubernetes.io/name: {{ include "catops.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
ServiceAccount the pods run as.
*/}}
{{- define "catops.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "catops.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Secret holding the token: auth.existingSecret, or the one the chart creates.
Fails the install when neither a token nor a Secret is given, or both are.
*/}}
{{- define "catops.secretName" -}}
{{- include "catops.validateAuth" . }}
{{- default (include "catops.fullname" .) .Values.auth.existingSecret }}
{{- end }}

{{/*
Key of the token in that Secret.
*/}}
{{- define "catops.secretKey" -}}
{{- if .Values.auth.existingSecret }}
{{- .Values.auth.existingSecretKey | default "token" }}
{{- else -}}
token
{{- end }}
{{- end }}

{{/*
True when the chart creates the Secret.
*/}}
{{- define "catops.createSecret" -}}
{{- if and .Values.auth.token (not .Values.auth.existingSecret) }}true{{ end }}
{{- end }}

{{- define "catops.validateAuth" -}}
{{- if and .Values.auth.token .Values.auth.existingSecret }}
{{- fail "\n\nauth.token and auth.existingSecret are both set: use one.\n  --set auth.token=YOUR_TOKEN                 the chart creates the Secret, or\n  --set auth.existingSecret=SECRET_NAME       use a Secret you created" }}
{{- end }}
{{- if not (or .Values.auth.token .Values.auth.existingSecret) }}
{{- fail (printf "\n\nA CatOps auth token is required. Either pass it:\n  helm install %s charts/catops --namespace %s --set auth.token=YOUR_TOKEN\nor create a Secret first and point the chart at it:\n  kubectl -n %s create secret generic catops --from-literal=token=YOUR_TOKEN\n  helm install %s charts/catops --namespace %s --set auth.existingSecret=catops" .Release.Name .Release.Namespace .Release.Namespace .Release.Name .Release.Namespace) }}
{{- end }}
{{- end }}

{{/*
Image reference; the tag defaults to the chart's appVersion.
*/}}
{{- define "catops.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
The node's directories the pods mount for host figures, in mount order, as
a space-separated list of "proc", "sys", "root" and "dev": none when
hostMetrics.enabled is false, else each one whose own enabled is true. A
switch that is missing counts as on: `helm upgrade --reuse-values` from a
chart without these switches keeps that chart's values, which lack them.
*/}}
{{- define "catops.hostMounts" -}}
{{- if .Values.hostMetrics.enabled }}
{{- $on := list }}
{{- range list "proc" "sys" "root" "dev" }}
{{- if dig . "enabled" true $.Values.hostMetrics }}
{{- $on = append $on . }}
{{- end }}
{{- end }}
{{- join " " $on }}
{{- end }}
{{- end }}

{{/*
Where the agent takes the node's host figures (CATOPS_HOST_SOURCE): "kubelet"
when hostMetrics.enabled is false and the agent reads its node's kubelet
summary anyway (podMetrics.source kubelet, podMetrics.kubelet.summary on, its
default): the node's CPU, memory, filesystem and network figures then come
from the summary's node section, with no host mount. Else "proc": the host
mounts when on, the container's own /proc, /sys and / when off.
*/}}
{{- define "catops.hostSource" -}}
{{- if and (not .Values.hostMetrics.enabled) (eq .Values.podMetrics.source "kubelet") (dig "kubelet" "summary" true .Values.podMetrics) -}}
kubelet
{{- else -}}
proc
{{- end }}
{{- end }}

{{/*
Where the agent reads containers' CPU throttling (CATOPS_THROTTLING_SOURCE):
podMetrics.throttling, except that cgroup becomes none without the sys mount
(nothing to read) or without a usage source (throttling goes with it), and
cadvisor needs the kubelet source.
*/}}
{{- define "catops.throttlingSource" -}}
{{- if dig "kubelet" "throttling" false .Values.podMetrics -}}
{{- fail "podMetrics.kubelet.throttling was replaced by podMetrics.throttling: set podMetrics.throttling=cadvisor for the kubelets' /metrics/cadvisor (or leave the default, cgroup, which reads the node's cgroups at no cost to the kubelet), and remove podMetrics.kubelet.throttling" -}}
{{- end -}}
{{- $want := .Values.podMetrics.throttling | default "cgroup" -}}
{{- if and (eq $want "cadvisor") (ne .Values.podMetrics.source "kubelet") -}}
{{- fail (printf "podMetrics.throttling=cadvisor reads the kubelets' /metrics/cadvisor, which needs podMetrics.source=kubelet (it is %s): set it, or podMetrics.throttling=cgroup" .Values.podMetrics.source) -}}
{{- end -}}
{{- if eq .Values.podMetrics.source "none" -}}
none
{{- else if and (eq $want "cgroup") (not (has "sys" (include "catops.hostMounts" . | splitList " "))) -}}
none
{{- else -}}
{{ $want }}
{{- end }}
{{- end }}
