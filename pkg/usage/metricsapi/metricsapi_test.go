package metricsapi

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zapcore"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"github.com/catops/cli/pkg/usage"
	"github.com/catops/cli/pkg/usage/usagetest"
	"github.com/catops/cli/pkg/wire"
)

// 110 pods in 10 namespaces on this node, 30 pods of other nodes in each of
// those namespaces: 11 requests, no cluster-wide list, only this node's
// pods, containers summed.
func TestFetchCostsOneRequestPerNamespacePlusNode(t *testing.T) {
	s := newMetricsServer(t)
	s.setNode(testNode, t0, "1500m", "2Gi")
	s.setNode("node-b", t0, "3", "8Gi")

	var pods []usage.PodKey
	want := make(map[usage.PodKey]wire.ResourceUsage)
	for n := range 10 {
		ns := fmt.Sprintf("ns-%02d", n)
		for i := range 11 {
			name := fmt.Sprintf("app-%02d", i)
			cpu1 := int64(n*1000+i)*1_000_000 + 123 // nanocores
			cpu2 := int64(250_000 + i)
			mem1 := int64(n*100+i+1) * 1024 // bytes, sent as Ki
			mem2 := int64(i+1) * 1 << 20    // bytes
			ts := t0.Add(-time.Duration(i) * time.Second)
			s.setPod(ns, name, ts,
				[2]string{fmt.Sprintf("%dn", cpu1), fmt.Sprintf("%dKi", mem1/1024)},
				[2]string{fmt.Sprintf("%dn", cpu2), fmt.Sprintf("%d", mem2)})
			k := usage.PodKey{Namespace: ns, Name: name}
			pods = append(pods, k)
			want[k] = wire.ResourceUsage{
				Timestamp:     ts,
				WindowSeconds: 15,
				CPUCores:      float64(cpu1+cpu2) / 1e9,
				MemoryBytes:   mem1 + mem2,
				Containers: []wire.ContainerUsage{
					{Name: "c0", CPUCores: float64(cpu1) / 1e9, MemoryBytes: mem1},
					{Name: "c1", CPUCores: float64(cpu2) / 1e9, MemoryBytes: mem2},
				},
			}
		}
		for i := range 30 {
			s.setPod(ns, fmt.Sprintf("elsewhere-%02d", i), t0, [2]string{"7", "1Gi"})
		}
	}
	s.setPod("other-ns", "unrelated", t0, [2]string{"1", "1Gi"})

	r, err := New(s.client(), testNode).Fetch(context.Background(), pods)
	require.NoError(t, err)

	reqs := s.requests()
	assert.Len(t, reqs, 11)
	assert.Equal(t, 11, r.Requests)
	assert.Zero(t, r.Errors)
	assert.Contains(t, reqs, request{Verb: "get", Resource: "nodes", Name: testNode})
	listed := map[string]int{}
	for _, q := range reqs {
		if q.Resource == "pods" {
			assert.Equal(t, "list", q.Verb, "namespaces with several pods are listed: %+v", q)
			listed[q.Namespace]++
		}
	}
	assert.Len(t, listed, 10)
	for ns, n := range listed {
		assert.Equal(t, 1, n, "namespace %s listed once", ns)
	}

	require.NotNil(t, r.Node)
	assert.Equal(t, wire.ResourceUsage{Timestamp: t0, WindowSeconds: 10, CPUCores: 1.5, MemoryBytes: 2 << 30}, *r.Node)

	require.Len(t, r.Pods, 110, "only this node's pods")
	for k, w := range want {
		got, ok := r.Pods[k]
		require.True(t, ok, "reading for %v", k)
		assert.True(t, w.Timestamp.Equal(got.Timestamp), "timestamp of %v", k)
		assert.Equal(t, w.WindowSeconds, got.WindowSeconds, "window of %v", k)
		assert.InDelta(t, w.CPUCores, got.CPUCores, 1e-12, "cpu of %v", k)
		assert.Equal(t, w.MemoryBytes, got.MemoryBytes, "memory of %v", k)
	}
}

func TestFetchGetsSingletonsAndListsTheRest(t *testing.T) {
	s := newMetricsServer(t)
	s.setNode(testNode, t0, "1", "1Gi")
	s.setPod("solo", "only", t0, [2]string{"100m", "10Mi"})
	s.setPod("solo", "other-node", t0, [2]string{"1", "1Gi"})
	for _, name := range []string{"a", "b", "c", "other-node"} {
		s.setPod("multi", name, t0, [2]string{"200m", "20Mi"}, [2]string{"50m", "5Mi"})
	}

	pods := []usage.PodKey{
		{Namespace: "solo", Name: "only"},
		{Namespace: "solo", Name: "only"}, // a duplicate is still one pod
		{Namespace: "multi", Name: "a"},
		{Namespace: "multi", Name: "b"},
		{Namespace: "multi", Name: "c"},
	}
	r, err := New(s.client(), testNode).Fetch(context.Background(), pods)
	require.NoError(t, err)

	assert.ElementsMatch(t, []request{
		{Verb: "get", Resource: "nodes", Name: testNode},
		{Verb: "get", Resource: "pods", Namespace: "solo", Name: "only"},
		{Verb: "list", Resource: "pods", Namespace: "multi"},
	}, s.requests())
	assert.Equal(t, 3, r.Requests)

	require.Len(t, r.Pods, 4)
	assert.InDelta(t, 0.1, r.Pods[usage.PodKey{Namespace: "solo", Name: "only"}].CPUCores, 1e-12)
	assert.Equal(t, int64(10<<20), r.Pods[usage.PodKey{Namespace: "solo", Name: "only"}].MemoryBytes)
	for _, name := range []string{"a", "b", "c"} {
		assert.InDelta(t, 0.25, r.Pods[usage.PodKey{Namespace: "multi", Name: name}].CPUCores, 1e-12)
		assert.Equal(t, int64(25<<20), r.Pods[usage.PodKey{Namespace: "multi", Name: name}].MemoryBytes)
	}
}

func TestFetchWithoutPodsReadsOnlyTheNode(t *testing.T) {
	s := newMetricsServer(t)
	s.setNode(testNode, t0, "1", "1Gi")

	r, err := New(s.client(), testNode).Fetch(context.Background(), nil)
	require.NoError(t, err)
	assert.Equal(t, []request{{Verb: "get", Resource: "nodes", Name: testNode}}, s.requests())
	assert.NotNil(t, r.Node)
	assert.Empty(t, r.Pods)
}

// metrics-server answers 404 for a pod it has not scraped yet: the pod has
// no reading (not a zero one) and the fetch succeeds.
func TestFetchPodWithoutMetricsIsAbsent(t *testing.T) {
	s := newMetricsServer(t)
	s.setNode(testNode, t0, "1", "1Gi")
	// "solo/new" has no PodMetrics: the GET gets NotFound.
	s.setPod("multi", "old", t0, [2]string{"1", "1Gi"})
	// "multi/new" is not in the list.

	pods := []usage.PodKey{{Namespace: "solo", Name: "new"}, {Namespace: "multi", Name: "old"}, {Namespace: "multi", Name: "new"}}
	r, err := New(s.client(), testNode).Fetch(context.Background(), pods)
	require.NoError(t, err)

	assert.Contains(t, s.requests(), request{Verb: "get", Resource: "pods", Namespace: "solo", Name: "new"})
	assert.Zero(t, r.Errors, "not found is not an error")
	assert.Len(t, r.Pods, 1)
	assert.Contains(t, r.Pods, usage.PodKey{Namespace: "multi", Name: "old"})
	assert.NotContains(t, r.Pods, usage.PodKey{Namespace: "solo", Name: "new"})
	assert.NotContains(t, r.Pods, usage.PodKey{Namespace: "multi", Name: "new"})
}

// One namespace failing for another reason than availability is logged and
// counted; the other namespaces are kept.
func TestFetchKeepsOtherNamespacesWhenOneFails(t *testing.T) {
	s := newMetricsServer(t)
	s.setNode(testNode, t0, "1", "1Gi")
	for _, ns := range []string{"good", "bad"} {
		s.setPod(ns, "a", t0, [2]string{"1", "1Gi"})
		s.setPod(ns, "b", t0, [2]string{"1", "1Gi"})
	}
	s.setPod("lonely", "x", t0, [2]string{"1", "1Gi"})
	s.setFail(func(q request) error {
		if q.Namespace == "bad" {
			return apierrors.NewInternalError(fmt.Errorf("etcd on fire"))
		}
		if q.Namespace == "lonely" {
			return apierrors.NewTooManyRequests("slow down", 1)
		}
		return nil
	})
	logger, logs := usagetest.ObservedLogger()

	pods := []usage.PodKey{{Namespace: "good", Name: "a"}, {Namespace: "good", Name: "b"}, {Namespace: "bad", Name: "a"}, {Namespace: "bad", Name: "b"}, {Namespace: "lonely", Name: "x"}}
	r, err := New(s.client(), testNode, WithLogger(logger)).Fetch(context.Background(), pods)
	require.NoError(t, err)

	assert.Equal(t, 4, r.Requests)
	assert.Equal(t, 2, r.Errors)
	assert.Len(t, r.Pods, 2)
	assert.Contains(t, r.Pods, usage.PodKey{Namespace: "good", Name: "a"})
	assert.Contains(t, r.Pods, usage.PodKey{Namespace: "good", Name: "b"})

	warned := logs.FilterLevelExact(zapcore.WarnLevel).All()
	require.Len(t, warned, 2)
	var namespaces []string
	for _, e := range warned {
		namespaces = append(namespaces, e.ContextMap()["namespace"].(string))
	}
	assert.ElementsMatch(t, []string{"bad", "lonely"}, namespaces)
}

// When the node's reading fails the fetch fails after that one request;
// IsUnavailable tells "API not accessible" from other failures.
func TestFetchNodeFailure(t *testing.T) {
	tests := []struct {
		name        string
		err         error
		unavailable bool
		reason      string
	}{
		{"group not registered", usagetest.NotServed("nodes", testNode), true, "metrics API not served"},
		{"backend down", usagetest.BackendDown("nodes", testNode), true, "metrics API unavailable"},
		{"service unavailable status", apierrors.NewServiceUnavailable("the server is currently unable to handle the request"), true, "metrics API unavailable"},
		{"node not scraped yet", apierrors.NewNotFound(metricsv1beta1.Resource("nodes"), testNode), true, "no metrics for this node yet"},
		{"forbidden", apierrors.NewForbidden(metricsv1beta1.Resource("nodes"), testNode, fmt.Errorf("RBAC")), true, "metrics API access denied"},
		{"internal error", apierrors.NewInternalError(fmt.Errorf("boom")), false, "metrics API request failed"},
		{"server timeout", apierrors.NewTimeoutError("slow", 1), false, "metrics API timed out"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newMetricsServer(t)
			s.setPod("ns", "a", t0, [2]string{"1", "1Gi"})
			s.setFail(func(q request) error {
				if q.Resource == "nodes" {
					return tc.err
				}
				return nil
			})

			r, err := New(s.client(), testNode).Fetch(context.Background(), []usage.PodKey{{Namespace: "ns", Name: "a"}})
			require.Error(t, err)
			assert.ErrorIs(t, err, tc.err)
			assert.Equal(t, tc.unavailable, usage.IsUnavailable(err))
			assert.Equal(t, tc.reason, usage.Reason(err))
			assert.Len(t, s.requests(), 1, "no pod requests after the node failed")
			assert.Equal(t, 1, r.Requests)
		})
	}
}

// The Metrics API going away between the node GET and a namespace request
// fails the whole fetch as unavailable.
func TestFetchAPIGoneMidway(t *testing.T) {
	s := newMetricsServer(t)
	s.setNode(testNode, t0, "1", "1Gi")
	s.setPod("ns", "a", t0, [2]string{"1", "1Gi"})
	s.setFail(func(q request) error {
		if q.Resource == "pods" {
			return usagetest.NotServed("pods", q.Name)
		}
		return nil
	})

	r, err := New(s.client(), testNode).Fetch(context.Background(), []usage.PodKey{{Namespace: "ns", Name: "a"}})
	require.Error(t, err)
	assert.True(t, usage.IsUnavailable(err))
	assert.Equal(t, "metrics API not served", usage.Reason(err))
	assert.Equal(t, 2, r.Requests)
}

// The caller's context ending between two namespace requests fails the
// whole fetch: the namespaces not yet asked must not vanish from a reading
// that looks complete.
func TestFetchCancelledBetweenNamespacesFails(t *testing.T) {
	s := newMetricsServer(t)
	s.setNode(testNode, t0, "1", "1Gi")
	s.setPod("a", "p", t0, [2]string{"1", "1Gi"})
	s.setPod("b", "p", t0, [2]string{"1", "1Gi"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.setFail(func(q request) error {
		if q.Resource == "pods" && q.Namespace == "a" {
			cancel() // the deadline strikes while namespace a is answered
		}
		return nil
	})

	r, err := New(s.client(), testNode, WithConcurrency(1)).Fetch(ctx, []usage.PodKey{{Namespace: "a", Name: "p"}, {Namespace: "b", Name: "p"}})
	require.ErrorIs(t, err, context.Canceled)
	assert.Nil(t, r.Pods)
	assert.Equal(t, 2, r.Requests, "namespace b is not asked")
}

func TestFetchBoundsConcurrency(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []Option
		want int64
	}{
		{"limit 1", []Option{WithConcurrency(1)}, 1},
		{"limit 2", []Option{WithConcurrency(2)}, 2},
		{"default", nil, DefaultConcurrency},
		{"invalid keeps default", []Option{WithConcurrency(0)}, DefaultConcurrency},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newMetricsServer(t)
			s.setNode(testNode, t0, "1", "1Gi")
			var pods []usage.PodKey
			for n := range 10 {
				ns := fmt.Sprintf("ns-%d", n)
				for i := range 1 + n%2 { // GETs and LISTs
					name := fmt.Sprintf("p%d", i)
					s.setPod(ns, name, t0, [2]string{"1", "1Gi"})
					pods = append(pods, usage.PodKey{Namespace: ns, Name: name})
				}
			}
			client := &countingClient{Client: s.client(), delay: 20 * time.Millisecond}

			r, err := New(client, testNode, tc.opts...).Fetch(context.Background(), pods)
			require.NoError(t, err)
			assert.Len(t, r.Pods, len(pods))
			assert.Equal(t, 11, r.Requests)
			// Equal, not just at most: the limit is reached, so the
			// requests do run concurrently up to it.
			assert.Equal(t, tc.want, client.maxFlight.Load())
		})
	}
}
