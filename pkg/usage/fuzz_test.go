package usage

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"github.com/catops/cli/pkg/wire"
)

// fuzzNode is the node of the fuzz tests: 8 cores, 32 GiB.
var fuzzNode = capacity{cores: 8, memory: 32 << 30}

// requireTrue fails unless u can be a reading taken no later than latest
// (zero: no bound) of a node with capacity c (zero fields: no bound): a
// timestamp after the epoch, a window above zero, finite cores and bytes,
// none negative or above the node's.
func requireTrue(t *testing.T, what string, u wire.ResourceUsage, c capacity, latest time.Time) {
	t.Helper()
	require.True(t, u.Timestamp.After(time.Unix(0, 0)), "%s: timestamp %v", what, u.Timestamp)
	require.False(t, !latest.IsZero() && u.Timestamp.After(latest), "%s: timestamp %v after %v", what, u.Timestamp, latest)
	require.False(t, math.IsNaN(u.WindowSeconds) || math.IsInf(u.WindowSeconds, 0), "%s: window %v", what, u.WindowSeconds)
	require.Positive(t, u.WindowSeconds, "%s: window", what)
	require.False(t, math.IsNaN(u.CPUCores) || math.IsInf(u.CPUCores, 0), "%s: cpu %v", what, u.CPUCores)
	require.GreaterOrEqual(t, u.CPUCores, 0.0, "%s: cpu", what)
	require.GreaterOrEqual(t, u.MemoryBytes, int64(0), "%s: memory", what)
	if c.cores > 0 {
		require.LessOrEqual(t, u.CPUCores, c.cores*cpuCapacitySlack, "%s: cpu above the node's cores", what)
	}
	if c.memory > 0 {
		require.LessOrEqual(t, u.MemoryBytes, c.memory, "%s: memory above the node's", what)
	}
}

// requireTrueEvent checks every reading of an event sent at now (see
// requireTrue; the Collector allows the fetch timeout and maxClockSkew
// past now) and that it holds only the pods asked for, each once.
func requireTrueEvent(t *testing.T, u wire.Usage, pods []PodKey, c capacity, now time.Time) {
	t.Helper()
	latest := now.Add(testInterval + maxClockSkew)
	if u.Node != nil {
		requireTrue(t, "node", *u.Node, c, latest)
	}
	seen := map[PodKey]bool{}
	for _, p := range u.Pods {
		k := PodKey{Namespace: p.Namespace, Name: p.Name}
		require.Contains(t, pods, k, "only pods asked for")
		require.False(t, seen[k], "%v twice", k)
		seen[k] = true
		requireTrue(t, k.Namespace+"/"+k.Name, p.ResourceUsage, c, latest)
	}
}

// requireSourceReading checks what a source returned, before the
// Collector: readings true whatever the node and stamped no later than
// latest (zero: the source has no clock, the Collector checks that), only
// pods asked for, and no pod both read and rejected.
func requireSourceReading(t *testing.T, r Reading, pods []PodKey, latest time.Time) {
	t.Helper()
	if r.Node != nil {
		requireTrue(t, "source node", *r.Node, capacity{}, latest)
	}
	for k, u := range r.Pods {
		require.Contains(t, pods, k, "only pods asked for")
		requireTrue(t, "source "+k.Namespace+"/"+k.Name, u, capacity{}, latest)
	}
	for _, rj := range r.Rejected {
		require.Contains(t, rejectReasons, rj.Reason)
		if rj.Pod == (PodKey{}) {
			require.Nil(t, r.Node, "node read and rejected")
		} else {
			require.NotContains(t, r.Pods, rj.Pod, "pod read and rejected")
		}
	}
}

// FuzzKubeletScrape reads two kubelet answers in a row, as the kubelet
// source does (Prometheus text, then rates across the two) and through the
// Collector of an 8-core, 32 GiB node: no panic, and every reading sent is
// finite, not negative, not above the node, with a window above zero and a
// sane timestamp. The seeds are in testdata/fuzz/FuzzKubeletScrape too.
func FuzzKubeletScrape(f *testing.F) {
	f.Add(staleScrape(0, 10, true), staleScrape(10*time.Second, 12.5, false))
	f.Add(scrapeAt(0, 100, 10, 5, 20), scrapeAt(10*time.Second, 115, 12.5, 6.25, 22.5))
	f.Add(kubeletText(time.Time{}, 1, 1, []ctr{{"a", "b", "c", 1e300, 1e300, 1}}), kubeletText(t0, 1e308, 1e18, []ctr{{"a", "b", "c", 1e308, 1, 1e300}}))
	f.Add("node_cpu_usage_seconds_total NaN 1\n", "node_cpu_usage_seconds_total +Inf 2\nnode_memory_working_set_bytes -1 2\n")
	pods := []PodKey{web0, podA, podB, {Namespace: "a", Name: "b"}}
	f.Fuzz(func(t *testing.T, first, second string) {
		k := &Kubelet{rates: newRates()}
		bodies := []string{first, second}
		scraped := func(i int) time.Time { return t0.Add(time.Duration(i) * testInterval) }
		var i int
		src := &stubSource{fetch: func(context.Context) (Reading, error) {
			r, err := k.read([]byte(bodies[i]), scraped(i), "https://kubelet.invalid"+DefaultKubeletPath, pods)
			if err == nil {
				// The kubelet source checks timestamps against its own clock.
				requireSourceReading(t, r, pods, scraped(i).Add(maxClockSkew))
			}
			return r, err
		}}
		c := NewCollector(src, nil, testOptions)
		c.UseNode(cachedNode("8", "32Gi"))
		for i = range bodies {
			u := c.Collect(context.Background(), pods, scraped(i))
			requireTrueEvent(t, u, pods, fuzzNode, scraped(i))
		}
	})
}

// FuzzMetricsAPI decodes a NodeMetrics and a PodMetrics (a GET) or a
// PodMetricsList (a LIST) as the Metrics API source does, through the real
// REST client, and reads them through the Collector of an 8-core, 32 GiB
// node: no panic; every reading sent is true (see requireTrue); and a
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
		pods := []PodKey{web0}
		if list {
			pods = append(pods, web1) // two pods: a LIST
		}
		ctx := context.Background()
		src := NewMetricsAPI(client, testNode)
		if r, err := src.Fetch(ctx, pods); err == nil {
			requireSourceReading(t, r, pods, time.Time{})
			requireVouched(t, client, r, list)
		}
		c := NewCollector(src, nil, testOptions)
		c.UseNode(cachedNode("8", "32Gi"))
		requireTrueEvent(t, c.Collect(ctx, pods, now), pods, fuzzNode, now)
	})
}

// requireVouched decodes the pods' answer again, as the client does, and
// checks that every pod read had a PodMetrics that vouches for it, and that
// the reading is its sum.
func requireVouched(t *testing.T, client MetricsClient, r Reading, list bool) {
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
