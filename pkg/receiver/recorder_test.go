package receiver

import (
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
