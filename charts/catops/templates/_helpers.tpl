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

{{/*
The backend connection's environment, the same for the node agents and the
cluster reporter: the URL, the token file, the backend's CA bundle and
client certificate, the proxy. Called with the root context; the items of
a container's env list, at indent 0.
*/}}
{{- define "catops.backendEnv" -}}
- name: CATOPS_BACKEND_URL
  value: {{ .Values.backend.url | quote }}
# The token is read from the mounted Secret, and re-read when
# the Secret changes: never an environment variable.
- name: CATOPS_AUTH_TOKEN_FILE
  value: /var/run/secrets/catops/token
{{- with .Values.backend.caConfigMap }}
- name: CATOPS_BACKEND_CA_FILE
  value: /etc/catops/backend-ca/ca.crt
{{- end }}
{{- if .Values.backend.clientCertSecret }}
# The client certificate for mTLS, re-read when the Secret changes.
- name: CATOPS_BACKEND_CERT_FILE
  value: /etc/catops/backend-tls/tls.crt
- name: CATOPS_BACKEND_KEY_FILE
  value: /etc/catops/backend-tls/tls.key
{{- end }}
{{- with .Values.proxy.httpsProxy }}
- name: HTTPS_PROXY
  value: {{ . | quote }}
{{- end }}
{{- end }}

{{/*
NO_PROXY of a container, or nothing: called with (dict "root" $ "userEnv"
<the names its extraEnv sets> "kubelet" <whether it reads its node's
kubelet>). When a proxy is in use (proxy.httpsProxy, or a proxy variable in
extraEnv) the Kubernetes clients honour it too, so the API server's service
IP (and the node's IP, for the kubelet) join proxy.noProxy; a NO_PROXY in
extraEnv is left to it.
*/}}
{{- define "catops.noProxyEnv" -}}
{{- $v := .root.Values }}
{{- $userEnv := .userEnv }}
{{- $proxyInUse := or $v.proxy.httpsProxy (has "HTTPS_PROXY" $userEnv) (has "https_proxy" $userEnv) (has "HTTP_PROXY" $userEnv) (has "http_proxy" $userEnv) }}
{{- $userNoProxy := or (has "NO_PROXY" $userEnv) (has "no_proxy" $userEnv) }}
{{- if $userNoProxy }}
{{- /* extraEnv sets NO_PROXY: it must list the API server (and, with source kubelet, the node) itself. */}}
{{- else if $proxyInUse }}
# The agent's Kubernetes clients honour HTTPS_PROXY too (from
# proxy.httpsProxy or extraEnv): the API server's service IP
# (and, with source kubelet, this node's IP) are reached
# directly. $(VAR) is expanded by the kubelet.
{{- $noProxy := list }}
{{- with $v.proxy.noProxy }}{{ $noProxy = append $noProxy . }}{{ end }}
{{- $noProxy = append $noProxy "$(KUBERNETES_SERVICE_HOST)" }}
{{- if .kubelet }}{{ $noProxy = append $noProxy "$(HOST_IP)" }}{{ end }}
- name: NO_PROXY
  value: {{ join "," $noProxy | quote }}
{{- else if $v.proxy.noProxy }}
- name: NO_PROXY
  value: {{ $v.proxy.noProxy | quote }}
{{- end }}
{{- end }}

{{/*
The token's and the backend certificates' mounts (items of volumeMounts, at
indent 0), the same for the node agents and the cluster reporter.
*/}}
{{- define "catops.backendMounts" -}}
- name: token
  mountPath: /var/run/secrets/catops
  readOnly: true
{{- if .Values.backend.caConfigMap }}
- name: backend-ca
  mountPath: /etc/catops/backend-ca
  readOnly: true
{{- end }}
{{- if .Values.backend.clientCertSecret }}
- name: backend-tls
  mountPath: /etc/catops/backend-tls
  readOnly: true
{{- end }}
{{- end }}

{{/*
The volumes of those mounts (items of volumes, at indent 0).
*/}}
{{- define "catops.backendVolumes" -}}
# A directory mount (not subPath), so the kubelet's updates of the
# Secret reach the file the agent re-reads.
- name: token
  secret:
    secretName: {{ include "catops.secretName" . }}
    items:
      - key: {{ include "catops.secretKey" . }}
        path: token
{{- with .Values.backend.caConfigMap }}
# Directory mounts (not subPath) of the backend's CA bundle and the
# client certificate, so the agent sees their updates.
- name: backend-ca
  configMap:
    name: {{ . | quote }}
    items:
      - key: {{ $.Values.backend.caConfigMapKey | quote }}
        path: ca.crt
{{- end }}
{{- with .Values.backend.clientCertSecret }}
- name: backend-tls
  secret:
    secretName: {{ . | quote }}
    items:
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
{{- end }}
{{- end }}

{{/*
"true" when the cluster reporter is on: cluster.enabled. A release
installed by a chart without the reporter, upgraded with `helm upgrade
--reuse-values` (which keeps that chart's values, where cluster is missing),
leaves it off.
*/}}
{{- define "catops.clusterEnabled" -}}
{{- if dig "enabled" false (.Values.cluster | default dict) }}true{{ end }}
{{- end }}

{{/*
Name of the cluster reporter's namespaced objects (Deployment,
ServiceAccount, Role, RoleBinding) and of its Lease: "<fullname>-cluster"
("catops-cluster"), the full name cut so that the suffix always fits in 63
characters.
*/}}
{{- define "catops.clusterFullname" -}}
{{- printf "%s-cluster" (include "catops.fullname" . | trunc 55 | trimSuffix "-") }}
{{- end }}

{{/*
Name of the cluster reporter's ClusterRole and ClusterRoleBinding:
"<release>-<chart>-cluster" ("catops-catops-cluster").
*/}}
{{- define "catops.clusterClusterRoleName" -}}
{{- printf "%s-cluster" (include "catops.clusterRoleName" . | trunc 55 | trimSuffix "-") }}
{{- end }}

{{/*
Selector labels of the cluster reporter. Its app.kubernetes.io/name is
"<chart>-cluster", not the chart's name: the DaemonSet's selector (name and
instance, immutable) would otherwise match the reporter's pods, and so
would `kubectl get pods -l app.kubernetes.io/name=catops`, which lists the
node agents. The component label keeps its selector off the agents' pods.
*/}}
{{- define "catops.clusterSelectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-cluster" (include "catops.name" . | trunc 55 | trimSuffix "-") }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: cluster-reporter
{{- end }}

{{/*
Labels of the cluster reporter's objects.
*/}}
{{- define "catops.clusterLabels" -}}
helm.sh/chart: {{ include "catops.chart" . }}
{{ include "catops.clusterSelectorLabels" . }}
app.kubernetes.io/part-of: {{ include "catops.name" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}
