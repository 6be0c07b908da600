package usage

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/catops/cli/pkg/telemetry"
	"github.com/catops/cli/pkg/wire"
)

// noRejections is Stats.Rejected before any rejection: every reason, zero.
func noRejections() map[string]uint64 {
	m := make(map[string]uint64, len(rejectReasons))
	for _, r := range rejectReasons {
		m[r] = 0
	}
	return m
}

// rejectedOnly is Stats.Rejected without its zero reasons.
func rejectedOnly(st Stats) map[string]uint64 {
	m := map[string]uint64{}
	for r, n := range st.Rejected {
		if n > 0 {
			m[r] = n
		}
	}
	return m
}

// cachedNode is a NodeFunc for a Node whose status.capacity holds cpu and
// memory (either may be "": not set).
func cachedNode(cpu, memory string) NodeFunc {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: testNode}}
	n.Status.Capacity = corev1.ResourceList{}
	if cpu != "" {
		n.Status.Capacity[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if memory != "" {
		n.Status.Capacity[corev1.ResourceMemory] = resource.MustParse(memory)
	}
	return func() (*corev1.Node, bool) { return n, true }
}

// rejectedAs maps each rejected reading (the zero PodKey: the node) to its
// reason.
func rejectedAs(rs []Rejection) map[PodKey]string {
	m := map[PodKey]string{}
	for _, r := range rs {
		m[r.Pod] = r.Reason
	}
	return m
}

// stubReading is a source that returns one Reading.
func stubReading(r Reading) *stubSource {
	return &stubSource{fetch: func(context.Context) (Reading, error) {
		// A copy: the Collector takes rejected readings out of the map.
		c := r
		c.Pods = make(map[PodKey]wire.ResourceUsage, len(r.Pods))
		for k, u := range r.Pods {
			c.Pods[k] = u
		}
		return c, nil
	}}
}

func TestNodeCapacity(t *testing.T) {
	n := &corev1.Node{}
	assert.Equal(t, capacity{}, nodeCapacity(nil), "not cached: no bound")
	assert.Equal(t, capacity{}, nodeCapacity(n), "no status: no bound")
	n.Status.Allocatable = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("7500m"), corev1.ResourceMemory: resource.MustParse("30Gi")}
	assert.Equal(t, capacity{cores: 7.5, memory: 30 << 30}, nodeCapacity(n), "allocatable when there is no capacity")
	n.Status.Capacity = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("32Gi")}
	assert.Equal(t, capacity{cores: 8, memory: 32 << 30}, nodeCapacity(n), "capacity first: a node's usage includes what is not allocatable")
	n.Status.Capacity = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("0")}
	assert.Equal(t, capacity{cores: 7.5, memory: 30 << 30}, nodeCapacity(n), "a zero capacity is no capacity")
}

// The Collector is the last gate, whatever the source: a reading that
// cannot be true of this node now is not sent, it is counted by reason,
// and the rest of the event goes out.
func TestCollectorRejectsReadingsThatCannotBeTrue(t *testing.T) {
	ok := wire.ResourceUsage{Timestamp: t0, WindowSeconds: 10, CPUCores: 0.5, MemoryBytes: 1 << 30}
	with := func(f func(*wire.ResourceUsage)) wire.ResourceUsage { u := ok; f(&u); return u }
	tests := []struct {
		name   string
		node   NodeFunc
		u      wire.ResourceUsage
		reason string // "": sent
	}{
		{"a good reading", cachedNode("8", "32Gi"), ok, ""},
		{"zero timestamp (year 1)", nil, with(func(u *wire.ResourceUsage) { u.Timestamp = time.Time{} }), rejectNoTimestamp},
		{"the Unix epoch", nil, with(func(u *wire.ResourceUsage) { u.Timestamp = time.Unix(0, 0) }), rejectNoTimestamp},
		{"an hour in the future", nil, with(func(u *wire.ResourceUsage) { u.Timestamp = t0.Add(time.Hour) }), rejectFutureTimestamp},
		{"the fetch's own time ahead is fine", nil, with(func(u *wire.ResourceUsage) { u.Timestamp = t0.Add(testInterval) }), ""},
		{"zero window", nil, with(func(u *wire.ResourceUsage) { u.WindowSeconds = 0 }), rejectBadWindow},
		{"negative window", nil, with(func(u *wire.ResourceUsage) { u.WindowSeconds = -10 }), rejectBadWindow},
		{"NaN window", nil, with(func(u *wire.ResourceUsage) { u.WindowSeconds = math.NaN() }), rejectBadWindow},
		{"NaN cores", nil, with(func(u *wire.ResourceUsage) { u.CPUCores = math.NaN() }), rejectNonFinite},
		{"+Inf cores", nil, with(func(u *wire.ResourceUsage) { u.CPUCores = math.Inf(1) }), rejectNonFinite},
		{"negative cores", nil, with(func(u *wire.ResourceUsage) { u.CPUCores = -0.1 }), rejectNegative},
		{"negative memory", nil, with(func(u *wire.ResourceUsage) { u.MemoryBytes = -1 }), rejectNegative},
		{"memory beyond any node", nil, with(func(u *wire.ResourceUsage) { u.MemoryBytes = math.MaxInt64 }), rejectOutOfRange},
		{"70,799 cores on an 8-core node", cachedNode("8", "32Gi"), with(func(u *wire.ResourceUsage) { u.CPUCores = 70799 }), rejectCPUAboveCapacity},
		{"9 cores on an 8-core node", cachedNode("8", "32Gi"), with(func(u *wire.ResourceUsage) { u.CPUCores = 9 }), rejectCPUAboveCapacity},
		{"8 cores on an 8-core node", cachedNode("8", "32Gi"), with(func(u *wire.ResourceUsage) { u.CPUCores = 8 }), ""},
		{"8.05 cores on an 8-core node (timestamp jitter)", cachedNode("8", "32Gi"), with(func(u *wire.ResourceUsage) { u.CPUCores = 8.05 }), ""},
		{"1.6 cores on a 1500m node", cachedNode("1500m", ""), with(func(u *wire.ResourceUsage) { u.CPUCores = 1.6 }), rejectCPUAboveCapacity},
		{"33 GiB on a 32 GiB node", cachedNode("8", "32Gi"), with(func(u *wire.ResourceUsage) { u.MemoryBytes = 33 << 30 }), rejectMemoryAboveCapacity},
		{"capacity unknown: no bound on cores", cachedNode("", ""), with(func(u *wire.ResourceUsage) { u.CPUCores = 70799 }), ""},
		{"Node not cached: no bound on cores", func() (*corev1.Node, bool) { return nil, false }, with(func(u *wire.ResourceUsage) { u.CPUCores = 70799 }), ""},
		{"capacity unknown: still not negative", cachedNode("", ""), with(func(u *wire.ResourceUsage) { u.CPUCores = -1 }), rejectNegative},
	}
	pod := PodKey{Namespace: "shop", Name: "web-0"}
	good := PodKey{Namespace: "shop", Name: "web-1"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, asNode := range []bool{false, true} {
				r := Reading{Pods: map[PodKey]wire.ResourceUsage{good: ok}}
				if asNode {
					u := tc.u
					r.Node = &u
				} else {
					r.Pods[pod] = tc.u
				}
				c := NewCollector(stubReading(r), nil, testOptions)
				if tc.node != nil {
					c.UseNode(tc.node)
				}
				u := c.Collect(context.Background(), []PodKey{pod, good}, t0)
				require.True(t, u.Available, "a rejected reading does not make the source unavailable")
				if asNode {
					assert.Equal(t, tc.reason == "", u.Node != nil, "node reading sent")
					assert.Equal(t, []string{"shop/web-1"}, podNames(u), "the pods' readings still go out")
				} else {
					want := []string{"shop/web-0", "shop/web-1"}
					if tc.reason != "" {
						want = want[1:]
					}
					assert.Equal(t, want, podNames(u))
				}
				if tc.reason == "" {
					assert.Empty(t, rejectedOnly(c.Stats()))
				} else {
					assert.Equal(t, map[string]uint64{tc.reason: 1}, rejectedOnly(c.Stats()))
				}
			}
		})
	}
}

// Rejections are counted in catops_usage_readings_rejected_total by source
// and reason, warned about once per reason and logged at debug every time;
// a missing figure (normal for a starting or crash-looping pod) only at
// debug.
func TestCollectorCountsAndLogsRejections(t *testing.T) {
	huge := wire.ResourceUsage{Timestamp: t0, WindowSeconds: 10, CPUCores: 70799, MemoryBytes: 1 << 30}
	src := stubReading(Reading{
		Pods: map[PodKey]wire.ResourceUsage{{"shop", "web-0"}: huge, {"shop", "web-1"}: huge},
		Rejected: []Rejection{
			{Pod: PodKey{"shop", "crashy"}, Reason: rejectMissing, Detail: "no container metrics"},
		},
	})
	logger, logs := observedLogger()
	c := NewCollector(src, logger, testOptions)
	c.UseNode(cachedNode("8", "32Gi"))
	reg := prometheus.NewRegistry()
	telemetry.RegisterUsageRejected(reg, telemetry.MetricsAPI, func() map[string]uint64 { return c.Stats().Rejected })

	pods := []PodKey{{"shop", "web-0"}, {"shop", "web-1"}, {"shop", "crashy"}}
	for i := range 3 {
		u := c.Collect(context.Background(), pods, t0.Add(time.Duration(i)*testInterval))
		assert.Empty(t, u.Pods, "nothing true to send")
	}

	got := map[string]float64{}
	fams, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range fams {
		require.Equal(t, "catops_usage_readings_rejected_total", f.GetName())
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			assert.Equal(t, "metrics-api", labels["source"])
			got[labels["reason"]] = m.GetCounter().GetValue()
		}
	}
	assert.Len(t, got, len(rejectReasons), "every reason is a series, zero or not")
	assert.Equal(t, 6.0, got[rejectCPUAboveCapacity], "two pods, three collections")
	assert.Equal(t, 3.0, got[rejectMissing])
	assert.Zero(t, got[rejectNegative])

	warned := logs.FilterMessage(msgRejected).All()
	require.Len(t, warned, 1, "once per reason, and never for a missing figure")
	assert.Equal(t, zapcore.WarnLevel, warned[0].Level)
	assert.Equal(t, rejectCPUAboveCapacity, warned[0].ContextMap()["reason"])
	assert.Contains(t, warned[0].ContextMap()["detail"], "70799 cores on a node of 8 cores")
	assert.Equal(t, "shop", warned[0].ContextMap()["namespace"])
	again := logs.FilterMessage(msgRejectedAgain).All()
	assert.Len(t, again, 5+3, "the other cpu rejections and every missing one, at debug")
	for _, e := range again {
		assert.Equal(t, zapcore.DebugLevel, e.Level)
	}
	crashy := logs.FilterField(zapcoreString("pod", "crashy")).All()
	require.Len(t, crashy, 3)
	assert.Equal(t, rejectMissing, crashy[0].ContextMap()["reason"])
}

func zapcoreString(key, value string) zapcore.Field {
	return zapcore.Field{Key: key, Type: zapcore.StringType, String: value}
}
