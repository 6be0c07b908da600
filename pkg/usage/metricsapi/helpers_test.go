package metricsapi

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	"k8s.io/metrics/pkg/client/clientset/versioned/fake"
	metricstyped "k8s.io/metrics/pkg/client/clientset/versioned/typed/metrics/v1beta1"

	"github.com/catops/cli/pkg/usage/usagetest"
)

const testNode = usagetest.NodeName

// The fake's tracker guesses resources from kinds ("podmetricses"); the
// typed client asks for "pods" and "nodes", so objects are created under
// these explicitly.
var (
	podsGVR  = metricsv1beta1.SchemeGroupVersion.WithResource("pods")
	nodesGVR = metricsv1beta1.SchemeGroupVersion.WithResource("nodes")
)

// t0 is a scrape time as metrics-server reports it (whole seconds, UTC).
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// request is one call the fake clientset saw.
type request struct {
	Verb, Resource, Namespace, Name string
}

// metricsServer is a fake metrics clientset that records every request and
// can be told to fail some.
type metricsServer struct {
	t  *testing.T
	cs *fake.Clientset

	mu   sync.Mutex
	reqs []request
	// fail, when set, is asked first about each request; a non-nil error
	// is returned to the client.
	fail func(request) error
}

func newMetricsServer(t *testing.T) *metricsServer {
	t.Helper()
	s := &metricsServer{t: t, cs: fake.NewSimpleClientset()}
	s.cs.PrependReactor("*", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := request{Verb: a.GetVerb(), Resource: a.GetResource().Resource, Namespace: a.GetNamespace()}
		if g, ok := a.(k8stesting.GetAction); ok {
			r.Name = g.GetName()
		}
		if r.Verb == "list" && r.Resource == "pods" && r.Namespace == metav1.NamespaceAll {
			t.Errorf("cluster-wide list of PodMetrics: %+v", r)
		}
		s.mu.Lock()
		s.reqs = append(s.reqs, r)
		fail := s.fail
		s.mu.Unlock()
		if fail != nil {
			if err := fail(r); err != nil {
				return true, nil, err
			}
		}
		return false, nil, nil // on to the object tracker
	})
	return s
}

func (s *metricsServer) setFail(f func(request) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = f
}

func (s *metricsServer) requests() []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]request(nil), s.reqs...)
}

func (s *metricsServer) setNode(name string, ts time.Time, cpu, mem string) {
	s.t.Helper()
	nm := &metricsv1beta1.NodeMetrics{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Timestamp:  metav1.NewTime(ts),
		Window:     metav1.Duration{Duration: 10 * time.Second},
		Usage:      usageList(cpu, mem),
	}
	s.put(nodesGVR, nm, "")
}

// setPod stores the PodMetrics of ns/name with one container per
// {cpu, memory} pair.
func (s *metricsServer) setPod(ns, name string, ts time.Time, containers ...[2]string) {
	s.t.Helper()
	pm := &metricsv1beta1.PodMetrics{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Timestamp:  metav1.NewTime(ts),
		Window:     metav1.Duration{Duration: 15 * time.Second},
	}
	for i, c := range containers {
		pm.Containers = append(pm.Containers, metricsv1beta1.ContainerMetrics{
			Name: fmt.Sprintf("c%d", i), Usage: usageList(c[0], c[1]),
		})
	}
	s.put(podsGVR, pm, ns)
}

func (s *metricsServer) deletePod(ns, name string) {
	s.t.Helper()
	require.NoError(s.t, s.cs.Tracker().Delete(podsGVR, ns, name))
}

func (s *metricsServer) put(gvr schema.GroupVersionResource, obj runtime.Object, ns string) {
	s.t.Helper()
	acc, err := meta.Accessor(obj)
	require.NoError(s.t, err)
	if _, err := s.cs.Tracker().Get(gvr, ns, acc.GetName()); err == nil {
		require.NoError(s.t, s.cs.Tracker().Update(gvr, obj, ns))
		return
	}
	require.NoError(s.t, s.cs.Tracker().Create(gvr, obj, ns))
}

func usageList(cpu, mem string) corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse(cpu),
		corev1.ResourceMemory: resource.MustParse(mem),
	}
}

// client is the fake as a Source reads it.
func (s *metricsServer) client() Client { return typedClient{s.cs.MetricsV1beta1()} }

// typedClient reads through a generated typed client (here the fake's).
type typedClient struct {
	c metricstyped.MetricsV1beta1Interface
}

func (t typedClient) NodeMetrics(ctx context.Context, node string) (*metricsv1beta1.NodeMetrics, error) {
	return t.c.NodeMetricses().Get(ctx, node, metav1.GetOptions{})
}

func (t typedClient) PodMetrics(ctx context.Context, ns, name string) (*metricsv1beta1.PodMetrics, error) {
	return t.c.PodMetricses(ns).Get(ctx, name, metav1.GetOptions{})
}

func (t typedClient) PodMetricsList(ctx context.Context, ns string, keep func(string) bool) ([]metricsv1beta1.PodMetrics, error) {
	list, err := t.c.PodMetricses(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []metricsv1beta1.PodMetrics
	for _, pm := range list.Items {
		if keep(pm.Name) {
			out = append(out, pm)
		}
	}
	return out, nil
}

// countingClient wraps a Client to measure how many PodMetrics
// requests are in flight at once. It sits in front of the fake, whose
// Invokes holds a lock for the whole reaction and so can never see two
// requests at a time.
type countingClient struct {
	Client
	delay               time.Duration
	inFlight, maxFlight atomic.Int64
}

func (c *countingClient) enter() {
	n := c.inFlight.Add(1)
	for {
		m := c.maxFlight.Load()
		if n <= m || c.maxFlight.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(c.delay)
}

func (c *countingClient) leave() { c.inFlight.Add(-1) }

func (c *countingClient) PodMetrics(ctx context.Context, ns, name string) (*metricsv1beta1.PodMetrics, error) {
	c.enter()
	defer c.leave()
	return c.Client.PodMetrics(ctx, ns, name)
}

func (c *countingClient) PodMetricsList(ctx context.Context, ns string, keep func(string) bool) ([]metricsv1beta1.PodMetrics, error) {
	c.enter()
	defer c.leave()
	return c.Client.PodMetricsList(ctx, ns, keep)
}
