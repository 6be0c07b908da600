package usage_test

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

	"github.com/catops/cli/pkg/telemetry/prom"
	"github.com/catops/cli/pkg/usage"
	"github.com/catops/cli/pkg/usage/usagetest"
	"github.com/catops/cli/pkg/wire"
)

// stubReading is a source that returns one Reading.
func stubReading(r usage.Reading) *usagetest.StubSource {
	return &usagetest.StubSource{FetchFunc: func(context.Context) (usage.Reading, error) {
		// A copy: the Collector takes rejected readings out of the map.
		c := r
		c.Pods = make(map[usage.PodKey]wire.ResourceUsage, len(r.Pods))
		for k, u := range r.Pods {
			c.Pods[k] = u
		}
		return c, nil
	}}
}

// The Collector is the last gate, whatever the source: a reading that
// cannot be true of this node now is not sent, it is counted by reason,
// and the rest of the event goes out.
func TestCollectorRejectsReadingsThatCannotBeTrue(t *testing.T) {
	ok := wire.ResourceUsage{Timestamp: t0, WindowSeconds: 10, CPUCores: 0.5, MemoryBytes: 1 << 30}
	with := func(f func(*wire.ResourceUsage)) wire.ResourceUsage { u := ok; f(&u); return u }
	tests := []struct {
		name   string
		node   usage.NodeFunc
		u      wire.ResourceUsage
		reason string // "": sent
	}{
		{"a good reading", usagetest.CachedNode("8", "32Gi"), ok, ""},
		{"zero timestamp (year 1)", nil, with(func(u *wire.ResourceUsage) { u.Timestamp = time.Time{} }), usage.RejectNoTimestamp},
		{"the Unix epoch", nil, with(func(u *wire.ResourceUsage) { u.Timestamp = time.Unix(0, 0) }), usage.RejectNoTimestamp},
		{"an hour in the future", nil, with(func(u *wire.ResourceUsage) { u.Timestamp = t0.Add(time.Hour) }), usage.RejectFutureTimestamp},
		{"the fetch's own time ahead is fine", nil, with(func(u *wire.ResourceUsage) { u.Timestamp = t0.Add(usagetest.Interval) }), ""},
		{"zero window", nil, with(func(u *wire.ResourceUsage) { u.WindowSeconds = 0 }), usage.RejectBadWindow},
		{"negative window", nil, with(func(u *wire.ResourceUsage) { u.WindowSeconds = -10 }), usage.RejectBadWindow},
		{"NaN window", nil, with(func(u *wire.ResourceUsage) { u.WindowSeconds = math.NaN() }), usage.RejectBadWindow},
		{"NaN cores", nil, with(func(u *wire.ResourceUsage) { u.CPUCores = math.NaN() }), usage.RejectNonFinite},
		{"+Inf cores", nil, with(func(u *wire.ResourceUsage) { u.CPUCores = math.Inf(1) }), usage.RejectNonFinite},
		{"negative cores", nil, with(func(u *wire.ResourceUsage) { u.CPUCores = -0.1 }), usage.RejectNegative},
		{"negative memory", nil, with(func(u *wire.ResourceUsage) { u.MemoryBytes = -1 }), usage.RejectNegative},
		{"memory beyond any node", nil, with(func(u *wire.ResourceUsage) { u.MemoryBytes = math.MaxInt64 }), usage.RejectOutOfRange},
		{"70,799 cores on an 8-core node", usagetest.CachedNode("8", "32Gi"), with(func(u *wire.ResourceUsage) { u.CPUCores = 70799 }), usage.RejectCPUAboveCapacity},
		{"9 cores on an 8-core node", usagetest.CachedNode("8", "32Gi"), with(func(u *wire.ResourceUsage) { u.CPUCores = 9 }), usage.RejectCPUAboveCapacity},
		{"8 cores on an 8-core node", usagetest.CachedNode("8", "32Gi"), with(func(u *wire.ResourceUsage) { u.CPUCores = 8 }), ""},
		{"8.05 cores on an 8-core node (timestamp jitter)", usagetest.CachedNode("8", "32Gi"), with(func(u *wire.ResourceUsage) { u.CPUCores = 8.05 }), ""},
		{"1.6 cores on a 1500m node", usagetest.CachedNode("1500m", ""), with(func(u *wire.ResourceUsage) { u.CPUCores = 1.6 }), usage.RejectCPUAboveCapacity},
		{"33 GiB on a 32 GiB node", usagetest.CachedNode("8", "32Gi"), with(func(u *wire.ResourceUsage) { u.MemoryBytes = 33 << 30 }), usage.RejectMemoryAboveCapacity},
		{"capacity unknown: no bound on cores", usagetest.CachedNode("", ""), with(func(u *wire.ResourceUsage) { u.CPUCores = 70799 }), ""},
		{"Node not cached: no bound on cores", func() (*corev1.Node, bool) { return nil, false }, with(func(u *wire.ResourceUsage) { u.CPUCores = 70799 }), ""},
		{"capacity unknown: still not negative", usagetest.CachedNode("", ""), with(func(u *wire.ResourceUsage) { u.CPUCores = -1 }), usage.RejectNegative},
	}
	pod := usage.PodKey{Namespace: "shop", Name: "web-0"}
	good := usage.PodKey{Namespace: "shop", Name: "web-1"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, asNode := range []bool{false, true} {
				r := usage.Reading{Pods: map[usage.PodKey]wire.ResourceUsage{good: ok}}
				if asNode {
					u := tc.u
					r.Node = &u
				} else {
					r.Pods[pod] = tc.u
				}
				c := usage.NewCollector(stubReading(r), nil, usagetest.Options)
				if tc.node != nil {
					c.UseNode(tc.node)
				}
				u, _ := c.Collect(context.Background(), []usage.PodKey{pod, good}, t0)
				require.True(t, u.Available, "a rejected reading does not make the source unavailable")
				if asNode {
					assert.Equal(t, tc.reason == "", u.Node != nil, "node reading sent")
					assert.Equal(t, []string{"shop/web-1"}, usagetest.PodNames(u), "the pods' readings still go out")
				} else {
					want := []string{"shop/web-0", "shop/web-1"}
					if tc.reason != "" {
						want = want[1:]
					}
					assert.Equal(t, want, usagetest.PodNames(u))
				}
				if tc.reason == "" {
					assert.Empty(t, usagetest.RejectedOnly(c.Stats()))
				} else {
					assert.Equal(t, map[string]uint64{tc.reason: 1}, usagetest.RejectedOnly(c.Stats()))
				}
			}
		})
	}
}

// A pod's container figure that cannot be true (here beside a pod_*
// series the pod's reading came from) leaves that container out of the
// reading and is counted; the pod's reading and its other containers go out.
func TestCollectorLeavesOutContainersThatCannotBeTrue(t *testing.T) {
	pod := usage.PodKey{Namespace: "shop", Name: "web-0"}
	u := wire.ResourceUsage{Timestamp: t0, WindowSeconds: 10, CPUCores: 0.5, MemoryBytes: 1 << 30, Containers: []wire.ContainerUsage{
		{Name: "app", CPUCores: 0.4, MemoryBytes: 1 << 29},
		{Name: "bad", CPUCores: 9, MemoryBytes: 1 << 20},
		{Name: "neg", CPUCores: 0.1, MemoryBytes: -1},
	}}
	c := usage.NewCollector(stubReading(usage.Reading{Pods: map[usage.PodKey]wire.ResourceUsage{pod: u}}), nil, usagetest.Options)
	c.UseNode(usagetest.CachedNode("8", "32Gi"))
	got, _ := c.Collect(context.Background(), []usage.PodKey{pod}, t0)
	require.Len(t, got.Pods, 1)
	assert.Equal(t, 0.5, got.Pods[0].CPUCores)
	assert.Equal(t, []wire.ContainerUsage{{Name: "app", CPUCores: 0.4, MemoryBytes: 1 << 29}}, got.Pods[0].Containers)
	assert.Equal(t, map[string]uint64{usage.RejectCPUAboveCapacity: 1, usage.RejectNegative: 1}, usagetest.RejectedOnly(c.Stats()))
}

// Rejections are counted in catops_usage_readings_rejected_total by source
// and reason, warned about once per reason and logged at debug every time;
// a missing figure (normal for a starting or crash-looping pod) only at
// debug.
func TestCollectorCountsAndLogsRejections(t *testing.T) {
	huge := wire.ResourceUsage{Timestamp: t0, WindowSeconds: 10, CPUCores: 70799, MemoryBytes: 1 << 30}
	src := stubReading(usage.Reading{
		Pods: map[usage.PodKey]wire.ResourceUsage{{"shop", "web-0"}: huge, {"shop", "web-1"}: huge},
		Rejected: []usage.Rejection{
			{Pod: usage.PodKey{"shop", "crashy"}, Reason: usage.RejectMissing, Detail: "no container metrics"},
		},
	})
	logger, logs := usagetest.ObservedLogger()
	c := usage.NewCollector(src, logger, usagetest.Options)
	c.UseNode(usagetest.CachedNode("8", "32Gi"))
	reg := prometheus.NewRegistry()
	prom.RegisterUsageRejected(reg, prom.MetricsAPI, func() map[string]uint64 { return c.Stats().Rejected })

	pods := []usage.PodKey{{"shop", "web-0"}, {"shop", "web-1"}, {"shop", "crashy"}}
	for i := range 3 {
		u, _ := c.Collect(context.Background(), pods, t0.Add(time.Duration(i)*usagetest.Interval))
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
	assert.Len(t, got, len(usage.RejectReasons()), "every reason is a series, zero or not")
	assert.Equal(t, 6.0, got[usage.RejectCPUAboveCapacity], "two pods, three collections")
	assert.Equal(t, 3.0, got[usage.RejectMissing])
	assert.Zero(t, got[usage.RejectNegative])

	warned := logs.FilterMessage(usage.MsgRejected).All()
	require.Len(t, warned, 1, "once per reason, and never for a missing figure")
	assert.Equal(t, zapcore.WarnLevel, warned[0].Level)
	assert.Equal(t, usage.RejectCPUAboveCapacity, warned[0].ContextMap()["reason"])
	assert.Contains(t, warned[0].ContextMap()["detail"], "70799 cores on a node of 8 cores")
	assert.Equal(t, "shop", warned[0].ContextMap()["namespace"])
	again := logs.FilterMessage(usage.MsgRejectedAgain).All()
	assert.Len(t, again, 5+3, "the other cpu rejections and every missing one, at debug")
	for _, e := range again {
		assert.Equal(t, zapcore.DebugLevel, e.Level)
	}
	crashy := logs.FilterField(zapcoreString("pod", "crashy")).All()
	require.Len(t, crashy, 3)
	assert.Equal(t, usage.RejectMissing, crashy[0].ContextMap()["reason"])
}

func zapcoreString(key, value string) zapcore.Field {
	return zapcore.Field{Key: key, Type: zapcore.StringType, String: value}
}
