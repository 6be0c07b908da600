package receiver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zapcore"

	"github.com/catops/cli/pkg/wire"
)

func TestClusterValidationErrors(t *testing.T) {
	ok := func(mut func(*wire.ClusterBatch)) []byte {
		b := cbatch(leader("rep-a", 1), "s1", 1, cbegin(1), workload("Deployment", "shop", "web", 1, 1), cend(1))
		mut(&b)
		return mustJSON(t, b)
	}
	add := func(e wire.ClusterEvent) []byte {
		return ok(func(b *wire.ClusterBatch) { b.Events = append(b.Events, e) })
	}
	tests := []struct {
		name      string
		body      []byte
		wantError string
	}{
		{"node stream version", ok(func(b *wire.ClusterBatch) { b.Version = wire.Version }), `version: want "catops.k8s-cluster/v1", got "catops.k8s/v1"`},
		{"no version", ok(func(b *wire.ClusterBatch) { b.Version = "" }), "version:"},
		{"no leader", ok(func(b *wire.ClusterBatch) { b.Leader = nil }), "leader: must be set"},
		{"no leader identity", ok(func(b *wire.ClusterBatch) { b.Leader.Identity = "" }), "leader.identity: must not be empty"},
		{"no lease", ok(func(b *wire.ClusterBatch) { b.Leader.Lease = "" }), "leader.lease: must not be empty"},
		{"negative epoch", ok(func(b *wire.ClusterBatch) { b.Leader.Epoch = -1 }), "leader.epoch: must not be negative, got -1"},
		{"no lease duration", ok(func(b *wire.ClusterBatch) { b.Leader.LeaseDurationSeconds = 0 }), "leader.lease_duration_seconds: must be at least 1, got 0"},
		{"no session", ok(func(b *wire.ClusterBatch) { b.Session = "" }), "session: must not be empty"},
		{"no batch id", ok(func(b *wire.ClusterBatch) { b.BatchID = "" }), "batch_id: must not be empty"},
		{"seq zero", ok(func(b *wire.ClusterBatch) { b.Seq = 0 }), "seq: must be at least 1"},
		{"node event type", ok(func(b *wire.ClusterBatch) { b.Events[1].Type = wire.EventPodUpsert }), `events[1].type: unknown event type "pod_upsert"`},
		{"unknown event type", ok(func(b *wire.ClusterBatch) { b.Events[1].Type = "workload_explode" }), `events[1].type: unknown event type "workload_explode"`},
		{"empty event type", ok(func(b *wire.ClusterBatch) { b.Events[2].Type = "" }), "events[2].type: must not be empty"},
		{"workload without record", ok(func(b *wire.ClusterBatch) { b.Events[1].Workload = nil }), `events[1]: workload event needs exactly the "workload" payload, has none`},
		{"workload with two payloads", ok(func(b *wire.ClusterBatch) { b.Events[1].PodRef = &wire.PodRef{Namespace: "a", Name: "b"} }),
			`events[1]: workload event needs exactly the "workload" payload, has workload, pod_ref`},
		{"workload without kind", ok(func(b *wire.ClusterBatch) { b.Events[1].Workload.Kind = "" }), "events[1].workload.kind: must not be empty"},
		{"workload without name", ok(func(b *wire.ClusterBatch) { b.Events[1].Workload.Name = "" }), "events[1].workload.name: must not be empty"},
		{"workload_delete without ref", add(wire.ClusterEvent{Type: wire.EventWorkloadDelete}), `events[3]: workload_delete event needs exactly the "workload_ref" payload, has none`},
		{"workload_delete without kind", add(workloadDelete("", "shop", "web")), "events[3].workload_ref.kind: must not be empty"},
		{"workload_delete without name", add(workloadDelete("Job", "shop", "")), "events[3].workload_ref.name: must not be empty"},
		{"pending_pod with the wrong payload", add(wire.ClusterEvent{Type: wire.EventPendingPod, PodRef: &wire.PodRef{Namespace: "a", Name: "b"}}), `has pod_ref`},
		{"pending_pod without namespace", add(pendingPod("", "web-0", "Unschedulable")), "events[3].pending_pod.namespace: must not be empty"},
		{"pending_pod without name", add(pendingPod("shop", "", "Unschedulable")), "events[3].pending_pod.name: must not be empty"},
		{"pending_pod_delete without name", add(pendingPodDelete("shop", "")), "events[3].pod_ref.name: must not be empty"},
		{"namespace without name", add(namespaceEvent("")), "events[3].namespace.name: must not be empty"},
		{"namespace_delete without ref", add(wire.ClusterEvent{Type: wire.EventNamespaceDelete, Namespace: &wire.Namespace{Name: "x"}}),
			`events[3]: namespace_delete event needs exactly the "namespace_ref" payload, has namespace`},
		{"namespace_delete without name", add(namespaceDelete("")), "events[3].namespace_ref.name: must not be empty"},
		{"warning without uid", add(warning("", "BackOff", "web-0", 1, testNow)), "events[3].warning.uid: must not be empty"},
		{"warning without uid", add(warning("", "BackOff", "web-0", 1, testNow)), "events[3].warning.uid: must not be empty"},
		{"cluster without summary", add(wire.ClusterEvent{Type: wire.EventClusterSummary}), `events[3]: cluster event needs exactly the "cluster" payload, has none`},
		{"snapshot_begin without mark", ok(func(b *wire.ClusterBatch) { b.Events[0].Snapshot = nil }), `events[0]: snapshot_begin event needs exactly the "snapshot" payload`},
		{"not JSON", []byte("{nope"), "body: invalid cluster batch JSON"},
		{"field of the wrong type", []byte(`{"version":"catops.k8s-cluster/v1","leader":{"identity":"a","lease":"b","epoch":"1"}}`), "invalid cluster batch JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			rec, resp := h.do(request{path: wire.ClusterPath, contentType: wire.ContentTypeCluster, body: tt.body})
			require.Equal(t, http.StatusBadRequest, rec.Code, "answer %s", rec.Body.String())
			assert.Contains(t, resp.Error, tt.wantError)
			assert.NotContains(t, resp.Error, "\n")
			assert.Empty(t, h.r.Clusters(), "a rejected batch must apply nothing")
			assert.Equal(t, Stats{Rejected: 1, BytesReceived: uint64(len(tt.body)), DecodedBytes: uint64(len(tt.body))}, h.r.Stats())
		})
	}
}

// Every event type of the stream, each with its payload, is valid; a node
// field in a cluster batch is ignored.
func TestClusterEveryEventType(t *testing.T) {
	h := newHarness(t)
	b := cbatch(leader("rep-a", 0), "s1", 1, cbegin(1),
		namespaceEvent("shop"), workload("Deployment", "shop", "web", 2, 2), pendingPod("shop", "web-1", "Unschedulable"),
		summary("v1.35.0", 3, 3), warning("w1", "BackOff", "web-0", 2, testNow), cend(1),
		workloadDelete("Deployment", "shop", "web"), pendingPodDelete("shop", "web-1"), namespaceDelete("shop"))
	b.Node = "ignored"
	h.mustApplyCluster(b)
	st := h.cluster(testClusterID)
	assert.Empty(t, st.Workloads)
	assert.Empty(t, st.PendingPods)
	assert.Empty(t, st.Namespaces)
	assert.Len(t, st.Warnings, 1)
	assert.NotNil(t, st.Summary)
	assert.Empty(t, h.r.Nodes())
}

func TestClusterSnapshotSpanningBatches(t *testing.T) {
	h := newHarness(t)
	l := leader("rep-a", 3)
	h.mustApplyCluster(cbatch(l, "s1", 1, cbegin(1),
		namespaceEvent("shop"), namespaceEvent("old"),
		workload("Deployment", "shop", "web", 2, 2), workload("StatefulSet", "shop", "db", 1, 1), workload("Job", "old", "migrate", 0, 1),
		pendingPod("shop", "web-x", "Unschedulable"), pendingPod("old", "stuck", "SchedulingGated"),
		summary("v1.35.0", 3, 3), warning("w1", "BackOff", "web-0", 1, testNow),
		cend(1)))
	st := h.cluster(testClusterID)
	assert.Equal(t, testClusterID, st.Key)
	assert.Equal(t, testClusterID, st.ID)
	assert.Equal(t, "prod", st.Name)
	assert.Equal(t, leader("rep-a", 3), st.Leader)
	assert.Equal(t, "s1", st.Session)
	assert.Equal(t, "catops", st.Namespace)
	assert.Equal(t, testNow, st.LastBatchAt)
	assert.ElementsMatch(t, []string{"Deployment/shop/web", "StatefulSet/shop/db", "Job/old/migrate"}, keysOf(st.Workloads))
	assert.ElementsMatch(t, []string{"shop/web-x", "old/stuck"}, keysOf(st.PendingPods))
	assert.ElementsMatch(t, []string{"shop", "old"}, keysOf(st.Namespaces))
	assert.Nil(t, st.Snapshot)
	assert.Equal(t, uint64(1), st.Counters.SnapshotsCompleted)

	// A change between snapshots replaces the record.
	h.mustApplyCluster(cbatch(l, "s1", 2, workload("Deployment", "shop", "web", 1, 2), warning("w2", "Failed", "db-0", 1, testNow)))
	assert.Equal(t, int32(1), *h.cluster(testClusterID).Workloads["Deployment/shop/web"].Ready)

	// The reporter restarts (a new session of the same term) with a
	// snapshot in two batches: namespace old, Job migrate and pod stuck
	// are gone; pod web-x was bound (deleted after its upsert).
	h.mustApplyCluster(cbatch(l, "s2", 1, cbegin(1), namespaceEvent("shop"),
		workload("Deployment", "shop", "web", 2, 2), pendingPod("shop", "web-x", "Unschedulable")))
	mid := h.cluster(testClusterID)
	assert.Len(t, mid.Workloads, 3, "the state must not be emptied mid-snapshot")
	require.NotNil(t, mid.Snapshot)
	assert.Equal(t, map[string]bool{"namespace shop": true, "workload Deployment/shop/web": true, "pending_pod shop/web-x": true},
		mid.Snapshot.Confirmed)
	h.mustApplyCluster(cbatch(l, "s2", 2, workload("StatefulSet", "shop", "db", 1, 1), pendingPodDelete("shop", "web-x"), cend(99)))
	assert.NotNil(t, h.cluster(testClusterID).Snapshot, "an end that does not match is ignored")
	h.mustApplyCluster(cbatch(l, "s2", 3, cend(1)))

	st = h.cluster(testClusterID)
	assert.ElementsMatch(t, []string{"Deployment/shop/web", "StatefulSet/shop/db"}, keysOf(st.Workloads))
	assert.Empty(t, st.PendingPods)
	assert.ElementsMatch(t, []string{"shop"}, keysOf(st.Namespaces))
	assert.ElementsMatch(t, []string{"w1", "w2"}, keysOf(st.Warnings), "a snapshot does not remove warnings")
	assert.Equal(t, "v1.35.0", st.Summary.KubernetesVersion, "nor the summary")
	assert.Equal(t, uint64(2), st.Counters.SnapshotsCompleted)

	// An empty snapshot empties the records, and only them.
	h.mustApplyCluster(cbatch(l, "s2", 4, cbegin(2), cend(2)))
	st = h.cluster(testClusterID)
	assert.Empty(t, st.Workloads)
	assert.Empty(t, st.Namespaces)
	assert.Len(t, st.Warnings, 2)
	assert.NotNil(t, st.Summary)
}

func TestClusterDeletesAndReplacements(t *testing.T) {
	h := newHarness(t)
	l := leader("rep-a", 1)
	h.mustApplyCluster(cbatch(l, "s1", 1, cbegin(1), workload("Deployment", "shop", "web", 0, 2),
		workload("DaemonSet", "shop", "web", 3, 3), cend(1), summary("v1.35.0", 2, 3)))
	h.mustApplyCluster(cbatch(l, "s1", 2, workloadDelete("Deployment", "shop", "web"), workloadDelete("Job", "x", "never-existed"),
		summary("v1.35.0", 3, 3), warning("w1", "BackOff", "web-0", 1, testNow), warning("w1", "BackOff", "web-0", 7, testNow.Add(time.Minute))))
	st := h.cluster(testClusterID)
	assert.ElementsMatch(t, []string{"DaemonSet/shop/web"}, keysOf(st.Workloads), "workloads are told apart by kind")
	assert.Equal(t, 3, st.Summary.Nodes.Ready, "the latest summary wins")
	require.Contains(t, st.Warnings, "w1")
	assert.Equal(t, int32(7), st.Warnings["w1"].Count, "a repeated warning replaces its record")
}

func TestClusterWarningsBounded(t *testing.T) {
	h := newHarness(t)
	l := leader("rep-a", 1)
	var evs []wire.ClusterEvent
	// Sent out of order: the newest MaxClusterWarnings are kept, whatever
	// the order of arrival.
	for i := MaxClusterWarnings + 4; i >= 0; i-- {
		evs = append(evs, warning(fmt.Sprintf("w%04d", i), "BackOff", "web-0", 1, testNow.Add(time.Duration(i)*time.Second)))
	}
	h.mustApplyCluster(cbatch(l, "s1", 1, append([]wire.ClusterEvent{cbegin(1)}, append(evs, cend(1))...)...))
	st := h.cluster(testClusterID)
	require.Len(t, st.Warnings, MaxClusterWarnings)
	for i := range 5 {
		assert.NotContains(t, st.Warnings, fmt.Sprintf("w%04d", i), "the oldest are dropped")
	}
	assert.Contains(t, st.Warnings, fmt.Sprintf("w%04d", MaxClusterWarnings+4))

	// A warning older than every kept one does not stay; a newer one does.
	h.mustApplyCluster(cbatch(l, "s1", 2, warning("ancient", "BackOff", "web-0", 1, testNow.Add(-time.Hour)),
		warning("fresh", "BackOff", "web-0", 1, testNow.Add(time.Hour))))
	st = h.cluster(testClusterID)
	assert.Len(t, st.Warnings, MaxClusterWarnings)
	assert.NotContains(t, st.Warnings, "ancient")
	assert.Contains(t, st.Warnings, "fresh")
	assert.NotContains(t, st.Warnings, "w0005")
}

func TestClusterDuplicateAppliedOnce(t *testing.T) {
	h := newHarness(t)
	l := leader("rep-a", 1)
	h.mustApplyCluster(cbatch(l, "s1", 1, cbegin(1), workload("Deployment", "shop", "web", 2, 2), cend(1)))
	second := cbatch(l, "s1", 2, workload("Deployment", "shop", "web", 1, 2))
	h.mustApplyCluster(second)
	second.Events = []wire.ClusterEvent{workload("Deployment", "shop", "web", 0, 2)}
	for _, seq := range []uint64{2, 1} {
		second.Seq = seq
		code, resp := h.sendCluster(second)
		require.Equal(t, http.StatusOK, code)
		assert.True(t, resp.Duplicate, "seq %d", seq)
	}
	st := h.cluster(testClusterID)
	assert.Equal(t, int32(1), *st.Workloads["Deployment/shop/web"].Ready, "a duplicate must not be applied")
	assert.Equal(t, uint64(2), st.Counters.Duplicates)
	assert.Equal(t, uint64(2), st.Counters.BatchesApplied)
	s := h.r.Stats()
	assert.Equal(t, uint64(2), s.BatchesApplied)
	assert.Equal(t, uint64(2), s.Duplicates)
	assert.Equal(t, uint64(4), s.EventsApplied)
}

func TestClusterResyncRequired(t *testing.T) {
	l := leader("rep-a", 1)
	tests := []struct {
		name      string
		batch     wire.ClusterBatch
		wantError string
	}{
		{"gap", cbatch(l, "s1", 4, workload("Deployment", "shop", "api", 1, 1)), "seq 4 does not follow last applied seq 2"},
		{"new session", cbatch(l, "s2", 1, workload("Deployment", "shop", "api", 1, 1)), `session "s2" is not the last applied session "s1"`},
		{"higher epoch, new session", cbatch(leader("rep-b", 2), "s2", 1, workload("Deployment", "shop", "api", 1, 1)),
			`session "s2" is not the last applied session "s1"`},
		{"no state for the cluster", func() wire.ClusterBatch {
			b := cbatch(l, "s1", 3, workload("Deployment", "shop", "api", 1, 1))
			b.ClusterID = "other-uid"
			return b
		}(), `no state for cluster "other-uid"`},
		{"snapshot_begin not first", cbatch(l, "s1", 5, workload("Deployment", "shop", "api", 1, 1), cbegin(2), cend(2)), "seq 5 does not follow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.mustApplyCluster(cbatch(l, "s1", 1, cbegin(1), workload("Deployment", "shop", "web", 1, 1), cend(1)))
			h.mustApplyCluster(cbatch(l, "s1", 2, summary("v1.35.0", 1, 1)))
			before := h.cluster(testClusterID)

			code, resp := h.sendCluster(tt.batch)
			require.Equal(t, http.StatusConflict, code)
			assert.True(t, strings.HasPrefix(resp.Error, "resync required: "), resp.Error)
			assert.Contains(t, resp.Error, tt.wantError)

			key := ClusterKey(tt.batch.ClusterID, tt.batch.Cluster)
			if key == testClusterID {
				before.Counters.Conflicts++
			}
			assert.Equal(t, before, h.cluster(testClusterID), "a 409 must apply nothing")
			assert.Equal(t, []string{testClusterID}, h.r.Clusters(), "a 409 must not create state")
			assert.Equal(t, uint64(1), h.r.Stats().Conflicts)
			assert.Zero(t, h.r.Stats().Superseded)

			// The reporter answers with a snapshot, which is accepted.
			resync := tt.batch
			resync.Events = []wire.ClusterEvent{cbegin(9), workload("Deployment", "shop", "api", 1, 1), cend(9)}
			h.mustApplyCluster(resync)
			st := h.cluster(key)
			assert.Equal(t, tt.batch.Session, st.Session)
			assert.Equal(t, tt.batch.Leader, st.Leader)
			assert.ElementsMatch(t, []string{"Deployment/shop/api"}, keysOf(st.Workloads))
		})
	}
}

func TestClusterEpochFencing(t *testing.T) {
	start := func(t *testing.T) (*harness, *clock) {
		c := &clock{now: testNow}
		h := newHarness(t, withClock(c))
		// rep-a leads under epoch 4, then rep-b takes over with epoch 5.
		h.mustApplyCluster(cbatch(leader("rep-a", 4), "a1", 1, cbegin(1), workload("Deployment", "shop", "web", 1, 1), cend(1)))
		c.Add(time.Second)
		h.mustApplyCluster(cbatch(leader("rep-b", 5), "b1", 1, cbegin(1), workload("Deployment", "shop", "api", 1, 1), cend(1)))
		return h, c
	}

	t.Run("higher epoch takes over", func(t *testing.T) {
		h, _ := start(t)
		st := h.cluster(testClusterID)
		assert.Equal(t, leader("rep-b", 5), st.Leader)
		assert.Equal(t, "b1", st.Session)
		assert.ElementsMatch(t, []string{"Deployment/shop/api"}, keysOf(st.Workloads), "the new leader's snapshot is the state")
		h.mustApplyCluster(cbatch(leader("rep-b", 5), "b1", 2, workload("Deployment", "shop", "db", 1, 1)))
	})

	t.Run("lower epoch refused", func(t *testing.T) {
		h, c := start(t)
		before := h.cluster(testClusterID)
		c.Add(30 * time.Second) // exactly 2 × 15 s since rep-b was heard from
		for _, b := range []wire.ClusterBatch{
			cbatch(leader("rep-a", 4), "a1", 2, workload("Deployment", "shop", "web", 0, 1)),         // its next batch
			cbatch(leader("rep-a", 4), "a1", 3, cbegin(2), cend(2)),                                  // its resync
			cbatch(leader("rep-a", 4), "a1", 1, cbegin(1), cend(1)),                                  // a retry of an applied one
			cbatch(leader("rep-c", 0), "c1", 1, cbegin(1), workload("Job", "x", "y", 0, 1), cend(1)), // any lower epoch
		} {
			code, resp := h.sendCluster(b)
			require.Equal(t, http.StatusConflict, code, "seq %d of %s", b.Seq, b.Session)
			assert.Equal(t, fmt.Sprintf(`superseded: leader epoch %d is older than epoch 5 accepted at 2026-03-01T12:00:01Z from "rep-b"`, b.Leader.Epoch), resp.Error)
			assert.False(t, resp.Duplicate)
		}
		after := h.cluster(testClusterID)
		before.Counters.Conflicts, before.Counters.Superseded = 4, 4
		assert.Equal(t, before, after, "a superseded batch applies nothing")
		s := h.r.Stats()
		assert.Equal(t, uint64(4), s.Conflicts)
		assert.Equal(t, uint64(4), s.Superseded)

		// The current leader is unaffected.
		h.mustApplyCluster(cbatch(leader("rep-b", 5), "b1", 2, workload("Deployment", "shop", "db", 1, 1)))
	})

	t.Run("lower epoch accepted after twice the lease duration of silence", func(t *testing.T) {
		h, c := start(t)
		c.Add(30*time.Second + time.Millisecond)
		// Still a new session: it needs a snapshot.
		code, resp := h.sendCluster(cbatch(leader("rep-c", 0), "c1", 1, workload("Job", "x", "y", 0, 1)))
		require.Equal(t, http.StatusConflict, code)
		assert.Contains(t, resp.Error, `resync required: session "c1" is not the last applied session "b1"`)
		h.mustApplyCluster(cbatch(leader("rep-c", 0), "c1", 1, cbegin(1), workload("Job", "x", "y", 0, 1), cend(1)))
		st := h.cluster(testClusterID)
		assert.Equal(t, leader("rep-c", 0), st.Leader)
		assert.ElementsMatch(t, []string{"Job/x/y"}, keysOf(st.Workloads))

		// rep-b's epoch 5 is higher again: it takes over, with a snapshot.
		code, _ = h.sendCluster(cbatch(leader("rep-b", 5), "b1", 2, workload("Deployment", "shop", "db", 1, 1)))
		assert.Equal(t, http.StatusConflict, code)
		assert.Zero(t, h.r.Stats().Superseded)
		h.mustApplyCluster(cbatch(leader("rep-b", 5), "b1", 2, cbegin(2), cend(2)))
	})

	t.Run("silence is counted from the last applied batch", func(t *testing.T) {
		h, c := start(t)
		c.Add(20 * time.Second)
		h.mustApplyCluster(cbatch(leader("rep-b", 5), "b1", 2)) // rep-b is heard from
		c.Add(20 * time.Second)                                 // 40 s since it took over, 20 s since heard
		code, resp := h.sendCluster(cbatch(leader("rep-a", 4), "a2", 1, cbegin(1), cend(1)))
		require.Equal(t, http.StatusConflict, code)
		assert.Contains(t, resp.Error, "accepted at 2026-03-01T12:00:21Z")
		// A duplicate of rep-b is not news of it.
		c.Add(10*time.Second + time.Millisecond)
		code, resp = h.sendCluster(cbatch(leader("rep-b", 5), "b1", 2))
		require.Equal(t, http.StatusOK, code)
		require.True(t, resp.Duplicate)
		h.mustApplyCluster(cbatch(leader("rep-a", 4), "a2", 1, cbegin(1), cend(1)))
	})

	t.Run("the lease duration is the newer leader's", func(t *testing.T) {
		c := &clock{now: testNow}
		h := newHarness(t, withClock(c))
		long := leader("rep-b", 5)
		long.LeaseDurationSeconds = 60
		h.mustApplyCluster(cbatch(long, "b1", 1, cbegin(1), cend(1)))
		c.Add(time.Minute)
		code, _ := h.sendCluster(cbatch(leader("rep-a", 4), "a1", 1, cbegin(1), cend(1)))
		assert.Equal(t, http.StatusConflict, code, "within 2 × 60 s")
		c.Add(time.Minute + time.Second)
		h.mustApplyCluster(cbatch(leader("rep-a", 4), "a1", 1, cbegin(1), cend(1)))
	})
}

func TestClusterKey(t *testing.T) {
	assert.Equal(t, "uid", ClusterKey("uid", "prod"))
	assert.Equal(t, "prod", ClusterKey("", "prod"))
	assert.Empty(t, ClusterKey("", ""))

	h := newHarness(t)
	named := cbatch(leader("rep-a", 1), "s1", 1, cbegin(1), cend(1))
	named.ClusterID = ""
	h.mustApplyCluster(named)
	anonymous := cbatch(leader("rep-z", 1), "z1", 1, cbegin(1), cend(1))
	anonymous.ClusterID, anonymous.Cluster = "", ""
	h.mustApplyCluster(anonymous)
	h.mustApplyCluster(cbatch(leader("rep-a", 1), "s1", 2, cbegin(2), cend(2)))
	assert.Equal(t, []string{"", testClusterID, "prod"}, h.r.Clusters(), "each cluster apart; a new cluster_id is a new cluster")
	assert.Equal(t, "prod", h.cluster("prod").Name)
	assert.Empty(t, h.cluster("prod").ID)
}

func TestClusterContentTypeAndPath(t *testing.T) {
	node := mustJSON(t, batch("n1", "s1", 1, begin(1), end(1)))
	cluster := mustJSON(t, cbatch(leader("rep-a", 1), "s1", 1, cbegin(1), cend(1)))
	tests := []struct {
		name        string
		path        string
		contentType string
		body        []byte
		wantCode    int
		wantError   string
	}{
		{"cluster batch to the cluster path", wire.ClusterPath, wire.ContentTypeCluster, cluster, http.StatusOK, ""},
		{"with parameters", wire.ClusterPath, wire.ContentTypeCluster + "; charset=utf-8", cluster, http.StatusOK, ""},
		{"cluster batch to the node path", wire.Path, wire.ContentTypeCluster, cluster, http.StatusUnsupportedMediaType,
			`Content-Type "application/vnd.catops.k8s-cluster.v1+json" is another stream's: POST it to /api/cli/kubernetes/cluster; ` +
				`/api/cli/kubernetes/metrics takes application/vnd.catops.k8s.v1+json (delta batch) or application/json (legacy snapshot)`},
		{"node batch to the cluster path", wire.ClusterPath, wire.ContentTypeDelta, node, http.StatusUnsupportedMediaType,
			`Content-Type "application/vnd.catops.k8s.v1+json" is the node stream's: POST it to /api/cli/kubernetes/metrics; ` +
				`/api/cli/kubernetes/cluster takes application/vnd.catops.k8s-cluster.v1+json (cluster batch)`},
		{"legacy snapshot to the cluster path", wire.ClusterPath, "application/json", node, http.StatusUnsupportedMediaType,
			`Content-Type "application/json" is the node stream's: POST it to /api/cli/kubernetes/metrics`},
		{"unknown type to the cluster path", wire.ClusterPath, "text/plain", cluster, http.StatusUnsupportedMediaType,
			`Content-Type "text/plain" not supported: use application/vnd.catops.k8s-cluster.v1+json (cluster batch)`},
		{"no type to the cluster path", wire.ClusterPath, "-", cluster, http.StatusUnsupportedMediaType, `Content-Type "" not supported`},
		{"node version on the cluster path", wire.ClusterPath, wire.ContentTypeCluster, node, http.StatusBadRequest,
			`version: want "catops.k8s-cluster/v1", got "catops.k8s/v1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			req := request{path: tt.path, contentType: tt.contentType, body: tt.body}
			if tt.contentType == "-" {
				req.contentType, req.headers = "", map[string]string{"Content-Type": ""}
			}
			rec, resp := h.do(req)
			require.Equal(t, tt.wantCode, rec.Code, "answer %s", rec.Body.String())
			assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			if tt.wantError == "" {
				assert.Equal(t, []string{testClusterID}, h.r.Clusters())
				return
			}
			assert.Contains(t, resp.Error, tt.wantError)
			assert.NotContains(t, resp.Error, "\n")
			assert.Empty(t, h.r.Clusters())
			assert.Empty(t, h.r.Nodes())
			assert.Equal(t, uint64(1), h.r.Stats().Rejected)
		})
	}
}

func TestClusterPathMethodAuthAndFaults(t *testing.T) {
	h := newHarness(t)
	body := mustJSON(t, cbatch(leader("rep-a", 1), "s1", 1, cbegin(1), cend(1)))
	req := request{path: wire.ClusterPath, contentType: wire.ContentTypeCluster, body: body}

	get := req
	get.method = http.MethodGet
	rec, resp := h.do(get)
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	assert.Equal(t, http.MethodPost, rec.Header().Get("Allow"))
	assert.Equal(t, "method GET not allowed: POST batches to /api/cli/kubernetes/cluster", resp.Error)

	noAuth := req
	noAuth.auth = "-"
	rec, _ = h.do(noAuth)
	assert.Equal(t, http.StatusUnauthorized, rec.Code)

	h.r.SetDown(true)
	rec, _ = h.do(req)
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	h.r.SetDown(false)
	h.r.SetFailNext(1, http.StatusBadGateway)
	rec, _ = h.do(req)
	assert.Equal(t, http.StatusBadGateway, rec.Code)
	assert.Empty(t, h.r.Clusters())

	gz := req
	gz.encoding = "gzip"
	rec, _ = h.do(gz)
	require.Equal(t, http.StatusOK, rec.Code)
	s := h.r.Stats()
	assert.Equal(t, uint64(2), s.Rejected)
	assert.Equal(t, uint64(2), s.Injected)
	assert.Equal(t, uint64(len(body)), s.DecodedBytes)
	assert.Equal(t, uint64(len(gzipBytes(t, body))), s.BytesReceived)
	assert.Equal(t, s.BytesReceived, h.cluster(testClusterID).Counters.BytesReceived)
}

func TestClusterBodyLimit(t *testing.T) {
	body := mustJSON(t, cbatch(leader("rep-a", 1), "s1", 1, cbegin(1), cend(1)))
	h := newHarness(t, func(o *Options) { o.MaxBodyBytes = int64(len(body)) - 1 })
	rec, resp := h.do(request{path: wire.ClusterPath, contentType: wire.ContentTypeCluster, encoding: "gzip", body: body})
	require.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)
	assert.Contains(t, resp.Error, "limit")
	assert.Empty(t, h.r.Clusters())
}

// Options.EventTypes restricts the cluster stream too: a backend that knows
// only the node stream's types refuses every cluster record.
func TestClusterEventTypesRestricted(t *testing.T) {
	h := newHarness(t, func(o *Options) {
		o.EventTypes = []wire.EventType{wire.EventSnapshotBegin, wire.EventSnapshotEnd, wire.EventPodUpsert}
	})
	code, resp := h.sendCluster(cbatch(leader("rep-a", 1), "s1", 1, cbegin(1), workload("Deployment", "shop", "web", 1, 1), cend(1)))
	require.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, `events[1].type: unknown event type "workload"`, resp.Error)
	h.mustApplyCluster(cbatch(leader("rep-a", 1), "s1", 1, cbegin(1), cend(1)))
}

func TestClusterStateJSON(t *testing.T) {
	h := newHarness(t)
	h.mustApply(batch("n1", "s1", 1, begin(1), upsert("default", "web", "Running"), end(1)))
	h.mustApplyCluster(cbatch(leader("rep-a", 2), "s1", 1, cbegin(1), namespaceEvent("shop"),
		workload("Deployment", "shop", "web", 1, 2), pendingPod("shop", "web-x", "Unschedulable"),
		summary("v1.35.0", 2, 3), warning("w1", "BackOff", "web-0", 4, testNow)))
	rec, _ := h.do(request{method: http.MethodGet, path: StatePath})
	require.Equal(t, http.StatusOK, rec.Code)

	var raw map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &raw))
	require.Contains(t, raw["nodes"], "n1")
	c := raw["clusters"].(map[string]any)[testClusterID].(map[string]any)
	assert.Equal(t, testClusterID, c["key"])
	assert.Equal(t, testClusterID, c["cluster_id"])
	assert.Equal(t, "prod", c["cluster"])
	assert.Equal(t, map[string]any{"identity": "rep-a", "lease": testLease, "epoch": float64(2), "lease_duration_seconds": float64(15)}, c["leader"])
	assert.Equal(t, "s1", c["session"])
	assert.Equal(t, float64(1), c["last_seq"])
	assert.Equal(t, "2026-03-01T12:00:00Z", c["last_batch_at"])
	assert.Equal(t, float64(1), c["workloads"].(map[string]any)["Deployment/shop/web"].(map[string]any)["ready"])
	assert.Equal(t, "Unschedulable", c["pending_pods"].(map[string]any)["shop/web-x"].(map[string]any)["reason"])
	assert.Contains(t, c["namespaces"], "shop")
	assert.Equal(t, "v1.35.0", c["summary"].(map[string]any)["kubernetes_version"])
	assert.Equal(t, float64(4), c["warnings"].(map[string]any)["w1"].(map[string]any)["count"])
	assert.Equal(t, map[string]any{"namespace shop": true, "workload Deployment/shop/web": true, "pending_pod shop/web-x": true},
		c["snapshot"].(map[string]any)["confirmed"])
	assert.Equal(t, float64(1), c["counters"].(map[string]any)["batches_applied"])
	assert.Equal(t, float64(2), raw["stats"].(map[string]any)["batches_applied"], "both streams count")

	var state State
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &state))
	assert.Equal(t, h.cluster(testClusterID), state.Clusters[testClusterID])

	// No cluster: an empty object, not null.
	h = newHarness(t)
	rec, _ = h.do(request{method: http.MethodGet, path: StatePath})
	assert.Contains(t, rec.Body.String(), `"clusters":{}`)
}

func TestClusterReturnsDeepCopy(t *testing.T) {
	h := newHarness(t)
	w := workload("Deployment", "shop", "web", 1, 2)
	w.Workload.Labels = map[string]string{"app": "web"}
	h.mustApplyCluster(cbatch(leader("rep-a", 1), "s1", 1, cbegin(1), w, summary("v1.35.0", 1, 1)))
	st := h.cluster(testClusterID)
	*st.Workloads["Deployment/shop/web"].Ready = 99
	st.Workloads["Deployment/shop/web"].Labels["app"] = "changed"
	st.Leader.Epoch = 99
	st.Summary.Nodes.Ready = 99
	st.Snapshot.Confirmed["x"] = true
	again := h.cluster(testClusterID)
	assert.Equal(t, int32(1), *again.Workloads["Deployment/shop/web"].Ready)
	assert.Equal(t, "web", again.Workloads["Deployment/shop/web"].Labels["app"])
	assert.Equal(t, int32(1), again.Leader.Epoch)
	assert.Equal(t, 1, again.Summary.Nodes.Ready)
	assert.NotContains(t, again.Snapshot.Confirmed, "x")
}

func TestClusterResetAndApplyHook(t *testing.T) {
	var applied []string
	h := newHarness(t, func(o *Options) { o.OnClusterApply = func(c string) { applied = append(applied, c) } })
	l := leader("rep-a", 7)
	h.mustApplyCluster(cbatch(l, "s1", 1, cbegin(1), cend(1)))
	code, _ := h.sendCluster(cbatch(l, "s1", 1)) // duplicate
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, []string{testClusterID}, applied, "once: not for a duplicate")

	h.r.Reset()
	assert.Empty(t, h.r.Clusters())
	code, resp := h.sendCluster(cbatch(l, "s1", 2))
	assert.Equal(t, http.StatusConflict, code)
	assert.Contains(t, resp.Error, `no state for cluster "`+testClusterID+`"`)
	// The epoch is forgotten with the rest: a lower one is taken.
	h.mustApplyCluster(cbatch(leader("rep-b", 1), "s9", 1, cbegin(1), cend(1)))
}

func TestClusterLogs(t *testing.T) {
	h := newHarness(t)
	h.mustApplyCluster(cbatch(leader("rep-b", 5), "b1", 1, cbegin(1), workload("Deployment", "shop", "web", 1, 1), cend(1)))
	code, _ := h.sendCluster(cbatch(leader("rep-a", 4), "a1", 7, cbegin(1), cend(1)))
	require.Equal(t, http.StatusConflict, code)

	applied := h.logs.FilterMessage("Applied batch").All()
	require.Len(t, applied, 1)
	fields := applied[0].ContextMap()
	assert.Equal(t, testClusterID, fields["cluster"])
	assert.Equal(t, "rep-b", fields["leader"])
	assert.Equal(t, int32(5), fields["epoch"])
	assert.Equal(t, "b1", fields["session"])
	assert.Equal(t, int64(3), fields["events"])
	assert.NotContains(t, fields, "node")

	warns := h.logs.FilterLevelExact(zapcore.WarnLevel).All()
	require.Len(t, warns, 1)
	assert.Equal(t, "Rejected batch", warns[0].Message)
	assert.Equal(t, int64(http.StatusConflict), warns[0].ContextMap()["status"])
	assert.Contains(t, warns[0].ContextMap()["reason"], "superseded: leader epoch 4")
	assert.Equal(t, "rep-a", warns[0].ContextMap()["leader"])
}

// Both streams at once through a real server (run with -race).
func TestClusterAndNodesOverHTTP(t *testing.T) {
	rec := &Recorder{}
	h := newHarness(t, func(o *Options) { o.OnBatch = rec.Record; o.OnClusterBatch = rec.RecordCluster })
	srv := newTestServer(t, h)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for seq := uint64(1); seq <= 20; seq++ {
			b := batch("n1", "s1", seq, upsert("default", fmt.Sprintf("p%d", seq), "Running"))
			if seq == 1 {
				b.Events = []wire.Event{begin(1), end(1)}
			}
			srv.post(t, wire.Path, wire.ContentTypeDelta, b, http.StatusOK)
		}
	}()
	for seq := uint64(1); seq <= 20; seq++ {
		b := cbatch(leader("rep-a", 1), "c1", seq, workload("Deployment", "shop", fmt.Sprintf("w%d", seq), 1, 1))
		if seq == 1 {
			b.Events = []wire.ClusterEvent{cbegin(1), cend(1)}
		}
		srv.post(t, wire.ClusterPath, wire.ContentTypeCluster, b, http.StatusOK)
	}
	<-done
	assert.Len(t, h.cluster(testClusterID).Workloads, 19)
	assert.Len(t, h.node("n1").Pods, 19)
	assert.Len(t, rec.Batches(), 20)
	assert.Len(t, rec.ClusterBatches(), 20)
}
