package kubeletsample

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/catops/cli/pkg/usage"
	"github.com/catops/cli/pkg/wire"
)

var kt0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func u64(v uint64) *uint64 { return &v }

// testNode is a Node of 4 cores and 16 GiB, as a kubelet writes its
// capacity.
func testNode(cpu, memory string) *corev1.Node {
	n := &corev1.Node{}
	n.Status.Capacity = corev1.ResourceList{}
	if cpu != "" {
		n.Status.Capacity[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if memory != "" {
		n.Status.Capacity[corev1.ResourceMemory] = resource.MustParse(memory)
	}
	return n
}

// nodeStats is a summary's node section read at kt0 + at: 1.3 cores busy,
// 6 GiB of 16 in use, swap 1 MiB of 2 GiB, booted a day before kt0, three
// interfaces whose counters grow by 10,000 bytes a second.
func nodeStats(at time.Duration) *usage.NodeStats {
	read := kt0.Add(at)
	counters := uint64(1e6) + uint64(at/time.Second)*10000
	return &usage.NodeStats{
		Read:     read,
		BootTime: kt0.Add(-24 * time.Hour),
		CPU:      &usage.NodeCPU{Time: read.Add(-time.Second), UsageNanoCores: u64(1.3e9), UsageCoreNanoSeconds: u64(9e13)},
		Memory: &usage.NodeMemory{Time: read.Add(-time.Second), AvailableBytes: u64(10 << 30), UsageBytes: u64(8 << 30),
			WorkingSetBytes: u64(6 << 30), RSSBytes: u64(3 << 30)},
		Swap: &usage.NodeSwap{Time: read.Add(-time.Second), SwapUsageBytes: u64(1 << 20), SwapAvailableBytes: u64(2<<30 - 1<<20)},
		Network: &usage.NodeNetwork{Time: read.Add(-time.Second), Interfaces: []usage.NodeInterface{
			{Name: "eth0", RxBytes: u64(counters), TxBytes: u64(counters / 2), RxErrors: u64(1), TxErrors: u64(2)},
			{Name: "cni0", RxBytes: u64(counters), TxBytes: u64(counters)},
			{Name: "flannel.1", RxBytes: u64(counters), TxBytes: u64(counters)},
			{Name: "ens5", RxBytes: u64(counters), TxBytes: u64(counters)},
		}},
		Filesystem:      &wire.FilesystemUsage{UsedBytes: u64(40 << 30), CapacityBytes: u64(100 << 30), AvailableBytes: u64(55 << 30)},
		ImageFilesystem: &wire.FilesystemUsage{UsedBytes: u64(12 << 30), CapacityBytes: u64(100 << 30)},
	}
}

func TestKubeletSampleUnits(t *testing.T) {
	k := New(Options{}, zap.NewNop())
	stats := nodeStats(0)
	hs := *k.Sample(stats, testNode("4", "16Gi"), kt0.Add(time.Hour))

	assert.Empty(t, hs.Errors)
	assert.Equal(t, wire.HostSourceKubelet, hs.Source)
	assert.Equal(t, kt0, hs.Time, "when the summary arrived, not when the sample was built")
	assert.Equal(t, u64(86400), hs.UptimeSeconds, "the read's time less the boot time")
	require.NotNil(t, hs.CPU.LogicalCores)
	assert.Equal(t, 4, *hs.CPU.LogicalCores, "the Node's capacity")
	require.NotNil(t, hs.CPU.UsagePercent)
	assert.InDelta(t, 32.5, *hs.CPU.UsagePercent, 1e-9, "1.3 cores of 4")
	assert.Nil(t, hs.CPU.Modes, "the summary has no CPU modes")
	assert.Equal(t, &wire.MemorySample{TotalBytes: 16 << 30, AvailableBytes: 10 << 30, UsedBytes: 6 << 30, UsedPercent: 37.5,
		SwapTotalBytes: u64(2 << 30), SwapUsedBytes: u64(1 << 20)}, hs.Memory)
	assert.Same(t, stats.Filesystem, hs.Filesystem)
	assert.Same(t, stats.ImageFilesystem, hs.ImageFilesystem)
	assert.Equal(t, []wire.NetIface{
		{Name: "ens5", RxBytes: 1e6, TxBytes: 1e6},
		{Name: "eth0", RxBytes: 1e6, TxBytes: 5e5, RxErrors: u64(1), TxErrors: u64(2)},
	}, hs.Network, "sorted; the bridge and the tunnel left out by name; no rate on the first read")

	// What the summary cannot give is absent from the JSON, never zero.
	b, err := json.Marshal(hs)
	require.NoError(t, err)
	for _, key := range []string{`"load"`, `"modes"`, `"filesystems"`, `"disks"`, `"rx_packets"`, `"tx_dropped"`, `"errors"`} {
		assert.NotContains(t, string(b), key)
	}
	assert.Contains(t, string(b), `"source":"kubelet"`)
}

func TestKubeletSampleRates(t *testing.T) {
	k := New(Options{}, zap.NewNop())
	node := testNode("4", "16Gi")
	rates := func(hs wire.HostSample) map[string][2]*float64 {
		m := map[string][2]*float64{}
		for _, n := range hs.Network {
			m[n.Name] = [2]*float64{n.RxBytesPerSec, n.TxBytesPerSec}
		}
		return m
	}
	k.Sample(nodeStats(0), node, kt0)
	hs := *k.Sample(nodeStats(10*time.Second), node, kt0)
	assert.Equal(t, map[string][2]*float64{"eth0": {new(10000.0), new(5000.0)}, "ens5": {new(10000.0), new(10000.0)}}, rates(hs),
		"10,000 bytes a second over the 10 s between the network times")

	// No summary this interval: no sample at all (the receiver keeps the
	// last one), and the next rate spans the gap.
	assert.Nil(t, k.Sample(nil, node, kt0))
	hs = *k.Sample(nodeStats(30*time.Second), node, kt0)
	assert.Equal(t, new(10000.0), rates(hs)["eth0"][0])

	// A counter that went down: neither rate of that interface; a new
	// interface: none yet; the others keep theirs.
	s := nodeStats(40 * time.Second)
	s.Network.Interfaces[0].TxBytes = u64(5)
	s.Network.Interfaces = append(s.Network.Interfaces, usage.NodeInterface{Name: "eth1", RxBytes: u64(1), TxBytes: u64(1)})
	hs = *k.Sample(s, node, kt0)
	assert.Equal(t, [2]*float64{}, rates(hs)["eth0"], "tx went down: unknown, not negative")
	assert.Equal(t, [2]*float64{}, rates(hs)["eth1"], "first seen")
	assert.Equal(t, new(10000.0), rates(hs)["ens5"][0])

	// The same network time again (cAdvisor has not refreshed): no rate.
	s = nodeStats(40 * time.Second)
	hs = *k.Sample(s, node, kt0)
	assert.Equal(t, [2]*float64{}, rates(hs)["ens5"])

	// A time that cannot be true (none, or far ahead of the read) gives
	// counters without a rate, and no rate on the next read either.
	for name, bad := range map[string]time.Time{"no time": {}, "the epoch": time.Unix(0, 0), "ahead of the read": kt0.Add(time.Hour)} {
		t.Run(name, func(t *testing.T) {
			k := New(Options{}, zap.NewNop())
			k.Sample(nodeStats(0), node, kt0)
			s := nodeStats(10 * time.Second)
			s.Network.Time = bad
			hs := *k.Sample(s, node, kt0)
			require.Len(t, hs.Network, 2, "the counters are still shipped")
			assert.Equal(t, [2]*float64{}, rates(hs)["eth0"])
			hs = *k.Sample(nodeStats(20*time.Second), node, kt0)
			assert.Equal(t, [2]*float64{}, rates(hs)["eth0"], "the bad read is no base for a rate")
		})
	}
}

func TestKubeletSampleInterfaceOverrides(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	k := New(Options{IncludeInterfaces: []string{"cni0", "eth*"}, ExcludeInterfaces: []string{"eth0"}}, zap.New(core))
	hs := *k.Sample(nodeStats(0), testNode("4", "16Gi"), kt0)
	var names []string
	for _, n := range hs.Network {
		names = append(names, n.Name)
	}
	assert.Equal(t, []string{"cni0", "ens5"}, names, "included, even a bridge; excluded wins over included")
	k.Sample(nodeStats(10*time.Second), testNode("4", "16Gi"), kt0)
	entries := logs.FilterMessageSnippet("Counting network interfaces by name").All()
	require.Len(t, entries, 1, "logged once")
	assert.Equal(t, []any{"cni0", "ens5"}, entries[0].ContextMap()["counted"])
}

// Figures that are missing or cannot be true are absent, never zero, and
// each is named in Errors.
func TestKubeletSampleAbsentFigures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stats  func(*usage.NodeStats) *usage.NodeStats
		node   *corev1.Node
		check  func(t *testing.T, hs wire.HostSample)
		errors []string
	}{
		{
			name: "no Node cached",
			check: func(t *testing.T, hs wire.HostSample) {
				assert.Nil(t, hs.CPU.LogicalCores)
				assert.Nil(t, hs.CPU.UsagePercent, "a percent needs the cores")
				assert.Nil(t, hs.Memory, "memory needs the total")
				assert.NotNil(t, hs.UptimeSeconds)
				assert.NotNil(t, hs.Filesystem)
				assert.Len(t, hs.Network, 2)
			},
			errors: []string{"cpu cores: the Node is not in the agent's cache", "memory: the Node is not in the agent's cache"},
		},
		{
			name: "cores not a whole number",
			node: testNode("3500m", "16Gi"),
			check: func(t *testing.T, hs wire.HostSample) {
				assert.Nil(t, hs.CPU.LogicalCores)
				assert.Nil(t, hs.CPU.UsagePercent)
			},
			errors: []string{"cpu cores: the Node's status.capacity cpu 3500m is not a whole number of cores"},
		},
		{
			name: "cores beyond any node (MilliValue would overflow)",
			node: testNode("9223372036854775807", "16Gi"),
			check: func(t *testing.T, hs wire.HostSample) {
				assert.Nil(t, hs.CPU.LogicalCores)
				assert.Nil(t, hs.CPU.UsagePercent, "not a negative percent")
			},
			errors: []string{"cpu cores: the Node's status.capacity cpu 9223372036854775807 is not between 1 and 1048576 cores"},
		},
		{
			name:   "cores just beyond the bound",
			node:   testNode("1048577", "16Gi"),
			check:  func(t *testing.T, hs wire.HostSample) { assert.Nil(t, hs.CPU.LogicalCores) },
			errors: []string{"cpu cores: the Node's status.capacity cpu 1048577 is not between 1 and 1048576 cores"},
		},
		{
			name:   "cores of an exponent",
			node:   testNode("1e30", "16Gi"),
			check:  func(t *testing.T, hs wire.HostSample) { assert.Nil(t, hs.CPU.LogicalCores) },
			errors: []string{"cpu cores: the Node's status.capacity cpu 1e30 is not between 1 and 1048576 cores"},
		},
		{
			name:   "capacity without cpu or memory",
			node:   testNode("", ""),
			check:  func(t *testing.T, hs wire.HostSample) { assert.Nil(t, hs.CPU.LogicalCores); assert.Nil(t, hs.Memory) },
			errors: []string{"cpu cores: the Node's status.capacity has no cpu", "memory: the Node's status.capacity has no memory"},
		},
		{
			name:   "memory capacity beyond any node",
			node:   testNode("4", "5Ei"),
			check:  func(t *testing.T, hs wire.HostSample) { assert.Nil(t, hs.Memory) },
			errors: []string{"memory: the Node's status.capacity memory 5Ei cannot be a node's memory"},
		},
		{
			name: "summary without its parts",
			stats: func(s *usage.NodeStats) *usage.NodeStats {
				return &usage.NodeStats{Read: s.Read}
			},
			node: testNode("4", "16Gi"),
			check: func(t *testing.T, hs wire.HostSample) {
				assert.Equal(t, new(4), hs.CPU.LogicalCores)
				assert.Nil(t, hs.CPU.UsagePercent)
				assert.Nil(t, hs.Memory)
				assert.Nil(t, hs.UptimeSeconds)
				assert.Nil(t, hs.Filesystem)
				assert.Nil(t, hs.ImageFilesystem)
				assert.Nil(t, hs.Network)
			},
			errors: []string{
				"uptime: the kubelet summary gives no boot time (startTime)",
				"cpu: the kubelet summary has no CPU figure of the node (usageNanoCores)",
				"memory: the kubelet summary has no memory figures of the node (availableBytes, workingSetBytes)",
				"filesystem: the kubelet summary has no figures of the node's filesystem (fs)",
				"network: the kubelet summary has no network figures of the node",
			},
		},
		{
			name: "boot time after the read",
			stats: func(s *usage.NodeStats) *usage.NodeStats {
				s.BootTime = s.Read.Add(time.Minute)
				return s
			},
			node:   testNode("4", "16Gi"),
			check:  func(t *testing.T, hs wire.HostSample) { assert.Nil(t, hs.UptimeSeconds) },
			errors: []string{"uptime: the kubelet summary's boot time 2026-03-01T12:01:00Z is after the read"},
		},
		{
			name: "more cores busy than the node has",
			stats: func(s *usage.NodeStats) *usage.NodeStats {
				s.CPU.UsageNanoCores = u64(4.1e9)
				return s
			},
			node: testNode("4", "16Gi"),
			check: func(t *testing.T, hs wire.HostSample) {
				assert.Nil(t, hs.CPU.UsagePercent)
				assert.Equal(t, new(4), hs.CPU.LogicalCores)
			},
			errors: []string{"cpu: the kubelet summary has 4.1 cores in use on a node of 4"},
		},
		{
			name: "a hair above the cores is all of them",
			stats: func(s *usage.NodeStats) *usage.NodeStats {
				s.CPU.UsageNanoCores = u64(4.02e9)
				return s
			},
			node:  testNode("4", "16Gi"),
			check: func(t *testing.T, hs wire.HostSample) { assert.Equal(t, new(100.0), hs.CPU.UsagePercent) },
		},
		{
			name: "available above the Node's memory",
			stats: func(s *usage.NodeStats) *usage.NodeStats {
				s.Memory.AvailableBytes = u64(17 << 30)
				return s
			},
			node:   testNode("4", "16Gi"),
			check:  func(t *testing.T, hs wire.HostSample) { assert.Nil(t, hs.Memory) },
			errors: []string{"memory: the kubelet summary's figures (available 18253611008, working set 6442450944 bytes) do not fit the Node's capacity of 17179869184 bytes"},
		},
		{
			name: "working set above the Node's memory, no available",
			stats: func(s *usage.NodeStats) *usage.NodeStats {
				s.Memory.AvailableBytes, s.Memory.WorkingSetBytes = nil, u64(17<<30)
				return s
			},
			node:   testNode("4", "16Gi"),
			check:  func(t *testing.T, hs wire.HostSample) { assert.Nil(t, hs.Memory) },
			errors: []string{"memory: the kubelet summary's figures (available unknown, working set 18253611008 bytes) do not fit the Node's capacity of 17179869184 bytes"},
		},
		{
			name: "no available: total less the working set",
			stats: func(s *usage.NodeStats) *usage.NodeStats {
				s.Memory.AvailableBytes = nil
				return s
			},
			node: testNode("4", "16Gi"),
			check: func(t *testing.T, hs wire.HostSample) {
				require.NotNil(t, hs.Memory)
				assert.Equal(t, uint64(10<<30), hs.Memory.AvailableBytes)
				assert.Equal(t, uint64(6<<30), hs.Memory.UsedBytes)
			},
		},
		{
			name: "swap without its available figure, then none",
			stats: func(s *usage.NodeStats) *usage.NodeStats {
				s.Swap.SwapAvailableBytes = nil
				return s
			},
			node: testNode("4", "16Gi"),
			check: func(t *testing.T, hs wire.HostSample) {
				require.NotNil(t, hs.Memory)
				assert.Equal(t, u64(1<<20), hs.Memory.SwapUsedBytes)
				assert.Nil(t, hs.Memory.SwapTotalBytes, "the total needs both")
			},
		},
		{
			name: "no swap figures",
			stats: func(s *usage.NodeStats) *usage.NodeStats {
				s.Swap = nil
				return s
			},
			node: testNode("4", "16Gi"),
			check: func(t *testing.T, hs wire.HostSample) {
				require.NotNil(t, hs.Memory)
				assert.Nil(t, hs.Memory.SwapUsedBytes)
				assert.Nil(t, hs.Memory.SwapTotalBytes)
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stats := nodeStats(0)
			if tc.stats != nil {
				stats = tc.stats(stats)
			}
			hs := *New(Options{}, zap.NewNop()).Sample(stats, tc.node, kt0.Add(time.Hour))
			assert.Equal(t, wire.HostSourceKubelet, hs.Source)
			assert.Equal(t, tc.errors, hs.Errors)
			tc.check(t, hs)
		})
	}
}
