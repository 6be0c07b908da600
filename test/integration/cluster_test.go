//go:build integration

package integration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/catops/cli/pkg/wire"
	"github.com/catops/cli/test/rig"
)

// runID names one run of a test: the shared cluster keeps what earlier
// runs made (go test -count=N).
func runID(t *testing.T) string {
	t.Helper()
	var b [3]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	return hex.EncodeToString(b[:])
}

// waitEvents waits until cond holds on the events the backend accepted.
func waitEvents(t *testing.T, b *clusterBackend, what string, timeout time.Duration, cond func([]wire.ClusterEvent) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond(b.events()) {
		if time.Now().After(deadline) {
			t.Fatalf("waiting %s for %s; the backend accepted %d requests", timeout, what, len(b.accepted()))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func eventsOf(evs []wire.ClusterEvent, typ wire.EventType) []wire.ClusterEvent {
	var out []wire.ClusterEvent
	for _, e := range evs {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// leaderPosts returns the accepted requests' leader identities in order,
// with consecutive repeats merged: one entry per uninterrupted run.
func leaderRuns(posts []clusterPost) []string {
	var out []string
	for _, p := range posts {
		if len(out) == 0 || out[len(out)-1] != p.leader.Identity {
			out = append(out, p.leader.Identity)
		}
	}
	return out
}

// TestClusterReporterContent: the reporter's first snapshot and then its
// deltas carry what the API server holds: a Deployment stuck at 1 of 3
// ready, a pod the scheduler cannot place (gone from the stream once bound),
// a crash loop's warning counted up 30 times (sent a few times with its
// latest count, not 30 times), the nodes' summary. After its start it makes
// no request to the API server but WATCHes and its Lease's.
func TestClusterReporterContent(t *testing.T) {
	c := rig.Shared(t)
	cs, err := c.Clientset()
	require.NoError(t, err)
	ctx := context.Background()
	ns := "reporter-content-" + runID(t) // a run of its own: -count=N reruns on the same cluster
	ensureNamespace(t, cs, ns)
	d, err := cs.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop-api"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](3), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "shop-api"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "shop-api"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "example.invalid/app:1"}}}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 3, ReadyReplicas: 1, AvailableReplicas: 1, UpdatedReplicas: 3,
		Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded",
			Message: `ReplicaSet "shop-api-7d9c" has timed out progressing.`, LastTransitionTime: metav1.Now(), LastUpdateTime: metav1.Now()}}}
	_, err = cs.AppsV1().Deployments(ns).UpdateStatus(ctx, d, metav1.UpdateOptions{})
	require.NoError(t, err)
	pending := newPod(ns, "big-batch", "")
	pending.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Gi")}
	pending, err = cs.CoreV1().Pods(ns).Create(ctx, pending, metav1.CreateOptions{})
	require.NoError(t, err)
	pending.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
		Message: "0/2 nodes are available: 2 Insufficient memory.", LastTransitionTime: metav1.Now()}}
	_, err = cs.CoreV1().Pods(ns).UpdateStatus(ctx, pending, metav1.UpdateOptions{})
	require.NoError(t, err)

	b := newClusterBackend(t)
	t0 := time.Now()
	lease := "content-lease-" + runID(t)
	rep := startReporter(t, c, b, "reporter-a", lease, nil)
	waitEvents(t, b, "the first snapshot", 60*time.Second, func(evs []wire.ClusterEvent) bool { return len(eventsOf(evs, wire.EventSnapshotEnd)) == 1 })
	synced := time.Now()
	t.Logf("first snapshot %s after start", synced.Sub(t0).Round(time.Millisecond))

	evs := b.events()
	workload := func(evs []wire.ClusterEvent, name string) *wire.WorkloadStatus {
		var last *wire.WorkloadStatus
		for _, e := range eventsOf(evs, wire.EventWorkload) {
			if e.Workload.Namespace == ns && e.Workload.Name == name {
				last = e.Workload
			}
		}
		return last
	}
	w := workload(evs, "shop-api")
	require.NotNil(t, w, "the Deployment in the snapshot")
	assert.Equal(t, []int32{3, 1, 1}, []int32{*w.Desired, *w.Ready, *w.Available})
	require.Len(t, w.Conditions, 1)
	assert.Equal(t, "ProgressDeadlineExceeded", w.Conditions[0].Reason)
	var pp *wire.PendingPod
	for _, e := range eventsOf(evs, wire.EventPendingPod) {
		if e.PendingPod.Namespace == ns {
			pp = e.PendingPod
		}
	}
	require.NotNil(t, pp, "the pending pod in the snapshot")
	assert.Equal(t, "Unschedulable", pp.Reason)
	assert.Equal(t, int64(64<<30), *pp.Requests.MemoryBytes)
	sums := eventsOf(evs, wire.EventClusterSummary)
	require.NotEmpty(t, sums)
	assert.Equal(t, 2, sums[0].Cluster.Nodes.Count, "the rig's two kwok nodes")
	assert.NotEmpty(t, sums[0].Cluster.KubernetesVersion)
	first := b.accepted()[0]
	assert.Equal(t, "reporter-a", first.leader.Identity)
	assert.Equal(t, "default/"+lease, first.leader.Lease)
	assert.Equal(t, wire.EventSnapshotBegin, first.events[0].Type)

	// A crash loop: the kubelet counts one Event up; 30 updates.
	ev, err := cs.CoreV1().Events(ns).Create(ctx, &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: ns, Name: "shop-api-1.backoff"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "shop-api-1"},
		Type:           corev1.EventTypeWarning, Reason: "BackOff", Message: "Back-off restarting failed container",
		Source: corev1.EventSource{Component: "kubelet", Host: node1}, Count: 1,
		FirstTimestamp: metav1.Now(), LastTimestamp: metav1.Now(),
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	loopStart := time.Now()
	for i := int32(2); i <= 30; i++ {
		ev.Count, ev.LastTimestamp = i, metav1.Now()
		ev, err = cs.CoreV1().Events(ns).Update(ctx, ev, metav1.UpdateOptions{})
		require.NoError(t, err)
	}
	loop := time.Since(loopStart)
	// A Normal event is not the reporter's.
	_, err = cs.CoreV1().Events(ns).Create(ctx, &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop-api-1.pulled"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "shop-api-1"}, Type: corev1.EventTypeNormal, Reason: "Pulled"}, metav1.CreateOptions{})
	require.NoError(t, err)
	warnings := func(evs []wire.ClusterEvent) []*wire.Warning {
		var out []*wire.Warning
		for _, e := range eventsOf(evs, wire.EventWarning) {
			if e.Warning.UID == string(ev.UID) {
				out = append(out, e.Warning)
			}
		}
		return out
	}
	waitEvents(t, b, "the warning with count 30", 30*time.Second, func(evs []wire.ClusterEvent) bool {
		ws := warnings(evs)
		return len(ws) > 0 && ws[len(ws)-1].Count == 30
	})
	// Sent when first seen, then at most once per 10 s interval: once per
	// tick during the updates and once at the tick after them.
	maxSends := 3 + int(loop/(10*time.Second))
	assert.LessOrEqual(t, len(warnings(b.events())), maxSends, "30 updates in %s", loop)
	for _, e := range eventsOf(b.events(), wire.EventWarning) {
		assert.NotEqual(t, "Pulled", e.Warning.Reason, "Normal events are not sent")
	}

	// The Deployment recovers; the pod is bound; the Deployment is deleted.
	d, err = cs.AppsV1().Deployments(ns).Get(ctx, "shop-api", metav1.GetOptions{})
	require.NoError(t, err)
	d.Status.ReadyReplicas, d.Status.AvailableReplicas = 3, 3
	_, err = cs.AppsV1().Deployments(ns).UpdateStatus(ctx, d, metav1.UpdateOptions{})
	require.NoError(t, err)
	waitEvents(t, b, "the Deployment at 3 of 3", 30*time.Second, func(evs []wire.ClusterEvent) bool {
		w := workload(evs, "shop-api")
		return w != nil && *w.Ready == 3
	})
	require.NoError(t, cs.CoreV1().Pods(ns).Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "big-batch"},
		Target: corev1.ObjectReference{Kind: "Node", Name: node2}}, metav1.CreateOptions{}))
	waitEvents(t, b, "the bound pod's pending_pod_delete", 30*time.Second, func(evs []wire.ClusterEvent) bool {
		for _, e := range eventsOf(evs, wire.EventPendingPodDelete) {
			if e.PodRef.Namespace == ns && e.PodRef.Name == "big-batch" {
				return true
			}
		}
		return false
	})
	require.NoError(t, cs.AppsV1().Deployments(ns).Delete(ctx, "shop-api", metav1.DeleteOptions{}))
	waitEvents(t, b, "the Deployment's delete", 30*time.Second, func(evs []wire.ClusterEvent) bool {
		for _, e := range eventsOf(evs, wire.EventWorkloadDelete) {
			if e.WorkloadRef.Namespace == ns && e.WorkloadRef.Name == "shop-api" {
				return true
			}
		}
		return false
	})
	until := time.Now()
	rep.stop()
	assert.Equal(t, 0, rep.exitCode, "SIGTERM: a clean exit")

	// After the start: WATCHes and the Lease only.
	reqs := agentRequestsAs(t, auditLog, reporterUA, synced.Add(time.Second), until)
	for k := range reqs {
		switch k {
		case "get leases.coordination.k8s.io", "update leases.coordination.k8s.io":
		default:
			if len(k) < 6 || k[:6] != "watch " {
				t.Errorf("after the start the reporter made %q %d times; want only WATCHes and its Lease's GET and UPDATE (%v)", k, reqs[k], reqs)
			}
		}
	}
	t.Logf("reporter's API requests after the start, over %s: %v", until.Sub(synced).Round(time.Second), reqs)
}

// TestClusterReporterFailover: of two replicas one sends; when it is
// killed (no chance to let the lease go), the other sends within the
// lease's duration plus its start, beginning with a snapshot under a
// higher epoch; the backend never accepts the two interleaved.
func TestClusterReporterFailover(t *testing.T) {
	c := rig.Shared(t)
	b := newClusterBackend(t)
	lease := "failover-lease-" + runID(t)
	procs := map[string]*reporterProc{
		"replica-a": startReporter(t, c, b, "replica-a", lease, nil),
		"replica-b": startReporter(t, c, b, "replica-b", lease, nil),
	}
	waitEvents(t, b, "a leader's first snapshot", 60*time.Second, func(evs []wire.ClusterEvent) bool { return len(eventsOf(evs, wire.EventSnapshotEnd)) >= 1 })
	first := b.accepted()[0].leader
	other := "replica-a"
	if first.Identity == "replica-a" {
		other = "replica-b"
	}
	t.Logf("%s leads (epoch %d); killing it", first.Identity, first.Epoch)
	killed := time.Now()
	procs[first.Identity].kill()
	waitEvents(t, b, "the other replica's first snapshot", 60*time.Second, func([]wire.ClusterEvent) bool {
		runs := leaderRuns(b.accepted())
		return len(runs) == 2
	})
	var took time.Time
	var next clusterPost
	for _, p := range b.accepted() {
		if p.leader.Identity == other {
			took, next = p.at, p
			break
		}
	}
	gap := took.Sub(killed)
	t.Logf("%s sent %s after the kill (lease 3s), epoch %d", other, gap.Round(time.Millisecond), next.leader.Epoch)
	assert.Greater(t, next.leader.Epoch, first.Epoch)
	assert.Equal(t, wire.EventSnapshotBegin, next.events[0].Type, "a new term starts with a snapshot")
	assert.Equal(t, wire.ReasonStart, next.events[0].Snapshot.Reason)
	// The lease (3 s) plus a retry period (0.5 s) and the watches' start.
	assert.Less(t, gap, 15*time.Second)
	assert.Equal(t, []string{first.Identity, other}, leaderRuns(b.accepted()), "one sender at a time")
}

// TestClusterReporterFencing: a leader paused (SIGSTOP) past its lease and
// resumed attempts nothing: not one request, while the other replica
// leads. It holds what it had to send (catops_batches_failed_total
// {reason="fenced"} counts the attempts it did not make), learns that it
// lost the lease, and sends again only once it holds the lease again, under
// a new epoch.
func TestClusterReporterFencing(t *testing.T) {
	c := rig.Shared(t)
	cs, err := c.Clientset()
	require.NoError(t, err)
	b := newClusterBackend(t)
	lease := "fencing-lease-" + runID(t)
	procs := map[string]*reporterProc{
		"replica-a": startReporter(t, c, b, "replica-a", lease, nil),
		"replica-b": startReporter(t, c, b, "replica-b", lease, nil),
	}
	waitEvents(t, b, "a leader's first snapshot", 60*time.Second, func(evs []wire.ClusterEvent) bool { return len(eventsOf(evs, wire.EventSnapshotEnd)) >= 1 })
	paused := b.accepted()[0].leader
	other := map[string]string{"replica-a": "replica-b", "replica-b": "replica-a"}[paused.Identity]
	stale := b.accepted()[0].session
	procs[paused.Identity].signal(syscall.SIGSTOP)
	t.Logf("%s leads (epoch %d); paused it", paused.Identity, paused.Epoch)
	waitEvents(t, b, "the other replica's snapshot", 60*time.Second, func([]wire.ClusterEvent) bool { return len(leaderRuns(b.accepted())) == 2 })
	// New namespaces (of this run): changes the paused leader's open
	// watches will deliver when it wakes.
	ns := "reporter-fencing-" + runID(t)
	ensureNamespace(t, cs, ns)
	for i := range 5 {
		ensureNamespace(t, cs, fmt.Sprintf("%s-%d", ns, i))
	}
	waitEvents(t, b, "the new leader's namespaces", 30*time.Second, func(evs []wire.ClusterEvent) bool {
		n := 0
		for _, e := range eventsOf(evs, wire.EventNamespace) {
			if len(e.Namespace.Name) > len(ns) && e.Namespace.Name[:len(ns)+1] == ns+"-" {
				n++
			}
		}
		return n >= 5
	})
	resumed := time.Now()
	procs[paused.Identity].signal(syscall.SIGCONT)
	// It wakes with events to send and a term that is over.
	require.Eventually(t, func() bool {
		v, err := strconv.ParseFloat(procs[paused.Identity].metric(`catops_batches_failed_total{reason="fenced"}`), 64)
		return err == nil && v > 0
	}, 20*time.Second, 100*time.Millisecond, "the resumed leader holds a batch at its fence")
	time.Sleep(5 * time.Second) // renew deadline 2 s, lease 3 s: it has learnt it lost the lease by now
	for _, p := range b.all() {
		if p.session == stale && p.at.After(resumed) {
			t.Errorf("the resumed leader's session %s posted at %s (status %d), %s after SIGCONT", stale, p.at.Format(time.RFC3339Nano), p.status, p.at.Sub(resumed))
		}
	}
	assert.Contains(t, procs[paused.Identity].logText(), "Lost the lease")
	assert.Equal(t, "0", procs[paused.Identity].metric("catops_cluster_leader"))

	// It holds the lease again once the other is gone: a new session and epoch.
	procs[other].stop()
	waitEvents(t, b, "the first replica leading again", 30*time.Second, func([]wire.ClusterEvent) bool { return len(leaderRuns(b.accepted())) == 3 })
	last := b.accepted()[len(b.accepted())-1]
	assert.Equal(t, paused.Identity, last.leader.Identity)
	assert.NotEqual(t, stale, last.session)
	assert.Greater(t, last.leader.Epoch, paused.Epoch+1)
}
