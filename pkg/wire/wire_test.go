package wire

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var (
	t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	t1 = t0.Add(-time.Hour)
)

func ptr[T any](v T) *T { return &v }

// examplePod exercises every field of a pod record.
func examplePod() *Pod {
	return &Pod{
		PodRef:       PodRef{Namespace: "shop", Name: "web-7d9c-x2k4q", UID: "6f1c2d3e-0000-4000-8000-000000000001"},
		Labels:       map[string]string{"app": "web", "pod-template-hash": "7d9c"},
		Owner:        &Owner{Kind: "ReplicaSet", Name: "web-7d9c"},
		Workload:     &Workload{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
		Phase:        "Running",
		Ready:        false,
		PodIP:        "10.244.1.17",
		HostIP:       "192.0.2.10",
		QOSClass:     "Burstable",
		Priority:     ptr(int32(0)),
		CreatedAt:    t1,
		StartedAt:    ptr(t1.Add(2 * time.Second)),
		RestartCount: 5, // kubectl's rule: the app's 3 and the sidecar's 2
		// Pod-level resources, shared by the containers.
		Requests: &Resources{CPUMillicores: ptr(int64(300))},
		Limits:   &Resources{CPUMillicores: ptr(int64(500)), MemoryBytes: ptr(int64(256 << 20))},
		Containers: []Container{{
			Name: "web", Image: "nginx:1.27", Ready: false, RestartCount: 3,
			State: StateWaiting, Reason: "CrashLoopBackOff",
			LastTermination: &Termination{Reason: "OOMKilled", ExitCode: 137, FinishedAt: ptr(t0.Add(-time.Minute))},
			Requests:        &Resources{CPUMillicores: ptr(int64(250)), MemoryBytes: ptr(int64(64 << 20))},
			Limits:          &Resources{MemoryBytes: ptr(int64(128 << 20))},
		}},
		InitContainers: []Container{
			{Name: "migrate", Image: "migrate:3", State: StateTerminated, Reason: "Completed",
				ExitCode: ptr(int32(0)), Since: ptr(t1.Add(time.Second))},
			{Name: "proxy", Image: "envoy:1.33", Ready: true, RestartCount: 2, State: StateRunning,
				Since: ptr(t0.Add(-10 * time.Minute)), Sidecar: true},
		},
	}
}

func exampleEvents() []Event {
	rate := ptr(1234.5)
	return []Event{
		{Type: EventSnapshotBegin, Time: t0, Snapshot: &SnapshotMark{ID: 1, Reason: ReasonStart}},
		{Type: EventNode, Time: t0, Node: &Node{
			Name: "node-a", UID: "node-uid", Labels: map[string]string{"kubernetes.io/arch": "amd64"},
			Taints:      []Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: "NoSchedule"}},
			Capacity:    Resources{CPUMillicores: ptr(int64(4000)), MemoryBytes: ptr(int64(16 << 30)), Pods: ptr(int64(110))},
			Allocatable: Resources{CPUMillicores: ptr(int64(3800)), MemoryBytes: ptr(int64(15 << 30)), Pods: ptr(int64(110))},
			Conditions:  []NodeCondition{{Type: "Ready", Status: "True", Reason: "KubeletReady", Since: ptr(t1)}},
			InternalIP:  "192.0.2.10", KubeletVersion: "v1.37.2", ContainerRuntime: "containerd://2.1.0",
			OSImage: "Debian GNU/Linux 12", KernelVersion: "6.1.0", Architecture: "amd64", CreatedAt: t1,
		}},
		{Type: EventPodUpsert, Time: t0, Pod: examplePod()},
		{Type: EventSnapshotEnd, Time: t0, Snapshot: &SnapshotMark{ID: 1, Reason: ReasonStart}},
		{Type: EventPodDelete, Time: t0, PodRef: &PodRef{Namespace: "shop", Name: "web-7d9c-old", UID: "6f1c2d3e-0000-4000-8000-000000000002"}},
		{Type: EventHost, Time: t0, Host: &HostSample{
			Source: HostSourceProc, Time: t0, UptimeSeconds: ptr(uint64(86400)),
			CPU:    CPUSample{LogicalCores: ptr(4), UsagePercent: ptr(37.5), Modes: &CPUModeTime{User: 25, System: 10, Idle: 62.5, IOWait: 2.5}},
			Load:   &LoadSample{Load1: 1.2, Load5: 0.9, Load15: 0.7},
			Memory: &MemorySample{TotalBytes: 16 << 30, AvailableBytes: 10 << 30, UsedBytes: 6 << 30, UsedPercent: 37.5, SwapTotalBytes: ptr(uint64(0)), SwapUsedBytes: ptr(uint64(0))},
			Filesystems: []Filesystem{{Mountpoint: "/", Device: "/dev/vda1", FSType: "ext4", TotalBytes: 100 << 30,
				UsedBytes: 40 << 30, FreeBytes: 60 << 30, UsedPercent: 40, InodesTotal: 6553600, InodesUsed: 300000}},
			Disks: []Disk{{Name: "vda", ReadBytes: 1 << 30, WriteBytes: 2 << 30, ReadOps: 10000, WriteOps: 20000, ReadBytesPerSec: rate, WriteBytesPerSec: rate, ReadOpsPerSec: ptr(1.5), WriteOpsPerSec: ptr(3.0)}},
			Network: []NetIface{{Name: "eth0", RxBytes: 5 << 30, TxBytes: 1 << 30, RxPackets: ptr(uint64(4000000)), TxPackets: ptr(uint64(2000000)),
				RxErrors: ptr(uint64(0)), TxErrors: ptr(uint64(0)), RxDropped: ptr(uint64(0)), TxDropped: ptr(uint64(0)), RxBytesPerSec: rate, TxBytesPerSec: rate}},
		}},
		{Type: EventUsage, Time: t0, Usage: &Usage{Available: true, Source: "metrics-api",
			Node: &ResourceUsage{Timestamp: t0.Add(-5 * time.Second), WindowSeconds: 10, CPUCores: 1.25, MemoryBytes: 6 << 30},
			Pods: []PodUsage{{Namespace: "shop", Name: "web-7d9c-x2k4q", ResourceUsage: ResourceUsage{Timestamp: t0.Add(-5 * time.Second), WindowSeconds: 10, CPUCores: 0.012, MemoryBytes: 52 << 20,
				Containers: []ContainerUsage{{Name: "app", CPUCores: 0.01, MemoryBytes: 48 << 20}, {Name: "proxy", CPUCores: 0.002, MemoryBytes: 4 << 20}}}}}}},
		{Type: EventUsage, Time: t0.Add(time.Minute), Usage: &Usage{Available: false, Source: "metrics-api", Reason: "metrics API not served"}},
		// The kubelet source with its summary's figures.
		{Type: EventUsage, Time: t0.Add(2 * time.Minute), Usage: &Usage{Available: true, Source: "kubelet",
			Node: &ResourceUsage{Timestamp: t0.Add(115 * time.Second), WindowSeconds: 10.02, CPUCores: 1.3, MemoryBytes: 6 << 30,
				Filesystem:      &FilesystemUsage{UsedBytes: ptr(uint64(40 << 30)), CapacityBytes: ptr(uint64(100 << 30)), AvailableBytes: ptr(uint64(60 << 30)), InodesUsed: ptr(uint64(300000)), Inodes: ptr(uint64(6553600))},
				ImageFilesystem: &FilesystemUsage{UsedBytes: ptr(uint64(12 << 30)), CapacityBytes: ptr(uint64(100 << 30)), AvailableBytes: ptr(uint64(60 << 30))}},
			Pods: []PodUsage{{Namespace: "shop", Name: "web-7d9c-x2k4q", ResourceUsage: ResourceUsage{Timestamp: t0.Add(115 * time.Second), WindowSeconds: 10.02, CPUCores: 0.014, MemoryBytes: 53 << 20,
				Containers: []ContainerUsage{{Name: "app", CPUCores: 0.012, MemoryBytes: 49 << 20, MemoryRSSBytes: ptr(uint64(40 << 20)),
					Throttling: &CPUThrottling{Periods: 100, ThrottledPeriods: 12, ThrottledSeconds: 0.36, WindowSeconds: 10.02}}, {Name: "proxy", CPUCores: 0.002, MemoryBytes: 4 << 20, MemoryRSSBytes: ptr(uint64(3 << 20))}},
				Throttling:       &CPUThrottling{Periods: 100, ThrottledPeriods: 4, ThrottledSeconds: 0.05, WindowSeconds: 10.02},
				Network:          &NetworkUsage{RxBytes: 81920000, TxBytes: 40960000, RxBytesPerSec: ptr(2048.0), TxBytesPerSec: ptr(1024.0)},
				EphemeralStorage: &FilesystemUsage{UsedBytes: ptr(uint64(50 << 20)), CapacityBytes: ptr(uint64(100 << 30)), AvailableBytes: ptr(uint64(60 << 30)), InodesUsed: ptr(uint64(12)), Inodes: ptr(uint64(6553600))},
				Volumes: []VolumeUsage{{Name: "data", PVC: "data-web-0", FilesystemUsage: FilesystemUsage{UsedBytes: ptr(uint64(1 << 30)), CapacityBytes: ptr(uint64(10 << 30)), AvailableBytes: ptr(uint64(9 << 30)), InodesUsed: ptr(uint64(120)), Inodes: ptr(uint64(655360))}},
					{Name: "scratch", FilesystemUsage: FilesystemUsage{UsedBytes: ptr(uint64(50 << 20))}}},
			}}}}},
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, json.Indent(&buf, got, "", "  "))
	buf.WriteByte('\n')
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./pkg/wire -update to create it")
	assert.Equal(t, string(want), buf.String(), "wire bytes changed: if on purpose, bump docs/protocol.md and run with -update")
}

func TestDeltaBatchGolden(t *testing.T) {
	events := exampleEvents()
	raw := RawBatch{Header: Header{Version: Version, Node: "node-a", Namespace: "catops-system", AgentVersion: "1.0.0",
		Session: "8f2b6c1d9e0a4b7c", Seq: 1, BatchID: "8f2b6c1d9e0a4b7c-1", SentAt: t0}}
	for _, e := range events {
		enc, err := Encode(e)
		require.NoError(t, err)
		raw.Events = append(raw.Events, enc.Data)
	}
	b, err := json.Marshal(raw)
	require.NoError(t, err)
	golden(t, "batch.golden.json", b)
	var streamed bytes.Buffer
	require.NoError(t, WriteBatch(&streamed, raw.Header, raw.Events))
	assert.Equal(t, string(b), streamed.String(), "WriteBatch writes what json.Marshal would")

	// A receiver decodes the same bytes into the same events.
	var back Batch
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, raw.Header, back.Header)
	assert.Equal(t, events, back.Events)
}

func TestEncodeWithMatchesEncode(t *testing.T) {
	pod := examplePod()
	payload, err := json.Marshal(pod)
	require.NoError(t, err)
	direct, err := Encode(Event{Type: EventPodUpsert, Time: t0, Pod: pod})
	require.NoError(t, err)
	assert.Equal(t, string(direct.Data), string(EncodeWith(EventPodUpsert, t0, "pod", payload).Data))
}

func TestLegacySnapshotGolden(t *testing.T) {
	s := Snapshot{Timestamp: t0, NodeName: "node-a", Namespace: "catops-system",
		NodeMetrics: SnapshotNodeMetrics{CPUUsagePercent: ptr(37.5), CPUCores: 4, MemoryTotalBytes: 16 << 30, MemoryUsedBytes: 6 << 30,
			MemoryUsagePercent: 37.5, DiskTotalBytes: 100 << 30, DiskUsedBytes: 40 << 30, DiskUsagePercent: 40,
			NetworkRxBytes: 5 << 30, NetworkTxBytes: 1 << 30, Load1: ptr(1.2), Load5: ptr(0.9), Load15: ptr(0.7),
			UptimeSeconds: 86400, CPUUsageCores: ptr(1.25), MemoryUsageBytes: ptr(int64(6 << 30)), PodCount: 2},
		Pods: []SnapshotPod{
			{Name: "web-7d9c-x2k4q", Namespace: "shop", PodIP: "10.244.1.17", HostIP: "192.0.2.10", Phase: "Running",
				CPUUsageCores: ptr(0.012), MemoryUsageBytes: ptr(int64(52 << 20)), RestartCount: 3, ContainerCount: 1},
			{Name: "batch-job-5xq", Namespace: "jobs", HostIP: "192.0.2.10", Phase: "Pending", ContainerCount: 2},
		}}
	b, err := json.Marshal(s)
	require.NoError(t, err)
	golden(t, "snapshot.golden.json", b)
	assert.Contains(t, string(b), `"cpu_usage_cores":null`, "unknown usage is null, not zero")
}

// TestHostKubeletGolden pins the host event of the kubelet source
// (CATOPS_HOST_SOURCE=kubelet): what the kubelet summary and the Node give,
// and none of the figures it cannot (load, CPU modes, mounted filesystems,
// disks, packet and drop counters): those keys are absent, not zero.
func TestHostKubeletGolden(t *testing.T) {
	e := Event{Type: EventHost, Time: t0, Host: &HostSample{
		Source: HostSourceKubelet, Time: t0.Add(-2 * time.Second), UptimeSeconds: ptr(uint64(86398)),
		CPU: CPUSample{LogicalCores: ptr(4), UsagePercent: ptr(32.5)},
		Memory: &MemorySample{TotalBytes: 16 << 30, AvailableBytes: 10 << 30, UsedBytes: 6 << 30, UsedPercent: 37.5,
			SwapTotalBytes: ptr(uint64(2 << 30)), SwapUsedBytes: ptr(uint64(1 << 20))},
		Filesystem: &FilesystemUsage{UsedBytes: ptr(uint64(40 << 30)), CapacityBytes: ptr(uint64(100 << 30)), AvailableBytes: ptr(uint64(55 << 30)),
			InodesUsed: ptr(uint64(300000)), Inodes: ptr(uint64(6553600))},
		ImageFilesystem: &FilesystemUsage{UsedBytes: ptr(uint64(12 << 30)), CapacityBytes: ptr(uint64(100 << 30)), AvailableBytes: ptr(uint64(55 << 30))},
		Network: []NetIface{{Name: "eth0", RxBytes: 5 << 30, TxBytes: 1 << 30, RxErrors: ptr(uint64(0)), TxErrors: ptr(uint64(0)),
			RxBytesPerSec: ptr(2048.0), TxBytesPerSec: ptr(1024.0)}},
	}}
	enc, err := Encode(e)
	require.NoError(t, err)
	golden(t, "host_kubelet.golden.json", enc.Data)
	for _, absent := range []string{"load", "modes", "filesystems", "disks", "packets", "dropped", "errors\":["} {
		assert.NotContains(t, string(enc.Data), absent)
	}

	var back Event
	require.NoError(t, json.Unmarshal(enc.Data, &back))
	assert.Equal(t, e, back)
}
