package cluster

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/tools/cache"

	"github.com/catops/cli/pkg/wire"
)

// newTestStream is a started stream over empty stores whose events go to
// the returned slice.
func newTestStream(t *testing.T, maxWarnings int) (*stream, *[]wire.ClusterEvent) {
	t.Helper()
	s := newStream(maxWarnings, func() time.Time { return time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC) })
	for _, k := range append(stateKinds, kindNode, kindWarning) {
		s.watch(k, cache.NewStore(cache.MetaNamespaceKeyFunc))
	}
	var got []wire.ClusterEvent
	s.out = func(evs ...wire.EncodedEvent) {
		for _, e := range evs {
			var ce wire.ClusterEvent
			require.NoError(t, json.Unmarshal(e.Data, &ce))
			require.Equal(t, e.Type, ce.Type)
			got = append(got, ce)
		}
	}
	s.start("v1.35.0")
	got = nil // the first snapshot
	return s, &got
}

// A crash loop's BackOff, counted up 200 times on one Event between two
// intervals, is sent once when first seen and once more, with the last
// count, at the next interval: not once per repeat.
func TestRepeatedWarningIsCoalescedPerInterval(t *testing.T) {
	s, got := newTestStream(t, 10)
	for i := int32(1); i <= 200; i++ {
		s.changed(kindWarning, warningEvent("shop", "api-1.backoff", i))
	}
	require.Len(t, *got, 1, "sent when first seen")
	assert.Equal(t, int32(1), (*got)[0].Warning.Count)
	s.tick()
	require.Len(t, *got, 2)
	assert.Equal(t, int32(200), (*got)[1].Warning.Count)
	s.tick()
	s.changed(kindWarning, warningEvent("shop", "api-1.backoff", 200)) // a relist: unchanged
	s.tick()
	assert.Len(t, *got, 2, "nothing new: nothing sent")
}

// The memory keeps the most recent warnings: the one seen longest ago is
// forgotten first, and a snapshot sends what is remembered, oldest first.
func TestWarningMemoryIsBounded(t *testing.T) {
	s, got := newTestStream(t, 3)
	for i := int32(1); i <= 5; i++ {
		s.changed(kindWarning, warningEvent("shop", fmt.Sprintf("w%d", i), i)) // w5 is the latest
	}
	assert.Equal(t, 3, s.warnings.len())
	*got = nil
	s.snapshot(wire.ReasonPeriodic)
	var uids []string
	for _, e := range ofType(*got, wire.EventWarning) {
		uids = append(uids, e.Warning.UID)
	}
	assert.Equal(t, []string{"uid-w3", "uid-w4", "uid-w5"}, uids)
	// An older one than all remembered is not taken in.
	s.changed(kindWarning, warningEvent("shop", "w0", 0))
	assert.Equal(t, 3, s.warnings.len())
}

// The node summary is sent at the interval, only when it changed.
func TestNodeSummaryIsSentWhenItChanges(t *testing.T) {
	s, got := newTestStream(t, 10)
	n := readyNode("n1", "v1.35.0")
	require.NoError(t, s.stores[kindNode].Add(n))
	s.changed(kindNode, n)
	assert.Empty(t, *got, "not before the interval")
	s.tick()
	require.Len(t, *got, 1)
	assert.Equal(t, wire.NodeSummary{Count: 1, Ready: 1, KubeletVersions: map[string]int{"v1.35.0": 1}}, (*got)[0].Cluster.Nodes)
	s.changed(kindNode, n) // a heartbeat: the same summary
	s.tick()
	assert.Len(t, *got, 1)
}
