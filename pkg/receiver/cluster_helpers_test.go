package receiver

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/catops/cli/pkg/wire"
)

const (
	testClusterID = "0c1d2e3f-kube-system"
	testLease     = "catops/catops-cluster"
)

// leader is a lease term of the reporter identity with a 15 s lease.
func leader(identity string, epoch int32) *wire.Leader {
	return &wire.Leader{Identity: identity, Lease: testLease, Epoch: epoch, LeaseDurationSeconds: 15}
}

// cbatch is a cluster batch of testClusterID.
func cbatch(l *wire.Leader, session string, seq uint64, events ...wire.ClusterEvent) wire.ClusterBatch {
	return wire.ClusterBatch{
		Header: wire.Header{
			Version:      wire.ClusterVersion,
			Cluster:      "prod",
			ClusterID:    testClusterID,
			Leader:       l,
			Namespace:    "catops",
			AgentVersion: "test",
			Session:      session,
			Seq:          seq,
			BatchID:      session + "-" + strconv.FormatUint(seq, 10),
			SentAt:       testNow,
		},
		Events: events,
	}
}

func cbegin(id uint64) wire.ClusterEvent {
	return wire.ClusterEvent{Type: wire.EventSnapshotBegin, Time: testNow,
		Snapshot: &wire.SnapshotMark{ID: id, Reason: wire.ReasonStart}}
}

func cend(id uint64) wire.ClusterEvent {
	return wire.ClusterEvent{Type: wire.EventSnapshotEnd, Time: testNow,
		Snapshot: &wire.SnapshotMark{ID: id, Reason: wire.ReasonStart}}
}

// workload is a Deployment-like record with ready of desired replicas.
func workload(kind, namespace, name string, ready, desired int32) wire.ClusterEvent {
	return wire.ClusterEvent{Type: wire.EventWorkload, Time: testNow, Workload: &wire.WorkloadStatus{
		ObjectRef:  wire.ObjectRef{APIVersion: "apps/v1", Kind: kind, Namespace: namespace, Name: name, UID: "uid-" + name},
		CreatedAt:  testNow.Add(-time.Hour),
		Generation: 1, ObservedGeneration: 1,
		Desired: new(desired), Ready: new(ready),
	}}
}

func workloadDelete(kind, namespace, name string) wire.ClusterEvent {
	return wire.ClusterEvent{Type: wire.EventWorkloadDelete, Time: testNow,
		WorkloadRef: &wire.ObjectRef{APIVersion: "apps/v1", Kind: kind, Namespace: namespace, Name: name}}
}

func pendingPod(namespace, name, reason string) wire.ClusterEvent {
	return wire.ClusterEvent{Type: wire.EventPendingPod, Time: testNow, PendingPod: &wire.PendingPod{
		PodRef: wire.PodRef{Namespace: namespace, Name: name, UID: "uid-" + name}, CreatedAt: testNow.Add(-time.Minute),
		Phase: "Pending", Reason: reason,
	}}
}

func pendingPodDelete(namespace, name string) wire.ClusterEvent {
	return wire.ClusterEvent{Type: wire.EventPendingPodDelete, Time: testNow, PodRef: &wire.PodRef{Namespace: namespace, Name: name}}
}

func namespaceEvent(name string) wire.ClusterEvent {
	return wire.ClusterEvent{Type: wire.EventNamespace, Time: testNow, Namespace: &wire.Namespace{Name: name, UID: "uid-" + name, Phase: "Active"}}
}

func namespaceDelete(name string) wire.ClusterEvent {
	return wire.ClusterEvent{Type: wire.EventNamespaceDelete, Time: testNow, NamespaceRef: &wire.ObjectRef{APIVersion: "v1", Kind: "Namespace", Name: name}}
}

// warning is a Warning event about pod shop/<object>, last seen at lastSeen.
func warning(uid, reason, object string, count int32, lastSeen time.Time) wire.ClusterEvent {
	return wire.ClusterEvent{Type: wire.EventWarning, Time: testNow, Warning: &wire.Warning{
		UID: uid, Namespace: "shop", Object: wire.ObjectRef{Kind: "Pod", Namespace: "shop", Name: object},
		Reason: reason, Message: reason + " of " + object, Source: "kubelet", Count: count,
		FirstSeen: lastSeen.Add(-time.Minute), LastSeen: lastSeen,
	}}
}

func summary(version string, ready, count int) wire.ClusterEvent {
	return wire.ClusterEvent{Type: wire.EventClusterSummary, Time: testNow, Cluster: &wire.ClusterSummary{
		KubernetesVersion: version, Nodes: wire.NodeSummary{Count: count, Ready: ready, NotReady: count - ready}}}
}

// sendCluster POSTs a cluster batch with identity headers and returns the
// answer.
func (h *harness) sendCluster(b wire.ClusterBatch) (int, wire.Response) {
	h.t.Helper()
	rec, resp := h.do(request{path: wire.ClusterPath, contentType: wire.ContentTypeCluster, encoding: "gzip",
		body: mustJSON(h.t, b), headers: identityHeaders(wire.Batch{Header: b.Header})})
	return rec.Code, resp
}

// mustApplyCluster POSTs a cluster batch and requires it to be applied.
func (h *harness) mustApplyCluster(b wire.ClusterBatch) {
	h.t.Helper()
	code, resp := h.sendCluster(b)
	require.Equal(h.t, http.StatusOK, code, "answer %+v", resp)
	require.False(h.t, resp.Duplicate, "cluster batch seq %d was a duplicate", b.Seq)
}

func (h *harness) cluster(key string) ClusterState {
	h.t.Helper()
	st, ok := h.r.Cluster(key)
	require.True(h.t, ok, "no state for cluster %q", key)
	return st
}

// clock is a settable Options.Now for tests that move time.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time         { return c.now }
func (c *clock) Add(d time.Duration)    { c.now = c.now.Add(d) }
func withClock(c *clock) func(*Options) { return func(o *Options) { o.Now = c.Now } }

func keysOf[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

// testServer is the receiver behind a real HTTP server.
type testServer struct{ *httptest.Server }

func newTestServer(t *testing.T, h *harness) *testServer {
	srv := httptest.NewServer(h.r.Handler())
	t.Cleanup(srv.Close)
	return &testServer{srv}
}

// post sends v, gzipped, and checks the answer's status; it may run on
// any goroutine.
func (s *testServer) post(t *testing.T, path, contentType string, v any, want int) {
	body, err := json.Marshal(v)
	if !assert.NoError(t, err) {
		return
	}
	req, err := http.NewRequest(http.MethodPost, s.URL+path, bytes.NewReader(gzipBytes(t, body)))
	if !assert.NoError(t, err) {
		return
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := s.Client().Do(req)
	if !assert.NoError(t, err) {
		return
	}
	defer func() { _ = resp.Body.Close() }()
	var out wire.Response
	_ = json.NewDecoder(resp.Body).Decode(&out)
	assert.Equal(t, want, resp.StatusCode, "POST %s: %+v", path, out)
}
