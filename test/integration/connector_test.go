//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"

	"github.com/catops/cli/pkg/config"
	"github.com/catops/cli/pkg/receiver"
	"github.com/catops/cli/pkg/telemetry/prom/promtest"
	"github.com/catops/cli/test/rig"
)

// TestNodeScoping: pods created, updated and deleted on the agent's node
// reach the receiver; pods on the other node never do.
func TestNodeScoping(t *testing.T) {
	c := rig.Shared(t)
	cs, err := c.Clientset()
	require.NoError(t, err)
	ctx := context.Background()
	ns := "scoping"
	ensureNamespace(t, cs, ns)
	_, err = cs.CoreV1().Pods(ns).Create(ctx, newPod(ns, "before-start", node1), metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.CoreV1().Pods(ns).Create(ctx, newPod(ns, "elsewhere-1", node2), metav1.CreateOptions{})
	require.NoError(t, err)

	a := startAgent(t, c.RESTConfig(), node1, nil)
	a.waitFor("the start snapshot", 30*time.Second, func(st receiver.NodeState) bool {
		_, ok := st.Pods[ns+"/before-start"]
		return ok && st.Node != nil && st.Node.Name == node1
	})

	for i := range 3 {
		_, err = cs.CoreV1().Pods(ns).Create(ctx, newPod(ns, fmt.Sprintf("mine-%d", i), node1), metav1.CreateOptions{})
		require.NoError(t, err)
		_, err = cs.CoreV1().Pods(ns).Create(ctx, newPod(ns, fmt.Sprintf("elsewhere-%d", i+2), node2), metav1.CreateOptions{})
		require.NoError(t, err)
	}
	a.waitFor("kwok's Running phase for my pods", 60*time.Second, func(st receiver.NodeState) bool {
		for i := range 3 {
			if st.Pods[fmt.Sprintf("%s/mine-%d", ns, i)].Phase != "Running" {
				return false
			}
		}
		return true
	})

	// Label change and a restart recorded in the status.
	p, err := cs.CoreV1().Pods(ns).Get(ctx, "mine-0", metav1.GetOptions{})
	require.NoError(t, err)
	p.Labels["tier"] = "frontend"
	p, err = cs.CoreV1().Pods(ns).Update(ctx, p, metav1.UpdateOptions{})
	require.NoError(t, err)
	a.waitFor("the label change", 30*time.Second, func(st receiver.NodeState) bool {
		return st.Pods[ns+"/mine-0"].Labels["tier"] == "frontend"
	})
	require.NotEmpty(t, p.Status.ContainerStatuses)
	p.Status.ContainerStatuses[0].RestartCount = 4
	p.Status.ContainerStatuses[0].LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		Reason: "OOMKilled", ExitCode: 137, FinishedAt: metav1.Now()}}
	_, err = cs.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	require.NoError(t, err)
	a.waitFor("the restart", 30*time.Second, func(st receiver.NodeState) bool {
		got := st.Pods[ns+"/mine-0"]
		return got.RestartCount == 4 && len(got.Containers) == 1 && got.Containers[0].LastTermination != nil &&
			got.Containers[0].LastTermination.Reason == "OOMKilled"
	})

	require.NoError(t, cs.CoreV1().Pods(ns).Delete(ctx, "mine-1", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}))
	a.waitFor("the delete and the API's exact state", 60*time.Second, equalsTruth(t, cs, node1))

	for key := range a.rec.UpsertedPods() {
		assert.NotContains(t, key, "elsewhere", "a pod of another node reached the receiver")
	}
	assert.Contains(t, a.rec.UpsertedPods(), ns+"/mine-2")
}

// TestNoPolling: in steady state the connector makes no LIST or GET of
// pods or nodes and starts no new watch. At start it makes no LIST either
// when the API server streams the initial list (WatchList, on by default
// since Kubernetes 1.34); else exactly one per resource.
func TestNoPolling(t *testing.T) {
	c := rig.Shared(t)
	cs, err := c.Clientset()
	require.NoError(t, err)
	ctx := context.Background()
	mode := probeInitialList(t, c)
	ns := "polling"
	createPods(t, cs, ns, "p", 5)
	start := time.Now()
	a := startAgent(t, c.RESTConfig(), node1, nil) // 1 s collection interval
	a.waitFor("the start snapshot", 30*time.Second, func(st receiver.NodeState) bool { return len(st.Pods) >= 5 })
	synced := time.Now()

	before, err := c.Metrics(ctx)
	require.NoError(t, err)
	const window = 15 * time.Second // 15 collection intervals
	// Changes during the window must arrive through the watch alone.
	time.Sleep(window / 3)
	_, err = cs.CoreV1().Pods(ns).Create(ctx, newPod(ns, "during-window", node1), metav1.CreateOptions{})
	require.NoError(t, err)
	a.waitFor("a pod created in the window", 30*time.Second, func(st receiver.NodeState) bool {
		_, ok := st.Pods[ns+"/during-window"]
		return ok
	})
	time.Sleep(time.Until(synced.Add(window)))
	end := time.Now()
	after, err := c.Metrics(ctx)
	require.NoError(t, err)

	startup := agentRequests(t, start, synced)
	steady := agentRequests(t, synced, end)
	// After a LIST the caches count as synced before the WATCH that
	// follows it starts: watches are counted over the whole run.
	watches := agentRequests(t, start, end)
	t.Logf("agent requests at start: %v; in %s of steady state: %v", startup, end.Sub(synced).Round(time.Second), steady)
	wantLists, wantWatches, why := 0, 1, "the initial sync streams through the watch (WatchList)"
	switch mode {
	case listRefused:
		wantLists, why = 1, "the server refuses WatchList: client-go lists once, then watches"
	case listIgnored:
		wantLists, wantWatches, why = 1, 2, "the server ignores WatchList: the agent falls back to one LIST and a new WATCH"
	}
	for _, res := range []string{"pods", "nodes"} {
		assert.Equal(t, wantLists, startup["list "+res], "LISTs of %s at start: %s", res, why)
		assert.Equal(t, wantWatches, watches["watch "+res], "WATCHes of %s in the whole run: %s; none opened in steady state", res, why)
	}
	for _, key := range []string{"list pods", "get pods", "list nodes", "get nodes"} {
		assert.Zero(t, steady[key], "steady state must not %s", key)
	}
	for _, res := range []string{"pods", "nodes"} {
		assert.Zero(t, after.APIRequests("LIST", res)-before.APIRequests("LIST", res),
			"apiserver_request_total{verb=LIST,resource=%s} grew during steady state", res)
	}
	assert.Zero(t, promtest.Value(a.metrics.WatchRestarts.WithLabelValues("pods")))
}

// TestWatchLossAfterAPIServerRestartAndCompaction: the API server restarts
// and etcd is compacted while pods change; afterwards the receiver's state
// is exactly the API server's.
func TestWatchLossAfterAPIServerRestartAndCompaction(t *testing.T) {
	c := rig.Shared(t)
	cs, err := c.Clientset()
	require.NoError(t, err)
	ctx := context.Background()
	ns := "watchloss"
	createPods(t, cs, ns, "old-", 6)
	a := startAgent(t, c.RESTConfig(), node1, nil)
	a.waitFor("the start snapshot", 30*time.Second, equalsTruth(t, cs, node1))

	restarted := time.Now()
	require.NoError(t, c.StopAPIServer())
	require.NoError(t, c.StartAPIServer(ctx))
	cs, err = c.Clientset()
	require.NoError(t, err)
	// Change things while the agent's watch is reconnecting, then compact
	// etcd so its last resourceVersion is gone (410 Gone → re-list).
	for i := range 3 {
		require.NoError(t, cs.CoreV1().Pods(ns).Delete(ctx, fmt.Sprintf("old-%d", i), metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}))
		_, err = cs.CoreV1().Pods(ns).Create(ctx, newPod(ns, fmt.Sprintf("new-%d", i), node1), metav1.CreateOptions{})
		require.NoError(t, err)
	}
	_, err = c.CompactEtcd(ctx)
	require.NoError(t, err)
	require.NoError(t, c.RestartAPIServer(ctx))
	cs, err = c.Clientset()
	require.NoError(t, err)
	_, err = cs.CoreV1().Pods(ns).Create(ctx, newPod(ns, "after-compaction", node1), metav1.CreateOptions{})
	require.NoError(t, err)

	a.waitFor("the API server's exact state: no ghost pods, none missing", 90*time.Second, equalsTruth(t, cs, node1))
	reconnects := agentRequests(t, restarted, time.Now())
	t.Logf("agent requests after the restart: %v", reconnects)
	assert.Positive(t, reconnects["watch pods"], "the agent re-established its pod watch")
}

// TestBackendOutageDeliversEverything: the receiver is down for several
// intervals while pods change; afterwards every change arrived, once.
func TestBackendOutageDeliversEverything(t *testing.T) {
	c := rig.Shared(t)
	cs, err := c.Clientset()
	require.NoError(t, err)
	ctx := context.Background()
	ns := "outage"
	ensureNamespace(t, cs, ns)
	_, err = cs.CoreV1().Pods(ns).Create(ctx, newPod(ns, "api", node1), metav1.CreateOptions{})
	require.NoError(t, err)
	a := startAgent(t, c.RESTConfig(), node1, nil)
	a.waitFor("the start snapshot", 30*time.Second, func(st receiver.NodeState) bool { _, ok := st.Pods[ns+"/api"]; return ok })

	a.rcv.SetDown(true)
	const steps = 5
	for i := 1; i <= steps; i++ {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, "api", metav1.GetOptions{})
		require.NoError(t, err)
		p.Labels["step"] = strconv.Itoa(i)
		_, err = cs.CoreV1().Pods(ns).Update(ctx, p, metav1.UpdateOptions{})
		require.NoError(t, err)
		time.Sleep(1200 * time.Millisecond) // more than a flush delay: no two steps coalesce
	}
	_, err = cs.CoreV1().Pods(ns).Create(ctx, newPod(ns, "born-in-outage", node1), metav1.CreateOptions{})
	require.NoError(t, err)
	time.Sleep(3 * time.Second) // several collection intervals down
	// The agent sends on its own goroutine: wait until it has met the
	// outage rather than read its counter once.
	failed5xx := func() float64 { return promtest.Value(a.metrics.BatchesFailed.WithLabelValues("status_5xx")) }
	require.Eventually(t, func() bool { return failed5xx() > 0 }, 30*time.Second, 100*time.Millisecond,
		"the agent never saw the outage: catops_batches_failed_total{reason=\"status_5xx\"} stayed 0 while the receiver answered 503")
	a.rcv.SetDown(false)

	a.waitFor("everything after the outage", 60*time.Second, equalsTruth(t, cs, node1))
	var seen []string
	for _, p := range a.rec.Upserts(ns, "api") {
		if v := p.Labels["step"]; v != "" {
			seen = append(seen, v)
		}
	}
	assert.Equal(t, []string{"1", "2", "3", "4", "5"}, seen, "each change once, in order")
}

// TestLeastPrivilege runs the agent with the ServiceAccount of deploy/ and
// its token instead of admin: it works, and it cannot read Secrets or write.
func TestLeastPrivilege(t *testing.T) {
	c := rig.Shared(t)
	cs, err := c.Clientset()
	require.NoError(t, err)
	ctx := context.Background()
	ensureNamespace(t, cs, "catops-system")
	applyRBAC(t, cs, "../../deploy/catops.yaml")

	tok, err := cs.CoreV1().ServiceAccounts("catops-system").CreateToken(ctx, "catops",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	require.NoError(t, err)

	ns := "privilege"
	sa := "system:serviceaccount:catops-system:catops"
	allowed := []authorizationv1.ResourceAttributes{
		{Verb: "list", Resource: "pods"}, {Verb: "watch", Resource: "pods"}, {Verb: "get", Resource: "pods", Namespace: ns},
		{Verb: "list", Resource: "nodes"}, {Verb: "watch", Resource: "nodes"}, {Verb: "get", Resource: "nodes"},
		{Verb: "get", Group: "metrics.k8s.io", Resource: "nodes"}, {Verb: "list", Group: "metrics.k8s.io", Resource: "pods", Namespace: ns},
	}
	// The RBAC authorizer reads roles and bindings from its own informers:
	// a binding just created takes effect a moment later. Start the agent
	// only once the grant is in force, or its first requests are forbidden.
	require.Eventually(t, func() bool {
		for _, ra := range allowed {
			if ok, err := accessReview(cs, sa, ra); err != nil || !ok {
				return false
			}
		}
		return true
	}, 30*time.Second, 100*time.Millisecond, "the RBAC of deploy/catops.yaml never took effect for %s", sa)

	ensureNamespace(t, cs, ns)
	_, err = cs.CoreV1().Pods(ns).Create(ctx, newPod(ns, "seen-by-sa", node1), metav1.CreateOptions{})
	require.NoError(t, err)
	a := startAgent(t, c.TokenRESTConfig(tok.Status.Token), node1, func(cfg *configT) { cfg.PodMetricsSource = "metrics-api" })
	a.waitFor("pods shipped under the ServiceAccount's identity", 30*time.Second, func(st receiver.NodeState) bool {
		_, ok := st.Pods[ns+"/seen-by-sa"]
		return ok && st.Node != nil
	})
	assert.NotContains(t, a.logText(), "forbidden", "the ServiceAccount's RBAC is enough")

	denied := []authorizationv1.ResourceAttributes{
		{Verb: "get", Resource: "secrets", Namespace: "catops-system"}, {Verb: "list", Resource: "secrets"},
		{Verb: "create", Resource: "pods", Namespace: ns}, {Verb: "delete", Resource: "pods", Namespace: ns},
		{Verb: "patch", Resource: "pods", Namespace: ns}, {Verb: "update", Resource: "nodes"}, {Verb: "delete", Resource: "nodes"},
		{Verb: "list", Resource: "configmaps"}, {Verb: "create", Resource: "pods", Subresource: "exec", Namespace: ns},
		{Verb: "get", Resource: "nodes", Subresource: "proxy"}, {Verb: "watch", Group: "metrics.k8s.io", Resource: "pods"},
		// Only a chart installed with podMetrics.source=kubelet grants it.
		{Verb: "get", Resource: "nodes", Subresource: "metrics"},
	}
	for _, ra := range allowed {
		assert.True(t, canI(t, cs, sa, ra), "%s must be allowed: %+v", sa, ra)
	}
	for _, ra := range denied {
		assert.False(t, canI(t, cs, sa, ra), "%s must be denied: %+v", sa, ra)
	}
}

func canI(t *testing.T, cs kubernetes.Interface, user string, ra authorizationv1.ResourceAttributes) bool {
	t.Helper()
	ok, err := accessReview(cs, user, ra)
	require.NoError(t, err)
	return ok
}

// accessReview asks the API server whether user (a ServiceAccount of
// catops-system) may do ra.
func accessReview(cs kubernetes.Interface, user string, ra authorizationv1.ResourceAttributes) (bool, error) {
	sar, err := cs.AuthorizationV1().SubjectAccessReviews().Create(context.Background(), &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{User: user, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:catops-system", "system:authenticated"},
			ResourceAttributes: &ra}}, metav1.CreateOptions{})
	if err != nil {
		return false, err
	}
	return sar.Status.Allowed, nil
}

// applyRBAC creates the ServiceAccount, ClusterRole and ClusterRoleBinding
// of a manifest file (the DaemonSet is left out: kwok runs no containers).
func applyRBAC(t *testing.T, cs kubernetes.Interface, path string) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	ctx := context.Background()
	for {
		var raw runtime.RawExtension
		if err := dec.Decode(&raw); err != nil {
			break
		}
		if len(raw.Raw) == 0 {
			continue
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(raw.Raw, nil, nil)
		require.NoError(t, err)
		switch o := obj.(type) {
		case *corev1.ServiceAccount:
			_, err = cs.CoreV1().ServiceAccounts(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.ClusterRole:
			_, err = cs.RbacV1().ClusterRoles().Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.ClusterRoleBinding:
			_, err = cs.RbacV1().ClusterRoleBindings().Create(ctx, o, metav1.CreateOptions{})
		default:
			continue
		}
		if err != nil && !isAlreadyExists(err) {
			require.NoError(t, err)
		}
	}
}

type configT = config.Config

func isAlreadyExists(err error) bool { return apierrors.IsAlreadyExists(err) }
