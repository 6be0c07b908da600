package receiver

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/catops/cli/pkg/wire"
)

func TestRecorderSeesAppliedBatchesOnly(t *testing.T) {
	rec := &Recorder{}
	h := newHarness(t, func(o *Options) { o.OnBatch = rec.Record })
	first := batch("n1", "s", 1, begin(1), upsert("ns", "a", "Pending"), end(1))
	h.mustApply(first)
	code, resp := h.send(first) // duplicate
	require.Equal(t, http.StatusOK, code)
	require.True(t, resp.Duplicate)
	code, _ = h.send(batch("n1", "s", 5, upsert("ns", "a", "Running"))) // gap: 409
	require.Equal(t, http.StatusConflict, code)
	h.mustApply(batch("n1", "s", 2, upsert("ns", "a", "Running"), upsert("ns", "b", "Pending")))

	var phases []string
	for _, p := range rec.Upserts("ns", "a") {
		phases = append(phases, p.Phase)
	}
	assert.Equal(t, []string{"Pending", "Running"}, phases, "once each: duplicates and refused batches are not recorded")
	assert.Equal(t, map[string]bool{"ns/a": true, "ns/b": true}, rec.UpsertedPods())
}

func TestPodChangedAtMovesOnlyOnRealChanges(t *testing.T) {
	h := newHarness(t)
	at := func(e wire.Event, d time.Duration) wire.Event { e.Time = testNow.Add(d); return e }
	h.mustApply(batch("n1", "s", 1, begin(1), at(upsert("ns", "a", "Pending"), 0), end(1)))
	h.mustApply(batch("n1", "s", 2, begin(2), at(upsert("ns", "a", "Pending"), time.Minute), end(2))) // same record
	assert.Equal(t, testNow, h.node("n1").PodChangedAt["ns/a"], "an unchanged snapshot copy keeps the time")
	h.mustApply(batch("n1", "s", 3, at(upsert("ns", "a", "Running"), 2*time.Minute)))
	assert.Equal(t, testNow.Add(2*time.Minute), h.node("n1").PodChangedAt["ns/a"])
	h.mustApply(batch("n1", "s", 4, del("ns", "a")))
	assert.NotContains(t, h.node("n1").PodChangedAt, "ns/a")
}

func TestRecorderClusterBatches(t *testing.T) {
	rec := &Recorder{}
	c := &clock{now: testNow}
	h := newHarness(t, withClock(c), func(o *Options) { o.OnClusterBatch = rec.RecordCluster })
	a, b := leader("rep-a", 1), leader("rep-b", 2)
	h.mustApplyCluster(cbatch(a, "a1", 1, cbegin(1), workload("Deployment", "shop", "web", 0, 1), cend(1)))
	c.Add(time.Second)
	code, resp := h.sendCluster(cbatch(a, "a1", 1, cbegin(1), cend(1))) // duplicate
	require.Equal(t, http.StatusOK, code)
	require.True(t, resp.Duplicate)
	h.mustApplyCluster(cbatch(a, "a1", 2, workload("Deployment", "shop", "web", 1, 1)))
	c.Add(time.Second)
	h.mustApplyCluster(cbatch(b, "b1", 1, cbegin(1), cend(1), warning("w1", "BackOff", "web-0", 1, testNow)))
	c.Add(time.Second)
	code, _ = h.sendCluster(cbatch(a, "a1", 3, workload("Deployment", "shop", "web", 0, 1))) // superseded
	require.Equal(t, http.StatusConflict, code)
	h.mustApplyCluster(cbatch(b, "b1", 2, summary("v1.35.0", 1, 1)))

	got := rec.ClusterBatches()
	require.Len(t, got, 4, "duplicates and refused batches are not recorded")
	var seen []string
	for _, r := range got {
		seen = append(seen, fmt.Sprintf("%s/%d %s@%d %s", r.Batch.Session, r.Batch.Seq, r.Batch.Leader.Identity, r.Batch.Leader.Epoch, r.At.Sub(testNow)))
	}
	assert.Equal(t, []string{"a1/1 rep-a@1 0s", "a1/2 rep-a@1 1s", "b1/1 rep-b@2 2s", "b1/2 rep-b@2 3s"}, seen)

	var types []wire.EventType
	for _, e := range rec.ClusterEvents() {
		types = append(types, e.Type)
	}
	assert.Equal(t, []wire.EventType{wire.EventSnapshotBegin, wire.EventWorkload, wire.EventSnapshotEnd, wire.EventWorkload,
		wire.EventSnapshotBegin, wire.EventSnapshotEnd, wire.EventWarning, wire.EventClusterSummary}, types)
	ws := rec.ClusterEvents(wire.EventWorkload)
	require.Len(t, ws, 2)
	assert.Equal(t, int32(1), *ws[1].Workload.Ready)

	assert.Equal(t, []ClusterTerm{
		{Cluster: testClusterID, Session: "a1", Leader: *a, First: testNow, Last: testNow.Add(time.Second), Batches: 2},
		{Cluster: testClusterID, Session: "b1", Leader: *b, First: testNow.Add(2 * time.Second), Last: testNow.Add(3 * time.Second), Batches: 2},
	}, rec.ClusterTerms())
	assert.Empty(t, rec.Batches(), "node batches are apart")
}
