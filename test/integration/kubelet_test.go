//go:build integration

package integration

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/catops/cli/pkg/config"
	"github.com/catops/cli/pkg/receiver"
	"github.com/catops/cli/test/rig"
)

// TestKubeletSourceAgainstKwok: with CATOPS_POD_METRICS_SOURCE=kubelet the
// agent finds its node's kubelet through the cached Node alone (kwok's
// InternalIP 127.0.0.1, its daemonEndpoints port and the
// metrics.k8s.io/resource-metrics-path annotation), verifies kwok's serving
// certificate with the cluster CA, and ships the pinned usage; it makes no
// metrics.k8s.io request and, past the start, no API server request at all.
func TestKubeletSourceAgainstKwok(t *testing.T) {
	c := rig.Shared(t)
	cs, err := c.Clientset()
	require.NoError(t, err)
	ctx := context.Background()
	ns := "kubelet-usage"
	ensureNamespace(t, cs, ns)
	p := newPod(ns, "pinned", node1)
	p.Annotations = map[string]string{rig.UsageCPUAnnotation: "250m", rig.UsageMemoryAnnotation: "64Mi"}
	_, err = cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = c.WaitPodRunning(ctx, ns, "pinned", 60*time.Second)
	require.NoError(t, err)

	start := time.Now()
	before, err := c.Metrics(ctx)
	require.NoError(t, err)
	a := startAgent(t, c.RESTConfig(), node1, func(cfg *config.Config) {
		cfg.PodMetricsSource = config.SourceKubelet
		cfg.CollectionInterval = 2 * time.Second
	})
	synced := time.Now()
	a.waitFor("pod usage from kwok's kubelet endpoint", 60*time.Second, func(st receiver.NodeState) bool {
		_, ok := st.Usage.Pods[ns+"/pinned"]
		return st.Usage.Available && ok && st.Usage.Node != nil
	})
	// A few more intervals of steady state.
	time.Sleep(3 * 2 * time.Second)
	end := time.Now()
	after, err := c.Metrics(ctx)
	require.NoError(t, err)

	st, _ := a.rcv.Node(node1)
	assert.Equal(t, "kubelet", st.Usage.Source)
	u := st.Usage.Pods[ns+"/pinned"]
	assert.InDelta(t, 0.25, u.CPUCores, 0.025, "the CPU kwok was told to report, as a rate of its counter")
	assert.Equal(t, int64(64<<20), u.MemoryBytes, "the memory kwok was told to report")
	assert.Contains(t, a.logText(), "/metrics/nodes/"+node1+"/metrics/resource", "the path of the Node's annotation")
	assert.NotContains(t, a.logText(), "Reading usage failed")

	startup, steady := agentRequests(t, start, synced), agentRequests(t, synced, end)
	t.Logf("agent requests at start: %v; in %s of steady state: %v", startup, end.Sub(synced).Round(time.Second), steady)
	for _, reqs := range []map[string]int{startup, steady} {
		for key := range reqs {
			assert.NotContains(t, key, "metrics.k8s.io", "the kubelet source never asks the Metrics API")
		}
	}
	assert.Empty(t, steady, "steady state: no API server request at all")
	for _, s := range after.Filter("apiserver_request_total", map[string]string{"group": "metrics.k8s.io"}) {
		assert.Equal(t, before.Sum("apiserver_request_total", s.Labels), s.Value, "apiserver_request_total for metrics.k8s.io grew: %v", s.Labels)
	}
}
