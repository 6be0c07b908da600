//go:build integration

package chart

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/catops/cli/test/rig"
)

// TestMain stops every rig cluster on Ctrl-C as well as at the end.
func TestMain(m *testing.M) { rig.Main(m) }

const controlPlaneNode = "kwok-control-plane"

var allNodes = []string{controlPlaneNode, "kwok-node-1", "kwok-node-2"}

// onRig is a rig cluster with helm and kubectl pointed at it.
type onRig struct {
	t        *testing.T
	c        *rig.Cluster
	cs       *kubernetes.Clientset
	helmEnv  []string
	kubectlB string
	home     string
}

// startRig starts a control plane with the controllers a DaemonSet needs
// (controller-manager, scheduler), two kwok nodes and a kwok control-plane
// node tainted like a real one; with metricsAPI also metrics-server behind
// metrics.k8s.io, so that API's resources are discoverable as on a real
// cluster.
func startRig(t *testing.T, metricsAPI bool) *onRig {
	t.Helper()
	helmBin(t)
	c := rig.StartT(t, rig.Options{ControllerManager: true, Scheduler: true, Kwok: true, Nodes: 2, MetricsServer: metricsAPI})
	cs, err := c.Clientset()
	require.NoError(t, err)
	ctx := context.Background()
	_, err = c.CreateNode(ctx, rig.NodeOptions{
		Name:   controlPlaneNode,
		Labels: map[string]string{"node-role.kubernetes.io/control-plane": ""},
		Taints: []corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}},
	})
	require.NoError(t, err)
	require.NoError(t, c.WaitNodeReady(ctx, controlPlaneNode, time.Minute))
	kubectl, err := rig.Binary(rig.BinKubectl)
	require.NoError(t, err)
	home := t.TempDir() // helm's and kubectl's caches: nothing in $HOME
	return &onRig{t: t, c: c, cs: cs, kubectlB: kubectl, home: home, helmEnv: append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+c.Kubeconfig,
	)}
}

func (k *onRig) run(env []string, bin string, args ...string) (stdout, stderr string, err error) {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s %s: %w\n%s%s", filepath.Base(bin), strings.Join(args, " "), err, o.String(), e.String())
	}
	return o.String(), e.String(), err
}

// helm runs helm against the rig and fails the test if it fails.
func (k *onRig) helm(args ...string) string {
	k.t.Helper()
	out, _, err := k.run(k.helmEnv, helmBin(k.t), args...)
	require.NoError(k.t, err)
	return out
}

// kubectl runs the rig's kubectl as admin.
func (k *onRig) kubectl(args ...string) (stdout, stderr string, err error) {
	k.t.Helper()
	return k.run(os.Environ(), k.kubectlB, append([]string{"--kubeconfig=" + k.c.Kubeconfig, "--cache-dir=" + filepath.Join(k.home, "kube-cache")}, args...)...)
}

// canI asks `kubectl auth can-i ... --as=<the agent's ServiceAccount>`.
func (k *onRig) canI(args ...string) bool {
	k.t.Helper()
	return k.canIAs("catops", args...)
}

// canIAs asks `kubectl auth can-i ... --as=<ServiceAccount sa of catops-system>`.
func (k *onRig) canIAs(sa string, args ...string) bool {
	k.t.Helper()
	out, _, err := k.kubectl(append([]string{"auth", "can-i", "--as=system:serviceaccount:" + namespace + ":" + sa}, args...)...)
	answer := strings.TrimSpace(strings.SplitN(out, "\n", 2)[0])
	switch {
	case err == nil && answer == "yes":
		return true
	case answer == "no":
		return false
	}
	k.t.Fatalf("kubectl auth can-i %v: unexpected answer %q (%v)", args, answer, err)
	return false
}

// eventually polls cond every 250 ms until it returns nil, failing the test
// with its last error after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s: %v", what, timeout, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// agentPods returns the agent's pods by node name, found by the label the
// docs' commands use.
func (k *onRig) agentPods(ns string) map[string]corev1.Pod {
	k.t.Helper()
	pods, err := k.cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=catops"})
	require.NoError(k.t, err)
	m := map[string]corev1.Pod{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			m[p.Spec.NodeName] = p
		}
	}
	return m
}

// waitRolledOut waits until the DaemonSet has a Ready, up-to-date pod on
// exactly the given nodes, and returns those pods.
func (k *onRig) waitRolledOut(ns, name string, nodes []string) map[string]corev1.Pod {
	k.t.Helper()
	var pods map[string]corev1.Pod
	eventually(k.t, 3*time.Minute, fmt.Sprintf("DaemonSet %s/%s rolled out on %v", ns, name, nodes), func() error {
		ds, err := k.cs.AppsV1().DaemonSets(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		st, want := ds.Status, int32(len(nodes))
		if ds.Status.ObservedGeneration != ds.Generation || st.DesiredNumberScheduled != want || st.CurrentNumberScheduled != want ||
			st.UpdatedNumberScheduled != want || st.NumberReady != want || st.NumberAvailable != want {
			return fmt.Errorf("generation %d, status %+v", ds.Generation, st)
		}
		pods = k.agentPods(ns)
		var on []string
		for node, p := range pods {
			if p.Status.Phase != corev1.PodRunning {
				return fmt.Errorf("pod %s on %s is %s", p.Name, node, p.Status.Phase)
			}
			on = append(on, node)
		}
		slices.Sort(on)
		if !slices.Equal(on, nodes) {
			return fmt.Errorf("pods on %v, want %v", on, nodes)
		}
		return nil
	})
	return pods
}

func uids(pods map[string]corev1.Pod) map[string]types.UID {
	m := map[string]types.UID{}
	for n, p := range pods {
		m[n] = p.UID
	}
	return m
}

func envOf(p corev1.Pod, name string) string {
	for _, e := range p.Spec.Containers[0].Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// TestServerSideValidation: the rendered chart passes the real API server's
// validation (OpenAPI, strict field validation, admission) in a server-side
// dry run, and that validation is real: a field the chart's schema lets
// through but Kubernetes does not know is refused.
func TestServerSideValidation(t *testing.T) {
	k := startRig(t, false)
	_, _, err := k.kubectl("create", "namespace", namespace)
	require.NoError(t, err)

	dryRun := func(ns string, set ...string) (stderr string, err error) {
		out, err := template(t, append([]string{"--namespace", ns, "--set", "auth.token=dry-run"}, set...)...)
		require.NoError(t, err)
		file := filepath.Join(t.TempDir(), "chart.yaml")
		require.NoError(t, os.WriteFile(file, []byte(out), 0o600))
		_, stderr, err = k.kubectl("apply", "--server-side", "--dry-run=server", "--validate=strict", "-f", file)
		return stderr, err
	}

	_, err = dryRun(namespace)
	require.NoError(t, err, "defaults")
	_, err = dryRun(namespace, "--set", "hostMetrics.enabled=false", "--set", "serviceAccount.name=other",
		"--set", "priorityClassName=system-node-critical", "--set", "updateStrategy.rollingUpdate.maxUnavailable=10%",
		"--set-json", `extraEnv=[{"name":"GOMEMLIMIT","valueFrom":{"resourceFieldRef":{"resource":"limits.memory"}}}]`)
	require.NoError(t, err, "other values")
	_, err = dryRun(namespace, "--set", "hostMetrics.root.mountPropagation=None", "--set", "hostMetrics.dev.enabled=false")
	require.NoError(t, err, "root without propagation, no /dev")

	_, err = dryRun(namespace, "--set", "cluster.name=prod", "--set", "cluster.replicas=3", "--set", "cluster.priorityClassName=system-node-critical",
		"--set-json", `cluster.tolerations=[{"operator":"Exists"}]`, "--set", "proxy.httpsProxy=http://proxy:3128",
		"--set-json", `cluster.extraEnv=[{"name":"CATOPS_SHUTDOWN_TIMEOUT","value":"20s"}]`)
	require.NoError(t, err, "cluster reporter values")
	_, err = dryRun(namespace, "--set", "cluster.enabled=false")
	require.NoError(t, err, "no cluster reporter")

	_, err = dryRun(namespace, "--set-json", `podSecurityContext={"runAsUsr":1}`)
	require.Error(t, err, "the API server must refuse an unknown field")
	assert.Contains(t, err.Error(), "runAsUsr")

	// Pod Security Standards: with host mounts off the pod meets
	// "restricted"; with them on, the API server says why it would not.
	const restricted = "psa-restricted"
	// Created with its labels in one step: Pod Security admission reads the
	// namespace from a cache, which a later label would reach only later.
	_, err = k.cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: restricted, Labels: map[string]string{
			"pod-security.kubernetes.io/enforce": "restricted",
			"pod-security.kubernetes.io/warn":    "restricted",
		}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	stderr, err := dryRun(restricted, "--set", "hostMetrics.enabled=false")
	require.NoError(t, err)
	assert.NotContains(t, stderr, "would violate PodSecurity", "hostMetrics.enabled=false meets the restricted standard (the cluster reporter's pods always do)")
	stderr, err = dryRun(restricted, "--set", "hostMetrics.enabled=false", "--set", "podMetrics.source=kubelet")
	require.NoError(t, err)
	assert.NotContains(t, stderr, "would violate PodSecurity", "the node's figures from the kubelet summary meet the restricted standard")
	stderr, err = dryRun(restricted)
	require.NoError(t, err)
	assert.Contains(t, stderr, `would violate PodSecurity "restricted:latest"`)
	assert.Contains(t, stderr, `"host-proc", "host-sys", "host-root", "host-dev" use restricted volume type "hostPath"`, "the host mounts are the only reason")
	assert.NotContains(t, stderr, "runAsNonRoot", "the security contexts already meet restricted")
	assert.NotContains(t, stderr, "seccompProfile")
	assert.NotContains(t, stderr, "allowPrivilegeEscalation")
	assert.NotContains(t, stderr, "capabilities")
}

// TestInstallUpgradeUninstall is the user's path on a real control plane:
// install with one command, one agent on every node (the tainted control
// plane too), RBAC exactly as needed, upgrades that roll, an uninstall that
// leaves nothing.
func TestInstallUpgradeUninstall(t *testing.T) {
	k := startRig(t, true)
	ctx := context.Background()
	chart := chartDir(t)

	out := k.helm("install", release, chart, "--set", "auth.token=token-1",
		"--namespace", namespace, "--create-namespace", "--wait", "--timeout", "3m")
	t.Logf("helm install:\n%s", out)
	for _, cmd := range []string{
		"kubectl get pods -n catops-system -l app.kubernetes.io/name=catops",
		"kubectl logs -n catops-system -l app.kubernetes.io/name=catops --tail=50 -f",
		"kubectl describe daemonset -n catops-system catops",
		"kubectl get lease -n catops-system catops-cluster",
		"kubectl logs -n catops-system -l app.kubernetes.io/instance=catops,app.kubernetes.io/component=cluster-reporter",
	} {
		assert.Contains(t, out, cmd, "NOTES tell what to check next")
	}

	pods := k.waitRolledOut(namespace, "catops", allNodes)
	assert.Contains(t, pods, controlPlaneNode, "the default tolerations reach the tainted control-plane node")
	for _, p := range pods {
		assert.Equal(t, "catops", p.Spec.ServiceAccountName)
		assert.Equal(t, "60", envOf(p, "COLLECTION_INTERVAL"))
	}

	// The docs' debugging commands find every object by the names they use.
	for _, args := range [][]string{
		{"get", "pods", "-n", namespace, "-l", "app.kubernetes.io/name=catops"},
		{"describe", "daemonset", "-n", namespace, "catops"},
		{"get", "clusterrole", "catops-catops", "-o", "yaml"},
		{"get", "clusterrolebinding", "catops-catops", "-o", "yaml"},
		{"get", "secret", "-n", namespace, "catops", "-o", "yaml"},
		{"get", "serviceaccount", "-n", namespace, "catops"},
	} {
		_, _, err := k.kubectl(args...)
		assert.NoError(t, err)
	}

	// RBAC: what the agent calls is allowed, nothing else.
	list, _, err := k.kubectl("auth", "can-i", "--list", "--as=system:serviceaccount:catops-system:catops")
	require.NoError(t, err)
	t.Logf("kubectl auth can-i --list as the agent:\n%s", list)
	for _, args := range [][]string{
		{"list", "pods", "--all-namespaces"}, {"watch", "pods", "--all-namespaces"}, {"get", "pods", "-n", "default"},
		{"list", "nodes"}, {"watch", "nodes"}, {"get", "nodes"},
		{"get", "nodes.metrics.k8s.io"}, {"list", "nodes.metrics.k8s.io"},
		{"get", "pods.metrics.k8s.io", "-n", "default"}, {"list", "pods.metrics.k8s.io", "-n", "default"},
	} {
		assert.True(t, k.canI(args...), "the agent needs: %v", args)
	}
	for _, args := range [][]string{
		{"get", "secrets", "-n", namespace}, {"get", "secret/catops", "-n", namespace}, {"list", "secrets", "--all-namespaces"},
		{"create", "pods", "-n", "default"}, {"delete", "pods", "-n", "default"}, {"patch", "pods", "-n", "default"},
		{"update", "nodes"}, {"delete", "nodes"}, {"patch", "nodes", "--subresource=status"},
		{"list", "namespaces"}, {"get", "namespaces"},
		{"create", "pods", "--subresource=exec", "-n", "default"}, {"get", "pods", "--subresource=log", "-n", "default"},
		{"get", "nodes", "--subresource=proxy"}, {"get", "nodes", "--subresource=metrics"},
		{"list", "services", "--all-namespaces"}, {"list", "ingresses.networking.k8s.io", "--all-namespaces"},
		{"list", "configmaps", "--all-namespaces"}, {"watch", "pods.metrics.k8s.io", "--all-namespaces"},
		{"create", "serviceaccounts", "--subresource=token", "-n", namespace},
		{"list", "deployments.apps", "--all-namespaces"}, {"list", "events", "--all-namespaces"},
		{"create", "leases.coordination.k8s.io", "-n", namespace}, {"get", "leases.coordination.k8s.io/catops-cluster", "-n", namespace},
	} {
		assert.False(t, k.canI(args...), "the agent must not be able to: %v (the cluster reporter's rights are its own account's)", args)
	}

	// The cluster reporter: its Deployment rolled out (helm --wait) under
	// its own account, with read-only rights cluster-wide and its Lease's.
	dep, err := k.cs.AppsV1().Deployments(namespace).Get(ctx, "catops-cluster", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, int32(2), dep.Status.ReadyReplicas)
	assert.Equal(t, "catops-cluster", dep.Spec.Template.Spec.ServiceAccountName)
	reporterPods, err := k.cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=cluster-reporter"})
	require.NoError(t, err)
	assert.Len(t, reporterPods.Items, 2)
	for _, args := range [][]string{
		{"list", "deployments.apps", "--all-namespaces"}, {"watch", "statefulsets.apps", "--all-namespaces"}, {"list", "daemonsets.apps", "--all-namespaces"},
		{"list", "jobs.batch", "--all-namespaces"}, {"watch", "cronjobs.batch", "--all-namespaces"},
		{"list", "pods", "--all-namespaces"}, {"watch", "namespaces"}, {"list", "nodes"}, {"watch", "events", "--all-namespaces"},
		{"create", "leases.coordination.k8s.io", "-n", namespace},
		{"get", "leases.coordination.k8s.io/catops-cluster", "-n", namespace}, {"update", "leases.coordination.k8s.io/catops-cluster", "-n", namespace},
	} {
		assert.True(t, k.canIAs("catops-cluster", args...), "the cluster reporter needs: %v", args)
	}
	for _, args := range [][]string{
		{"get", "secrets", "-n", namespace}, {"list", "secrets", "--all-namespaces"}, {"list", "configmaps", "--all-namespaces"},
		{"create", "deployments.apps", "-n", "default"}, {"delete", "pods", "-n", "default"}, {"patch", "nodes"},
		{"get", "leases.coordination.k8s.io/kube-scheduler", "-n", "kube-system"}, {"create", "leases.coordination.k8s.io", "-n", "default"},
		{"get", "leases.coordination.k8s.io/other", "-n", namespace}, {"update", "leases.coordination.k8s.io/other", "-n", namespace},
		{"delete", "leases.coordination.k8s.io/catops-cluster", "-n", namespace}, {"list", "leases.coordination.k8s.io", "-n", namespace},
		{"get", "pods", "--subresource=log", "-n", "default"}, {"get", "nodes", "--subresource=proxy"},
	} {
		assert.False(t, k.canIAs("catops-cluster", args...), "the cluster reporter must not be able to: %v", args)
	}

	// Upgrade: a changed value rolls every pod, node by node.
	before := uids(pods)
	k.helm("upgrade", release, chart, "--namespace", namespace, "--reuse-values",
		"--set", "collection.interval=30", "--wait", "--timeout", "3m")
	pods = k.waitRolledOut(namespace, "catops", allNodes)
	for node, p := range pods {
		assert.NotEqual(t, before[node], p.UID, "pod on %s replaced", node)
		assert.Equal(t, "30", envOf(p, "COLLECTION_INTERVAL"), "pod on %s runs with the new interval", node)
	}
	status := k.helm("status", release, "--namespace", namespace)
	assert.Contains(t, status, "STATUS: deployed")
	assert.Contains(t, status, "REVISION: 2")

	// A new token: the Secret changes and its checksum rolls the pods.
	before = uids(pods)
	k.helm("upgrade", release, chart, "--namespace", namespace, "--reuse-values",
		"--set", "auth.token=token-2", "--wait", "--timeout", "3m")
	secret, err := k.cs.CoreV1().Secrets(namespace).Get(ctx, "catops", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "token-2", string(secret.Data["token"]))
	pods = k.waitRolledOut(namespace, "catops", allNodes)
	for node, p := range pods {
		assert.NotEqual(t, before[node], p.UID, "pod on %s replaced after the token changed", node)
		assert.Equal(t, "30", envOf(p, "COLLECTION_INTERVAL"), "--reuse-values keeps the interval")
	}

	// Without the default tolerations the control-plane node's taint keeps
	// the agent off it: the taint is real, and the default is what gets us
	// there.
	k.helm("upgrade", release, chart, "--namespace", namespace, "--reuse-values",
		"--set-json", "tolerations=[]", "--wait", "--timeout", "3m")
	k.waitRolledOut(namespace, "catops", []string{"kwok-node-1", "kwok-node-2"})

	// Uninstall leaves nothing, cluster-scoped objects included.
	k.helm("uninstall", release, "--namespace", namespace, "--wait", "--timeout", "3m")
	eventually(t, 2*time.Minute, "every object of the release gone", func() error {
		checks := map[string]error{}
		_, checks["DaemonSet catops"] = k.cs.AppsV1().DaemonSets(namespace).Get(ctx, "catops", metav1.GetOptions{})
		_, checks["ServiceAccount catops"] = k.cs.CoreV1().ServiceAccounts(namespace).Get(ctx, "catops", metav1.GetOptions{})
		_, checks["Secret catops"] = k.cs.CoreV1().Secrets(namespace).Get(ctx, "catops", metav1.GetOptions{})
		_, checks["ClusterRole catops-catops"] = k.cs.RbacV1().ClusterRoles().Get(ctx, "catops-catops", metav1.GetOptions{})
		_, checks["ClusterRoleBinding catops-catops"] = k.cs.RbacV1().ClusterRoleBindings().Get(ctx, "catops-catops", metav1.GetOptions{})
		_, checks["Deployment catops-cluster"] = k.cs.AppsV1().Deployments(namespace).Get(ctx, "catops-cluster", metav1.GetOptions{})
		_, checks["ServiceAccount catops-cluster"] = k.cs.CoreV1().ServiceAccounts(namespace).Get(ctx, "catops-cluster", metav1.GetOptions{})
		_, checks["ClusterRole catops-catops-cluster"] = k.cs.RbacV1().ClusterRoles().Get(ctx, "catops-catops-cluster", metav1.GetOptions{})
		_, checks["ClusterRoleBinding catops-catops-cluster"] = k.cs.RbacV1().ClusterRoleBindings().Get(ctx, "catops-catops-cluster", metav1.GetOptions{})
		_, checks["Role catops-cluster"] = k.cs.RbacV1().Roles(namespace).Get(ctx, "catops-cluster", metav1.GetOptions{})
		_, checks["RoleBinding catops-cluster"] = k.cs.RbacV1().RoleBindings(namespace).Get(ctx, "catops-cluster", metav1.GetOptions{})
		for what, err := range checks {
			switch {
			case err == nil:
				return fmt.Errorf("%s still there", what)
			case !apierrors.IsNotFound(err):
				return fmt.Errorf("check %s: %w", what, err)
			}
		}
		pods, err := k.cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=catops"})
		if err != nil {
			return err
		}
		if n := len(pods.Items); n > 0 {
			return fmt.Errorf("%d agent pods left", n)
		}
		return nil
	})
	assert.Empty(t, strings.TrimSpace(k.helm("list", "--namespace", namespace, "--short")))
	// The authorizer's view catches up with the deleted binding a moment
	// after the API has it gone.
	eventually(t, 30*time.Second, "the ServiceAccount's rights gone with the ClusterRoleBinding", func() error {
		if k.canI("list", "pods", "--all-namespaces") {
			return errors.New("can-i still says yes")
		}
		return nil
	})
}

// TestExistingSecretInstall: the token from a Secret the user created,
// host mounts off, into a namespace that enforces the restricted Pod
// Security Standard: the pods are admitted and run on every node.
func TestExistingSecretInstall(t *testing.T) {
	k := startRig(t, false)
	ctx := context.Background()
	const ns = "catops-restricted"
	_, err := k.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted",
	}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, _, err = k.kubectl("-n", ns, "create", "secret", "generic", "catops", "--from-literal=token=user-token")
	require.NoError(t, err)

	out := k.helm("install", release, chartDir(t), "--namespace", ns, "--set", "auth.existingSecret=catops",
		"--set", "hostMetrics.enabled=false", "--wait", "--timeout", "3m")
	assert.Contains(t, out, "the agent reads the container's own /proc, /sys, / and /dev", "NOTES say the host figures are the container's view")
	assert.Contains(t, out, "With podMetrics.source=kubelet (and podMetrics.kubelet.summary, its default) the node's own CPU, memory, filesystem and network figures come from the kubelet summary instead.")
	pods := k.waitRolledOut(ns, "catops", allNodes)
	for _, p := range pods {
		require.Len(t, p.Spec.Volumes, 2, "the token and the ServiceAccount token, no host mounts")
	}

	// The node's figures from the kubelet summary instead: still no host
	// mount, and the NOTES say so.
	out = k.helm("upgrade", release, chartDir(t), "--namespace", ns, "--reuse-values", "--set", "podMetrics.source=kubelet",
		"--wait", "--timeout", "3m")
	assert.Contains(t, out, "the node's figures come from each node's kubelet summary (CATOPS_HOST_SOURCE=kubelet)")
	pods = k.waitRolledOut(ns, "catops", allNodes)
	for _, p := range pods {
		require.Len(t, p.Spec.Volumes, 2, "the token and the ServiceAccount token, no host mounts")
		assert.Equal(t, "kubelet", envOf(p, "CATOPS_HOST_SOURCE"))
	}

	k.helm("uninstall", release, "--namespace", ns, "--wait", "--timeout", "3m")
	_, err = k.cs.CoreV1().Secrets(ns).Get(ctx, "catops", metav1.GetOptions{})
	assert.NoError(t, err, "the user's Secret is theirs: uninstall keeps it")
}
