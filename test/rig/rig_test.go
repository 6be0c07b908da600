//go:build integration

package rig_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/catops/cli/test/rig"
)

func TestMain(m *testing.M) { rig.Main(m) }

// TestRigSmoke proves the rig end to end: kwok nodes become Ready, a pod
// bound to one of them goes Running through kwok, the API server's
// apiserver_request_total counts our requests, and a client keeps working
// across an API server restart (with etcd compacted meanwhile).
func TestRigSmoke(t *testing.T) {
	t0 := time.Now()
	c := rig.StartT(t, rig.Options{Kwok: true, Nodes: 2, ControllerManager: true, Scheduler: true})
	t.Logf("cluster with 2 Ready kwok nodes in %.1fs", time.Since(t0).Seconds())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	if _, err := os.Stat(c.Kubeconfig); err != nil {
		t.Fatalf("kubeconfig: %v", err)
	}
	cs, err := c.Clientset()
	if err != nil {
		t.Fatal(err)
	}

	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != 2 {
		t.Fatalf("want 2 nodes, got %d", len(nodes.Items))
	}
	for _, n := range nodes.Items {
		if !nodeReady(&n) {
			t.Fatalf("node %s not Ready: %+v", n.Name, n.Status.Conditions)
		}
		if n.Status.DaemonEndpoints.KubeletEndpoint.Port == 0 {
			t.Errorf("node %s has no kubelet port (kwok's server)", n.Name)
		}
	}

	// A pod bound to kwok-node-1 directly (no scheduler involved).
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "smoke", Namespace: "default", Labels: map[string]string{"app": "smoke"}},
		Spec: corev1.PodSpec{
			NodeName:   "kwok-node-1",
			Containers: []corev1.Container{{Name: "main", Image: "example.invalid/smoke:1"}},
		},
	}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	running, err := c.WaitPodRunning(ctx, "default", "smoke", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if running.Spec.NodeName != "kwok-node-1" || running.Status.PodIP == "" || len(running.Status.ContainerStatuses) != 1 ||
		!running.Status.ContainerStatuses[0].Ready || running.Status.ContainerStatuses[0].State.Running == nil {
		t.Fatalf("pod not Running as expected: node=%q ip=%q statuses=%+v", running.Spec.NodeName, running.Status.PodIP, running.Status.ContainerStatuses)
	}

	// kwok serves kubelet-style resource metrics for the node and the pod
	// (the pod's series show up shortly after it runs).
	var km rig.Samples
	var cm rig.Samples
	for deadline := time.Now().Add(20 * time.Second); ; {
		if km, err = c.KubeletResourceMetrics(ctx, "kwok-node-1"); err != nil {
			t.Fatal(err)
		}
		cm = km.Filter("container_memory_working_set_bytes", map[string]string{"namespace": "default", "pod": "smoke", "container": "main"})
		if len(cm) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(km.Filter("node_memory_working_set_bytes", nil)) != 1 {
		t.Errorf("kwok node metrics: no node_memory_working_set_bytes in %v", km)
	}
	if len(cm) != 1 || cm[0].Value != 8*1024*1024 {
		t.Errorf("kwok container metrics for smoke/main: %v", cm)
	}

	// A pod left to the scheduler lands on a kwok node and runs too.
	pod2 := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "scheduled", Namespace: "default"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "example.invalid/smoke:1"}}},
	}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod2, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if p, err := c.WaitPodRunning(ctx, "default", "scheduled", 60*time.Second); err != nil {
		t.Fatal(err)
	} else if p.Spec.NodeName == "" {
		t.Fatal("scheduled pod has no node")
	}

	// apiserver_request_total counts our LISTs of pods.
	before, err := c.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	after, err := c.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := after.APIRequests("LIST", "pods") - before.APIRequests("LIST", "pods"); got < 3 {
		t.Fatalf("apiserver_request_total{verb=LIST,resource=pods} grew by %v, want >= 3", got)
	}
	if after.APIRequests("POST", "pods") < 2 {
		t.Fatalf("apiserver_request_total{verb=POST,resource=pods} = %v, want >= 2", after.APIRequests("POST", "pods"))
	}

	// Deleting the pod: kwok plays the kubelet and it goes away.
	if err := cs.CoreV1().Pods("default").Delete(ctx, "scheduled", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, ctx, func() error {
		_, err := cs.CoreV1().Pods("default").Get(ctx, "scheduled", metav1.GetOptions{})
		return err
	})

	// Restart the API server, compacting etcd while it is down; the same
	// clientset works again afterwards and the data is still there.
	oldPID := c.PID(rig.CompAPIServer)
	rev1, err := c.EtcdRevision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Pods("default").Get(ctx, "smoke", metav1.GetOptions{}); err == nil {
		t.Fatal("API server still answering after StopAPIServer")
	}
	rev, err := c.CompactEtcd(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rev < rev1 {
		t.Fatalf("compacted at %d, below earlier revision %d", rev, rev1)
	}
	t1 := time.Now()
	if err := c.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("API server back in %.1fs", time.Since(t1).Seconds())
	if c.PID(rig.CompAPIServer) == oldPID {
		t.Fatal("API server PID unchanged: not restarted")
	}
	got, err := cs.CoreV1().Pods("default").Get(ctx, "smoke", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("client after restart: %v", err)
	}
	if got.Status.Phase != corev1.PodRunning {
		t.Fatalf("pod after restart: phase %q", got.Status.Phase)
	}
	// A list from before the compaction is now too old.
	_, err = cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{ResourceVersion: "1", ResourceVersionMatch: metav1.ResourceVersionMatchExact})
	if err == nil {
		t.Fatal("exact LIST at resourceVersion 1 succeeded after compaction")
	}
	// The new process has its own counters and counts the GET above.
	m, err := c.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.APIRequests("GET", "pods") < 1 {
		t.Fatal("GET pods after restart not counted")
	}

	// kwok still manages nodes and pods after the restart.
	if _, err := c.CreateNode(ctx, rig.NodeOptions{
		Name:   "kwok-tainted",
		Labels: map[string]string{"pool": "special"},
		Taints: []corev1.Taint{{Key: "dedicated", Value: "special", Effect: corev1.TaintEffectNoSchedule}},
	}); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitNodeReady(ctx, "kwok-tainted", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	pod3 := pod.DeepCopy()
	pod3.Name, pod3.Spec.NodeName = "after-restart", "kwok-node-2"
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod3, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitPodRunning(ctx, "default", "after-restart", 30*time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestRigStopLeavesNothing checks that Stop kills every process.
func TestRigStopLeavesNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := rig.Start(ctx, rig.Options{Kwok: true, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	comps := []string{rig.CompEtcd, rig.CompAPIServer, rig.CompKwok}
	pids := map[string]int{}
	for _, name := range comps {
		pids[name] = c.PID(name)
		if pids[name] == 0 || !c.Running(name) {
			t.Fatalf("%s not running", name)
		}
	}
	dir := c.Dir
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, name := range comps {
		if _, err := os.Stat("/proc/" + itoa(pids[name])); err == nil {
			t.Errorf("%s (pid %d) still exists after Stop", name, pids[name])
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("data folder %s not removed: %v", dir, err)
	}
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func waitGone(t *testing.T, ctx context.Context, get func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		err := get()
		if apierrors.IsNotFound(err) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatal("object still there after 30s")
}

func itoa(n int) string {
	return strconv.Itoa(n)
}

// TestRigMetricsAPI proves the Metrics API path: metrics-server scrapes kwok's
// simulated kubelets and the API server serves metrics.k8s.io through the
// aggregation layer; removing the APIService gives 404, restoring it works.
func TestRigMetricsAPI(t *testing.T) {
	c := rig.StartT(t, rig.Options{Kwok: true, Nodes: 1, MetricsServer: true})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cs, err := c.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "busy", Namespace: "default", Annotations: map[string]string{
			rig.UsageCPUAnnotation:    "250m",
			rig.UsageMemoryAnnotation: "64Mi",
		}},
		Spec: corev1.PodSpec{NodeName: "kwok-node-1", Containers: []corev1.Container{{Name: "main", Image: "example.invalid/busy:1"}}},
	}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitPodRunning(ctx, "default", "busy", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	var body []byte
	for {
		body, err = c.Get(ctx, "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/busy")
		if err == nil {
			break
		}
		if time.Since(t0) > 90*time.Second {
			t.Fatalf("pod metrics never appeared: %v", err)
		}
		time.Sleep(time.Second)
	}
	t.Logf("pod metrics after %.1fs: %s", time.Since(t0).Seconds(), body)
	var pm struct {
		Containers []struct {
			Name  string            `json:"name"`
			Usage map[string]string `json:"usage"`
		} `json:"containers"`
	}
	if err := json.Unmarshal(body, &pm); err != nil {
		t.Fatal(err)
	}
	if len(pm.Containers) != 1 || pm.Containers[0].Usage["memory"] != "64Mi" {
		t.Fatalf("pod metrics: %s", body)
	}
	if cpu := pm.Containers[0].Usage["cpu"]; cpu == "" || cpu == "0" {
		t.Fatalf("pod cpu usage %q", cpu)
	}
	if _, err := c.Get(ctx, "/apis/metrics.k8s.io/v1beta1/nodes/kwok-node-1"); err != nil {
		t.Fatalf("node metrics: %v", err)
	}

	if err := c.UnregisterMetricsAPI(ctx); err != nil {
		t.Fatal(err)
	}
	var herr *rig.HTTPError
	_, err = c.Get(ctx, "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/busy")
	if !errors.As(err, &herr) || herr.Status != 404 {
		t.Fatalf("after unregistering: want 404, got %v", err)
	}
	if err := c.RegisterMetricsAPI(ctx, c.MetricsServerPort()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/busy"); err != nil {
		t.Fatalf("after re-registering: %v", err)
	}
}
