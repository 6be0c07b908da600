//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/catops/cli/pkg/receiver"
	"github.com/catops/cli/pkg/wire"
	"github.com/catops/cli/test/node"
)

const (
	helmRelease   = "catops"
	helmNamespace = "catops-system"
	agentSelector = "app.kubernetes.io/name=catops"
)

// TestHelmInstallOnRealNode installs charts/catops as a user does (the real
// chart, RBAC, security context and host mounts; the image built by make
// node-images) onto the real node and checks, against the API server, the
// node's /proc and statfs and the kubelet's own /stats/summary:
//
//   - the agent pod becomes Ready (helm install --wait), runs as uid 65534,
//     reaches the API server through its ServiceAccount and the kubernetes
//     Service, the receiver over HTTPS (backend.caConfigMap), the kubelet
//     over its real TLS (podMetrics.source=kubelet);
//   - the receiver's state equals the API server's for Running, OOMKilled,
//     CrashLoopBackOff, Succeeded, Job-completed, one-second and deleted pods;
//   - its host figures equal the node's (CPU count, memory, root
//     filesystem, network counters; 2% where values move);
//   - its pod usage equals the kubelet summary's (10%);
//   - its log is JSON lines without the token;
//   - helm upgrade rolls the DaemonSet while pods come and go, and the
//     receiver ends equal to the API server again, under a new session;
//   - helm upgrade to hostMetrics.enabled=false leaves the pod without a
//     hostPath volume, and its host figures (now the kubelet summary's,
//     "source": "kubelet") still equal the node's CPU count, memory total,
//     uptime and the kubelet's own nodefs capacity;
//   - helm uninstall removes everything it installed; the host is as found.
func TestHelmInstallOnRealNode(t *testing.T) {
	dir := nodeDir(t, "node-e2e-helm")
	repo := filepath.Dir(filepath.Dir(dir))
	require.FileExists(t, filepath.Join(repo, ".cache", "node", "images", "catops-k8s.tar"), "the agent's image: run make node-images")
	chart := filepath.Join(repo, "charts", "catops")

	before, err := node.HostState()
	require.NoError(t, err)
	ctx := testContext(t, 12*time.Minute)
	t0 := time.Now()
	n, down := upNode(ctx, t, dir)
	tUp := time.Since(t0)
	cs, err := kubernetes.NewForConfig(n.Cluster.RESTConfig())
	require.NoError(t, err)

	// The receiver: HTTPS on the node's address, with a certificate the
	// cluster CA signed; the chart is given that CA as backend.caConfigMap.
	token := "e2e-helm-" + randomHex(t, 16)
	rcv, err := receiver.New(receiver.Options{Token: token})
	require.NoError(t, err)
	crt, key, err := n.IssueServingCert(t.TempDir(), "receiver", node.NodeIP)
	require.NoError(t, err)
	pair, err := tls.LoadX509KeyPair(crt, key)
	require.NoError(t, err)
	backendURL := serveInNode(t, n, node.NodeIP+":0", rcv.Handler(), &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12})
	requireNodeURL(t, backendURL)
	caPEM, err := os.ReadFile(n.Cluster.PKI.CACert)
	require.NoError(t, err)
	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: helmNamespace}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.CoreV1().ConfigMaps(helmNamespace).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "backend-ca"}, Data: map[string]string{"ca.crt": string(caPEM)},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	helmHome := t.TempDir()
	helm := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, n.ClientWrapper("helm"), args...)
		cmd.Env = append(os.Environ(),
			"HELM_CACHE_HOME="+filepath.Join(helmHome, "cache"),
			"HELM_CONFIG_HOME="+filepath.Join(helmHome, "config"),
			"HELM_DATA_HOME="+filepath.Join(helmHome, "data"))
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "helm %s:\n%s", strings.Join(args, " "), out)
		return string(out)
	}

	// Pods with steady usage, started first so the kubelet has readings.
	_, err = cs.CoreV1().Pods("default").Create(ctx, boxPod(n.Name, "burn", corev1.RestartPolicyAlways,
		corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m")}}, "burn"), metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.CoreV1().Pods("default").Create(ctx, boxPod(n.Name, "hog", corev1.RestartPolicyAlways, corev1.ResourceRequirements{}, "hog", "40"), metav1.CreateOptions{})
	require.NoError(t, err)
	// podburn spins too, under a pod-level 200m limit (spec.resources) and
	// none of its container's: the quota is on the pod's cgroup.
	podburn := boxPod(n.Name, "podburn", corev1.RestartPolicyAlways, corev1.ResourceRequirements{}, "burn")
	podburn.Spec.Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m")}}
	_, err = cs.CoreV1().Pods("default").Create(ctx, podburn, metav1.CreateOptions{})
	require.NoError(t, err)
	// 50 MiB written to an emptyDir: ephemeral storage and a volume.
	writer := boxPod(n.Name, "writer", corev1.RestartPolicyAlways, corev1.ResourceRequirements{}, "write", "/scratch/data", "50")
	writer.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	writer.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "scratch", MountPath: "/scratch"}}
	_, err = cs.CoreV1().Pods("default").Create(ctx, writer, metav1.CreateOptions{})
	require.NoError(t, err)

	// helm install, as README says, with the values a user of this node sets.
	t0 = time.Now()
	out := helm("install", helmRelease, chart, "--namespace", helmNamespace, "--wait", "--timeout", "3m",
		"--set", "auth.token="+token,
		"--set", "backend.url="+backendURL,
		"--set", "backend.caConfigMap=backend-ca",
		"--set", "image.repository=catops.local/catops-k8s",
		"--set", "image.tag=dev",
		"--set", "image.pullPolicy=Never",
		"--set", "collection.interval=10",
		"--set", "podMetrics.source=kubelet",
		"--set", "logLevel=debug",
	)
	tInstall := time.Since(t0)
	t.Logf("helm install (%.1fs):\n%s", tInstall.Seconds(), firstLines(out, 6))
	// helm's --wait counts a DaemonSet ready when no more than
	// maxUnavailable (1) of its pods are not: on one node that is at once.
	agentPod := readyAgentPod(ctx, t, cs)
	tReady := time.Since(t0)
	uninstalled := false
	t.Cleanup(func() { // before the node's down (cleanups run last first)
		if t.Failed() && !uninstalled {
			t.Logf("agent log (%s):\n%s", agentPod.Name, podLog(t, cs, agentPod.Name))
		}
	})
	requireAgentProcessUID(t, agentPod, 65534)

	waitReceiverFor(ctx, t, rcv, n.Name, "the agent pod's first snapshot", func(st receiver.NodeState) bool {
		return st.Session != "" && st.Namespace == helmNamespace
	})
	tFirst := time.Since(t0)
	// The cluster reporter (2 replicas on this node) sends the cluster
	// stream to the same backend: one leader, the agents' DaemonSet and its
	// own Deployment among the workloads, this node in the summary.
	cl := waitCluster(ctx, t, rcv, "the cluster reporter's first snapshot", func(c receiver.ClusterState) bool {
		ds, ok := c.Workloads[receiver.WorkloadKey("DaemonSet", helmNamespace, helmRelease)]
		return c.Summary != nil && ok && ds.Ready != nil && *ds.Ready == 1
	})
	assert.Equal(t, 1, cl.Summary.Nodes.Count, "the summary counts this node")
	require.NotNil(t, cl.Leader)
	assert.True(t, strings.HasPrefix(cl.Leader.Identity, helmRelease+"-cluster-"), "a reporter pod leads: %q", cl.Leader.Identity)
	assert.Equal(t, helmNamespace+"/"+helmRelease+"-cluster", cl.Leader.Lease)
	assert.Contains(t, cl.Workloads, receiver.WorkloadKey("Deployment", helmNamespace, helmRelease+"-cluster"))

	// The lifecycles, and a Job (scheduled, not bound by the test).
	t0 = time.Now()
	runLifecycles(ctx, t, cs, n.Name)
	jobDone := runJob(ctx, t, cs)
	tAPI := time.Since(t0)
	t0 = time.Now()
	diff := waitTruth(t, rcv, cs, n.Name, 90*time.Second, func() bool { return false })
	require.Empty(t, diff, "the receiver's state never equalled the API server's")
	tMatch := time.Since(t0)
	st, _ := rcv.Node(n.Name)
	require.Contains(t, st.Pods, receiver.PodKey("default", jobDone), "the Job's pod")
	assert.Equal(t, "Succeeded", st.Pods[receiver.PodKey("default", jobDone)].Phase)

	// Host figures from inside the pod against the node's own.
	compareHostFigures(ctx, t, rcv, n.Name)

	// Pod usage from the kubelet (the agent's own TLS and token) against
	// the kubelet's /stats/summary.
	compareUsageToSummary(ctx, t, n, rcv)

	// CPU throttling from burn's cgroup (the chart's default source):
	// burn (one spinning thread under a 200m limit) is held back in most
	// periods; the figures are what the cgroup's own counters moved by
	// over the figure's window. And podburn's, from its pod cgroup
	// (container ""), and its container's: with no CPU limit of its own,
	// the kubelet gives it the pod's as its quota.
	compareThrottling(ctx, t, cs, rcv, n.Name, "cgroup", cfsTarget{"burn", "box"}, cfsTarget{"podburn", ""}, cfsTarget{"podburn", "box"})
	// podburn has made its point: its spinning would only load the 2-core
	// machine during the rolling update below.
	require.NoError(t, cs.CoreV1().Pods("default").Delete(ctx, "podburn", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}))

	// The log: JSON lines, no token, the first batch accepted.
	logText := podLog(t, cs, agentPod.Name)
	lines := checkAgentLog(t, logText, token)
	assert.Contains(t, logText, "First batch accepted by the backend")
	assert.Contains(t, logText, "Reading CPU throttling from the node's cgroups", "found the node's kubepods cgroup through the sys mount")

	// helm upgrade: a rolling update while pods come and go.
	oldSession := st.Session
	t0 = time.Now()
	churn := startChurn(ctx, t, cs, n.Name)
	helm("upgrade", helmRelease, chart, "--namespace", helmNamespace, "--reuse-values", "--wait", "--timeout", "3m",
		"--set-string", "podAnnotations.e2e-rollout=2", "--set", "podMetrics.throttling=cadvisor")
	newPod := readyAgentPod(ctx, t, cs)
	created, deleted := churn.stop()
	tUpgrade := time.Since(t0)
	require.NotEqual(t, agentPod.UID, newPod.UID, "helm upgrade replaced the agent pod")
	agentPod = newPod
	diff = waitTruth(t, rcv, cs, n.Name, 90*time.Second, func() bool { return false })
	require.Empty(t, diff, "after the rolling update the receiver's state never equalled the API server's")
	st, _ = rcv.Node(n.Name)
	assert.NotEqual(t, oldSession, st.Session, "the new agent pod sends under its own session")
	t.Logf("rolling update: %.1fs; %d pods created and %d deleted meanwhile; receiver = API server", tUpgrade.Seconds(), created, deleted)
	// The same throttling from the kubelet's /metrics/cadvisor.
	assert.Equal(t, "cadvisor", containerEnv(agentPod, "CATOPS_THROTTLING_SOURCE"))
	compareThrottling(ctx, t, cs, rcv, n.Name, "cadvisor", cfsTarget{"burn", "box"})

	// No host mounts, as where Pod Security forbids them: the node's
	// figures from the kubelet summary the agent reads for usage anyway.
	helm("upgrade", helmRelease, chart, "--namespace", helmNamespace, "--reuse-values", "--wait", "--timeout", "3m",
		"--set", "hostMetrics.enabled=false")
	newPod = readyAgentPod(ctx, t, cs)
	require.NotEqual(t, agentPod.UID, newPod.UID, "helm upgrade replaced the agent pod")
	agentPod = newPod
	for _, v := range agentPod.Spec.Volumes {
		assert.Nil(t, v.HostPath, "volume %s of the agent pod without host mounts", v.Name)
	}
	assert.Equal(t, "kubelet", containerEnv(agentPod, "CATOPS_HOST_SOURCE"), "the chart's CATOPS_HOST_SOURCE without host mounts")
	compareKubeletHostFigures(ctx, t, n, rcv)

	// helm uninstall: nothing of the release is left.
	t0 = time.Now()
	helm("uninstall", helmRelease, "--namespace", helmNamespace, "--wait", "--timeout", "2m")
	uninstalled = true
	requireReleaseGone(ctx, t, cs)
	tUninstall := time.Since(t0)

	t0 = time.Now()
	require.NoError(t, down())
	tDown := time.Since(t0)
	requireHostAsFound(t, before)
	t.Logf("TIMES node up %.2fs, helm install --wait %.2fs, agent pod Ready %.2fs and first snapshot %.2fs after install began, lifecycles %.2fs, receiver = API %.2fs later, upgrade %.2fs, uninstall %.2fs, down %.2fs; %d log lines",
		tUp.Seconds(), tInstall.Seconds(), tReady.Seconds(), tFirst.Seconds(), tAPI.Seconds(), tMatch.Seconds(), tUpgrade.Seconds(), tUninstall.Seconds(), tDown.Seconds(), lines)
}

// waitCluster waits until the receiver holds one cluster and cond holds on
// it, and returns it.
func waitCluster(ctx context.Context, t *testing.T, rcv *receiver.Receiver, what string, cond func(receiver.ClusterState) bool) receiver.ClusterState {
	t.Helper()
	var last receiver.ClusterState
	var keys []string
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		keys = rcv.Clusters()
		if len(keys) != 1 {
			continue
		}
		last, _ = rcv.Cluster(keys[0])
		if cond(last) {
			return last
		}
	}
	t.Fatalf("waiting for %s: clusters %v, workloads %d, summary %v", what, keys, len(last.Workloads), last.Summary)
	return last
}

// containerEnv is the value the agent container's spec gives name.
func containerEnv(p *corev1.Pod, name string) string {
	for _, e := range p.Spec.Containers[0].Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// readyAgentPod returns the release's one agent pod once it is Ready and
// the only one (a rollout's old pod gone).
func readyAgentPod(ctx context.Context, t *testing.T, cs kubernetes.Interface) *corev1.Pod {
	t.Helper()
	var last string
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		pods, err := cs.CoreV1().Pods(helmNamespace).List(ctx, metav1.ListOptions{LabelSelector: agentSelector})
		require.NoError(t, err)
		last = fmt.Sprintf("%d pods", len(pods.Items))
		if len(pods.Items) != 1 || pods.Items[0].DeletionTimestamp != nil {
			continue
		}
		p := &pods.Items[0]
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return p
			}
		}
		s, _ := json.Marshal(p.Status.ContainerStatuses)
		last = fmt.Sprintf("%s %s %s", p.Name, p.Status.Phase, s)
	}
	t.Fatalf("no single Ready agent pod in 2m: %s", last)
	return nil
}

// requireAgentProcessUID finds the agent's process on the host (its
// cgroup names the pod's UID) and checks the user it runs as.
func requireAgentProcessUID(t *testing.T, pod *corev1.Pod, uid int) {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	require.NoError(t, err)
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		comm, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		cg, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cgroup"))
		if strings.TrimSpace(string(comm)) != "catops-k8s" || !strings.Contains(string(cg), string(pod.UID)) {
			continue
		}
		status, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		require.NoError(t, err)
		for _, l := range strings.Split(string(status), "\n") {
			if f := strings.Fields(l); len(f) == 5 && f[0] == "Uid:" {
				for _, id := range f[1:] {
					assert.Equal(t, strconv.Itoa(uid), id, "the agent's process %s: %s", e.Name(), l)
				}
				return
			}
		}
	}
	t.Fatalf("no catops-k8s process in pod %s's cgroup", pod.UID)
}

// waitReceiverFor waits up to 2 minutes for cond on the node's state.
func waitReceiverFor(ctx context.Context, t *testing.T, rcv *receiver.Receiver, nodeName, what string, cond func(receiver.NodeState) bool) {
	t.Helper()
	waitReceiverWithin(ctx, t, rcv, nodeName, what, 2*time.Minute, cond)
}

// waitReceiverWithin is waitReceiverFor with its own deadline.
func waitReceiverWithin(ctx context.Context, t *testing.T, rcv *receiver.Receiver, nodeName, what string, d time.Duration, cond func(receiver.NodeState) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := rcv.Wait(ctx, func() bool { st, ok := rcv.Node(nodeName); return ok && cond(st) }); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// runJob runs a Job of one pod that exits 0 and returns its pod's name
// once the Job is complete.
func runJob(ctx context.Context, t *testing.T, cs kubernetes.Interface) string {
	t.Helper()
	tmpl := boxPod("", "", corev1.RestartPolicyNever, corev1.ResourceRequirements{}, "exit", "0")
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "job", Namespace: "default"},
		Spec: batchv1.JobSpec{
			BackoffLimit: new(int32),
			Template:     corev1.PodTemplateSpec{Spec: tmpl.Spec},
		},
	}
	_, err := cs.BatchV1().Jobs("default").Create(ctx, job, metav1.CreateOptions{})
	require.NoError(t, err)
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		j, err := cs.BatchV1().Jobs("default").Get(ctx, "job", metav1.GetOptions{})
		require.NoError(t, err)
		if j.Status.Succeeded == 1 {
			pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=job"})
			require.NoError(t, err)
			require.Len(t, pods.Items, 1)
			return pods.Items[0].Name
		}
	}
	t.Fatal("Job job not complete in 2m")
	return ""
}

// hostFigures are the node's own figures, read from the host.
type hostFigures struct {
	cpus                   int
	memTotal, memAvailable uint64
	rootTotal, rootUsed    uint64
	netRx, netTx           map[string]uint64
}

func readHostFigures() (hostFigures, error) {
	var h hostFigures
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return h, err
	}
	for _, l := range strings.Split(string(stat), "\n") {
		if strings.HasPrefix(l, "cpu") && len(l) > 3 && l[3] >= '0' && l[3] <= '9' {
			h.cpus++
		}
	}
	mem, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return h, err
	}
	for _, l := range strings.Split(string(mem), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseUint(f[1], 10, 64)
		switch f[0] {
		case "MemTotal:":
			h.memTotal = kb * 1024
		case "MemAvailable:":
			h.memAvailable = kb * 1024
		}
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs("/", &fs); err != nil {
		return h, err
	}
	h.rootTotal = fs.Blocks * uint64(fs.Bsize)
	h.rootUsed = (fs.Blocks - fs.Bfree) * uint64(fs.Bsize)
	// The node's interfaces are those of PID 1's network namespace (the
	// agent reads <HOST_PROC>/1/net/dev).
	dev, err := os.ReadFile("/proc/1/net/dev")
	if err != nil {
		return h, err
	}
	h.netRx, h.netTx = map[string]uint64{}, map[string]uint64{}
	for _, l := range strings.Split(string(dev), "\n") {
		name, rest, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		v := strings.Fields(rest)
		if len(v) < 9 {
			continue
		}
		h.netRx[strings.TrimSpace(name)], _ = strconv.ParseUint(v[0], 10, 64)
		h.netTx[strings.TrimSpace(name)], _ = strconv.ParseUint(v[8], 10, 64)
	}
	return h, nil
}

// envelope is the smallest and largest of a moving figure over readings.
type envelope struct{ lo, hi uint64 }

func (e *envelope) add(v uint64) {
	if e.lo == 0 && e.hi == 0 {
		e.lo, e.hi = v, v
		return
	}
	e.lo, e.hi = min(e.lo, v), max(e.hi, v)
}

// holds: v lies in the envelope widened by frac of its bounds.
func (e envelope) holds(v uint64, frac float64) bool {
	return float64(v) >= float64(e.lo)*(1-frac) && float64(v) <= float64(e.hi)*(1+frac)
}

// compareHostFigures compares the next host sample the agent ships (taken
// after this call began) with the node's figures read from the host around
// it: once before, every 100 ms until the sample arrives, once after.
// Counters only grow, so the agent's lie exactly between the first and the
// last reading; figures that move (memory available, root filesystem used)
// lie within the readings' range widened by 2%; the others are equal.
func compareHostFigures(ctx context.Context, t *testing.T, rcv *receiver.Receiver, nodeName string) {
	t.Helper()
	first, err := readHostFigures()
	require.NoError(t, err)
	var avail, rootUsed envelope
	var mu sync.Mutex
	note := func(h hostFigures) {
		mu.Lock()
		defer mu.Unlock()
		avail.add(h.memAvailable)
		rootUsed.add(h.rootUsed)
	}
	note(first)
	since := time.Now()
	quit, polled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(polled)
		for {
			select {
			case <-quit:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if h, err := readHostFigures(); err == nil {
				note(h)
			}
		}
	}()
	waitReceiverFor(ctx, t, rcv, nodeName, "a new host sample", func(st receiver.NodeState) bool {
		return st.Host != nil && st.Host.Time.After(since)
	})
	close(quit)
	<-polled
	last, err := readHostFigures()
	require.NoError(t, err)
	note(last)

	st, _ := rcv.Node(nodeName)
	s := st.Host
	assert.Empty(t, s.Errors, "the host sample's errors")
	assert.Equal(t, wire.HostSourceProc, s.Source)
	require.NotNil(t, s.CPU.LogicalCores, "logical CPUs")
	require.NotNil(t, s.Memory, "memory")
	assert.Equal(t, last.cpus, *s.CPU.LogicalCores, "logical CPUs")
	assert.Equal(t, last.memTotal, s.Memory.TotalBytes, "memory total")
	assert.True(t, avail.holds(s.Memory.AvailableBytes, 0.02), "memory available: agent %d, node %d..%d", s.Memory.AvailableBytes, avail.lo, avail.hi)
	var root *wire.Filesystem
	for i := range s.Filesystems {
		if s.Filesystems[i].Mountpoint == "/" {
			root = &s.Filesystems[i]
		}
	}
	require.NotNil(t, root, "the root filesystem in %+v", s.Filesystems)
	assert.Equal(t, last.rootTotal, root.TotalBytes, "root filesystem size")
	assert.True(t, rootUsed.holds(root.UsedBytes, 0.02), "root filesystem used: agent %d, node %d..%d", root.UsedBytes, rootUsed.lo, rootUsed.hi)
	require.NotEmpty(t, s.Network, "network interfaces")
	for _, i := range s.Network {
		rx0, ok := first.netRx[i.Name]
		if !assert.True(t, ok, "interface %s is not the node's", i.Name) {
			continue
		}
		assert.True(t, rx0 <= i.RxBytes && i.RxBytes <= last.netRx[i.Name], "%s rx bytes: agent %d, node %d..%d", i.Name, i.RxBytes, rx0, last.netRx[i.Name])
		assert.True(t, first.netTx[i.Name] <= i.TxBytes && i.TxBytes <= last.netTx[i.Name], "%s tx bytes: agent %d, node %d..%d", i.Name, i.TxBytes, first.netTx[i.Name], last.netTx[i.Name])
	}
	t.Logf("host: %d CPUs; memory total %d, available agent %d / node %d..%d; root fs %d, used agent %d / node %d..%d; %d interfaces",
		*s.CPU.LogicalCores, s.Memory.TotalBytes, s.Memory.AvailableBytes, avail.lo, avail.hi, root.TotalBytes, root.UsedBytes, rootUsed.lo, rootUsed.hi, len(s.Network))
}

// compareKubeletHostFigures compares the next host sample of the kubelet
// host source with the node's figures: the CPU count and memory total as
// the node's /proc says, the uptime within 3 s of its /proc/uptime (the
// kubelet's boot time is in whole seconds), the nodefs capacity as the
// kubelet's own summary says; the figures the summary lacks are absent.
func compareKubeletHostFigures(ctx context.Context, t *testing.T, n *node.Node, rcv *receiver.Receiver) {
	t.Helper()
	since := time.Now()
	waitReceiverFor(ctx, t, rcv, n.Name, "a host sample from the kubelet summary", func(st receiver.NodeState) bool {
		return st.Host != nil && st.Host.Source == wire.HostSourceKubelet && st.Host.Time.After(since)
	})
	h, err := readHostFigures()
	require.NoError(t, err)
	raw, err := os.ReadFile("/proc/uptime")
	require.NoError(t, err)
	f := strings.Fields(string(raw))
	require.NotEmpty(t, f)
	uptime, err := strconv.ParseFloat(f[0], 64)
	require.NoError(t, err)
	sum := kubeletSummary(ctx, t, n)

	st, _ := rcv.Node(n.Name)
	s := st.Host
	for _, e := range s.Errors {
		assert.True(t, strings.HasPrefix(e, "network: "), "the host sample's error %q", e)
	}
	if assert.NotNil(t, s.CPU.LogicalCores, "logical CPUs") {
		assert.Equal(t, h.cpus, *s.CPU.LogicalCores, "logical CPUs: the Node's capacity vs the node's /proc/stat")
	}
	if assert.NotNil(t, s.CPU.UsagePercent, "CPU use") {
		assert.True(t, *s.CPU.UsagePercent >= 0 && *s.CPU.UsagePercent <= 100, "CPU %v%%", *s.CPU.UsagePercent)
	}
	if assert.NotNil(t, s.Memory, "memory") {
		assert.Equal(t, h.memTotal, s.Memory.TotalBytes, "memory total: the Node's capacity vs MemTotal")
		assert.Positive(t, s.Memory.AvailableBytes)
		assert.Equal(t, s.Memory.TotalBytes-s.Memory.AvailableBytes, s.Memory.UsedBytes)
	}
	if assert.NotNil(t, s.UptimeSeconds, "uptime") {
		atSample := uptime - time.Since(s.Time).Seconds()
		assert.InDelta(t, atSample, float64(*s.UptimeSeconds), 3, "uptime: agent %d s, node %.0f s at the sample", *s.UptimeSeconds, atSample)
	}
	if assert.NotNil(t, s.Filesystem, "the kubelet's filesystem") {
		assert.Equal(t, sum.Node.FS.CapacityBytes, s.Filesystem.CapacityBytes, "nodefs capacity: agent vs kubelet summary")
	}
	for _, i := range s.Network {
		rx, ok := h.netRx[i.Name]
		if assert.True(t, ok, "interface %s is not the node's", i.Name) {
			assert.LessOrEqual(t, i.RxBytes, rx, "%s rx bytes: the summary's counters are older than the node's now", i.Name)
		}
		assert.Nil(t, i.RxPackets, "no packet counters in the summary")
	}
	assert.Nil(t, s.Load, "no load in the summary")
	assert.Empty(t, s.Disks)
	assert.Empty(t, s.Filesystems)
	shown, err := json.Marshal(s)
	require.NoError(t, err)
	t.Logf("host from the kubelet summary (node: %d CPUs, memory %d, uptime %.0f s): %s", h.cpus, h.memTotal, uptime, shown)
}

// summary is the part of the kubelet's /stats/summary compared.
type summary struct {
	Pods []struct {
		PodRef struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"podRef"`
		CPU struct {
			UsageNanoCores *uint64 `json:"usageNanoCores"`
		} `json:"cpu"`
		Memory struct {
			WorkingSetBytes *uint64 `json:"workingSetBytes"`
		} `json:"memory"`
		Containers []struct {
			Name   string `json:"name"`
			Memory struct {
				WorkingSetBytes *uint64 `json:"workingSetBytes"`
				RSSBytes        *uint64 `json:"rssBytes"`
			} `json:"memory"`
		} `json:"containers"`
		Network *struct {
			RxBytes *uint64 `json:"rxBytes"`
		} `json:"network"`
		Ephemeral *struct {
			UsedBytes *uint64 `json:"usedBytes"`
		} `json:"ephemeral-storage"`
		Volumes []struct {
			Name      string  `json:"name"`
			UsedBytes *uint64 `json:"usedBytes"`
		} `json:"volume"`
	} `json:"pods"`
	Node struct {
		FS struct {
			CapacityBytes *uint64 `json:"capacityBytes"`
		} `json:"fs"`
	} `json:"node"`
}

// kubeletGet GETs path from the kubelet as the admin (the cluster CA
// verifies the kubelet's serving certificate) and logs the answer's size.
func kubeletGet(ctx context.Context, t *testing.T, n *node.Node, path string) []byte {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(n.Cluster.PKI.AdminCert, n.Cluster.PKI.AdminKey)
	require.NoError(t, err)
	caPEM, err := os.ReadFile(n.Cluster.PKI.CACert)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(caPEM))
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext:     n.DialContext,
		TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12},
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+node.NodeIP+":10250"+path, nil)
	require.NoError(t, err)
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	t.Logf("kubelet %s: %d bytes", path, len(body))
	return body
}

// kubeletSummary reads the kubelet's /stats/summary as the admin.
func kubeletSummary(ctx context.Context, t *testing.T, n *node.Node) summary {
	t.Helper()
	body := kubeletGet(ctx, t, n, "/stats/summary")
	var s summary
	require.NoError(t, json.Unmarshal(body, &s))
	t.Logf("kubelet summary: %d pods", len(s.Pods))
	return s
}

// memoryAgrees: two working sets of the same container or pod read up to
// an interval apart agree within 10%, or within 1 MiB for small ones (a
// process of 1-2 MiB moves by hundreds of KiB between cAdvisor's
// housekeeping passes: burn's container read 1,400,832 then 1,658,880).
func memoryAgrees(agent, kubelet float64) bool {
	return math.Abs(agent-kubelet) <= max(0.10*kubelet, 1<<20)
}

// compareUsageToSummary compares the agent's latest usage of the burn and
// hog pods (kubelet /metrics/resource, through the agent's ServiceAccount
// token and the cluster CA) with the kubelet's summary read right after.
func compareUsageToSummary(ctx context.Context, t *testing.T, n *node.Node, rcv *receiver.Receiver) {
	t.Helper()
	pods := []string{"burn", "hog"}
	// The kubelet measures volumes every volumeStatsAggPeriod (10 s on the
	// node): wait until its summary shows the writer's 50 MiB.
	require.Eventually(t, func() bool {
		for _, p := range kubeletSummary(ctx, t, n).Pods {
			if p.PodRef.Name == "writer" && p.Ephemeral != nil && p.Ephemeral.UsedBytes != nil && *p.Ephemeral.UsedBytes >= 50<<20 {
				return true
			}
		}
		return false
	}, 90*time.Second, time.Second, "the kubelet summary never showed the writer's 50 MiB of ephemeral storage")
	// Two readings after now: the second's CPU window lies wholly in the
	// pods' steady state.
	var seen int
	var last time.Time
	waitReceiverFor(ctx, t, rcv, n.Name, "two new usage readings of burn and hog", func(st receiver.NodeState) bool {
		u, ok := st.Usage.Pods[receiver.PodKey("default", "burn")]
		_, ok2 := st.Usage.Pods[receiver.PodKey("default", "hog")]
		if !ok || !ok2 || !st.Usage.Available || !u.Timestamp.After(last) {
			return false
		}
		if !last.IsZero() {
			seen++
		}
		last = u.Timestamp
		return seen >= 2
	})
	sum := kubeletSummary(ctx, t, n)
	st, _ := rcv.Node(n.Name)
	assert.Equal(t, "kubelet", st.Usage.Source)
	// The summary's figures (the agent's own read of it, one interval
	// earlier at most): the writer's storage, the node's filesystem.
	if assert.NotNil(t, st.Usage.Node, "the node's reading") && assert.NotNil(t, st.Usage.Node.Filesystem, "the node's filesystem") {
		assert.Equal(t, sum.Node.FS.CapacityBytes, st.Usage.Node.Filesystem.CapacityBytes, "nodefs capacity")
	}
	w := st.Usage.Pods[receiver.PodKey("default", "writer")]
	for _, p := range sum.Pods {
		if p.PodRef.Name != "writer" {
			continue
		}
		if assert.NotNil(t, w.EphemeralStorage, "the writer's ephemeral storage") && assert.NotNil(t, w.EphemeralStorage.UsedBytes) {
			assert.GreaterOrEqual(t, *w.EphemeralStorage.UsedBytes, uint64(50<<20), "the 50 MiB written")
			assert.InEpsilon(t, float64(*p.Ephemeral.UsedBytes), float64(*w.EphemeralStorage.UsedBytes), 0.10, "ephemeral storage: agent vs kubelet summary")
		}
		var scratch *wire.VolumeUsage
		for i := range w.Volumes {
			if w.Volumes[i].Name == "scratch" {
				scratch = &w.Volumes[i]
			}
		}
		if assert.NotNil(t, scratch, "the scratch volume in %+v", w.Volumes) && assert.NotNil(t, scratch.UsedBytes) {
			assert.GreaterOrEqual(t, *scratch.UsedBytes, uint64(50<<20), "the scratch volume's 50 MiB")
		}
		// Network: where the summary has the pod's counters, so does the
		// agent (read first: no more than them); where it has none (this
		// node's kubelet gives none for pods on its bridge), neither.
		if p.Network != nil && p.Network.RxBytes != nil {
			if assert.NotNil(t, w.Network, "the writer's network, which the summary has") {
				assert.LessOrEqual(t, w.Network.RxBytes, *p.Network.RxBytes, "rx bytes only grow: the agent's read came first")
			}
		} else {
			assert.Nil(t, w.Network, "no network figures in the summary: unknown, not zero")
		}
		if w.EphemeralStorage != nil && w.EphemeralStorage.UsedBytes != nil {
			t.Logf("writer: ephemeral storage agent %d / summary %d bytes; volumes %d; network %+v", *w.EphemeralStorage.UsedBytes, *p.Ephemeral.UsedBytes, len(w.Volumes), w.Network)
		}
	}
	for _, name := range pods {
		u := st.Usage.Pods[receiver.PodKey("default", name)]
		found := false
		for _, p := range sum.Pods {
			if p.PodRef.Namespace != "default" || p.PodRef.Name != name {
				continue
			}
			found = true
			require.NotNil(t, p.Memory.WorkingSetBytes, "summary memory of %s", name)
			require.NotNil(t, p.CPU.UsageNanoCores, "summary CPU of %s", name)
			mem, cpu := float64(*p.Memory.WorkingSetBytes), float64(*p.CPU.UsageNanoCores)/1e9
			assert.True(t, memoryAgrees(float64(u.MemoryBytes), mem), "%s memory working set: agent %d, kubelet summary %.0f", name, u.MemoryBytes, mem)
			if name == "burn" {
				assert.InEpsilon(t, cpu, u.CPUCores, 0.10, "%s CPU: agent %.4f cores, kubelet summary %.4f", name, u.CPUCores, cpu)
			} else {
				// An idle process: both near zero, compared in millicores.
				assert.InDelta(t, cpu, u.CPUCores, 0.005, "%s CPU: agent %.4f cores, kubelet summary %.4f", name, u.CPUCores, cpu)
			}
			// Per container: the box container's working set.
			if assert.Len(t, u.Containers, 1, "%s's containers in the agent's reading", name) && assert.Len(t, p.Containers, 1) {
				require.NotNil(t, p.Containers[0].Memory.WorkingSetBytes)
				assert.Equal(t, "box", u.Containers[0].Name)
				assert.True(t, memoryAgrees(float64(u.Containers[0].MemoryBytes), float64(*p.Containers[0].Memory.WorkingSetBytes)),
					"%s container memory: agent %d, kubelet summary %d", name, u.Containers[0].MemoryBytes, *p.Containers[0].Memory.WorkingSetBytes)
			}
			t.Logf("usage %s: memory agent %d / summary %.0f bytes, CPU agent %.4f / summary %.4f cores; containers %+v", name, u.MemoryBytes, mem, u.CPUCores, cpu, u.Containers)
		}
		assert.True(t, found, "pod %s in the kubelet summary", name)
	}
}

// podLog is the agent container's log, through the API server.
func podLog(t *testing.T, cs kubernetes.Interface, pod string) string {
	t.Helper()
	b, err := cs.CoreV1().Pods(helmNamespace).GetLogs(pod, &corev1.PodLogOptions{Container: "catops"}).DoRaw(context.Background())
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return string(b)
}

// checkAgentLog asserts every line is JSON and the token absent; it
// returns the number of lines.
func checkAgentLog(t *testing.T, logText, token string) int {
	t.Helper()
	assert.NotContains(t, logText, token, "the agent logged its token")
	lines := 0
	for i, l := range strings.Split(strings.TrimRight(logText, "\n"), "\n") {
		if l == "" {
			continue
		}
		lines++
		assert.True(t, json.Valid([]byte(l)), "agent log line %d is not JSON: %q", i+1, l)
	}
	assert.Positive(t, lines, "the agent logged nothing")
	return lines
}

// churn creates a pod every 400 ms and deletes the oldest once more than
// three live, until stopped: changes that happen while the DaemonSet rolls,
// with at most 4 churn pods on the node at a time (maxPods is 30). A failed
// call is logged and left out of the counts: the receiver is compared with
// the API server afterwards whatever happened.
type churn struct {
	quit     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
	mu       sync.Mutex
	created  int
	deleted  int
}

func startChurn(ctx context.Context, t *testing.T, cs kubernetes.Interface, nodeName string) *churn {
	t.Helper()
	c := &churn{quit: make(chan struct{}), done: make(chan struct{})}
	t.Cleanup(func() { c.stop() })
	go func() {
		defer close(c.done)
		var live []string
		for i := 0; ; i++ {
			select {
			case <-c.quit:
				return
			case <-ctx.Done():
				return
			case <-time.After(400 * time.Millisecond):
			}
			name := fmt.Sprintf("churn-%d", i)
			_, err := cs.CoreV1().Pods("default").Create(ctx, boxPod(nodeName, name, corev1.RestartPolicyAlways, corev1.ResourceRequirements{}, "sleep"), metav1.CreateOptions{})
			if err != nil {
				if ctx.Err() == nil {
					t.Logf("churn: create %s: %v", name, err)
				}
				continue
			}
			live = append(live, name)
			c.mu.Lock()
			c.created++
			c.mu.Unlock()
			if len(live) > 3 {
				old := live[0]
				live = live[1:]
				if err := cs.CoreV1().Pods("default").Delete(ctx, old, metav1.DeleteOptions{}); err != nil {
					if ctx.Err() == nil {
						t.Logf("churn: delete %s: %v", old, err)
					}
					continue
				}
				c.mu.Lock()
				c.deleted++
				c.mu.Unlock()
			}
		}
	}()
	return c
}

// stop ends the churn (once) and returns its counts.
func (c *churn) stop() (created, deleted int) {
	c.stopOnce.Do(func() { close(c.quit) })
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.created, c.deleted
}

// requireReleaseGone waits until the release's objects are gone.
func requireReleaseGone(ctx context.Context, t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	sel := metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + helmRelease}
	var left []string
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		left = nil
		ds, err := cs.AppsV1().DaemonSets(helmNamespace).List(ctx, sel)
		require.NoError(t, err)
		for _, x := range ds.Items {
			left = append(left, "DaemonSet "+x.Name)
		}
		deps, err := cs.AppsV1().Deployments(helmNamespace).List(ctx, sel)
		require.NoError(t, err)
		for _, x := range deps.Items {
			left = append(left, "Deployment "+x.Name)
		}
		pods, err := cs.CoreV1().Pods(helmNamespace).List(ctx, sel) // the agents' and the reporter's
		require.NoError(t, err)
		for _, x := range pods.Items {
			left = append(left, "Pod "+x.Name)
		}
		roles, err := cs.RbacV1().Roles(helmNamespace).List(ctx, sel)
		require.NoError(t, err)
		for _, x := range roles.Items {
			left = append(left, "Role "+x.Name)
		}
		sas, err := cs.CoreV1().ServiceAccounts(helmNamespace).List(ctx, sel)
		require.NoError(t, err)
		for _, x := range sas.Items {
			left = append(left, "ServiceAccount "+x.Name)
		}
		for _, s := range []metav1.ListOptions{sel, {LabelSelector: "owner=helm,name=" + helmRelease}} {
			secrets, err := cs.CoreV1().Secrets(helmNamespace).List(ctx, s)
			require.NoError(t, err)
			for _, x := range secrets.Items {
				left = append(left, "Secret "+x.Name)
			}
		}
		crs, err := cs.RbacV1().ClusterRoles().List(ctx, sel)
		require.NoError(t, err)
		for _, x := range crs.Items {
			left = append(left, "ClusterRole "+x.Name)
		}
		crbs, err := cs.RbacV1().ClusterRoleBindings().List(ctx, sel)
		require.NoError(t, err)
		for _, x := range crbs.Items {
			left = append(left, "ClusterRoleBinding "+x.Name)
		}
		if len(left) == 0 {
			return
		}
	}
	t.Fatalf("left after helm uninstall: %s", strings.Join(left, ", "))
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}
