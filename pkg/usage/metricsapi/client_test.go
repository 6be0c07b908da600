package metricsapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"github.com/catops/cli/pkg/usage"
)

// TestMetricsClientRequests runs the REST client against a server that
// answers like the API server with metrics-server behind it: the same
// paths as the generated client, decoded objects, and 404s told apart.
func TestMetricsClientRequests(t *testing.T) {
	const prefix = "/apis/metrics.k8s.io/v1beta1"
	objects := map[string]any{
		prefix + "/nodes/" + testNode: metricsv1beta1.NodeMetrics{ObjectMeta: metav1.ObjectMeta{Name: testNode},
			Timestamp: metav1.NewTime(t0), Usage: usageList("1", "1Gi")},
		prefix + "/namespaces/ns/pods/a": metricsv1beta1.PodMetrics{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "a"},
			Timestamp: metav1.NewTime(t0), Containers: []metricsv1beta1.ContainerMetrics{{Name: "c", Usage: usageList("250m", "64Mi")}}},
		prefix + "/namespaces/ns/pods": metricsv1beta1.PodMetricsList{
			TypeMeta: metav1.TypeMeta{Kind: "PodMetricsList", APIVersion: "metrics.k8s.io/v1beta1"},
			ListMeta: metav1.ListMeta{ResourceVersion: "1"},
			Items: []metricsv1beta1.PodMetrics{
				{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "a", Labels: map[string]string{"app": "a"}},
					Timestamp: metav1.NewTime(t0), Containers: []metricsv1beta1.ContainerMetrics{{Name: "c", Usage: usageList("100m", "1Mi")}}},
				{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "b"}},
			}},
		// metrics-server's own 404: a Status naming the object.
		prefix + "/namespaces/ns/pods/gone": metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
			Status: metav1.StatusFailure, Reason: metav1.StatusReasonNotFound, Code: http.StatusNotFound,
			Details: &metav1.StatusDetails{Name: "gone", Group: "metrics.k8s.io", Kind: "pods"}},
	}
	var (
		mu    sync.Mutex
		paths []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.Method+" "+r.URL.String())
		mu.Unlock()
		obj, ok := objects[r.URL.Path]
		if !ok {
			http.NotFound(w, r) // the API server's "404 page not found"
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if st, ok := obj.(metav1.Status); ok {
			w.WriteHeader(int(st.Code))
		}
		require.NoError(t, json.NewEncoder(w).Encode(obj))
	}))
	t.Cleanup(srv.Close)
	c, err := NewClient(&rest.Config{Host: srv.URL})
	require.NoError(t, err)
	ctx := context.Background()

	nm, err := c.NodeMetrics(ctx, testNode)
	require.NoError(t, err)
	assert.Equal(t, testNode, nm.Name)
	assert.Equal(t, "1Gi", nm.Usage.Memory().String())

	pm, err := c.PodMetrics(ctx, "ns", "a")
	require.NoError(t, err)
	require.Len(t, pm.Containers, 1)
	assert.Equal(t, "250m", pm.Containers[0].Usage.Cpu().String())

	var asked []string
	items, err := c.PodMetricsList(ctx, "ns", func(name string) bool {
		asked = append(asked, name)
		return name == "a"
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, asked, "every item's name is offered to keep")
	require.Len(t, items, 1, "only the kept pod is returned")
	assert.Equal(t, "a", items[0].Name)
	assert.Equal(t, t0, items[0].Timestamp.UTC())
	require.Len(t, items[0].Containers, 1)
	assert.Equal(t, "100m", items[0].Containers[0].Usage.Cpu().String())

	_, err = c.PodMetrics(ctx, "ns", "gone")
	assert.True(t, apierrors.IsNotFound(err), "%v", err)
	assert.False(t, usage.IsNotServed(err), "metrics-server's 404 for one pod is not the API gone")

	_, err = c.NodeMetrics(ctx, "other-node")
	assert.True(t, usage.IsNotServed(err), "a plain 404 page is the group not served: %v", err)
	assert.True(t, usage.IsUnavailable(err))

	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{
		"GET " + prefix + "/nodes/" + testNode,
		"GET " + prefix + "/namespaces/ns/pods/a",
		"GET " + prefix + "/namespaces/ns/pods",
		"GET " + prefix + "/namespaces/ns/pods/gone",
		"GET " + prefix + "/nodes/other-node",
	}, paths)
}

// TestDecodePodMetricsListRejectsMalformedBodies: a truncated or foreign
// body is an error, not an empty reading.
func TestDecodePodMetricsListRejectsMalformedBodies(t *testing.T) {
	keepAll := func(string) bool { return true }
	for name, body := range map[string]string{
		"truncated":      `{"kind":"PodMetricsList","items":[{"metadata":{"name":"a"}}`,
		"not an object":  `[1,2]`,
		"items not list": `{"items":{"a":1}}`,
		"bad item":       `{"items":[{"metadata":{"name":1}}]}`,
		"empty":          ``,
	} {
		_, err := decodePodMetricsList(strings.NewReader(body), keepAll)
		assert.Error(t, err, name)
	}
	items, err := decodePodMetricsList(strings.NewReader(`{"kind":"PodMetricsList","metadata":{},"items":[]}`), keepAll)
	require.NoError(t, err)
	assert.Empty(t, items)
}
