package legacy

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/catops/cli/pkg/joiner"
	"github.com/catops/cli/pkg/wire"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func clock() func() time.Time { return func() time.Time { return t0 } }

func testPod(ns, name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}, {Name: "log"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.7", HostIP: "192.168.1.2"},
	}
}

func reading(ns, name string, cpu float64, mem int64) wire.PodUsage {
	return wire.PodUsage{Namespace: ns, Name: name, ResourceUsage: wire.ResourceUsage{Timestamp: t0, CPUCores: cpu, MemoryBytes: mem}}
}

func TestBuildMapsPodsAndHost(t *testing.T) {
	b := NewBuilder("node-a", "catops", clock())
	host := &wire.HostSample{
		UptimeSeconds: ptr.To(uint64(3600)),
		CPU:           wire.CPUSample{LogicalCores: ptr.To(4), UsagePercent: ptr.To(37.5)},
		Memory:        &wire.MemorySample{TotalBytes: 16 << 30, UsedBytes: 6 << 30, UsedPercent: 37.5},
		Load:          &wire.LoadSample{Load1: 0.5, Load5: 0.25, Load15: 0.125},
		Filesystems: []wire.Filesystem{
			{Mountpoint: "/var/lib/kubelet", TotalBytes: 1, UsedBytes: 1, UsedPercent: 100},
			{Mountpoint: "/", TotalBytes: 100 << 30, UsedBytes: 40 << 30, UsedPercent: 40},
		},
		Network: []wire.NetIface{{Name: "eth0", RxBytes: 5, TxBytes: 1}, {Name: "eth1", RxBytes: 10, TxBytes: 2}},
	}
	u := &wire.Usage{Available: true, Node: &wire.ResourceUsage{CPUCores: 1.5, MemoryBytes: 2 << 30},
		Pods: []wire.PodUsage{reading("default", "web", 0.25, 64<<20)}}
	snap := b.Build([]*corev1.Pod{testPod("default", "web")}, host, u)

	assert.Equal(t, t0, snap.Timestamp)
	assert.Equal(t, "node-a", snap.NodeName)
	assert.Equal(t, "catops", snap.Namespace)
	require.Len(t, snap.Pods, 1)
	p := snap.Pods[0]
	assert.Equal(t, wire.SnapshotPod{Name: "web", Namespace: "default", PodIP: "10.0.0.7", HostIP: "192.168.1.2", Phase: "Running",
		CPUUsageCores: ptr.To(0.25), MemoryUsageBytes: ptr.To(int64(64 << 20)), ContainerCount: 2}, p)
	m := snap.NodeMetrics
	assert.Equal(t, 1, m.PodCount)
	assert.Equal(t, 37.5, *m.CPUUsagePercent)
	assert.Equal(t, 4, m.CPUCores)
	assert.Equal(t, uint64(100<<30), m.DiskTotalBytes, "the root filesystem's figures")
	assert.Equal(t, 40.0, m.DiskUsagePercent)
	assert.Equal(t, uint64(15), m.NetworkRxBytes, "summed over the interfaces")
	assert.Equal(t, uint64(3), m.NetworkTxBytes)
	assert.Equal(t, 0.125, *m.Load15)
	assert.Equal(t, uint64(3600), m.UptimeSeconds)
	assert.Equal(t, 1.5, *m.CPUUsageCores)
	assert.Equal(t, int64(2<<30), *m.MemoryUsageBytes)
}

// A pod's reading stays until usage becomes unavailable or the pod leaves;
// what the agent does not know is null, never zero.
func TestUsageKeptUntilUnknownAndUnknownIsNull(t *testing.T) {
	b := NewBuilder("node-a", "catops", clock())
	pods := []*corev1.Pod{testPod("ns", "known"), testPod("ns", "new")}
	snap := b.Build(pods, nil, &wire.Usage{Available: true, Pods: []wire.PodUsage{
		reading("ns", "known", 0.5, 100), reading("ns", "new", 0.1, 10),
	}})
	require.Len(t, snap.Pods, 2)
	for _, p := range snap.Pods {
		require.NotNil(t, p.CPUUsageCores, p.Name)
	}

	// The next reading lacks "new" (metrics-server has not scraped it
	// again): its last figures stay.
	snap = b.Build(pods, nil, &wire.Usage{Available: true, Pods: []wire.PodUsage{reading("ns", "known", 0.6, 100)}})
	assert.Equal(t, 0.1, *snap.Pods[1].CPUUsageCores)
	snap = b.Build(pods, nil, nil) // no usage source
	assert.Equal(t, 0.6, *snap.Pods[0].CPUUsageCores)

	// Usage goes away: the figures become null, never zero.
	snap = b.Build(pods, nil, &wire.Usage{Available: false, Source: "metrics-api", Reason: "not served"})
	for _, p := range snap.Pods {
		assert.Nil(t, p.CPUUsageCores)
		assert.Nil(t, p.MemoryUsageBytes)
	}
	raw, err := json.Marshal(snap)
	require.NoError(t, err)
	assert.Contains(t, string(raw), `"cpu_usage_cores":null`)
	assert.Contains(t, string(raw), `"cpu_usage_percent":null`, "no host sample yet")
}

func TestPodUsageStaysBoundedWithShortLivedPods(t *testing.T) {
	b := NewBuilder("node-a", "catops", clock())
	for i := range 500 {
		name := "job-" + strconv.Itoa(i)
		b.Build([]*corev1.Pod{testPod("ns", name)}, nil, nil)
		// A reading that arrives after the pod left is not kept.
		b.Build(nil, nil, &wire.Usage{Available: true, Pods: []wire.PodUsage{reading("ns", name, 0.1, 1)}})
	}
	assert.Empty(t, b.podUsage)
}

// restart_count is the delta format's figure (kubectl's RESTARTS rule,
// tested in pkg/joiner): here a native sidecar's restarts count beside the
// app's.
func TestRestartCountIsTheDeltaFormats(t *testing.T) {
	p := testPod("ns", "p")
	p.Spec.InitContainers = []corev1.Container{{Name: "proxy", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)}}
	p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "proxy", RestartCount: 7, Started: ptr.To(true),
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", RestartCount: 2, Started: ptr.To(true),
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}}
	snap := NewBuilder("node-a", "ns", clock()).Build([]*corev1.Pod{p}, nil, nil)
	require.Len(t, snap.Pods, 1)
	assert.Equal(t, int32(9), snap.Pods[0].RestartCount)
	assert.Equal(t, joiner.PodRestarts(p), snap.Pods[0].RestartCount)
}
