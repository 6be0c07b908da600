package receiver

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/catops/cli/pkg/wire"
)

func TestDuplicateAppliedOnce(t *testing.T) {
	h := newHarness(t)
	h.mustApply(batch("n1", "s1", 1, begin(1), upsert("default", "web", "Running"), end(1)))
	second := batch("n1", "s1", 2, upsert("default", "api", "Pending"))
	h.mustApply(second)

	// The same batch again (a retry whose answer was lost), and an older one.
	second.Events = []wire.Event{upsert("default", "api", "Running")}
	for _, seq := range []uint64{2, 1} {
		second.Seq = seq
		code, resp := h.send(second)
		require.Equal(t, http.StatusOK, code)
		assert.True(t, resp.Duplicate, "seq %d", seq)
		assert.Empty(t, resp.Error)
	}

	st := h.node("n1")
	assert.Equal(t, "Pending", st.Pods["default/api"].Phase, "a duplicate must not be applied")
	assert.Equal(t, uint64(2), st.LastSeq)
	assert.Equal(t, uint64(2), st.Counters.BatchesApplied)
	assert.Equal(t, uint64(2), st.Counters.Duplicates)
	s := h.r.Stats()
	assert.Equal(t, uint64(2), s.BatchesApplied)
	assert.Equal(t, uint64(2), s.Duplicates)
	assert.Equal(t, uint64(4), s.EventsApplied)

	// The next seq still follows.
	h.mustApply(batch("n1", "s1", 3, del("default", "api")))
	assert.NotContains(t, h.node("n1").Pods, "default/api")
}

func TestResyncRequired(t *testing.T) {
	tests := []struct {
		name      string
		batch     wire.Batch
		wantError string
	}{
		{
			name:      "gap",
			batch:     batch("n1", "s1", 4, upsert("default", "api", "Running")),
			wantError: "seq 4 does not follow last applied seq 2",
		},
		{
			name:      "new session",
			batch:     batch("n1", "s2", 1, upsert("default", "api", "Running")),
			wantError: `session "s2" is not the last applied session "s1"`,
		},
		{
			name:      "new session, seq that would follow",
			batch:     batch("n1", "s2", 3, upsert("default", "api", "Running")),
			wantError: `session "s2" is not the last applied session "s1"`,
		},
		{
			name:      "no state for the node",
			batch:     batch("n2", "s1", 1, upsert("default", "api", "Running")),
			wantError: `no state for node "n2"`,
		},
		{
			name:      "snapshot_begin not first",
			batch:     batch("n1", "s1", 5, upsert("default", "api", "Running"), begin(2), end(2)),
			wantError: "seq 5 does not follow",
		},
		{
			name:      "empty batch after a gap",
			batch:     batch("n1", "s1", 9),
			wantError: "seq 9 does not follow",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.mustApply(batch("n1", "s1", 1, begin(1), upsert("default", "web", "Running"), end(1)))
			h.mustApply(batch("n1", "s1", 2, usage(nil, podUsage("default", "web", 1, 2))))
			before := h.node("n1")

			code, resp := h.send(tt.batch)
			require.Equal(t, http.StatusConflict, code)
			assert.True(t, strings.HasPrefix(resp.Error, "resync required: "), resp.Error)
			assert.Contains(t, resp.Error, tt.wantError)
			assert.False(t, resp.Duplicate)

			after := h.node("n1")
			if tt.batch.Node == "n1" {
				before.Counters.Conflicts++
			}
			assert.Equal(t, before, after, "a 409 must apply nothing")
			_, ok := h.r.Node("n2")
			assert.False(t, ok, "a 409 must not create state")
			assert.Equal(t, uint64(1), h.r.Stats().Conflicts)

			// The agent answers with a snapshot, which is accepted.
			resync := tt.batch
			resync.Events = append([]wire.Event{begin(9)}, upsert("default", "api", "Running"), end(9))
			h.mustApply(resync)
			st := h.node(tt.batch.Node)
			assert.Equal(t, tt.batch.Session, st.Session)
			assert.Equal(t, tt.batch.Seq, st.LastSeq)
			assert.ElementsMatch(t, []string{"default/api"}, podKeys(st))
		})
	}
}

func TestSnapshotSpanningBatches(t *testing.T) {
	h := newHarness(t)
	h.mustApply(batch("n1", "s1", 1, begin(1),
		upsert("default", "a", "Running"), upsert("default", "b", "Running"), upsert("kube-system", "c", "Running"),
		end(1),
		usage(new(reading(1, 100)), podUsage("default", "a", 0.1, 10), podUsage("default", "b", 0.2, 20), podUsage("kube-system", "c", 0.3, 30)),
	))
	assert.ElementsMatch(t, []string{"default/a", "default/b", "kube-system/c"}, podKeys(h.node("n1")))

	// The agent restarts: a new session, with a snapshot in two batches.
	// Pod b is gone, pod d is new, pod a changed.
	h.mustApply(batch("n1", "s2", 1, begin(1), upsert("default", "a", "Succeeded"), upsert("default", "d", "Pending")))
	mid := h.node("n1")
	assert.ElementsMatch(t, []string{"default/a", "default/b", "kube-system/c", "default/d"}, podKeys(mid),
		"the state must not be emptied mid-snapshot")
	assert.Equal(t, "Succeeded", mid.Pods["default/a"].Phase)
	require.NotNil(t, mid.Snapshot)
	assert.Equal(t, uint64(1), mid.Snapshot.ID)
	assert.Equal(t, map[string]bool{"default/a": true, "default/d": true}, mid.Snapshot.Confirmed)
	assert.Len(t, mid.Usage.Pods, 3, "usage is kept mid-snapshot too")

	// An end that does not match the snapshot in progress is ignored.
	h.mustApply(batch("n1", "s2", 2, upsert("kube-system", "c", "Running"), end(99)))
	assert.Len(t, h.node("n1").Pods, 4)
	require.NotNil(t, h.node("n1").Snapshot)

	h.mustApply(batch("n1", "s2", 3, end(1)))
	st := h.node("n1")
	assert.ElementsMatch(t, []string{"default/a", "kube-system/c", "default/d"}, podKeys(st), "only b was not confirmed")
	assert.Nil(t, st.Snapshot)
	assert.Equal(t, uint64(2), st.Counters.SnapshotsCompleted)
	assert.Equal(t, map[string]wire.ResourceUsage{
		"default/a":     reading(0.1, 10),
		"kube-system/c": reading(0.3, 30),
	}, st.Usage.Pods, "the usage of the swept pod is dropped")
	assert.Equal(t, new(reading(1, 100)), st.Usage.Node)
}

func TestSnapshotBeginRestarts(t *testing.T) {
	h := newHarness(t)
	h.mustApply(batch("n1", "s1", 1, begin(1), upsert("default", "a", "Running"), upsert("default", "b", "Running"), end(1)))
	// A snapshot is abandoned after confirming a; a new one confirms only b.
	h.mustApply(batch("n1", "s1", 2, begin(2), upsert("default", "a", "Running")))
	h.mustApply(batch("n1", "s1", 3, begin(3), upsert("default", "b", "Running")))
	h.mustApply(batch("n1", "s1", 4, end(2))) // The abandoned one: ignored.
	assert.Len(t, h.node("n1").Pods, 2)
	h.mustApply(batch("n1", "s1", 5, end(3)))
	assert.ElementsMatch(t, []string{"default/b"}, podKeys(h.node("n1")))
}

func TestSnapshotInOneBatchAfterGap(t *testing.T) {
	h := newHarness(t)
	h.mustApply(batch("n1", "s1", 1, begin(1), upsert("default", "a", "Running"), upsert("default", "b", "Running"), end(1)))
	// Batches 2–4 were lost (queue overflow); the agent resyncs.
	h.mustApply(batch("n1", "s1", 5, begin(2), upsert("default", "b", "Running"), upsert("default", "c", "Running"), end(2)))
	st := h.node("n1")
	assert.ElementsMatch(t, []string{"default/b", "default/c"}, podKeys(st))
	assert.Equal(t, uint64(5), st.LastSeq)
	// An empty snapshot empties the node.
	h.mustApply(batch("n1", "s1", 6, begin(3), end(3)))
	assert.Empty(t, h.node("n1").Pods)
}

func TestUpsertReplacesAndDeleteRemovesUsage(t *testing.T) {
	h := newHarness(t)
	h.mustApply(batch("n1", "s1", 1, begin(1), upsert("default", "a", "Pending"), upsert("default", "b", "Running"), end(1),
		usage(nil, podUsage("default", "a", 0.1, 10), podUsage("default", "b", 0.2, 20))))

	replaced := upsert("default", "a", "Running")
	replaced.Pod.RestartCount = 3
	h.mustApply(batch("n1", "s1", 2, replaced))
	st := h.node("n1")
	assert.Equal(t, *replaced.Pod, st.Pods["default/a"])

	h.mustApply(batch("n1", "s1", 3, del("default", "a"), del("default", "never-existed")))
	st = h.node("n1")
	assert.ElementsMatch(t, []string{"default/b"}, podKeys(st))
	assert.Equal(t, map[string]wire.ResourceUsage{"default/b": reading(0.2, 20)}, st.Usage.Pods)
}

func TestUsageAvailability(t *testing.T) {
	h := newHarness(t)
	h.mustApply(batch("n1", "s1", 1, begin(1), upsert("default", "a", "Running"), upsert("default", "b", "Running"), end(1)))
	st := h.node("n1")
	assert.False(t, st.Usage.Available, "unknown before the first usage event")
	assert.Empty(t, st.Usage.Reason)

	h.mustApply(batch("n1", "s1", 2, usage(new(reading(1.5, 1000)), podUsage("default", "a", 0.1, 10), podUsage("default", "b", 0.2, 20))))
	st = h.node("n1")
	assert.True(t, st.Usage.Available)
	assert.Equal(t, "metrics-api", st.Usage.Source)
	assert.Equal(t, new(reading(1.5, 1000)), st.Usage.Node)
	assert.Len(t, st.Usage.Pods, 2)

	// Only a has a new reading, and the node has none: the rest is kept.
	h.mustApply(batch("n1", "s1", 3, usage(nil, podUsage("default", "a", 0.9, 90))))
	st = h.node("n1")
	assert.Equal(t, new(reading(1.5, 1000)), st.Usage.Node)
	assert.Equal(t, map[string]wire.ResourceUsage{"default/a": reading(0.9, 90), "default/b": reading(0.2, 20)}, st.Usage.Pods)

	h.mustApply(batch("n1", "s1", 4, usageUnavailable("metrics.k8s.io: the server could not find the requested resource")))
	st = h.node("n1")
	assert.False(t, st.Usage.Available)
	assert.Equal(t, "metrics.k8s.io: the server could not find the requested resource", st.Usage.Reason)
	assert.Nil(t, st.Usage.Node, "unknown, not the last reading")
	assert.Empty(t, st.Usage.Pods)
	assert.Len(t, st.Pods, 2, "pods are not touched")

	h.mustApply(batch("n1", "s1", 5, usage(new(reading(2, 2000)), podUsage("default", "b", 0.3, 30))))
	st = h.node("n1")
	assert.True(t, st.Usage.Available)
	assert.Empty(t, st.Usage.Reason)
	assert.Equal(t, new(reading(2, 2000)), st.Usage.Node)
	assert.Equal(t, map[string]wire.ResourceUsage{"default/b": reading(0.3, 30)}, st.Usage.Pods,
		"a pod without a new reading stays unknown after an outage")
}

func TestUsageOfUnknownPodDroppedBySweep(t *testing.T) {
	h := newHarness(t)
	h.mustApply(batch("n1", "s1", 1, begin(1), upsert("default", "a", "Running"), end(1)))
	h.mustApply(batch("n1", "s1", 2, usage(nil, podUsage("default", "a", 0.1, 10), podUsage("default", "ghost", 0.2, 20))))
	assert.Len(t, h.node("n1").Usage.Pods, 2, "kept until the pod is deleted or swept")
	h.mustApply(batch("n1", "s1", 3, begin(2), upsert("default", "a", "Running"), end(2)))
	assert.Equal(t, map[string]wire.ResourceUsage{"default/a": reading(0.1, 10)}, h.node("n1").Usage.Pods)
}

func TestNodeAndHostReplaced(t *testing.T) {
	h := newHarness(t)
	node := func(v string) wire.Event {
		return wire.Event{Type: wire.EventNode, Time: testNow, Node: &wire.Node{Name: "n1", KubeletVersion: v, Labels: map[string]string{"v": v}}}
	}
	host := func(up uint64) wire.Event {
		return wire.Event{Type: wire.EventHost, Time: testNow, Host: &wire.HostSample{UptimeSeconds: new(up), Errors: []string{"load: x"}}}
	}
	h.mustApply(batch("n1", "s1", 1, begin(1), end(1), node("v1"), host(10)))
	h.mustApply(batch("n1", "s1", 2, node("v2"), host(20), host(30)))
	st := h.node("n1")
	assert.Equal(t, map[string]string{"v": "v2"}, st.Node.Labels, "replaced, not merged")
	assert.Equal(t, new(uint64(30)), st.Host.UptimeSeconds, "the latest sample wins")
}

func TestLegacySnapshot(t *testing.T) {
	h := newHarness(t)
	snap := func(pods ...string) []byte {
		s := wire.Snapshot{Timestamp: testNow, NodeName: "n1", Namespace: "catops",
			NodeMetrics: wire.SnapshotNodeMetrics{CPUCores: 4, PodCount: len(pods)}}
		for _, p := range pods {
			s.Pods = append(s.Pods, wire.SnapshotPod{Name: p, Namespace: "default", Phase: "Running", ContainerCount: 1})
		}
		return mustJSON(t, s)
	}
	rec, resp := h.do(request{contentType: "application/json", body: snap("a", "b")})
	require.Equal(t, http.StatusOK, rec.Code, resp.Error)
	rec, resp = h.do(request{contentType: "application/json", encoding: "gzip", body: snap("b", "c", "d")})
	require.Equal(t, http.StatusOK, rec.Code, resp.Error)
	// No seq, no dedupe: the same snapshot again is simply applied again.
	rec, _ = h.do(request{contentType: "application/json", encoding: "gzip", body: snap("b", "c", "d")})
	require.Equal(t, http.StatusOK, rec.Code)

	st := h.node("n1")
	require.NotNil(t, st.Legacy)
	assert.Equal(t, testNow, st.Legacy.ReceivedAt)
	var names []string
	for _, p := range st.Legacy.Snapshot.Pods {
		names = append(names, p.Name)
	}
	assert.Equal(t, []string{"b", "c", "d"}, names, "replaced wholesale")
	assert.Equal(t, 3, st.Legacy.Snapshot.NodeMetrics.PodCount)
	assert.Equal(t, uint64(3), st.Counters.LegacySnapshots)
	assert.Equal(t, uint64(3), h.r.Stats().LegacySnapshots)
	assert.Empty(t, st.Pods, "the delta view is separate")
	assert.Empty(t, st.Session)

	// A delta batch for a node known only from legacy snapshots needs a
	// snapshot first, and leaves the legacy view alone.
	code, _ := h.send(batch("n1", "s1", 1, upsert("default", "a", "Running")))
	assert.Equal(t, http.StatusConflict, code)
	h.mustApply(batch("n1", "s1", 1, begin(1), upsert("default", "a", "Running"), end(1)))
	st = h.node("n1")
	assert.Len(t, st.Pods, 1)
	assert.Len(t, st.Legacy.Snapshot.Pods, 3)

	for _, tt := range []struct{ body, wantError string }{
		{`{"node_name":""}`, "node_name: must not be empty"},
		{`{"node_name":"n1","pods":[{"name":"a"}]}`, "pods[0].namespace: must not be empty"},
		{`{"node_name":"n1","pods":[{"namespace":"default"}]}`, "pods[0].name: must not be empty"},
		{`{"node_name":7}`, "invalid snapshot JSON"},
	} {
		rec, resp := h.do(request{contentType: "application/json", body: []byte(tt.body)})
		assert.Equal(t, http.StatusBadRequest, rec.Code, tt.body)
		assert.Contains(t, resp.Error, tt.wantError)
	}
	assert.Len(t, h.node("n1").Legacy.Snapshot.Pods, 3)
}

func TestNodeReturnsDeepCopy(t *testing.T) {
	h := newHarness(t)
	pod := upsert("default", "a", "Running")
	pod.Pod.Labels = map[string]string{"app": "a"}
	pod.Pod.Priority = new(int32(5))
	h.mustApply(batch("n1", "s1", 1, begin(1), pod,
		wire.Event{Type: wire.EventNode, Time: testNow, Node: &wire.Node{Name: "n1", Labels: map[string]string{"k": "v"}}},
		usage(new(reading(1, 1)), podUsage("default", "a", 1, 1))))

	st := h.node("n1")
	st.Pods["default/a"].Labels["app"] = "changed"
	*st.Pods["default/a"].Priority = 99
	st.Pods["default/a"].Containers[0].Name = "changed"
	st.Node.Labels["k"] = "changed"
	st.Usage.Node.CPUCores = 99
	st.Snapshot.Confirmed["x/y"] = true
	delete(st.Pods, "default/a")

	again := h.node("n1")
	require.Contains(t, again.Pods, "default/a")
	assert.Equal(t, "a", again.Pods["default/a"].Labels["app"])
	assert.Equal(t, int32(5), *again.Pods["default/a"].Priority)
	assert.Equal(t, "app", again.Pods["default/a"].Containers[0].Name)
	assert.Equal(t, "v", again.Node.Labels["k"])
	assert.Equal(t, 1.0, again.Usage.Node.CPUCores)
	assert.NotContains(t, again.Snapshot.Confirmed, "x/y")
}

func TestResetForgetsNodes(t *testing.T) {
	h := newHarness(t)
	h.mustApply(batch("n1", "s1", 1, begin(1), upsert("default", "a", "Running"), end(1)))
	h.r.Reset()
	assert.Empty(t, h.r.Nodes())
	code, resp := h.send(batch("n1", "s1", 2, upsert("default", "b", "Running")))
	assert.Equal(t, http.StatusConflict, code)
	assert.Contains(t, resp.Error, `no state for node "n1"`)
	assert.Equal(t, uint64(1), h.r.Stats().BatchesApplied, "stats are kept")
}

func TestWait(t *testing.T) {
	h := newHarness(t)
	hasPods := func(n int) func() bool {
		return func() bool {
			st, ok := h.r.Node("n1")
			return ok && len(st.Pods) == n
		}
	}
	h.mustApply(batch("n1", "s1", 1, begin(1), upsert("default", "a", "Running"), end(1)))
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- h.r.Wait(ctx, hasPods(2))
	}()
	// Give Wait time to block, so that it is the change that wakes it.
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Wait returned before the change: %v", err)
	default:
	}
	h.mustApply(batch("n1", "s1", 2, upsert("default", "b", "Running")))
	require.NoError(t, <-done)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := h.r.Wait(ctx, hasPods(5))
	require.ErrorIs(t, err, context.DeadlineExceeded)
}
