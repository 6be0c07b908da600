//go:build integration

package integration

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/catops/cli/pkg/config"
	"github.com/catops/cli/pkg/receiver"
	"github.com/catops/cli/test/rig"
)

// TestMetricsAPIThroughTheAggregationLayer: real metrics-server, scraping
// kwok's simulated kubelets, behind the API server's aggregation layer. The
// connector's pod usage matches the pinned figures; with the APIService
// removed it keeps shipping with usage unknown; restored, usage returns.
func TestMetricsAPIThroughTheAggregationLayer(t *testing.T) {
	c := rig.StartT(t, rig.Options{Kwok: true, Nodes: 1, MetricsServer: true})
	cs, err := c.Clientset()
	require.NoError(t, err)
	ctx := context.Background()
	ns := "usage"
	ensureNamespace(t, cs, ns)
	for _, name := range []string{"pinned-a", "pinned-b"} {
		p := newPod(ns, name, node1)
		p.Annotations = map[string]string{"kwok.x-k8s.io/usage-cpu": "250m", "kwok.x-k8s.io/usage-memory": "64Mi"}
		_, err = cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		require.NoError(t, err)
	}

	a := startAgent(t, c.RESTConfig(), node1, func(cfg *config.Config) {
		cfg.PodMetricsSource = config.SourceMetricsAPI
		cfg.CollectionInterval = 2 * time.Second
	})
	a.waitFor("pod usage through the Metrics API", 120*time.Second, func(st receiver.NodeState) bool {
		u, ok := st.Usage.Pods[ns+"/pinned-a"]
		_, okB := st.Usage.Pods[ns+"/pinned-b"]
		return st.Usage.Available && ok && okB && st.Usage.Node != nil && u.MemoryBytes > 0
	})
	st, _ := a.rcv.Node(node1)
	u := st.Usage.Pods[ns+"/pinned-a"]
	assert.InDelta(t, 0.25, u.CPUCores, 0.01, "the CPU kwok was told to report")
	assert.Equal(t, int64(64<<20), u.MemoryBytes, "the memory kwok was told to report")
	assert.False(t, math.IsNaN(u.CPUCores))

	// metrics.k8s.io goes away: usage becomes unknown, pods still ship.
	require.NoError(t, c.UnregisterMetricsAPI(ctx))
	a.waitFor("usage marked unknown", 60*time.Second, func(st receiver.NodeState) bool {
		return !st.Usage.Available && st.Usage.Reason != "" && len(st.Usage.Pods) == 0
	})
	_, err = cs.CoreV1().Pods(ns).Create(ctx, newPod(ns, "while-degraded", node1), metav1.CreateOptions{})
	require.NoError(t, err)
	a.waitFor("pods still shipped while usage is unknown", 30*time.Second, func(st receiver.NodeState) bool {
		_, ok := st.Pods[ns+"/while-degraded"]
		return ok
	})
	assert.Contains(t, a.logText(), "metrics API is not accessible (is metrics-server installed?)")

	// Restored: usage comes back (after the collector's backoff).
	require.NoError(t, c.RegisterMetricsAPI(ctx, c.MetricsServerPort()))
	a.waitFor("usage available again", 120*time.Second, func(st receiver.NodeState) bool {
		_, ok := st.Usage.Pods[ns+"/pinned-a"]
		return st.Usage.Available && ok
	})
	assert.Contains(t, a.logText(), "Metrics API is accessible again")
}
