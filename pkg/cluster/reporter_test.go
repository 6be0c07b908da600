package cluster

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/catops/cli/pkg/leader"
	"github.com/catops/cli/pkg/receiver"
	"github.com/catops/cli/pkg/sender"
	"github.com/catops/cli/pkg/telemetry"
	"github.com/catops/cli/pkg/telemetry/prom"
	"github.com/catops/cli/pkg/telemetry/prom/promtest"
	"github.com/catops/cli/pkg/token"
	"github.com/catops/cli/pkg/wire"
)

// backend is the reference receiver, which must take everything the
// reporter sends; it collects the cluster batches posted to it, decoded.
type backend struct {
	t       *testing.T
	rcv     *receiver.Receiver
	mu      sync.Mutex
	batches []wire.ClusterBatch
	headers []http.Header
}

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var cb wire.ClusterBatch
	if err := json.NewDecoder(zr).Decode(&cb); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := httptest.NewRecorder()
	b.rcv.Handler().ServeHTTP(rec, r)
	assert.Equal(b.t, http.StatusOK, rec.Code, "the reference receiver takes batch %d: %s", cb.Seq, rec.Body.String())
	b.mu.Lock()
	b.batches = append(b.batches, cb)
	b.headers = append(b.headers, r.Header.Clone())
	b.mu.Unlock()
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// events are the events received so far, in order.
func (b *backend) events() []wire.ClusterEvent {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []wire.ClusterEvent
	for _, cb := range b.batches {
		out = append(out, cb.Events...)
	}
	return out
}

func ofType(evs []wire.ClusterEvent, t wire.EventType) []wire.ClusterEvent {
	var out []wire.ClusterEvent
	for _, e := range evs {
		if e.Type == t {
			out = append(out, e)
		}
	}
	return out
}

type run struct {
	t       *testing.T
	cs      *fake.Clientset
	be      *backend
	cancel  context.CancelFunc
	done    chan struct{}
	fence   time.Time
	mu      sync.Mutex
	metrics *telemetry.Metrics
}

func (r *run) setFence(t time.Time) {
	r.mu.Lock()
	r.fence = t
	r.mu.Unlock()
}

// lead runs one term of a reporter on a fake API server holding objs,
// sending to a test backend; the term is fenced far in the future.
func lead(t *testing.T, objs ...runtime.Object) *run {
	t.Helper()
	rcv, err := receiver.New(receiver.Options{Token: "t"})
	require.NoError(t, err)
	r := &run{t: t, be: &backend{t: t, rcv: rcv}, done: make(chan struct{}), fence: time.Now().Add(time.Hour),
		metrics: prom.New(prometheus.NewRegistry(), telemetry.All)}
	r.cs = fake.NewClientset(objs...)
	srv := httptest.NewServer(r.be)
	t.Cleanup(srv.Close)
	synced := make(chan struct{})
	rep := New(Options{
		Client: r.cs,
		Sender: sender.Options{BackendURL: srv.URL, Token: token.Static("t"), Namespace: "catops", AgentVersion: "test", Cluster: "lab",
			FlushDelay: 10 * time.Millisecond, Metrics: r.metrics, TokenPoll: 10 * time.Millisecond},
		Interval:         50 * time.Millisecond,
		SnapshotInterval: time.Hour,
		ShutdownTimeout:  time.Second,
		Synced:           func() { close(synced) },
	})
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	term := leader.Term{Lease: "catops/catops-cluster", Identity: "pod-a", Epoch: 3, LeaseDuration: 15 * time.Second,
		Fence: func() time.Time { r.mu.Lock(); defer r.mu.Unlock(); return r.fence }}
	go func() { defer close(r.done); rep.Lead(ctx, term) }()
	t.Cleanup(r.stop)
	select {
	case <-synced:
	case <-time.After(10 * time.Second):
		t.Fatal("the term's caches never synced")
	}
	return r
}

func (r *run) stop() {
	r.cancel()
	<-r.done
}

// waitFor waits until cond holds on the events received.
func (r *run) waitFor(what string, cond func([]wire.ClusterEvent) bool) {
	r.t.Helper()
	require.Eventually(r.t, func() bool { return cond(r.be.events()) }, 10*time.Second, 10*time.Millisecond, what)
}

func namespace(name, uid string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(uid)}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
}

func deployment(ns, name string, ready int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name), Generation: 2},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](3)},
		Status:     appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, ReadyReplicas: ready, AvailableReplicas: ready, UpdatedReplicas: 3},
	}
}

func pendingPod(ns, name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name)},
		Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
			Reason: corev1.PodReasonUnschedulable, Message: "0/1 nodes are available: 1 Insufficient cpu."}}},
	}
}

func readyNode(name, version string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	n.Status.NodeInfo.KubeletVersion = version
	return n
}

func warningEvent(ns, name string, count int32) *corev1.Event {
	t0 := metav1.NewTime(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name)},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "api-1"},
		Type:           corev1.EventTypeWarning, Reason: "BackOff", Message: "Back-off restarting failed container",
		Source: corev1.EventSource{Component: "kubelet", Host: "n1"}, Count: count,
		FirstTimestamp: t0, LastTimestamp: metav1.NewTime(t0.Add(time.Duration(count) * time.Second)),
	}
}

// A term starts with a snapshot of the cluster's state, sent as the cluster
// stream with the lease term in its header; then changes follow as deltas.
func TestTermStartsWithASnapshotThenSendsChanges(t *testing.T) {
	bound := pendingPod("shop", "bound")
	bound.Spec.NodeName = "n1"
	// The API server takes a core/v1 Event without a reason; the receiver
	// must take its record.
	noReason := warningEvent("shop", "no-reason", 1)
	noReason.Reason = ""
	r := lead(t, namespace("kube-system", "cluster-uid"), namespace("shop", "shop-uid"), deployment("shop", "api", 2),
		pendingPod("shop", "waiting"), bound, readyNode("n1", "v1.35.0"), warningEvent("shop", "api-1.backoff", 4), noReason)
	r.waitFor("the first snapshot", func(evs []wire.ClusterEvent) bool { return len(ofType(evs, wire.EventSnapshotEnd)) == 1 })

	evs := r.be.events()
	types := []wire.EventType{}
	for _, e := range evs {
		types = append(types, e.Type)
	}
	assert.Equal(t, []wire.EventType{wire.EventSnapshotBegin, wire.EventNamespace, wire.EventNamespace, wire.EventWorkload,
		wire.EventPendingPod, wire.EventClusterSummary, wire.EventWarning, wire.EventWarning, wire.EventSnapshotEnd}, types)
	assert.Equal(t, wire.ReasonStart, evs[0].Snapshot.Reason)
	w := ofType(evs, wire.EventWorkload)[0].Workload
	assert.Equal(t, wire.ObjectRef{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "shop", Name: "api", UID: "uid-api"}, w.ObjectRef)
	assert.Equal(t, []*int32{ptr.To[int32](3), ptr.To[int32](2), ptr.To[int32](2)}, []*int32{w.Desired, w.Ready, w.Available})
	p := ofType(evs, wire.EventPendingPod)[0].PendingPod
	assert.Equal(t, "waiting", p.Name, "a bound pod is its node's, not the cluster stream's")
	assert.Equal(t, corev1.PodReasonUnschedulable, p.Reason)
	sum := ofType(evs, wire.EventClusterSummary)[0].Cluster
	assert.Equal(t, wire.NodeSummary{Count: 1, Ready: 1, KubeletVersions: map[string]int{"v1.35.0": 1}}, sum.Nodes)
	ws := ofType(evs, wire.EventWarning)
	assert.Equal(t, []string{"uid-no-reason", "uid-api-1.backoff"}, []string{ws[0].Warning.UID, ws[1].Warning.UID}, "oldest first")
	assert.Equal(t, int32(4), ws[1].Warning.Count)

	r.be.mu.Lock()
	h, hdr := r.be.batches[0].Header, r.be.headers[0]
	r.be.mu.Unlock()
	assert.Equal(t, wire.ClusterVersion, h.Version)
	assert.Equal(t, "cluster-uid", h.ClusterID, "the kube-system namespace's UID")
	assert.Equal(t, "lab", h.Cluster)
	assert.Empty(t, h.Node)
	assert.Equal(t, &wire.Leader{Identity: "pod-a", Lease: "catops/catops-cluster", Epoch: 3, LeaseDurationSeconds: 15}, h.Leader)
	assert.Equal(t, wire.ContentTypeCluster, hdr.Get("Content-Type"))

	ctx := context.Background()
	// A change of status is sent; a change the record does not show is not.
	d := deployment("shop", "api", 3)
	_, err := r.cs.AppsV1().Deployments("shop").UpdateStatus(ctx, d, metav1.UpdateOptions{})
	require.NoError(t, err)
	r.waitFor("the Deployment's new status", func(evs []wire.ClusterEvent) bool {
		ws := ofType(evs, wire.EventWorkload)
		return len(ws) == 2 && *ws[1].Workload.Ready == 3
	})
	d.Annotations = map[string]string{"note": "not in the record"}
	_, err = r.cs.AppsV1().Deployments("shop").Update(ctx, d, metav1.UpdateOptions{})
	require.NoError(t, err)
	// The pending pod is bound: it leaves the stream. (The API server's
	// watch, filtered on spec.nodeName, says deleted; the fake's says
	// modified: both end it.)
	waiting := pendingPod("shop", "waiting")
	waiting.Spec.NodeName = "n1"
	_, err = r.cs.CoreV1().Pods("shop").Update(ctx, waiting, metav1.UpdateOptions{})
	require.NoError(t, err)
	r.waitFor("the bound pod's pending_pod_delete", func(evs []wire.ClusterEvent) bool {
		return len(ofType(evs, wire.EventPendingPodDelete)) == 1
	})
	require.NoError(t, r.cs.AppsV1().Deployments("shop").Delete(ctx, "api", metav1.DeleteOptions{}))
	r.waitFor("the Deployment's delete", func(evs []wire.ClusterEvent) bool { return len(ofType(evs, wire.EventWorkloadDelete)) == 1 })
	evs = r.be.events()
	assert.Len(t, ofType(evs, wire.EventWorkload), 2, "the annotation-only update sent nothing")
	assert.Equal(t, &wire.ObjectRef{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "shop", Name: "api", UID: "uid-api"},
		ofType(evs, wire.EventWorkloadDelete)[0].WorkloadRef)
	assert.Equal(t, &wire.PodRef{Namespace: "shop", Name: "waiting", UID: "uid-waiting"}, ofType(evs, wire.EventPendingPodDelete)[0].PodRef)
}

// Past the fence nothing is posted; once the term is extended, what waited
// goes out.
func TestNothingIsSentPastTheFence(t *testing.T) {
	r := lead(t, namespace("kube-system", "cluster-uid"))
	r.waitFor("the first snapshot", func(evs []wire.ClusterEvent) bool { return len(ofType(evs, wire.EventSnapshotEnd)) == 1 })
	r.setFence(time.Now().Add(-time.Second))
	_, err := r.cs.CoreV1().Namespaces().Create(context.Background(), namespace("late", "late-uid"), metav1.CreateOptions{})
	require.NoError(t, err)
	fenced := r.metrics.BatchesFailed.WithLabelValues("fenced")
	require.Eventually(t, func() bool { return promtest.Value(fenced) >= 1 }, 10*time.Second, 5*time.Millisecond,
		"the sender meets the fence")
	assert.Empty(t, ofType(r.be.events(), wire.EventNamespace)[1:], "nothing posted past the fence")
	r.setFence(time.Now().Add(time.Hour))
	r.waitFor("the namespace once the term is extended", func(evs []wire.ClusterEvent) bool { return len(ofType(evs, wire.EventNamespace)) == 2 })
}
