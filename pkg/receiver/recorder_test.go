package receiver

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
