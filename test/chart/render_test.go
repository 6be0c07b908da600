package chart

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/utils/ptr"
)

// yamlFile reads a YAML file of the chart into generic JSON values.
func yamlFile(t *testing.T, name string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(chartDir(t), name))
	require.NoError(t, err)
	js, err := utilyaml.ToJSON(data)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(js, &m))
	return m
}

func TestHelmLint(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		// helm lint turns `fail` into an INFO line, so the chart lints
		// without a token too (the install itself fails: TestMissingTokenFails).
		{"defaults", nil},
		{"token", []string{"--set", "auth.token=lint-token"}},
		{"kubelet usage source with its CA", []string{"--set", "auth.token=lint-token", "--set", "podMetrics.source=kubelet", "--set", "podMetrics.kubelet.caConfigMap=kubelet-ca"}},
		{"existing Secret, no host mounts, no RBAC", []string{"--set", "auth.existingSecret=catops", "--set", "hostMetrics.enabled=false", "--set", "rbac.create=false", "--set", "serviceAccount.create=false"}},
		{"some host mounts, root without propagation", []string{"--set", "auth.token=lint-token", "--set", "hostMetrics.proc.enabled=false", "--set", "hostMetrics.dev.enabled=false", "--set", "hostMetrics.root.mountPropagation=None"}},
		{"no cluster reporter", []string{"--set", "auth.token=lint-token", "--set", "cluster.enabled=false"}},
		{"cluster reporter values", []string{"--set", "auth.token=lint-token", "--set", "cluster.name=prod", "--set", "cluster.replicas=3", "--set", "cluster.leaseDuration=30s", "--set", "cluster.priorityClassName=high"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runHelm(t, append([]string{"lint", "--strict", chartDir(t)}, tc.args...)...)
			require.NoError(t, err, out)
			assert.Contains(t, out, "1 chart(s) linted, 0 chart(s) failed")
		})
	}
}

func TestChartMetadata(t *testing.T) {
	c := yamlFile(t, "Chart.yaml")
	assert.Equal(t, "v2", c["apiVersion"])
	assert.Equal(t, "catops", c["name"])
	assert.Equal(t, c["version"], c["appVersion"], "one version for chart and connector (TestRelease* checks the rule)")
	assert.Equal(t, ">=1.27.0-0", c["kubeVersion"])

	_, err := template(t, "--set", "auth.token=x", "--kube-version", "1.26.0")
	require.Error(t, err, "Kubernetes 1.26 is below the chart's kubeVersion")
	assert.Contains(t, err.Error(), "incompatible with Kubernetes v1.26.0")
	render(t, "--set", "auth.token=x", "--kube-version", "1.27.0")
}

func TestDefaults(t *testing.T) {
	r := render(t, "--set", "auth.token=XXX")
	appVersion := yamlFile(t, "Chart.yaml")["appVersion"].(string)

	assert.ElementsMatch(t, []string{
		"ServiceAccount/catops", "Secret/catops", "ClusterRole/catops-catops",
		"ClusterRoleBinding/catops-catops", "DaemonSet/catops",
		// The cluster reporter (TestClusterReporterDefaults).
		"Deployment/catops-cluster", "ServiceAccount/catops-cluster", "ClusterRole/catops-catops-cluster",
		"ClusterRoleBinding/catops-catops-cluster", "Role/catops-cluster", "RoleBinding/catops-cluster",
	}, r.kinds, "the names the docs' debugging commands use")

	ds := r.daemonSet
	assert.Equal(t, namespace, ds.Namespace)
	assert.Equal(t, namespace, r.serviceAccount.Namespace)
	assert.Equal(t, namespace, r.secret.Namespace)
	selector := map[string]string{"app.kubernetes.io/name": "catops", "app.kubernetes.io/instance": release}
	assert.Equal(t, selector, ds.Spec.Selector.MatchLabels, "selector: name and instance only (immutable, so never the chart version)")
	podLabels := ds.Spec.Template.Labels
	assert.Equal(t, "catops", podLabels["app.kubernetes.io/name"], "`kubectl logs -l app.kubernetes.io/name=catops` must find the pods")
	for k, v := range selector {
		assert.Equal(t, v, podLabels[k], "pod labels must match the selector")
	}
	for _, labels := range []map[string]string{ds.Labels, podLabels, r.serviceAccount.Labels, r.secret.Labels, r.clusterRole.Labels, r.clusterRoleBinding.Labels} {
		assert.Equal(t, "catops-"+appVersion, labels["helm.sh/chart"])
		assert.Equal(t, "Helm", labels["app.kubernetes.io/managed-by"])
		assert.Equal(t, "catops", labels["app.kubernetes.io/name"])
	}

	assert.Equal(t, "RollingUpdate", string(ds.Spec.UpdateStrategy.Type))
	assert.Equal(t, ptr.To(intstr.FromInt32(1)), ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable)

	pod := r.pod()
	assert.Equal(t, "catops", pod.ServiceAccountName)
	assert.Equal(t, ptr.To(true), pod.AutomountServiceAccountToken)
	assert.Equal(t, []corev1.Toleration{{Operator: corev1.TolerationOpExists}}, pod.Tolerations, "every node, control plane included")
	assert.Equal(t, map[string]string{"kubernetes.io/os": "linux"}, pod.NodeSelector)
	assert.Empty(t, pod.PriorityClassName)
	assert.False(t, pod.HostNetwork || pod.HostPID || pod.HostIPC)
	assert.Equal(t, &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		RunAsUser:      ptr.To[int64](65534),
		RunAsGroup:     ptr.To[int64](65534),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}, pod.SecurityContext)

	c := r.container(t)
	assert.Equal(t, "ghcr.io/catops/cli/kubernetes-connector:"+appVersion, c.Image, "the tag defaults to appVersion")
	assert.Equal(t, corev1.PullIfNotPresent, c.ImagePullPolicy)
	assert.Equal(t, &corev1.SecurityContext{
		ReadOnlyRootFilesystem:   ptr.To(true),
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}, c.SecurityContext)
	assert.Equal(t, corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("48Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
	}, c.Resources)

	assert.Equal(t, []corev1.ContainerPort{{Name: "health", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}, c.Ports)
	require.NotNil(t, c.LivenessProbe)
	require.NotNil(t, c.ReadinessProbe)
	assert.Equal(t, &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("health")}, c.LivenessProbe.HTTPGet)
	assert.Equal(t, &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromString("health")}, c.ReadinessProbe.HTTPGet)

	assert.Equal(t, map[string]string{
		"NODE_NAME":                 "fieldRef:spec.nodeName",
		"NAMESPACE":                 "fieldRef:metadata.namespace",
		"CATOPS_BACKEND_URL":        "https://api.catops.io",
		"CATOPS_AUTH_TOKEN_FILE":    "/var/run/secrets/catops/token",
		"COLLECTION_INTERVAL":       "60",
		"CATOPS_LOG_LEVEL":          "info",
		"CATOPS_WIRE_FORMAT":        "delta",
		"CATOPS_HEALTH_ADDR":        ":8080",
		"CATOPS_POD_METRICS_SOURCE": "metrics-api", "CATOPS_THROTTLING_SOURCE": "cgroup",
		"HOST_PROC":  "/host/proc",
		"HOST_SYS":   "/host/sys",
		"HOST_ROOT":  "/host/root",
		"HOST_DEV":   "/host/dev",
		"GOMEMLIMIT": "resourceFieldRef:limits.memory",
	}, r.env(t), "the token only as a file, never in the environment")
	assert.Empty(t, c.EnvFrom)

	hostToContainer := corev1.MountPropagationHostToContainer
	assert.Equal(t, map[string]corev1.VolumeMount{
		"token":     {Name: "token", MountPath: "/var/run/secrets/catops", ReadOnly: true},
		"host-proc": {Name: "host-proc", MountPath: "/host/proc", ReadOnly: true},
		"host-sys":  {Name: "host-sys", MountPath: "/host/sys", ReadOnly: true},
		"host-root": {Name: "host-root", MountPath: "/host/root", ReadOnly: true, MountPropagation: &hostToContainer},
		"host-dev":  {Name: "host-dev", MountPath: "/host/dev", ReadOnly: true},
	}, r.mounts(t), "every mount read-only; the token as a directory (no subPath), so rotation reaches the file")
	vols := r.volumes()
	require.Len(t, vols, 5)
	assert.Equal(t, &corev1.SecretVolumeSource{SecretName: "catops", Items: []corev1.KeyToPath{{Key: "token", Path: "token"}}}, vols["token"].Secret)
	for name, path := range map[string]string{"host-proc": "/proc", "host-sys": "/sys", "host-root": "/", "host-dev": "/dev"} {
		require.NotNil(t, vols[name].HostPath, name)
		assert.Equal(t, path, vols[name].HostPath.Path)
	}

	assert.Equal(t, corev1.SecretTypeOpaque, r.secret.Type)
	assert.Equal(t, map[string][]byte{"token": []byte("XXX")}, r.secret.Data)
	assert.Regexp(t, `^[0-9a-f]{64}$`, ds.Spec.Template.Annotations["checksum/secret"])

	assert.Equal(t, ptr.To(true), r.serviceAccount.AutomountServiceAccountToken)
	assert.Equal(t, []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods", "nodes"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"metrics.k8s.io"}, Resources: []string{"pods", "nodes"}, Verbs: []string{"get", "list"}},
	}, r.clusterRole.Rules, "read-only, exactly what the agent calls: no secrets, no namespaces")
	assert.Equal(t, rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "catops-catops"}, r.clusterRoleBinding.RoleRef)
	assert.Equal(t, []rbacv1.Subject{{Kind: "ServiceAccount", Name: "catops", Namespace: namespace}}, r.clusterRoleBinding.Subjects)
}

func TestChangedTokenRollsThePods(t *testing.T) {
	sum := func(token string) string {
		return render(t, "--set", "auth.token="+token).daemonSet.Spec.Template.Annotations["checksum/secret"]
	}
	a := sum("token-a")
	assert.Equal(t, a, sum("token-a"), "same token, same pod template: an upgrade without changes rolls nothing")
	assert.NotEqual(t, a, sum("token-b"), "a new token changes the pod template, so `helm upgrade` rolls the pods")
}

func TestExistingSecret(t *testing.T) {
	r := render(t, "--set", "auth.existingSecret=my-catops", "--set", "auth.existingSecretKey=api-token")
	assert.Nil(t, r.secret, "no Secret: the token never passes through Helm")
	assert.NotContains(t, r.kinds, "Secret/catops")
	assert.Equal(t, &corev1.SecretVolumeSource{SecretName: "my-catops", Items: []corev1.KeyToPath{{Key: "api-token", Path: "token"}}}, r.volumes()["token"].Secret)
	assert.Equal(t, "/var/run/secrets/catops/token", r.env(t)["CATOPS_AUTH_TOKEN_FILE"])
	assert.NotContains(t, r.daemonSet.Spec.Template.Annotations, "checksum/secret", "the chart does not know the Secret's content")

	r = render(t, "--set", "auth.existingSecret=my-catops")
	assert.Equal(t, "token", r.volumes()["token"].Secret.Items[0].Key, "existingSecretKey defaults to token")
}

func TestMissingTokenFails(t *testing.T) {
	for _, args := range [][]string{nil, {"--set", "auth.token="}} {
		_, err := template(t, args...)
		require.Error(t, err, "installing without a token must fail")
		msg := err.Error()
		assert.Contains(t, msg, "A CatOps auth token is required")
		assert.Contains(t, msg, "--set auth.token=YOUR_TOKEN")
		assert.Contains(t, msg, "kubectl -n catops-system create secret generic catops --from-literal=token=YOUR_TOKEN")
		assert.Contains(t, msg, "--set auth.existingSecret=catops")
	}
}

func TestTokenAndExistingSecretBothFail(t *testing.T) {
	_, err := template(t, "--set", "auth.token=x", "--set", "auth.existingSecret=y")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "auth.token and auth.existingSecret are both set: use one")
}

// TestSchemaRejects: a misspelt, mistyped or out-of-range value fails the
// install with a message that names it.
func TestSchemaRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"misspelt top-level key", []string{"--set", "colection.interval=5"}, "additional properties 'colection' not allowed"},
		{"misspelt nested key", []string{"--set", "auth.tokn=x"}, "at '/auth': additional properties 'tokn' not allowed"},
		{"interval below 10", []string{"--set", "collection.interval=5"}, "at '/collection/interval': minimum: got 5, want 10"},
		{"interval not a duration", []string{"--set", "collection.interval=often"}, "at '/collection/interval'"},
		{"wire format", []string{"--set", "wireFormat=json"}, "at '/wireFormat': value must be one of 'delta', 'snapshot'"},
		{"log level", []string{"--set", "logLevel=verbose"}, "at '/logLevel'"},
		{"pull policy", []string{"--set", "image.pullPolicy=Sometimes"}, "at '/image/pullPolicy'"},
		{"health port", []string{"--set", "health.port=70000"}, "at '/health/port'"},
		{"host metrics not a boolean", []string{"--set", "hostMetrics.enabled=yes"}, "at '/hostMetrics/enabled'"},
		{"host mount switch not a boolean", []string{"--set", "hostMetrics.root.enabled=no"}, "at '/hostMetrics/root/enabled'"},
		{"host mount switch without enabled", []string{"--set", "hostMetrics.dev=false"}, "at '/hostMetrics/dev'"},
		{"host mount typo", []string{"--set", "hostMetrics.prc.enabled=false"}, "at '/hostMetrics': additional properties 'prc' not allowed"},
		{"root mount propagation typo", []string{"--set", "hostMetrics.root.mountPropagation=HostToContainr"}, "at '/hostMetrics/root/mountPropagation': value must be one of 'HostToContainer', 'None'"},
		{"root mount propagation Bidirectional", []string{"--set", "hostMetrics.root.mountPropagation=Bidirectional"}, "at '/hostMetrics/root/mountPropagation': value must be one of 'HostToContainer', 'None'"},
		{"backend URL without scheme", []string{"--set", "backend.url=api.catops.io"}, "at '/backend/url'"},
		{"resources typo", []string{"--set", "resources.limit.memory=1Gi"}, "at '/resources': additional properties 'limit' not allowed"},
		{"toleration typo", []string{"--set-json", `tolerations=[{"operater":"Exists"}]`}, "at '/tolerations/0': additional properties 'operater' not allowed"},
		{"maxUnavailable", []string{"--set", "updateStrategy.rollingUpdate.maxUnavailable=half"}, "at '/updateStrategy/rollingUpdate/maxUnavailable'"},
		{"extraEnv without name", []string{"--set-json", `extraEnv=[{"value":"x"}]`}, "at '/extraEnv/0'"},
		{"pod metrics source", []string{"--set", "podMetrics.source=cadvisor"}, "at '/podMetrics/source': value must be one of 'metrics-api', 'kubelet', 'none'"},
		{"kubelet skip-verify not a boolean", []string{"--set", "podMetrics.kubelet.insecureSkipVerify=yes"}, "at '/podMetrics/kubelet/insecureSkipVerify'"},
		{"kubelet typo", []string{"--set", "podMetrics.kubelet.caFile=/ca.crt"}, "at '/podMetrics/kubelet': additional properties 'caFile' not allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := template(t, append([]string{"--set", "auth.token=x"}, tc.args...)...)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "values don't meet the specifications of the schema")
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestValuesReachTheAgent(t *testing.T) {
	r := render(t,
		"--set", "auth.token=x",
		"--set", "backend.url=https://backend.example.com",
		"--set", "collection.interval=30s",
		"--set", "logLevel=debug",
		"--set", "wireFormat=snapshot",
		"--set", "health.port=9090",
		"--set", "image.repository=registry.example.com/catops",
		"--set", "image.tag=sha-abc1234",
		"--set", "image.pullPolicy=Always",
		"--set-json", `imagePullSecrets=[{"name":"regcred"}]`,
		"--set", "priorityClassName=system-node-critical",
		"--set", "updateStrategy.rollingUpdate.maxUnavailable=10%",
		"--set", "podAnnotations.example\\.com/team=infra",
		"--set", "podLabels.team=infra",
		"--set-json", `extraEnv=[{"name":"CATOPS_SNAPSHOT_INTERVAL","value":"5m"}]`,
		"--set-json", `affinity={"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"catops","operator":"NotIn","values":["off"]}]}]}}}`,
		"--set", "resources.limits.memory=200Mi",
	)
	env := r.env(t)
	assert.Equal(t, "https://backend.example.com", env["CATOPS_BACKEND_URL"])
	assert.Equal(t, "30s", env["COLLECTION_INTERVAL"])
	assert.Equal(t, "debug", env["CATOPS_LOG_LEVEL"])
	assert.Equal(t, "snapshot", env["CATOPS_WIRE_FORMAT"])
	assert.Equal(t, ":9090", env["CATOPS_HEALTH_ADDR"])
	assert.Equal(t, "5m", env["CATOPS_SNAPSHOT_INTERVAL"])
	c := r.container(t)
	assert.Equal(t, int32(9090), c.Ports[0].ContainerPort, "the probes follow the port by name")
	assert.Equal(t, "registry.example.com/catops:sha-abc1234", c.Image)
	assert.Equal(t, corev1.PullAlways, c.ImagePullPolicy)
	assert.Equal(t, resource.MustParse("200Mi"), c.Resources.Limits[corev1.ResourceMemory])
	pod := r.pod()
	assert.Equal(t, []corev1.LocalObjectReference{{Name: "regcred"}}, pod.ImagePullSecrets)
	assert.Equal(t, "system-node-critical", pod.PriorityClassName)
	require.NotNil(t, pod.Affinity)
	require.NotNil(t, pod.Affinity.NodeAffinity)
	assert.Equal(t, ptr.To(intstr.FromString("10%")), r.daemonSet.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable)
	assert.Equal(t, "infra", r.daemonSet.Spec.Template.Annotations["example.com/team"])
	assert.Contains(t, r.daemonSet.Spec.Template.Annotations, "checksum/secret", "podAnnotations add to the checksum")
	assert.Equal(t, "infra", r.daemonSet.Spec.Template.Labels["team"])
	assert.NotContains(t, r.daemonSet.Spec.Selector.MatchLabels, "team", "podLabels stay out of the immutable selector")

	// A number given as a string works too, as the agent takes both.
	r = render(t, "--set", "auth.token=x", "--set-string", "collection.interval=45")
	assert.Equal(t, "45", r.env(t)["COLLECTION_INTERVAL"])
}

// TestPodMetricsSources: each usage source gets exactly the RBAC rule it
// needs (least privilege) and the settings it reads.
func TestPodMetricsSources(t *testing.T) {
	core := rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods", "nodes"}, Verbs: []string{"get", "list", "watch"}}
	metricsAPI := rbacv1.PolicyRule{APIGroups: []string{"metrics.k8s.io"}, Resources: []string{"pods", "nodes"}, Verbs: []string{"get", "list"}}
	nodeMetrics := rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"nodes/metrics"}, Verbs: []string{"get"}}
	nodeMetricsAndStats := rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"nodes/metrics", "nodes/stats"}, Verbs: []string{"get"}}
	kubeletEnv := []string{"HOST_IP", "CATOPS_KUBELET_CA_FILE", "CATOPS_KUBELET_INSECURE_SKIP_VERIFY", "CATOPS_KUBELET_SUMMARY"}

	for _, tc := range []struct {
		source string
		rules  []rbacv1.PolicyRule
	}{
		{"metrics-api", []rbacv1.PolicyRule{core, metricsAPI}},
		{"kubelet", []rbacv1.PolicyRule{core, nodeMetricsAndStats}},
		{"none", []rbacv1.PolicyRule{core}},
	} {
		t.Run(tc.source, func(t *testing.T) {
			r := render(t, "--set", "auth.token=x", "--set", "podMetrics.source="+tc.source)
			assert.Equal(t, tc.rules, r.clusterRole.Rules, "no nodes/proxy, ever; nodes/metrics and nodes/stats only for the kubelet source")
			env := r.env(t)
			assert.Equal(t, tc.source, env["CATOPS_POD_METRICS_SOURCE"])
			if tc.source == "kubelet" {
				assert.Equal(t, "fieldRef:status.hostIP", env["HOST_IP"], "the address fallback when the Node has no InternalIP")
				assert.NotContains(t, env, "CATOPS_KUBELET_CA_FILE", "default: the cluster CA")
				assert.NotContains(t, env, "CATOPS_KUBELET_INSECURE_SKIP_VERIFY")
				assert.Equal(t, "true", env["CATOPS_KUBELET_SUMMARY"], "the summary by default")
				assert.Equal(t, "cgroup", env["CATOPS_THROTTLING_SOURCE"], "throttling from the cgroups by default")
				return
			}
			for _, k := range kubeletEnv {
				assert.NotContains(t, env, k)
			}
		})
	}

	// Without the summary: nodes/metrics only.
	r := render(t, "--set", "auth.token=x", "--set", "podMetrics.source=kubelet", "--set", "podMetrics.kubelet.summary=false", "--set", "podMetrics.throttling=cadvisor")
	assert.Equal(t, []rbacv1.PolicyRule{core, nodeMetrics}, r.clusterRole.Rules, "cadvisor needs nothing beyond nodes/metrics")
	assert.Equal(t, "false", r.env(t)["CATOPS_KUBELET_SUMMARY"])
	assert.Equal(t, "cadvisor", r.env(t)["CATOPS_THROTTLING_SOURCE"])

	// The kubelets' CA from a ConfigMap, mounted read-only.
	r = render(t, "--set", "auth.token=x", "--set", "podMetrics.source=kubelet",
		"--set", "podMetrics.kubelet.caConfigMap=kubelet-ca", "--set", "podMetrics.kubelet.caConfigMapKey=bundle.pem")
	assert.Equal(t, "/etc/catops/kubelet-ca/ca.crt", r.env(t)["CATOPS_KUBELET_CA_FILE"])
	assert.Equal(t, corev1.VolumeMount{Name: "kubelet-ca", MountPath: "/etc/catops/kubelet-ca", ReadOnly: true}, r.mounts(t)["kubelet-ca"])
	assert.Equal(t, &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "kubelet-ca"},
		Items: []corev1.KeyToPath{{Key: "bundle.pem", Path: "ca.crt"}}}, r.volumes()["kubelet-ca"].ConfigMap)

	// Skip-verify.
	r = render(t, "--set", "auth.token=x", "--set", "podMetrics.source=kubelet", "--set", "podMetrics.kubelet.insecureSkipVerify=true")
	assert.Equal(t, "true", r.env(t)["CATOPS_KUBELET_INSECURE_SKIP_VERIFY"])
	assert.NotContains(t, r.volumes(), "kubelet-ca")

	// Kubelet values do nothing for the other sources (the agent would
	// refuse them).
	r = render(t, "--set", "auth.token=x", "--set", "podMetrics.kubelet.caConfigMap=kubelet-ca", "--set", "podMetrics.kubelet.insecureSkipVerify=true")
	for _, k := range kubeletEnv {
		assert.NotContains(t, r.env(t), k)
	}
	assert.NotContains(t, r.volumes(), "kubelet-ca")

	_, err := template(t, "--set", "auth.token=x", "--set", "podMetrics.source=kubelet",
		"--set", "podMetrics.kubelet.caConfigMap=kubelet-ca", "--set", "podMetrics.kubelet.insecureSkipVerify=true")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "podMetrics.kubelet.caConfigMap and podMetrics.kubelet.insecureSkipVerify are both set")
}

// The throttling source: cgroup by default, none where the agent could not
// read it (no sys mount, no usage source), cadvisor only with the kubelet
// source; the user's own variable wins.
func TestThrottlingSource(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  []string
		want string
	}{
		{"default", nil, "cgroup"},
		{"metrics api, cgroup", []string{"podMetrics.source=metrics-api"}, "cgroup"},
		{"no usage source", []string{"podMetrics.source=none"}, "none"},
		{"no host mounts", []string{"hostMetrics.enabled=false"}, "none"},
		{"no sys mount", []string{"hostMetrics.sys.enabled=false"}, "none"},
		{"no host mounts, kubelet host source", []string{"hostMetrics.enabled=false", "podMetrics.source=kubelet"}, "none"},
		{"cadvisor without host mounts", []string{"hostMetrics.enabled=false", "podMetrics.source=kubelet", "podMetrics.throttling=cadvisor"}, "cadvisor"},
		{"asked for none", []string{"podMetrics.throttling=none"}, "none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"--set", "auth.token=x"}
			for _, s := range tc.set {
				args = append(args, "--set", s)
			}
			assert.Equal(t, tc.want, render(t, args...).env(t)["CATOPS_THROTTLING_SOURCE"])
		})
	}

	r := render(t, "--set", "auth.token=x", "--set-json", `extraEnv=[{"name":"CATOPS_THROTTLING_SOURCE","value":"none"}]`)
	assert.Equal(t, "none", r.env(t)["CATOPS_THROTTLING_SOURCE"], "extraEnv's, once")

	_, err := template(t, "--set", "auth.token=x", "--set", "podMetrics.throttling=cadvisor")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "podMetrics.throttling=cadvisor reads the kubelets' /metrics/cadvisor, which needs podMetrics.source=kubelet (it is metrics-api)")
	_, err = template(t, "--set", "auth.token=x", "--set", "podMetrics.throttling=kubelet")
	require.Error(t, err, "the schema lists the sources")
	_, err = template(t, "--set", "auth.token=x", "--set", "podMetrics.kubelet.throttling=true")
	require.Error(t, err, "the retired switch, on, is refused with the fix")
	assert.Contains(t, err.Error(), "podMetrics.kubelet.throttling was replaced by podMetrics.throttling: set podMetrics.throttling=cadvisor")
	// Off (a release installed by the earlier chart, upgraded with
	// --reuse-values): ignored, the default applies.
	assert.Equal(t, "cgroup", render(t, "--set", "auth.token=x", "--set", "podMetrics.kubelet.throttling=false").env(t)["CATOPS_THROTTLING_SOURCE"])
}

func TestCustomTolerationsReplaceTheDefault(t *testing.T) {
	r := render(t, "--set", "auth.token=x", "--set-json",
		`tolerations=[{"key":"dedicated","operator":"Equal","value":"monitoring","effect":"NoSchedule"}]`)
	assert.Equal(t, []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "monitoring", Effect: corev1.TaintEffectNoSchedule}},
		r.pod().Tolerations, "the list replaces the default, not adds to it")

	r = render(t, "--set", "auth.token=x", "--set-json", "tolerations=[]")
	assert.Empty(t, r.pod().Tolerations, "an empty list: no tolerations at all")
}

func TestRBACCreateFalse(t *testing.T) {
	r := render(t, "--set", "auth.token=x", "--set", "rbac.create=false")
	assert.Nil(t, r.clusterRole)
	assert.Nil(t, r.clusterRoleBinding)
	assert.NotNil(t, r.serviceAccount, "the ServiceAccount is still created")
	assert.Nil(t, r.reporter.clusterRole, "nor the cluster reporter's RBAC")
	assert.Nil(t, r.reporter.clusterRoleBinding)
	assert.Nil(t, r.reporter.role)
	assert.Nil(t, r.reporter.roleBinding)
	assert.ElementsMatch(t, []string{"ServiceAccount/catops", "Secret/catops", "DaemonSet/catops",
		"ServiceAccount/catops-cluster", "Deployment/catops-cluster"}, r.kinds)
}

func TestServiceAccountCreateFalse(t *testing.T) {
	r := render(t, "--set", "auth.token=x", "--set", "serviceAccount.create=false", "--set", "serviceAccount.name=platform-agents")
	assert.Nil(t, r.serviceAccount)
	assert.Equal(t, "platform-agents", r.pod().ServiceAccountName)
	assert.Equal(t, []rbacv1.Subject{{Kind: "ServiceAccount", Name: "platform-agents", Namespace: namespace}}, r.clusterRoleBinding.Subjects,
		"the ClusterRole is bound to the account the pods run as")

	r = render(t, "--set", "auth.token=x", "--set", "serviceAccount.create=false")
	assert.Equal(t, "default", r.pod().ServiceAccountName)

	r = render(t, "--set", "auth.token=x", "--set", "serviceAccount.name=custom", "--set", "serviceAccount.annotations.example\\.com/role=agent")
	assert.Equal(t, "custom", r.serviceAccount.Name)
	assert.Equal(t, map[string]string{"example.com/role": "agent"}, r.serviceAccount.Annotations)
	assert.Equal(t, "custom", r.pod().ServiceAccountName)
}

// TestHostMounts: each of the node's directories is mounted on its own
// switch, hostMetrics.enabled=false mounts none, and a HOST_* variable is
// set only when its directory is mounted (unset, the agent reads the
// container's own, its default).
func TestHostMounts(t *testing.T) {
	type hostMount struct{ env, mountPath, hostPath string }
	known := map[string]hostMount{
		"host-proc": {"HOST_PROC", "/host/proc", "/proc"},
		"host-sys":  {"HOST_SYS", "/host/sys", "/sys"},
		"host-root": {"HOST_ROOT", "/host/root", "/"},
		"host-dev":  {"HOST_DEV", "/host/dev", "/dev"},
	}
	all := []string{"host-proc", "host-sys", "host-root", "host-dev"}
	set := func(kv ...string) []string {
		var args []string
		for _, s := range kv {
			args = append(args, "--set", s)
		}
		return args
	}
	hostToContainer := corev1.MountPropagationHostToContainer
	none := corev1.MountPropagationNone

	for _, tc := range []struct {
		name        string
		args        []string
		want        []string                     // hostPath volumes, in order
		propagation *corev1.MountPropagationMode // of host-root
	}{
		{"defaults: every mount", nil, all, &hostToContainer},
		{"master switch off", set("hostMetrics.enabled=false"), nil, nil},
		{"master switch off wins over the mounts' own", set("hostMetrics.enabled=false", "hostMetrics.proc.enabled=true",
			"hostMetrics.sys.enabled=true", "hostMetrics.root.enabled=true", "hostMetrics.dev.enabled=true"), nil, nil},
		{"no /proc", set("hostMetrics.proc.enabled=false"), []string{"host-sys", "host-root", "host-dev"}, &hostToContainer},
		{"no /sys", set("hostMetrics.sys.enabled=false"), []string{"host-proc", "host-root", "host-dev"}, &hostToContainer},
		{"no root", set("hostMetrics.root.enabled=false"), []string{"host-proc", "host-sys", "host-dev"}, nil},
		{"no /dev", set("hostMetrics.dev.enabled=false"), []string{"host-proc", "host-sys", "host-root"}, &hostToContainer},
		{"root without propagation", set("hostMetrics.root.mountPropagation=None"), all, &none},
		{"every mount off, master switch on", set("hostMetrics.proc.enabled=false", "hostMetrics.sys.enabled=false",
			"hostMetrics.root.enabled=false", "hostMetrics.dev.enabled=false"), nil, nil},
		// `helm upgrade --reuse-values` from a chart without the mounts'
		// switches keeps that chart's values, where they are missing.
		{"switches missing: every mount", set("hostMetrics.proc=null", "hostMetrics.sys=null", "hostMetrics.root=null", "hostMetrics.dev=null"),
			all, &hostToContainer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := render(t, append([]string{"--set", "auth.token=x"}, tc.args...)...)
			var hostVolumes []string
			for _, v := range r.pod().Volumes {
				if v.HostPath == nil {
					continue
				}
				hostVolumes = append(hostVolumes, v.Name)
				m, ok := known[v.Name]
				require.True(t, ok, "unexpected hostPath volume %s", v.Name)
				assert.Equal(t, &corev1.HostPathVolumeSource{Path: m.hostPath, Type: ptr.To(corev1.HostPathDirectory)}, v.HostPath)
			}
			assert.Equal(t, tc.want, hostVolumes)

			env, mounts := r.env(t), r.mounts(t)
			wantMounts := []string{"token"}
			for name, m := range known {
				if !slices.Contains(tc.want, name) {
					assert.NotContains(t, env, m.env, "%s not mounted: the agent's default, the container's own", name)
					continue
				}
				wantMounts = append(wantMounts, name)
				assert.Equal(t, m.mountPath, env[m.env])
				var propagation *corev1.MountPropagationMode
				if name == "host-root" {
					propagation = tc.propagation
				}
				assert.Equal(t, corev1.VolumeMount{Name: name, MountPath: m.mountPath, ReadOnly: true, MountPropagation: propagation}, mounts[name])
			}
			assert.ElementsMatch(t, wantMounts, slices.Collect(maps.Keys(mounts)))
		})
	}
}

// TestHostSourceWithoutHostMounts: with the host mounts off and the
// kubelet summary read anyway, the agent takes the node's figures from it
// (CATOPS_HOST_SOURCE=kubelet) and the pod has no hostPath volume; with
// another usage source, or the summary off, it keeps the container's view
// (the agent's default, no variable); with the mounts on, /proc.
func TestHostSourceWithoutHostMounts(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string // CATOPS_HOST_SOURCE; "": not set (proc)
	}{
		{"mounts off, kubelet summary", []string{"--set", "hostMetrics.enabled=false", "--set", "podMetrics.source=kubelet"}, "kubelet"},
		{"mounts off, kubelet summary, mount switches on", []string{"--set", "hostMetrics.enabled=false", "--set", "podMetrics.source=kubelet",
			"--set", "hostMetrics.proc.enabled=true"}, "kubelet"},
		{"mounts off, kubelet without its summary", []string{"--set", "hostMetrics.enabled=false", "--set", "podMetrics.source=kubelet",
			"--set", "podMetrics.kubelet.summary=false"}, ""},
		{"mounts off, Metrics API", []string{"--set", "hostMetrics.enabled=false"}, ""},
		{"mounts off, no usage", []string{"--set", "hostMetrics.enabled=false", "--set", "podMetrics.source=none"}, ""},
		{"mounts on, kubelet summary", []string{"--set", "podMetrics.source=kubelet"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := render(t, append([]string{"--set", "auth.token=x"}, tc.args...)...)
			env := r.env(t)
			if tc.want == "" {
				assert.NotContains(t, env, "CATOPS_HOST_SOURCE")
			} else {
				assert.Equal(t, tc.want, env["CATOPS_HOST_SOURCE"])
			}
			if tc.want == "kubelet" {
				for _, v := range r.pod().Volumes {
					assert.Nil(t, v.HostPath, "volume %s: no hostPath without host mounts", v.Name)
				}
				for _, k := range []string{"HOST_PROC", "HOST_SYS", "HOST_ROOT", "HOST_DEV"} {
					assert.NotContains(t, env, k, "the agent refuses a host path with the kubelet host source")
				}
				assert.Equal(t, "true", env["CATOPS_KUBELET_SUMMARY"])
				assert.Contains(t, r.clusterRole.Rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"nodes/metrics", "nodes/stats"}, Verbs: []string{"get"}},
					"the summary the host figures come from is granted")
			}
		})
	}

	// extraEnv wins: the chart leaves the variable to it.
	r := render(t, "--set", "auth.token=x", "--set", "hostMetrics.enabled=false", "--set", "podMetrics.source=kubelet",
		"--set-json", `extraEnv=[{"name":"CATOPS_HOST_SOURCE","value":"proc"}]`)
	assert.Equal(t, "proc", r.env(t)["CATOPS_HOST_SOURCE"])
}

func TestOtherReleaseName(t *testing.T) {
	out, err := runHelm(t, "template", "monitoring", chartDir(t), "--namespace", "ops", "--set", "auth.token=x")
	require.NoError(t, err)
	r := decode(t, out)
	assert.ElementsMatch(t, []string{
		"ServiceAccount/monitoring-catops", "Secret/monitoring-catops", "ClusterRole/monitoring-catops",
		"ClusterRoleBinding/monitoring-catops", "DaemonSet/monitoring-catops",
		"Deployment/monitoring-catops-cluster", "ServiceAccount/monitoring-catops-cluster", "ClusterRole/monitoring-catops-cluster",
		"ClusterRoleBinding/monitoring-catops-cluster", "Role/monitoring-catops-cluster", "RoleBinding/monitoring-catops-cluster",
	}, r.kinds)
	assert.Equal(t, "monitoring", r.daemonSet.Spec.Selector.MatchLabels["app.kubernetes.io/instance"])
	assert.Equal(t, "monitoring-catops", r.volumes()["token"].Secret.SecretName)
	assert.Equal(t, []rbacv1.Subject{{Kind: "ServiceAccount", Name: "monitoring-catops", Namespace: "ops"}}, r.clusterRoleBinding.Subjects)
	assert.Equal(t, "monitoring", r.reporter.deployment.Spec.Selector.MatchLabels["app.kubernetes.io/instance"])
	assert.Equal(t, "monitoring-catops-cluster", r.reporterEnv(t)["CATOPS_LEASE_NAME"])
	assert.Equal(t, []string{"monitoring-catops-cluster"}, r.reporter.role.Rules[1].ResourceNames)
	assert.Equal(t, []rbacv1.Subject{{Kind: "ServiceAccount", Name: "monitoring-catops-cluster", Namespace: "ops"}}, r.reporter.clusterRoleBinding.Subjects)
	assert.Equal(t, []rbacv1.Subject{{Kind: "ServiceAccount", Name: "monitoring-catops-cluster", Namespace: "ops"}}, r.reporter.roleBinding.Subjects)

	// The longest release name Helm takes (53) plus a long nameOverride:
	// names are cut to Kubernetes' 63 characters.
	long := strings.Repeat("x", 53)
	out, err = runHelm(t, "template", long, chartDir(t), "--set", "auth.token=x", "--set", "nameOverride=catops-node-connector")
	require.NoError(t, err)
	r = decode(t, out)
	for _, k := range r.kinds {
		name := k[strings.Index(k, "/")+1:]
		assert.LessOrEqual(t, len(name), 63, k)
	}
	// The reporter's names keep their suffix, so they never equal the
	// agents' (the Lease's name is the Role's resourceNames).
	assert.True(t, strings.HasSuffix(r.reporter.deployment.Name, "-cluster"), r.reporter.deployment.Name)
	assert.NotEqual(t, r.daemonSet.Name, r.reporter.deployment.Name)
	assert.NotEqual(t, r.clusterRole.Name, r.reporter.clusterRole.Name)
	assert.Equal(t, r.reporter.deployment.Name, r.reporterEnv(t)["CATOPS_LEASE_NAME"])
	assert.Equal(t, []string{r.reporter.deployment.Name}, r.reporter.role.Rules[1].ResourceNames)

	// Label values are at most 63 characters too, the reporter's name label
	// (<name>-cluster) with the longest nameOverride included.
	out, err = runHelm(t, "template", long, chartDir(t), "--set", "auth.token=x", "--set", "nameOverride="+strings.Repeat("n", 63))
	require.NoError(t, err)
	r = decode(t, out)
	for _, labels := range []map[string]string{r.daemonSet.Spec.Template.Labels, r.reporter.deployment.Spec.Template.Labels} {
		for k, v := range labels {
			assert.LessOrEqual(t, len(v), 63, "label %s=%s", k, v)
		}
	}
	assert.NotEqual(t, r.daemonSet.Spec.Template.Labels["app.kubernetes.io/name"], r.reporter.deployment.Spec.Template.Labels["app.kubernetes.io/name"])
}

// TestReadmeDocumentsEveryValue: every value of values.yaml has a row in the
// README's table, and every row names a value that exists.
func TestReadmeDocumentsEveryValue(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(chartDir(t), "README.md"))
	require.NoError(t, err)
	_, section, found := strings.Cut(string(data), "\n## Values\n")
	require.True(t, found, "no '## Values' section in the chart README")
	section, _, _ = strings.Cut(section, "\n## ")
	documented := map[string]bool{}
	row := regexp.MustCompile("(?m)^\\| `([A-Za-z0-9_.]+)` \\|")
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		documented[m[1]] = true
	}
	require.NotEmpty(t, documented, "no values table in the chart README")

	var leaves, all []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if prefix != "" {
			all = append(all, prefix)
		}
		if m, ok := v.(map[string]any); ok && len(m) > 0 {
			for k, sub := range m {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				walk(p, sub)
			}
			return
		}
		leaves = append(leaves, prefix)
	}
	walk("", yamlFile(t, "values.yaml"))
	sort.Strings(leaves)
	for _, leaf := range leaves {
		ok := false
		for p := leaf; p != ""; {
			if documented[p] {
				ok = true
				break
			}
			i := strings.LastIndex(p, ".")
			if i < 0 {
				break
			}
			p = p[:i]
		}
		assert.True(t, ok, "value %s is not in the README's table", leaf)
	}
	for key := range documented {
		assert.Contains(t, all, key, "the README documents %s, which values.yaml does not have", key)
	}
}

// TestGoMemLimitFollowsTheMemoryLimit: GOMEMLIMIT comes from the container's
// memory limit (the Go runtime collects harder before the kernel would kill
// it), and is not set when there is no limit.
func TestGoMemLimitFollowsTheMemoryLimit(t *testing.T) {
	env := render(t, "--set", "auth.token=x").env(t)
	assert.Equal(t, "resourceFieldRef:limits.memory", env["GOMEMLIMIT"])
	env = render(t, "--set", "auth.token=x", "--set", "resources.limits=null").env(t)
	assert.NotContains(t, env, "GOMEMLIMIT", "no limit, no GOMEMLIMIT")
	// extraEnv wins, without a duplicate name (env() fails on duplicates;
	// server-side apply refuses them).
	env = render(t, "--set", "auth.token=x", "--set-json", `extraEnv=[{"name":"GOMEMLIMIT","value":"100MiB"},{"name":"CATOPS_POD_METRICS_SOURCE","value":"none"}]`).env(t)
	assert.Equal(t, "100MiB", env["GOMEMLIMIT"])
	assert.Equal(t, "none", env["CATOPS_POD_METRICS_SOURCE"])
}
