package chart

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// The cluster reporter: a Deployment running `catops-k8s cluster` beside the
// node agents' DaemonSet, with its own ServiceAccount, a read-only
// ClusterRole and a Role on its leader-election Lease.

// reporterMounts and reporterVolumes are the reporter's, by name.
func (r *rendered) reporterMounts(t testing.TB) map[string]corev1.VolumeMount {
	t.Helper()
	m := map[string]corev1.VolumeMount{}
	for _, vm := range r.reporterContainer(t).VolumeMounts {
		m[vm.Name] = vm
	}
	return m
}

func (r *rendered) reporterVolumes(t testing.TB) map[string]corev1.Volume {
	t.Helper()
	m := map[string]corev1.Volume{}
	for _, v := range r.reporterPod(t).Volumes {
		m[v.Name] = v
	}
	return m
}

// agentDocs is helm template's output without the cluster reporter's
// documents (those of templates/cluster-*.yaml), in order.
func agentDocs(out string) []string {
	var docs []string
	for _, doc := range strings.Split(out, "\n---\n") {
		doc = strings.TrimSpace(strings.TrimPrefix(doc, "---\n"))
		if strings.HasPrefix(doc, "# Source: catops/templates/cluster-") {
			continue
		}
		docs = append(docs, doc)
	}
	return docs
}

func TestClusterReporterDefaults(t *testing.T) {
	r := render(t, "--set", "auth.token=XXX")
	ro := r.reporter
	appVersion := yamlFile(t, "Chart.yaml")["appVersion"].(string)
	require.NotNil(t, ro.deployment)
	require.NotNil(t, ro.serviceAccount)
	require.NotNil(t, ro.clusterRole)
	require.NotNil(t, ro.clusterRoleBinding)
	require.NotNil(t, ro.role)
	require.NotNil(t, ro.roleBinding)

	// Names: <fullname>-cluster, the ClusterRole <release>-<chart>-cluster.
	d := ro.deployment
	assert.Equal(t, "catops-cluster", d.Name)
	assert.Equal(t, "catops-cluster", ro.serviceAccount.Name)
	assert.Equal(t, "catops-catops-cluster", ro.clusterRole.Name)
	assert.Equal(t, "catops-catops-cluster", ro.clusterRoleBinding.Name)
	assert.Equal(t, "catops-cluster", ro.role.Name)
	assert.Equal(t, "catops-cluster", ro.roleBinding.Name)
	for _, ns := range []string{d.Namespace, ro.serviceAccount.Namespace, ro.role.Namespace, ro.roleBinding.Namespace} {
		assert.Equal(t, namespace, ns)
	}

	// Labels: the chart's, with the component; the name label is the
	// reporter's own, so that neither workload's selector matches the
	// other's pods (the DaemonSet's selector is immutable: name and
	// instance only).
	selector := map[string]string{
		"app.kubernetes.io/name":      "catops-cluster",
		"app.kubernetes.io/instance":  release,
		"app.kubernetes.io/component": "cluster-reporter",
	}
	assert.Equal(t, selector, d.Spec.Selector.MatchLabels)
	podLabels := d.Spec.Template.Labels
	for _, l := range []map[string]string{d.Labels, podLabels, ro.serviceAccount.Labels, ro.clusterRole.Labels,
		ro.clusterRoleBinding.Labels, ro.role.Labels, ro.roleBinding.Labels} {
		for k, v := range selector {
			assert.Equal(t, v, l[k], k)
		}
		assert.Equal(t, "catops-"+appVersion, l["helm.sh/chart"])
		assert.Equal(t, "Helm", l["app.kubernetes.io/managed-by"])
		assert.Equal(t, "catops", l["app.kubernetes.io/part-of"])
		assert.Equal(t, appVersion, l["app.kubernetes.io/version"])
	}
	dsSelector, err := metav1.LabelSelectorAsSelector(r.daemonSet.Spec.Selector)
	require.NoError(t, err)
	reporterSelector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	require.NoError(t, err)
	assert.True(t, reporterSelector.Matches(labels.Set(podLabels)), "the Deployment's selector matches its pods")
	assert.False(t, dsSelector.Matches(labels.Set(podLabels)), "the DaemonSet's selector must not match the reporter's pods")
	assert.False(t, reporterSelector.Matches(labels.Set(r.daemonSet.Spec.Template.Labels)), "the reporter's selector must not match the agents' pods")
	assert.False(t, labels.SelectorFromSet(labels.Set{"app.kubernetes.io/name": "catops"}).Matches(labels.Set(podLabels)),
		"`kubectl get pods -l app.kubernetes.io/name=catops` (the docs, the e2e and install tests) lists the agents only")

	// Replicas and a rollout that always keeps a leader candidate.
	assert.Equal(t, ptr.To[int32](2), d.Spec.Replicas)
	assert.Equal(t, "RollingUpdate", string(d.Spec.Strategy.Type))
	require.NotNil(t, d.Spec.Strategy.RollingUpdate)
	assert.Equal(t, ptr.To(intstr.FromInt32(0)), d.Spec.Strategy.RollingUpdate.MaxUnavailable)
	assert.Equal(t, ptr.To(intstr.FromInt32(1)), d.Spec.Strategy.RollingUpdate.MaxSurge)

	pod := r.reporterPod(t)
	assert.Equal(t, "catops-cluster", pod.ServiceAccountName, "its own account, not the agents'")
	assert.Equal(t, ptr.To(true), pod.AutomountServiceAccountToken)
	require.NotNil(t, pod.TerminationGracePeriodSeconds)
	assert.GreaterOrEqual(t, *pod.TerminationGracePeriodSeconds, int64(20), "room for the 10 s final flush (CATOPS_SHUTDOWN_TIMEOUT) and the Lease's release")
	assert.False(t, pod.HostNetwork || pod.HostPID || pod.HostIPC)
	assert.Equal(t, r.pod().SecurityContext, pod.SecurityContext, "the agents' pod security context: non-root, seccomp RuntimeDefault")
	assert.Equal(t, &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		RunAsUser:      ptr.To[int64](65534),
		RunAsGroup:     ptr.To[int64](65534),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}, pod.SecurityContext)
	assert.Equal(t, map[string]string{"kubernetes.io/os": "linux"}, pod.NodeSelector)
	assert.Empty(t, pod.Tolerations, "not the agents' tolerate-everything: off tainted nodes")
	assert.Empty(t, pod.PriorityClassName)
	assert.Equal(t, &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
			Weight: 100,
			PodAffinityTerm: corev1.PodAffinityTerm{
				TopologyKey:   "kubernetes.io/hostname",
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/component": "cluster-reporter"}},
			},
		}},
	}}, pod.Affinity, "the replicas preferably on different nodes")
	antiAffinity, err := metav1.LabelSelectorAsSelector(pod.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm.LabelSelector)
	require.NoError(t, err)
	assert.True(t, antiAffinity.Matches(labels.Set(podLabels)), "the anti-affinity selects the reporter's own pods")
	assert.False(t, antiAffinity.Matches(labels.Set(r.daemonSet.Spec.Template.Labels)), "and not the agents'")

	c := r.reporterContainer(t)
	agent := r.container(t)
	assert.Equal(t, agent.Image, c.Image, "the same image as the agents")
	assert.Equal(t, "ghcr.io/catops/cli/kubernetes-connector:"+appVersion, c.Image)
	assert.Equal(t, agent.ImagePullPolicy, c.ImagePullPolicy)
	assert.Empty(t, c.Command, "the image's entrypoint, catops-k8s")
	assert.Equal(t, []string{"cluster"}, c.Args)
	assert.Equal(t, agent.SecurityContext, c.SecurityContext)
	assert.Equal(t, &corev1.SecurityContext{
		ReadOnlyRootFilesystem:   ptr.To(true),
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}, c.SecurityContext)
	assert.Equal(t, corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("48Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
	}, c.Resources)
	assert.Equal(t, agent.Ports, c.Ports)
	assert.Equal(t, agent.LivenessProbe, c.LivenessProbe, "/healthz as the agents'")
	assert.Equal(t, agent.ReadinessProbe, c.ReadinessProbe, "/readyz as the agents'")
	assert.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path)
	assert.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)

	assert.Equal(t, map[string]string{
		"POD_NAME":               "fieldRef:metadata.name",
		"NAMESPACE":              "fieldRef:metadata.namespace",
		"CATOPS_BACKEND_URL":     "https://api.catops.io",
		"CATOPS_AUTH_TOKEN_FILE": "/var/run/secrets/catops/token",
		"COLLECTION_INTERVAL":    "60",
		"CATOPS_LOG_LEVEL":       "info",
		"CATOPS_HEALTH_ADDR":     ":8080",
		"CATOPS_LEASE_NAME":      "catops-cluster",
		"CATOPS_LEASE_DURATION":  "15s",
		"CATOPS_RENEW_DEADLINE":  "10s",
		"CATOPS_RETRY_PERIOD":    "2s",
		"GOMEMLIMIT":             "resourceFieldRef:limits.memory",
	}, r.reporterEnv(t), "no CATOPS_CLUSTER_NAME without cluster.name; the token only as a file")
	assert.Empty(t, c.EnvFrom)

	// The token mounted as the agents', and nothing of the node's.
	assert.Equal(t, map[string]corev1.VolumeMount{
		"token": {Name: "token", MountPath: "/var/run/secrets/catops", ReadOnly: true},
	}, r.reporterMounts(t))
	vols := r.reporterVolumes(t)
	assert.Equal(t, map[string]corev1.Volume{"token": r.volumes()["token"]}, vols)
	assert.Equal(t, &corev1.SecretVolumeSource{SecretName: "catops", Items: []corev1.KeyToPath{{Key: "token", Path: "token"}}}, vols["token"].Secret)
	assert.Equal(t, r.daemonSet.Spec.Template.Annotations["checksum/secret"], d.Spec.Template.Annotations["checksum/secret"],
		"a new token rolls the reporter too")
	assert.Regexp(t, `^[0-9a-f]{64}$`, d.Spec.Template.Annotations["checksum/secret"])

	assert.Equal(t, ptr.To(true), ro.serviceAccount.AutomountServiceAccountToken)

	// RBAC: read-only list and watch of the view, cluster-wide.
	assert.Equal(t, []rbacv1.PolicyRule{
		{APIGroups: []string{"apps"}, Resources: []string{"deployments", "statefulsets", "daemonsets"}, Verbs: []string{"list", "watch"}},
		{APIGroups: []string{"batch"}, Resources: []string{"jobs", "cronjobs"}, Verbs: []string{"list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"pods", "namespaces", "nodes", "events"}, Verbs: []string{"list", "watch"}},
	}, ro.clusterRole.Rules)
	for _, rule := range ro.clusterRole.Rules {
		for _, v := range rule.Verbs {
			assert.Contains(t, []string{"list", "watch"}, v, "the reporter's ClusterRole grants %s: no write verb, no get", v)
		}
		for _, res := range rule.Resources {
			assert.NotContains(t, []string{"secrets", "configmaps", "*"}, res, "no secrets, no configmaps, no wildcard")
			assert.NotContains(t, res, "/", "no subresource (%s)", res)
		}
		assert.NotContains(t, rule.APIGroups, "*")
		assert.Empty(t, rule.NonResourceURLs)
	}
	assert.Equal(t, rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "catops-catops-cluster"}, ro.clusterRoleBinding.RoleRef)
	assert.Equal(t, []rbacv1.Subject{{Kind: "ServiceAccount", Name: "catops-cluster", Namespace: namespace}}, ro.clusterRoleBinding.Subjects)

	// The Lease: create (cannot be limited by name), get and update of its
	// name only, in the release namespace; no delete, list, watch, patch.
	lease := r.reporterEnv(t)["CATOPS_LEASE_NAME"]
	assert.Equal(t, []rbacv1.PolicyRule{
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"create"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, ResourceNames: []string{lease}, Verbs: []string{"get", "update"}},
	}, ro.role.Rules)
	for _, rule := range ro.role.Rules {
		if len(rule.ResourceNames) == 0 {
			assert.Equal(t, []string{"create"}, rule.Verbs, "only create is not limited to the Lease's name")
		}
	}
	assert.Equal(t, rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "catops-cluster"}, ro.roleBinding.RoleRef)
	assert.Equal(t, []rbacv1.Subject{{Kind: "ServiceAccount", Name: "catops-cluster", Namespace: namespace}}, ro.roleBinding.Subjects)
}

// TestClusterReporterDisabled: cluster.enabled=false renders none of the
// reporter's objects, and the agents' objects, to the byte, as with it on;
// a release of a chart without the reporter, upgraded with --reuse-values
// (cluster missing from its values), gets none either.
func TestClusterReporterDisabled(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"defaults", []string{"--set", "auth.token=x"}},
		{"existing Secret", []string{"--set", "auth.existingSecret=mine", "--set", "auth.existingSecretKey=key"}},
		{"backend CA, client certificate, proxy", []string{"--set", "auth.token=x", "--set", "backend.caConfigMap=ca",
			"--set", "backend.clientCertSecret=tls", "--set", "proxy.httpsProxy=http://proxy:3128", "--set", "proxy.noProxy=.corp"}},
		{"kubelet source, proxy from extraEnv", []string{"--set", "auth.token=x", "--set", "podMetrics.source=kubelet",
			"--set-json", `extraEnv=[{"name":"HTTPS_PROXY","value":"http://proxy:3128"}]`}},
		{"no RBAC, no ServiceAccount", []string{"--set", "auth.token=x", "--set", "rbac.create=false", "--set", "serviceAccount.create=false"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			on, err := template(t, tc.args...)
			require.NoError(t, err)
			off, err := template(t, append(slices.Clone(tc.args), "--set", "cluster.enabled=false")...)
			require.NoError(t, err)
			assert.NotContains(t, off, "cluster-reporter")
			assert.NotContains(t, off, "# Source: catops/templates/cluster-")
			assert.Equal(t, agentDocs(on), agentDocs(off), "the agents' manifests are the same with the reporter on and off")

			rOn, rOff := decode(t, on), decode(t, off)
			assert.Equal(t, reporterObjects{}, rOff.reporter, "no reporter object")
			for _, k := range rOff.kinds {
				assert.NotContains(t, k, "-cluster")
			}
			assert.Equal(t, rOff.daemonSet, rOn.daemonSet)
			assert.Equal(t, rOff.serviceAccount, rOn.serviceAccount, "the agents' ServiceAccount is unchanged")
			assert.Equal(t, rOff.clusterRole, rOn.clusterRole, "the agents' ClusterRole is unchanged")
			assert.Equal(t, rOff.clusterRoleBinding, rOn.clusterRoleBinding)
			assert.Equal(t, rOff.secret, rOn.secret)

			missing, err := template(t, append(slices.Clone(tc.args), "--set", "cluster=null")...)
			require.NoError(t, err)
			assert.Equal(t, off, missing, "cluster missing from the values: off")
		})
	}

	// The agents' RBAC stays what they need, whatever the reporter gets.
	r := render(t, "--set", "auth.token=x")
	assert.Equal(t, []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods", "nodes"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"metrics.k8s.io"}, Resources: []string{"pods", "nodes"}, Verbs: []string{"get", "list"}},
	}, r.clusterRole.Rules)
	assert.Equal(t, []rbacv1.Subject{{Kind: "ServiceAccount", Name: "catops", Namespace: namespace}}, r.clusterRoleBinding.Subjects)
	assert.Equal(t, "catops", r.pod().ServiceAccountName)
}

// TestClusterReporterValues: the cluster values reach the Deployment, and
// the backend settings reach it as they reach the agents.
func TestClusterReporterValues(t *testing.T) {
	r := render(t, "--set", "auth.token=x",
		"--set", "cluster.replicas=3",
		"--set", "cluster.name=prod-eu-1",
		"--set", "cluster.leaseDuration=30s", "--set-string", "cluster.renewDeadline=20", "--set", "cluster.retryPeriod=1500ms",
		"--set", "cluster.priorityClassName=system-cluster-critical",
		"--set-json", `cluster.tolerations=[{"key":"dedicated","operator":"Equal","value":"ops","effect":"NoSchedule"}]`,
		"--set-json", `cluster.nodeSelector={"pool":"system"}`,
		"--set-json", `cluster.affinity={"podAntiAffinity":null}`,
		"--set", "cluster.podAnnotations.example\\.com/team=ops",
		"--set", "cluster.podLabels.team=ops",
		"--set", "cluster.resources.limits.memory=256Mi", "--set", "cluster.resources.requests.cpu=20m",
		"--set-json", `cluster.extraEnv=[{"name":"CATOPS_SHUTDOWN_TIMEOUT","value":"20s"}]`,
		"--set-json", `extraEnv=[{"name":"CATOPS_SNAPSHOT_INTERVAL","value":"5m"}]`,
		"--set", "health.port=9090", "--set", "logLevel=debug", "--set", "collection.interval=30s",
		"--set", "image.tag=9.9.9", "--set-json", `imagePullSecrets=[{"name":"regcred"}]`,
	)
	d := r.reporter.deployment
	assert.Equal(t, ptr.To[int32](3), d.Spec.Replicas)
	env := r.reporterEnv(t)
	assert.Equal(t, "prod-eu-1", env["CATOPS_CLUSTER_NAME"])
	assert.Equal(t, "30s", env["CATOPS_LEASE_DURATION"])
	assert.Equal(t, "20", env["CATOPS_RENEW_DEADLINE"])
	assert.Equal(t, "1500ms", env["CATOPS_RETRY_PERIOD"])
	assert.Equal(t, "20s", env["CATOPS_SHUTDOWN_TIMEOUT"], "cluster.extraEnv")
	assert.NotContains(t, env, "CATOPS_SNAPSHOT_INTERVAL", "the agents' extraEnv is theirs")
	assert.Equal(t, "5m", r.env(t)["CATOPS_SNAPSHOT_INTERVAL"])
	assert.NotContains(t, r.env(t), "CATOPS_SHUTDOWN_TIMEOUT", "and cluster.extraEnv the reporter's")
	assert.Equal(t, ":9090", env["CATOPS_HEALTH_ADDR"])
	assert.Equal(t, int32(9090), r.reporterContainer(t).Ports[0].ContainerPort)
	assert.Equal(t, "debug", env["CATOPS_LOG_LEVEL"])
	assert.Equal(t, "30s", env["COLLECTION_INTERVAL"])
	assert.Equal(t, r.container(t).Image, r.reporterContainer(t).Image)
	assert.True(t, strings.HasSuffix(r.reporterContainer(t).Image, ":9.9.9"))

	pod := r.reporterPod(t)
	assert.Equal(t, "system-cluster-critical", pod.PriorityClassName)
	assert.Empty(t, r.pod().PriorityClassName, "priorityClassName is the agents'")
	assert.Equal(t, []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "ops", Effect: corev1.TaintEffectNoSchedule}}, pod.Tolerations)
	assert.Equal(t, []corev1.Toleration{{Operator: corev1.TolerationOpExists}}, r.pod().Tolerations, "the agents' own")
	assert.Equal(t, map[string]string{"kubernetes.io/os": "linux", "pool": "system"}, pod.NodeSelector, "Helm merges maps with the default")
	assert.Nil(t, pod.Affinity, "podAntiAffinity=null removes the default")
	assert.Equal(t, []corev1.LocalObjectReference{{Name: "regcred"}}, pod.ImagePullSecrets)
	assert.Equal(t, "ops", d.Spec.Template.Annotations["example.com/team"])
	assert.Equal(t, "ops", d.Spec.Template.Labels["team"])
	assert.NotContains(t, d.Spec.Selector.MatchLabels, "team", "podLabels are not in the selector")
	assert.Equal(t, corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("20m"), corev1.ResourceMemory: resource.MustParse("48Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
	}, r.reporterContainer(t).Resources)
	assert.Equal(t, resource.MustParse("128Mi"), r.container(t).Resources.Limits[corev1.ResourceMemory], "resources are the agents'")

	// GOMEMLIMIT follows the reporter's own limit; cluster.extraEnv wins.
	assert.NotContains(t, render(t, "--set", "auth.token=x", "--set", "cluster.resources.limits=null").reporterEnv(t), "GOMEMLIMIT")
	assert.Equal(t, "resourceFieldRef:limits.memory", render(t, "--set", "auth.token=x", "--set", "resources.limits=null").reporterEnv(t)["GOMEMLIMIT"])
	assert.Equal(t, "100MiB", render(t, "--set", "auth.token=x", "--set-json", `cluster.extraEnv=[{"name":"GOMEMLIMIT","value":"100MiB"}]`).reporterEnv(t)["GOMEMLIMIT"])
}

// TestClusterReporterBackend: the token, the backend's CA and client
// certificate and the proxy reach the reporter exactly as the agents.
func TestClusterReporterBackend(t *testing.T) {
	backendEnv := []string{"CATOPS_BACKEND_URL", "CATOPS_AUTH_TOKEN_FILE", "CATOPS_BACKEND_CA_FILE", "CATOPS_BACKEND_CERT_FILE", "CATOPS_BACKEND_KEY_FILE", "HTTPS_PROXY"}
	for _, tc := range []struct {
		name    string
		args    []string
		noProxy string // the reporter's NO_PROXY; "": unset
	}{
		{"token", []string{"--set", "auth.token=x"}, ""},
		{"existing Secret", []string{"--set", "auth.existingSecret=mine", "--set", "auth.existingSecretKey=api-token"}, ""},
		{"CA, client certificate, proxy", []string{"--set", "auth.token=x", "--set", "backend.url=https://catops.corp.example",
			"--set", "backend.caConfigMap=corp-ca", "--set", "backend.caConfigMapKey=bundle.pem", "--set", "backend.clientCertSecret=catops-mtls",
			"--set", "proxy.httpsProxy=http://proxy:3128", "--set", "proxy.noProxy=.corp"}, ".corp,$(KUBERNETES_SERVICE_HOST)"},
		{"proxy with the kubelet source: no node IP for the reporter", []string{"--set", "auth.token=x", "--set", "podMetrics.source=kubelet",
			"--set", "proxy.httpsProxy=http://proxy:3128"}, "$(KUBERNETES_SERVICE_HOST)"},
		{"noProxy alone", []string{"--set", "auth.token=x", "--set", "proxy.noProxy=.corp"}, ".corp"},
		{"proxy in cluster.extraEnv", []string{"--set", "auth.token=x",
			"--set-json", `cluster.extraEnv=[{"name":"HTTPS_PROXY","valueFrom":{"secretKeyRef":{"name":"proxy","key":"url"}}}]`}, "$(KUBERNETES_SERVICE_HOST)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := render(t, tc.args...)
			agentEnv, env := r.env(t), r.reporterEnv(t)
			for _, name := range backendEnv {
				if name == "HTTPS_PROXY" && strings.Contains(tc.name, "cluster.extraEnv") {
					continue
				}
				assert.Equal(t, agentEnv[name], env[name], name)
			}
			if tc.noProxy == "" {
				assert.NotContains(t, env, "NO_PROXY")
			} else {
				assert.Equal(t, tc.noProxy, env["NO_PROXY"])
			}
			agentMounts, mounts := r.mounts(t), r.reporterMounts(t)
			agentVolumes, volumes := r.volumes(), r.reporterVolumes(t)
			for name := range mounts {
				assert.Contains(t, []string{"token", "backend-ca", "backend-tls"}, name, "only the token and the backend's certificates")
				assert.Equal(t, agentMounts[name], mounts[name], name)
				assert.Equal(t, agentVolumes[name], volumes[name], name)
			}
			assert.Len(t, volumes, len(mounts))
			for _, name := range []string{"token", "backend-ca", "backend-tls"} {
				_, agentHas := agentMounts[name]
				_, has := mounts[name]
				assert.Equal(t, agentHas, has, name)
			}
		})
	}
}

// TestClusterReporterServiceAccount: the reporter always runs as its own
// account, whatever serviceAccount says (that is the agents').
func TestClusterReporterServiceAccount(t *testing.T) {
	r := render(t, "--set", "auth.token=x", "--set", "serviceAccount.create=false", "--set", "serviceAccount.name=platform-agents")
	assert.Nil(t, r.serviceAccount)
	require.NotNil(t, r.reporter.serviceAccount)
	assert.Equal(t, "catops-cluster", r.reporter.serviceAccount.Name)
	assert.Equal(t, "catops-cluster", r.reporterPod(t).ServiceAccountName)
	assert.Equal(t, "platform-agents", r.pod().ServiceAccountName)
	assert.Equal(t, "catops-cluster", r.reporter.clusterRoleBinding.Subjects[0].Name)

	r = render(t, "--set", "auth.token=x", "--set", "fullnameOverride=agents")
	assert.Equal(t, "agents-cluster", r.reporter.deployment.Name)
	assert.Equal(t, "agents-cluster", r.reporter.serviceAccount.Name)
	assert.Equal(t, "agents-cluster", r.reporterEnv(t)["CATOPS_LEASE_NAME"])
	assert.Equal(t, []string{"agents-cluster"}, r.reporter.role.Rules[1].ResourceNames)
}

// agentDuration reads a duration as the reporter's settings do: a Go
// duration, or whole seconds.
func agentDuration(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(s)
}

// TestClusterReporterSchema: the cluster values are typed; a bad one is
// refused in one short line naming it.
func TestClusterReporterSchema(t *testing.T) {
	token := []string{"--set", "auth.token=x"}
	for _, tc := range []struct {
		path string
		args []string
	}{
		{"/cluster/replicas", []string{"--set", "cluster.replicas=two"}},
		{"/cluster/replicas", []string{"--set", "cluster.replicas=0"}},
		{"/cluster/replicas", []string{"--set-json", "cluster.replicas=1.5"}},
		{"/cluster/enabled", []string{"--set-string", "cluster.enabled=yes"}},
		{"/cluster/leaseDuration", []string{"--set", "cluster.leaseDuration=abc"}},
		{"/cluster/leaseDuration", []string{"--set-json", "cluster.leaseDuration=15"}},
		{"/cluster/leaseDuration", []string{"--set-string", "cluster.leaseDuration=15 s"}},
		{"/cluster/leaseDuration", []string{"--set", "cluster.leaseDuration=1d"}},
		{"/cluster/leaseDuration", []string{"--set", "cluster.leaseDuration=-15s"}},
		{"/cluster/leaseDuration", []string{"--set-string", "cluster.leaseDuration=0"}},
		{"/cluster/leaseDuration", []string{"--set-string", "cluster.leaseDuration="}},
		{"/cluster/renewDeadline", []string{"--set", "cluster.renewDeadline=soon"}},
		{"/cluster/retryPeriod", []string{"--set", "cluster.retryPeriod=2S"}},
		{"/cluster/name", []string{"--set-json", `cluster.name="prod\nstaging"`}},
		{"/cluster/name", []string{"--set-json", "cluster.name=1"}},
		{"/cluster/priorityClassName", []string{"--set", "cluster.priorityClassName=High_Priority"}},
		{"/cluster/resources/limits/memory", []string{"--set", "cluster.resources.limits.memory=lots"}},
		{"/cluster/tolerations/0/operator", []string{"--set-json", `cluster.tolerations=[{"operator":"Maybe"}]`}},
		{"/cluster/nodeSelector/pool", []string{"--set-json", `cluster.nodeSelector={"pool":1}`}},
		{"/cluster/extraEnv/0/value", []string{"--set-json", `cluster.extraEnv=[{"name":"CATOPS_LEASE_DURATION","value":"soon"}]`}},
		{"/cluster/extraEnv/0/value", []string{"--set-json", `cluster.extraEnv=[{"name":"CATOPS_SHUTDOWN_TIMEOUT","value":"10 s"}]`}},
		{"/cluster/extraEnv/0", []string{"--set-json", `cluster.extraEnv=[{"value":"x"}]`}},
		{"/cluster", []string{"--set", "cluster.replica=2"}},
	} {
		t.Run(fmt.Sprintf("refuses %s %s", tc.path, tc.args[1]), func(t *testing.T) {
			t.Parallel()
			assertOneShortLine(t, schemaRefusal(t, append(slices.Clone(token), tc.args...)...), tc.path)
		})
	}

	// Durations the schema takes reach the reporter as given, and parse.
	for _, row := range [][3]string{{"15s", "10s", "2s"}, {"1m", "30", "500ms"}, {"1h30m", "1.5m", ".5s"}, {"60", "45", "5"}} {
		t.Run("accepts "+strings.Join(row[:], " "), func(t *testing.T) {
			t.Parallel()
			env := render(t, "--set", "auth.token=x", "--set-string", "cluster.leaseDuration="+row[0],
				"--set-string", "cluster.renewDeadline="+row[1], "--set-string", "cluster.retryPeriod="+row[2]).reporterEnv(t)
			for i, name := range []string{"CATOPS_LEASE_DURATION", "CATOPS_RENEW_DEADLINE", "CATOPS_RETRY_PERIOD"} {
				assert.Equal(t, row[i], env[name])
				d, err := agentDuration(env[name])
				require.NoError(t, err, name)
				assert.Positive(t, d, name)
			}
		})
	}
}
