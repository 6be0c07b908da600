package podcache

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"

	"github.com/catops/cli/pkg/podcache/podcachetest"
)

func pod(name, node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name,
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
			Annotations: map[string]string{
				"small": "yes",
				"kubectl.kubernetes.io/last-applied-configuration": strings.Repeat("x", 4096),
			}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{
			Name: "app", Image: "img", Env: []corev1.EnvVar{{Name: "SECRETISH", Value: "v"}},
			Command: []string{"/bin/app"},
		}}, Volumes: []corev1.Volume{{Name: "v"}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}
}

// startCache starts a cache over a fake clientset and records the list and
// watch options the informers asked for.
func startCache(t *testing.T, objs ...runtime.Object) (*Cache, *fake.Clientset, func() map[string][]string) {
	t.Helper()
	client := fake.NewClientset(objs...)
	var mu sync.Mutex
	selectors := map[string][]string{}
	record := func(a k8stesting.Action) (bool, runtime.Object, error) {
		var fs string
		switch act := a.(type) {
		case k8stesting.ListActionImpl:
			fs = act.ListOptions.FieldSelector
		case k8stesting.WatchActionImpl:
			fs = act.WatchRestrictions.Fields.String()
		}
		mu.Lock()
		selectors[a.GetVerb()+" "+a.GetResource().Resource] = append(selectors[a.GetVerb()+" "+a.GetResource().Resource], fs)
		mu.Unlock()
		return false, nil, nil
	}
	client.PrependReactor("list", "*", record)
	client.PrependWatchReactor("*", func(a k8stesting.Action) (bool, watch.Interface, error) {
		_, _, _ = record(a)
		return false, nil, nil
	})
	c, err := New(podcachetest.Clientset{Interface: client}, "node-a", zap.NewNop(), Options{})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); c.Shutdown(context.Background()) })
	c.Start(ctx)
	require.True(t, c.WaitForSync(ctx))
	return c, client, func() map[string][]string {
		mu.Lock()
		defer mu.Unlock()
		out := map[string][]string{}
		for k, v := range selectors {
			out[k] = append([]string(nil), v...)
		}
		return out
	}
}

func TestInformersAreScopedToTheNode(t *testing.T) {
	c, _, selectors := startCache(t, pod("mine", "node-a"), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}})
	assert.True(t, c.HasSynced())
	require.Eventually(t, func() bool { return len(selectors()["watch pods"]) > 0 && len(selectors()["watch nodes"]) > 0 },
		5*time.Second, 10*time.Millisecond)
	s := selectors()
	for _, fs := range append(s["list pods"], s["watch pods"]...) {
		assert.Equal(t, "spec.nodeName=node-a", fs, "every pod list and watch is node-scoped")
	}
	for _, fs := range append(s["list nodes"], s["watch nodes"]...) {
		assert.Equal(t, "metadata.name=node-a", fs, "the node watch is a single-object watch")
	}
	_, ok := c.Node()
	assert.True(t, ok)
}

func TestTransformSlimsCachedPods(t *testing.T) {
	c, _, _ := startCache(t, pod("mine", "node-a"))
	p, ok := c.Pod("ns/mine")
	require.True(t, ok)
	assert.Nil(t, p.ManagedFields)
	assert.Equal(t, map[string]string{"small": "yes"}, p.Annotations, "large annotations are dropped")
	assert.Nil(t, p.Spec.Volumes)
	require.Len(t, p.Spec.Containers, 1)
	assert.Nil(t, p.Spec.Containers[0].Env, "env is never cached")
	assert.Nil(t, p.Spec.Containers[0].Command)
	assert.Equal(t, "img", p.Spec.Containers[0].Image)
}

func TestHandlersMarkChanges(t *testing.T) {
	c, client, _ := startCache(t)
	ctx := context.Background()
	keys, _ := c.TakeDirty()
	assert.Empty(t, keys)

	_, err := client.CoreV1().Pods("ns").Create(ctx, pod("web", "node-a"), metav1.CreateOptions{})
	require.NoError(t, err)
	waitDirty(t, c, "ns/web")

	p, _ := c.Pod("ns/web")
	upd := p.DeepCopy()
	upd.Status.Phase = corev1.PodRunning
	_, err = client.CoreV1().Pods("ns").UpdateStatus(ctx, upd, metav1.UpdateOptions{})
	require.NoError(t, err)
	waitDirty(t, c, "ns/web")
	p, _ = c.Pod("ns/web")
	assert.Equal(t, corev1.PodRunning, p.Status.Phase)

	require.NoError(t, client.CoreV1().Pods("ns").Delete(ctx, "web", metav1.DeleteOptions{}))
	waitDirty(t, c, "ns/web")
	_, ok := c.Pod("ns/web")
	assert.False(t, ok)

	_, err = client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool { _, n := c.TakeDirty(); return n }, 5*time.Second, 10*time.Millisecond)
}

func waitDirty(t *testing.T, c *Cache, key string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case <-c.Changed():
			if keys, _ := c.TakeDirty(); len(keys) == 1 && keys[0] == key {
				return
			}
		case <-deadline:
			t.Fatalf("no change marked for %s", key)
		}
	}
}

func TestSlimPassesTombstonesThrough(t *testing.T) {
	tomb := cache.DeletedFinalStateUnknown{Key: "ns/x", Obj: pod("x", "node-a")}
	out, err := slim(tomb)
	require.NoError(t, err)
	assert.Equal(t, tomb, out)
}

func TestSlimNodeDropsHeartbeats(t *testing.T) {
	n := &corev1.Node{Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{
		Type: corev1.NodeReady, Status: corev1.ConditionTrue, Message: "kubelet is posting ready status",
		LastHeartbeatTime: metav1.Now(),
	}}, Images: []corev1.ContainerImage{{Names: []string{"big"}}}}}
	out := slimNode(n)
	assert.True(t, out.Status.Conditions[0].LastHeartbeatTime.IsZero())
	assert.Empty(t, out.Status.Conditions[0].Message)
	assert.Nil(t, out.Status.Images)
}

// TestSlimNodeKeepsTheKubeletEndpoint: the kubelet usage source builds its
// URL from what the cached Node keeps.
func TestSlimNodeKeepsTheKubeletEndpoint(t *testing.T) {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a", Annotations: map[string]string{
		"metrics.k8s.io/resource-metrics-path": "/metrics/nodes/node-a/metrics/resource",
	}}}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.7"}}
	n.Status.DaemonEndpoints.KubeletEndpoint.Port = 10250
	out := slimNode(n)
	assert.Equal(t, n.Status.Addresses, out.Status.Addresses)
	assert.Equal(t, int32(10250), out.Status.DaemonEndpoints.KubeletEndpoint.Port)
	assert.Equal(t, "/metrics/nodes/node-a/metrics/resource", out.Annotations["metrics.k8s.io/resource-metrics-path"])
}

// TestSlimPodKeepsWhatRestartsNeed: the pod's restart count follows
// kubectl's rule, which needs each init container's restart policy (native
// sidecars) and the Initialized condition.
func TestSlimPodKeepsWhatRestartsNeed(t *testing.T) {
	p := pod("x", "node-a")
	always := corev1.ContainerRestartPolicyAlways
	p.Spec.InitContainers = []corev1.Container{{Name: "proxy", RestartPolicy: &always, Command: []string{"big"}}}
	p.Status.Conditions = []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, Message: "dropped"},
		{Type: corev1.PodInitialized, Status: corev1.ConditionFalse, Message: "dropped"},
		{Type: corev1.PodReady, Status: corev1.ConditionTrue},
	}
	out := slimPod(p)
	require.Len(t, out.Spec.InitContainers, 1)
	assert.Equal(t, &always, out.Spec.InitContainers[0].RestartPolicy)
	assert.Nil(t, out.Spec.InitContainers[0].Command)
	assert.Equal(t, []corev1.PodCondition{
		{Type: corev1.PodInitialized, Status: corev1.ConditionFalse},
		{Type: corev1.PodReady, Status: corev1.ConditionTrue},
	}, out.Status.Conditions)
}
