package metricsapi

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"

	"github.com/catops/cli/pkg/usage"
	"github.com/catops/cli/pkg/usage/usagetest"
	"github.com/catops/cli/pkg/wire"
)

const metricsPrefix = "/apis/metrics.k8s.io/v1beta1"

// jsonMetricsAPI answers like the API server with metrics-server behind it,
// from raw JSON bodies by path; any other path gets the API server's plain
// "404 page not found". The client is the real REST one (no rate limit).
type jsonMetricsAPI struct {
	mu     sync.Mutex
	bodies map[string]string
}

func newJSONMetricsAPI(t testing.TB) (*jsonMetricsAPI, Client) {
	t.Helper()
	a := &jsonMetricsAPI{bodies: map[string]string{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		body, ok := a.bodies[r.URL.Path]
		a.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	c, err := NewClient(&rest.Config{Host: srv.URL, QPS: -1})
	require.NoError(t, err)
	return a, c
}

func (a *jsonMetricsAPI) set(path, body string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.bodies[metricsPrefix+path] = body
}

// nodeJSON is a NodeMetrics of testNode at t0 over 10 s.
func nodeJSON(usage string) string {
	return `{"kind":"NodeMetrics","apiVersion":"metrics.k8s.io/v1beta1","metadata":{"name":"` + testNode + `"},` +
		`"timestamp":"` + t0.Format(time.RFC3339) + `","window":"10s","usage":` + usage + `}`
}

// podJSON is a PodMetrics of ns/name; rest is its timestamp, window and
// containers fields.
func podJSON(ns, name, rest string) string {
	return `{"kind":"PodMetrics","apiVersion":"metrics.k8s.io/v1beta1","metadata":{"name":"` + name + `","namespace":"` + ns +
		`","creationTimestamp":"` + t0.Add(time.Second).Format(time.RFC3339) + `"},` + rest + `}`
}

func listJSON(items ...string) string {
	return `{"kind":"PodMetricsList","apiVersion":"metrics.k8s.io/v1beta1","metadata":{},"items":[` + strings.Join(items, ",") + `]}`
}

// goodPod is a pod of two containers at t0 over 15 s: 250m, 96 MiB.
func goodPod(ns, name string) string {
	return podJSON(ns, name, `"timestamp":"`+t0.Format(time.RFC3339)+`","window":"15s","containers":[`+
		`{"name":"app","usage":{"cpu":"200m","memory":"64Mi"}},{"name":"proxy","usage":{"cpu":"50000000n","memory":"32Mi"}}]`)
}

// crashyPod is the failing input: metrics-server's answer for a
// crash-looping pod, no timestamp and no containers.
func crashyPod(ns, name string) string {
	return podJSON(ns, name, `"timestamp":null,"window":"0s","containers":[]`)
}

var (
	crashy   = usage.PodKey{Namespace: "shop", Name: "crashy"}
	web0     = usage.PodKey{Namespace: "shop", Name: "web-0"}
	web1     = usage.PodKey{Namespace: "shop", Name: "web-1"}
	goodRead = wire.ResourceUsage{Timestamp: t0, WindowSeconds: 15, CPUCores: 0.25, MemoryBytes: 96 << 20,
		Containers: []wire.ContainerUsage{{Name: "app", CPUCores: 0.2, MemoryBytes: 64 << 20}, {Name: "proxy", CPUCores: 0.05, MemoryBytes: 32 << 20}}}
)

// The failing input: a PodMetrics with "timestamp": null and "containers":
// [] was read as 0 cores and 0 bytes stamped in year 1. The Metrics API
// does not vouch for any usage of that pod: it has no reading, as for a
// 404, whether it was got alone or listed with others.
func TestMetricsAPICrashLoopingPodHasNoReading(t *testing.T) {
	api, client := newJSONMetricsAPI(t)
	api.set("/nodes/"+testNode, nodeJSON(`{"cpu":"1500m","memory":"2Gi"}`))
	api.set("/namespaces/solo/pods/crashy", crashyPod("solo", "crashy"))
	api.set("/namespaces/shop/pods", listJSON(crashyPod("shop", "crashy"), goodPod("shop", "web-1")))
	soloCrashy := usage.PodKey{Namespace: "solo", Name: "crashy"}

	r, err := New(client, testNode).Fetch(context.Background(), []usage.PodKey{soloCrashy, crashy, web1})
	require.NoError(t, err)
	assert.Equal(t, map[usage.PodKey]wire.ResourceUsage{web1: goodRead}, r.Pods, "GET and LIST alike")
	assert.Equal(t, map[usage.PodKey]string{soloCrashy: usage.RejectMissing, crashy: usage.RejectMissing}, usagetest.RejectedAs(r.Rejected))
	require.NotNil(t, r.Node)
	assert.Equal(t, 1.5, r.Node.CPUCores)

	c := usage.NewCollector(New(client, testNode), nil, usagetest.Options)
	u, _ := c.Collect(context.Background(), []usage.PodKey{soloCrashy, crashy, web1}, t0)
	assert.Equal(t, []string{"shop/web-1"}, usagetest.PodNames(u), "never 0 cores, 0 bytes, year 1")
	assert.Equal(t, map[string]uint64{usage.RejectMissing: 2}, usagetest.RejectedOnly(c.Stats()))
}

// More of the kind: a pod whose total the Metrics API does not vouch for
// has no reading; the other pods of its list keep theirs.
func TestMetricsAPIRejectsPodsItCannotVouchFor(t *testing.T) {
	containers := func(cs ...string) string { return "[" + strings.Join(cs, ",") + "]" }
	stamped := func(ts, window, cs string) string {
		return `"timestamp":` + ts + `,"window":"` + window + `","containers":` + cs
	}
	ts := `"` + t0.Format(time.RFC3339) + `"`
	app := `{"name":"app","usage":{"cpu":"200m","memory":"64Mi"}}`
	tests := []struct {
		name, pod, reason string
	}{
		{"crash-looping: no timestamp, no containers", stamped("null", "0s", "[]"), usage.RejectMissing},
		{"no containers", stamped(ts, "15s", "[]"), usage.RejectMissing},
		{"no timestamp", stamped("null", "15s", containers(app)), usage.RejectNoTimestamp},
		{"a zero window", stamped(ts, "0s", containers(app)), usage.RejectBadWindow},
		{"a negative window", stamped(ts, "-15s", containers(app)), usage.RejectBadWindow},
		{"a container without cpu", stamped(ts, "15s", containers(app, `{"name":"side","usage":{"memory":"1Mi"}}`)), usage.RejectMissing},
		{"a container without memory", stamped(ts, "15s", containers(app, `{"name":"side","usage":{"cpu":"1m"}}`)), usage.RejectMissing},
		{"a container without usage", stamped(ts, "15s", containers(app, `{"name":"side"}`)), usage.RejectMissing},
		{"a container listed twice", stamped(ts, "15s", containers(app, app)), usage.RejectDuplicate},
		{"a negative container hidden in the sum", stamped(ts, "15s", containers(app, `{"name":"side","usage":{"cpu":"-100m","memory":"1Mi"}}`)), usage.RejectNegative},
		{"negative memory", stamped(ts, "15s", containers(`{"name":"app","usage":{"cpu":"1m","memory":"-64Mi"}}`)), usage.RejectNegative},
		{"memory too large to be bytes (was read as 0)", stamped(ts, "15s", containers(`{"name":"app","usage":{"cpu":"1m","memory":"1e1000"}}`)), usage.RejectOutOfRange},
		{"cpu too large to be cores (was read as +Inf)", stamped(ts, "15s", containers(`{"name":"app","usage":{"cpu":"1e1000","memory":"1Mi"}}`)), usage.RejectOutOfRange},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api, client := newJSONMetricsAPI(t)
			api.set("/nodes/"+testNode, nodeJSON(`{"cpu":"1500m","memory":"2Gi"}`))
			api.set("/namespaces/shop/pods", listJSON(podJSON("shop", "web-0", tc.pod), goodPod("shop", "web-1")))
			api.set("/namespaces/solo/pods/web-0", podJSON("solo", "web-0", tc.pod))
			solo := usage.PodKey{Namespace: "solo", Name: "web-0"}

			r, err := New(client, testNode).Fetch(context.Background(), []usage.PodKey{web0, web1, solo})
			require.NoError(t, err)
			assert.Equal(t, map[usage.PodKey]wire.ResourceUsage{web1: goodRead}, r.Pods)
			assert.Equal(t, map[usage.PodKey]string{web0: tc.reason, solo: tc.reason}, usagetest.RejectedAs(r.Rejected))
			assert.NotNil(t, r.Node)
		})
	}
}

// A pod listed twice in its namespace's list: which item is true cannot be
// told, so neither is used.
func TestMetricsAPIDuplicatedPodInAList(t *testing.T) {
	api, client := newJSONMetricsAPI(t)
	api.set("/nodes/"+testNode, nodeJSON(`{"cpu":"1","memory":"1Gi"}`))
	other := podJSON("shop", "web-0", `"timestamp":"`+t0.Format(time.RFC3339)+`","window":"15s","containers":[{"name":"app","usage":{"cpu":"7","memory":"6Gi"}}]`)
	api.set("/namespaces/shop/pods", listJSON(goodPod("shop", "web-0"), goodPod("shop", "web-1"), other, goodPod("shop", "web-0")))

	r, err := New(client, testNode).Fetch(context.Background(), []usage.PodKey{web0, web1})
	require.NoError(t, err)
	assert.Equal(t, map[usage.PodKey]wire.ResourceUsage{web1: goodRead}, r.Pods)
	require.Len(t, r.Rejected, 1, "one rejection for the pod, not one per item")
	assert.Equal(t, usage.Rejection{Pod: web0, Reason: usage.RejectDuplicate, Detail: "the pod is listed 3 times"}, r.Rejected[0])
}

// The node's reading follows the same rules; the pods are still read.
func TestMetricsAPIRejectsANodeReadingItCannotVouchFor(t *testing.T) {
	tests := []struct {
		name, node, reason string
	}{
		{"zero timestamp", `{"kind":"NodeMetrics","metadata":{"name":"` + testNode + `"},"timestamp":null,"window":"10s","usage":{"cpu":"1","memory":"1Gi"}}`, usage.RejectNoTimestamp},
		{"no usage", `{"kind":"NodeMetrics","metadata":{"name":"` + testNode + `"},"timestamp":"` + t0.Format(time.RFC3339) + `","window":"10s"}`, usage.RejectMissing},
		{"no memory", nodeJSON(`{"cpu":"1"}`), usage.RejectMissing},
		{"no cpu", nodeJSON(`{"memory":"1Gi"}`), usage.RejectMissing},
		{"negative cpu", nodeJSON(`{"cpu":"-1","memory":"1Gi"}`), usage.RejectNegative},
		{"no window", `{"kind":"NodeMetrics","metadata":{"name":"` + testNode + `"},"timestamp":"` + t0.Format(time.RFC3339) + `","usage":{"cpu":"1","memory":"1Gi"}}`, usage.RejectBadWindow},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api, client := newJSONMetricsAPI(t)
			api.set("/nodes/"+testNode, tc.node)
			api.set("/namespaces/shop/pods/web-1", goodPod("shop", "web-1"))
			r, err := New(client, testNode).Fetch(context.Background(), []usage.PodKey{web1})
			require.NoError(t, err, "the node's metrics were answered: not an outage")
			assert.Nil(t, r.Node)
			assert.Equal(t, map[usage.PodKey]string{{}: tc.reason}, usagetest.RejectedAs(r.Rejected))
			assert.Equal(t, map[usage.PodKey]wire.ResourceUsage{web1: goodRead}, r.Pods)
		})
	}
}

// Through the Collector, the Node's capacity bounds what a pod and the
// node may use, and "now" bounds the timestamps.
func TestMetricsAPIReadingsBoundByTheNode(t *testing.T) {
	at := func(ts time.Time, cpu, mem string) string {
		return podJSON("shop", "web-0", fmt.Sprintf(`"timestamp":%q,"window":"15s","containers":[{"name":"app","usage":{"cpu":%q,"memory":%q}}]`,
			ts.Format(time.RFC3339), cpu, mem))
	}
	tests := []struct {
		name, node, pod string
		podReason       string
		nodeReason      string
	}{
		{"within", nodeJSON(`{"cpu":"7","memory":"30Gi"}`), at(t0, "8", "32Gi"), "", ""},
		{"pod above the node's cores", nodeJSON(`{"cpu":"7","memory":"30Gi"}`), at(t0, "70799", "1Gi"), usage.RejectCPUAboveCapacity, ""},
		{"pod above the node's memory", nodeJSON(`{"cpu":"7","memory":"30Gi"}`), at(t0, "1", "33Gi"), usage.RejectMemoryAboveCapacity, ""},
		{"node above its cores", nodeJSON(`{"cpu":"9","memory":"30Gi"}`), at(t0, "1", "1Gi"), "", usage.RejectCPUAboveCapacity},
		{"a pod reading from tomorrow", nodeJSON(`{"cpu":"1","memory":"1Gi"}`), at(t0.Add(24*time.Hour), "1", "1Gi"), usage.RejectFutureTimestamp, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api, client := newJSONMetricsAPI(t)
			api.set("/nodes/"+testNode, tc.node)
			api.set("/namespaces/shop/pods/web-0", tc.pod)
			c := usage.NewCollector(New(client, testNode), nil, usagetest.Options)
			c.UseNode(usagetest.CachedNode("8", "32Gi"))
			u, _ := c.Collect(context.Background(), []usage.PodKey{web0}, t0.Add(time.Second))
			assert.Equal(t, tc.podReason == "", len(u.Pods) == 1, "pod reading sent")
			assert.Equal(t, tc.nodeReason == "", u.Node != nil, "node reading sent")
			want := map[string]uint64{}
			for _, r := range []string{tc.podReason, tc.nodeReason} {
				if r != "" {
					want[r]++
				}
			}
			assert.Equal(t, want, usagetest.RejectedOnly(c.Stats()))
		})
	}
}

// Per container: each container's own figures, sorted by name whatever
// order the Metrics API lists them in; their sum is the pod's.
func TestMetricsAPIContainersSortedByName(t *testing.T) {
	api, client := newJSONMetricsAPI(t)
	api.set("/nodes/"+testNode, nodeJSON(`{"cpu":"1500m","memory":"2Gi"}`))
	api.set("/namespaces/solo/pods/web-0", podJSON("solo", "web-0", `"timestamp":"`+t0.Format(time.RFC3339)+`","window":"15s","containers":[`+
		`{"name":"zeta","usage":{"cpu":"10m","memory":"1Mi"}},{"name":"alpha","usage":{"cpu":"30m","memory":"3Mi"}}]`))
	solo := usage.PodKey{Namespace: "solo", Name: "web-0"}
	r, err := New(client, testNode).Fetch(context.Background(), []usage.PodKey{solo})
	require.NoError(t, err)
	require.Contains(t, r.Pods, solo)
	assert.InDelta(t, 0.04, r.Pods[solo].CPUCores, 1e-12)
	assert.Equal(t, []wire.ContainerUsage{{Name: "alpha", CPUCores: 0.03, MemoryBytes: 3 << 20}, {Name: "zeta", CPUCores: 0.01, MemoryBytes: 1 << 20}},
		r.Pods[solo].Containers)
}
