package bench

import (
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/catops/cli/pkg/wire"
)

func TestCounts(t *testing.T) {
	after := Counts{"LIST pods": 10, "GET pods.metrics.k8s.io": 5, "WATCH nodes": 1}
	before := Counts{"LIST pods": 4, "WATCH nodes": 2}
	d := after.Sub(before)
	assert.Equal(t, Counts{"LIST pods": 6, "GET pods.metrics.k8s.io": 5}, d, "a key that went down is dropped, not negative")
	assert.InDelta(t, 11.0, d.Total(), 1e-9)
	assert.Equal(t, Counts{"LIST pods": 12, "GET pods.metrics.k8s.io": 10}, d.Scale(2))
	assert.Equal(t, "GET pods.metrics.k8s.io 5, LIST pods 6", d.String())
	assert.Equal(t, "none", Counts{"LIST pods": 0.2}.String(), "counts that round to zero are not listed")
}

func TestPercentile(t *testing.T) {
	s := make([]float64, 200)
	for i := range s {
		s[i] = float64(i + 1)
	}
	assert.InDelta(t, 100.0, percentile(s, .5), 1e-9)
	assert.InDelta(t, 198.0, percentile(s, .99), 1e-9)
	assert.InDelta(t, 0.0, percentile(nil, .99), 1e-9)
	assert.InDelta(t, 7.0, percentile([]float64{7}, .99), 1e-9)
}

func TestReadProc(t *testing.T) {
	p, err := ReadProc(os.Getpid())
	require.NoError(t, err)
	assert.Positive(t, p.RSSBytes)
	assert.GreaterOrEqual(t, p.HWMBytes, p.RSSBytes)
	assert.Positive(t, p.SchedSeconds, "the test process has run")
	assert.Equal(t, 2.0, CPUBetween(Proc{CPUSeconds: 1, SchedSeconds: 1}, Proc{CPUSeconds: 3, SchedSeconds: 3}))
	assert.Equal(t, 0.5, CPUBetween(Proc{CPUSeconds: 1, SchedSeconds: 1}, Proc{CPUSeconds: 1.5, SchedSeconds: 0.9}), "a thread ended: utime + stime")
	assert.Equal(t, 0.5, CPUBetween(Proc{CPUSeconds: 1}, Proc{CPUSeconds: 1.5, SchedSeconds: 3}), "no schedstat at first")
	_, err = ReadProc(1 << 30)
	assert.Error(t, err)
}

func TestFormat(t *testing.T) {
	assert.Equal(t, "40,673", num(40673))
	assert.Equal(t, "10.3×", ratio(40673, 3960))
	assert.Equal(t, "∞ (ours: 0)", ratio(5, 0))
	assert.Equal(t, "+10.0%", pct(110, 100))
	assert.Equal(t, "1,234 KiB", kib(1234*1024))
}

func TestLatencyRow(t *testing.T) {
	assert.Equal(t, []string{"x", "0 of 40", "–", "–", "–"}, latencyRow("x", nil, 40), "no event seen: no made-up zero latency")
	assert.Equal(t, []string{"x", "3 of 4", "0.20 s", "0.30 s", "0.30 s"}, latencyRow("x", []float64{0.1, 0.2, 0.3}, 4))
}

// TestBytesByField: a part present in every pod reading has a share, one
// absent has none, a part of a part has less, and the input is left as it
// was.
func TestBytesByField(t *testing.T) {
	var usages []wire.Usage
	for e := range 5 {
		u := wire.Usage{Available: true, Source: "kubelet"}
		for i := range 20 {
			rss := uint64(1<<20 + e*4096 + i*17)
			u.Pods = append(u.Pods, wire.PodUsage{Namespace: "ns", Name: fmt.Sprintf("p-%d", i), ResourceUsage: wire.ResourceUsage{
				CPUCores: 0.1 * float64(e+i), MemoryBytes: int64(i) << 20,
				Containers: []wire.ContainerUsage{{Name: "app", CPUCores: 0.05, MemoryBytes: 5 << 20, MemoryRSSBytes: &rss}},
				Network:    &wire.NetworkUsage{RxBytes: uint64(e*1000 + i*7919), TxBytes: uint64(e*500 + i*104729)},
			}})
		}
		usages = append(usages, u)
	}
	total, shares, err := bytesByField(usages)
	require.NoError(t, err)
	require.Positive(t, total)
	got := map[string]float64{}
	for _, s := range shares {
		got[s.name] = s.share
	}
	for _, present := range []string{"per-container figures", "… of which RSS", "pod network", "… of which the counters beside the rates"} {
		assert.Greater(t, got[present], 0.0, present)
		assert.Less(t, got[present], 1.0, present)
	}
	for _, absent := range []string{"volumes", "ephemeral storage", "… of which throttling"} {
		assert.Zero(t, got[absent], "no pod has %s", absent)
	}
	assert.Less(t, got["… of which RSS"], got["per-container figures"])
	assert.Less(t, got["… of which the counters beside the rates"], got["pod network"])
	assert.NotNil(t, usages[1].Pods[1].Containers[0].MemoryRSSBytes, "the input is left as it was")
	assert.Equal(t, uint64(8919), usages[1].Pods[1].Network.RxBytes, "the input is left as it was")
}
