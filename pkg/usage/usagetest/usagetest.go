// Package usagetest has what the tests of pkg/usage and of its sources
// (pkg/usage/metricsapi, pkg/usage/kubelet) share: Collector options
// without jitter, a cached Node, a stub Source, the Metrics API errors
// client-go returns, a logger that records, views of what a Collector sent
// or rejected, and checks that every reading can be true. It is imported by
// tests only.
package usagetest

import (
	"context"
	"math"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"github.com/catops/cli/pkg/usage"
	"github.com/catops/cli/pkg/wire"
)

// NodeName is the name of the node of the tests (of CachedNode's Node).
const NodeName = "node-a"

// Interval is the collection interval of Options, hence its fetch timeout.
const Interval = 10 * time.Second

// Options backs off 10s, 20s, 40s, 40s, … without jitter.
var Options = usage.CollectorOptions{
	Interval: Interval,
	Backoff:  wait.Backoff{Duration: Interval, Factor: 2, Cap: 40 * time.Second},
}

// CachedNode is a NodeFunc for the Node NodeName whose status.capacity
// holds cpu and memory (either may be "": not set).
func CachedNode(cpu, memory string) usage.NodeFunc {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: NodeName}}
	n.Status.Capacity = corev1.ResourceList{}
	if cpu != "" {
		n.Status.Capacity[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if memory != "" {
		n.Status.Capacity[corev1.ResourceMemory] = resource.MustParse(memory)
	}
	return func() (*corev1.Node, bool) { return n, true }
}

// StubSource is a Source named "stub" that returns what FetchFunc returns.
type StubSource struct {
	FetchFunc func(ctx context.Context) (usage.Reading, error)
	// Calls counts the Fetch calls.
	Calls atomic.Int64
}

// Name implements usage.Source.
func (s *StubSource) Name() string { return "stub" }

// UseNode implements usage.Source: it does nothing.
func (s *StubSource) UseNode(usage.NodeFunc) {}

// Fetch implements usage.Source.
func (s *StubSource) Fetch(ctx context.Context, _ []usage.PodKey) (usage.Reading, error) {
	s.Calls.Add(1)
	return s.FetchFunc(ctx)
}

// NotServed is what client-go returns when metrics.k8s.io is not
// registered: the API server answers a plain-text "404 page not found".
func NotServed(resourceName, name string) error {
	return apierrors.NewGenericServerResponse(http.StatusNotFound, "GET",
		schema.GroupResource{Group: metricsv1beta1.GroupName, Resource: resourceName}, name,
		"404 page not found", 0, true)
}

// BackendDown is what client-go returns when the APIService exists but
// metrics-server does not answer: the aggregator's plain-text 503.
func BackendDown(resourceName, name string) error {
	return apierrors.NewGenericServerResponse(http.StatusServiceUnavailable, "GET",
		schema.GroupResource{Group: metricsv1beta1.GroupName, Resource: resourceName}, name,
		"service unavailable", 0, true)
}

// ObservedLogger is a logger that records every entry, debug included.
func ObservedLogger() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	return zap.New(core), logs
}

// PodNames are the "namespace/name" of the pods of an event, in its order.
func PodNames(u wire.Usage) []string {
	var names []string
	for _, p := range u.Pods {
		names = append(names, p.Namespace+"/"+p.Name)
	}
	return names
}

// NoRejections is Stats.Rejected before any rejection: every reason, zero.
func NoRejections() map[string]uint64 {
	m := map[string]uint64{}
	for _, r := range usage.RejectReasons() {
		m[r] = 0
	}
	return m
}

// RejectedOnly is Stats.Rejected without its zero reasons.
func RejectedOnly(st usage.Stats) map[string]uint64 {
	m := map[string]uint64{}
	for r, n := range st.Rejected {
		if n > 0 {
			m[r] = n
		}
	}
	return m
}

// RejectedAs maps each rejected reading (the zero PodKey: the node) to its
// reason.
func RejectedAs(rs []usage.Rejection) map[usage.PodKey]string {
	m := map[usage.PodKey]string{}
	for _, r := range rs {
		m[r.Pod] = r.Reason
	}
	return m
}

// Capacity bounds a node's readings: cores and memory bytes. A zero field
// is no bound.
type Capacity struct {
	Cores  float64
	Memory int64
}

// RequireTrue fails unless u can be a reading taken no later than latest
// (zero: no bound) of a node with capacity c (zero fields: no bound): a
// timestamp after the epoch, a window above zero, finite cores and bytes,
// none negative or above the node's (cores with usage.CPUCapacitySlack).
func RequireTrue(t *testing.T, what string, u wire.ResourceUsage, c Capacity, latest time.Time) {
	t.Helper()
	require.True(t, u.Timestamp.After(time.Unix(0, 0)), "%s: timestamp %v", what, u.Timestamp)
	require.False(t, !latest.IsZero() && u.Timestamp.After(latest), "%s: timestamp %v after %v", what, u.Timestamp, latest)
	require.False(t, math.IsNaN(u.WindowSeconds) || math.IsInf(u.WindowSeconds, 0), "%s: window %v", what, u.WindowSeconds)
	require.Positive(t, u.WindowSeconds, "%s: window", what)
	require.False(t, math.IsNaN(u.CPUCores) || math.IsInf(u.CPUCores, 0), "%s: cpu %v", what, u.CPUCores)
	require.GreaterOrEqual(t, u.CPUCores, 0.0, "%s: cpu", what)
	require.GreaterOrEqual(t, u.MemoryBytes, int64(0), "%s: memory", what)
	if c.Cores > 0 {
		require.LessOrEqual(t, u.CPUCores, c.Cores*usage.CPUCapacitySlack, "%s: cpu above the node's cores", what)
	}
	if c.Memory > 0 {
		require.LessOrEqual(t, u.MemoryBytes, c.Memory, "%s: memory above the node's", what)
	}
}

// RequireTrueEvent checks every reading of an event a Collector with
// Options sent at now (see RequireTrue; the Collector allows the fetch
// timeout and usage.MaxClockSkew past now) and that it holds only the pods
// asked for, each once.
func RequireTrueEvent(t *testing.T, u wire.Usage, pods []usage.PodKey, c Capacity, now time.Time) {
	t.Helper()
	latest := now.Add(Interval + usage.MaxClockSkew)
	if u.Node != nil {
		RequireTrue(t, "node", *u.Node, c, latest)
	}
	seen := map[usage.PodKey]bool{}
	for _, p := range u.Pods {
		k := usage.PodKey{Namespace: p.Namespace, Name: p.Name}
		require.Contains(t, pods, k, "only pods asked for")
		require.False(t, seen[k], "%v twice", k)
		seen[k] = true
		RequireTrue(t, k.Namespace+"/"+k.Name, p.ResourceUsage, c, latest)
	}
}

// RequireSourceReading checks what a source returned, before the
// Collector: readings true whatever the node and stamped no later than
// latest (zero: the source has no clock, the Collector checks that), only
// pods asked for, rejections for known reasons, and no pod both read and
// rejected.
func RequireSourceReading(t *testing.T, r usage.Reading, pods []usage.PodKey, latest time.Time) {
	t.Helper()
	if r.Node != nil {
		RequireTrue(t, "source node", *r.Node, Capacity{}, latest)
	}
	for k, u := range r.Pods {
		require.Contains(t, pods, k, "only pods asked for")
		RequireTrue(t, "source "+k.Namespace+"/"+k.Name, u, Capacity{}, latest)
	}
	for _, rj := range r.Rejected {
		require.Contains(t, usage.RejectReasons(), rj.Reason)
		if rj.Pod == (usage.PodKey{}) {
			require.Nil(t, r.Node, "node read and rejected")
		} else {
			require.NotContains(t, r.Pods, rj.Pod, "pod read and rejected")
		}
	}
}
