package metricsapi

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"github.com/catops/cli/pkg/usage"
	"github.com/catops/cli/pkg/usage/usagetest"
)

// fuzzNode is the node of the fuzz tests: 8 cores, 32 GiB.
var fuzzNode = usagetest.Capacity{Cores: 8, Memory: 32 << 30}

// FuzzMetricsAPI decodes a NodeMetrics and a PodMetrics (a GET) or a
// PodMetricsList (a LIST) as the Metrics API source does, through the real
// REST client, and reads them through the Collector of an 8-core, 32 GiB
// node: no panic; every reading sent is true (see usagetest.RequireTrue); and a
// pod's reading exists only if its PodMetrics was given once, with a
// timestamp, a window, and at least one container, each named once with
// both a cpu and a memory figure, whose sums it is. The seeds are in
// testdata/fuzz/FuzzMetricsAPI too.
func FuzzMetricsAPI(f *testing.F) {
	node := nodeJSON(`{"cpu":"1500m","memory":"2Gi"}`)
	f.Add(node, crashyPod("shop", "web-0"), false)
	f.Add(node, listJSON(crashyPod("shop", "web-0"), goodPod("shop", "web-1")), true)
	f.Add(node, goodPod("shop", "web-0"), false)
	f.Add(node, listJSON(goodPod("shop", "web-0"), goodPod("shop", "web-1"), goodPod("shop", "web-0")), true)
	f.Add(`{"kind":"NodeMetrics","metadata":{"name":"`+testNode+`"},"timestamp":null,"window":"10s","usage":{"cpu":"1"}}`, goodPod("shop", "web-0"), false)
	f.Add(nodeJSON(`{"cpu":"1e1000","memory":"-1"}`), podJSON("shop", "web-0", `"timestamp":"2026-03-01T12:00:00Z","window":"15s","containers":[{"name":"a","usage":{"cpu":"-1","memory":"1e1000"}},{"name":"a","usage":{"cpu":"2"}}]`), false)

	api, client := newJSONMetricsAPI(f)
	now := t0.Add(time.Second)
	f.Fuzz(func(t *testing.T, nodeBody, podBody string, list bool) {
		api.set("/nodes/"+testNode, nodeBody)
		api.set("/namespaces/shop/pods/web-0", podBody)
		api.set("/namespaces/shop/pods", podBody)
		pods := []usage.PodKey{web0}
		if list {
			pods = append(pods, web1) // two pods: a LIST
		}
		ctx := context.Background()
		src := New(client, testNode)
		if r, err := src.Fetch(ctx, pods); err == nil {
			usagetest.RequireSourceReading(t, r, pods, time.Time{})
			requireVouched(t, client, r, list)
		}
		c := usage.NewCollector(src, nil, usagetest.Options)
		c.UseNode(usagetest.CachedNode("8", "32Gi"))
		u, _ := c.Collect(ctx, pods, now)
		usagetest.RequireTrueEvent(t, u, pods, fuzzNode, now)
	})
}

// requireVouched decodes the pods' answer again, as the client does, and
// checks that every pod read had a PodMetrics that vouches for it, and that
// the reading is its sum.
func requireVouched(t *testing.T, client Client, r usage.Reading, list bool) {
	t.Helper()
	if len(r.Pods) == 0 {
		return // nothing read (a namespace that did not decode fails alone)
	}
	ctx := context.Background()
	var items []metricsv1beta1.PodMetrics
	if list {
		var err error
		items, err = client.PodMetricsList(ctx, "shop", func(string) bool { return true })
		require.NoError(t, err, "the source read this list")
	} else if _, read := r.Pods[web0]; read {
		pm, err := client.PodMetrics(ctx, "shop", "web-0")
		require.NoError(t, err, "the source read this pod")
		pm.Name = "web-0" // a GET's answer is the pod asked for
		items = append(items, *pm)
	}
	for k, u := range r.Pods {
		var found []metricsv1beta1.PodMetrics
		for _, it := range items {
			if it.Name == k.Name {
				found = append(found, it)
			}
		}
		require.Len(t, found, 1, "%v read: given exactly once", k)
		pm := found[0]
		require.False(t, pm.Timestamp.IsZero(), "%v read without a timestamp", k)
		require.Positive(t, pm.Window.Duration, "%v read without a window", k)
		require.NotEmpty(t, pm.Containers, "%v read without containers", k)
		var (
			cores float64
			bytes resource.Quantity // exact: Value() would make 1e1000 zero
		)
		names := map[string]bool{}
		for _, c := range pm.Containers {
			require.False(t, names[c.Name], "%v read with container %q twice", k, c.Name)
			names[c.Name] = true
			cpu, okCPU := c.Usage[corev1.ResourceCPU]
			mem, okMem := c.Usage[corev1.ResourceMemory]
			require.True(t, okCPU && okMem, "%v read with container %q missing a figure", k, c.Name)
			require.GreaterOrEqual(t, cpu.Sign(), 0, "%v read with a negative container", k)
			require.GreaterOrEqual(t, mem.Sign(), 0, "%v read with a negative container", k)
			cores += cpu.AsApproximateFloat64()
			bytes.Add(mem)
		}
		require.InEpsilon(t, max(cores, 1e-300), max(u.CPUCores, 1e-300), 1e-9, "%v cores are the containers' sum", k)
		require.Zero(t, bytes.Cmp(*resource.NewQuantity(u.MemoryBytes, resource.BinarySI)), "%v bytes %d are the containers' sum %s", k, u.MemoryBytes, bytes.String())
		require.True(t, pm.Timestamp.UTC().Equal(u.Timestamp), "%v timestamp", k)
	}
}
