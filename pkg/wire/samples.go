package wire

import "time"

// Host sources, reported as HostSample.Source.
const (
	// HostSourceProc: the node's /proc, /sys and / as mounted in the agent's
	// pod, read through gopsutil (pkg/hostsample's Sampler).
	HostSourceProc = "proc"
	// HostSourceKubelet: the node section of the kubelet's stats summary
	// (/stats/summary), with the cached Node's capacity (pkg/hostsample's
	// kubeletsample.Sampler); no host mount needed.
	HostSourceKubelet = "kubelet"
)

// HostSample is one reading of the node's host figures, from the source
// Source names: "proc" (gopsutil, through the host's /proc, /sys and / when
// mounted) or "kubelet" (the kubelet summary's node section and the Node's
// capacity). Rates are per second over the time since the previous sample
// and are absent (null) on the first sample. A figure the source cannot give
// or vouch for is absent, except where the "proc" source writes 0 for a
// reading that failed and names it in Errors (docs/protocol.md §5.5).
type HostSample struct {
	// Source is HostSourceProc or HostSourceKubelet; the agent always sets
	// it. Absent (agents before it): proc.
	Source string    `json:"source,omitempty"`
	Time   time.Time `json:"time"`
	// UptimeSeconds is the time since the node booted, in seconds. proc:
	// always present (0 when unreadable, named in Errors); kubelet: absent
	// when the summary gives no boot time.
	UptimeSeconds *uint64     `json:"uptime_seconds,omitempty"`
	CPU           CPUSample   `json:"cpu"`
	Load          *LoadSample `json:"load,omitempty"`
	// Memory is memory and swap. proc: always present (zero when
	// unreadable, named in Errors); kubelet: absent when total or
	// available is unknown.
	Memory      *MemorySample `json:"memory,omitempty"`
	Filesystems []Filesystem  `json:"filesystems,omitempty"`
	// Filesystem and ImageFilesystem are the kubelet's view of the node's
	// storage (source kubelet only): the filesystem of the kubelet's root
	// directory (nodefs) and the container runtime's image filesystem
	// (imagefs), in the same shape as the usage event's node figures. The
	// proc source lists mounted filesystems in Filesystems instead.
	Filesystem      *FilesystemUsage `json:"filesystem,omitempty"`
	ImageFilesystem *FilesystemUsage `json:"image_filesystem,omitempty"`
	Disks           []Disk           `json:"disks,omitempty"`
	Network         []NetIface       `json:"network,omitempty"`
	// Errors names the readings that failed this time (e.g. "load: …");
	// the rest of the sample is still valid.
	Errors []string `json:"errors,omitempty"`
}

// CPUSample is CPU time use, in percent of all cores (0–100), over the time
// since the previous sample.
type CPUSample struct {
	// LogicalCores is the node's online logical CPUs. proc: always
	// present (0 when unreadable); kubelet: the Node's status.capacity cpu,
	// absent when it is unknown or not a whole number.
	LogicalCores *int         `json:"logical_cores,omitempty"`
	UsagePercent *float64     `json:"usage_percent,omitempty"`
	Modes        *CPUModeTime `json:"modes,omitempty"`
}

// CPUModeTime splits CPU time by mode, in percent of all cores.
type CPUModeTime struct {
	User    float64 `json:"user"`
	Nice    float64 `json:"nice"`
	System  float64 `json:"system"`
	Idle    float64 `json:"idle"`
	IOWait  float64 `json:"iowait"`
	IRQ     float64 `json:"irq"`
	SoftIRQ float64 `json:"softirq"`
	Steal   float64 `json:"steal"`
}

// LoadSample holds the load averages.
type LoadSample struct {
	Load1  float64 `json:"load1"`
	Load5  float64 `json:"load5"`
	Load15 float64 `json:"load15"`
}

// MemorySample is memory and swap, in bytes: used is total − available and
// UsedPercent used / total × 100. The swap figures are always present with
// source proc (0 without swap) and absent with source kubelet unless the
// summary gives them.
type MemorySample struct {
	TotalBytes     uint64  `json:"total_bytes"`
	AvailableBytes uint64  `json:"available_bytes"`
	UsedBytes      uint64  `json:"used_bytes"`
	UsedPercent    float64 `json:"used_percent"`
	SwapTotalBytes *uint64 `json:"swap_total_bytes,omitempty"`
	SwapUsedBytes  *uint64 `json:"swap_used_bytes,omitempty"`
}

// Filesystem is the usage of one real (block-device backed) filesystem.
type Filesystem struct {
	Mountpoint  string  `json:"mountpoint"`
	Device      string  `json:"device"`
	FSType      string  `json:"fstype"`
	TotalBytes  uint64  `json:"total_bytes"`
	UsedBytes   uint64  `json:"used_bytes"`
	FreeBytes   uint64  `json:"free_bytes"`
	UsedPercent float64 `json:"used_percent"`
	InodesTotal uint64  `json:"inodes_total"`
	InodesUsed  uint64  `json:"inodes_used"`
}

// Disk is the I/O of one block device: counters since boot and rates.
type Disk struct {
	Name             string   `json:"name"`
	ReadBytes        uint64   `json:"read_bytes"`
	WriteBytes       uint64   `json:"write_bytes"`
	ReadOps          uint64   `json:"read_ops"`
	WriteOps         uint64   `json:"write_ops"`
	ReadBytesPerSec  *float64 `json:"read_bytes_per_sec,omitempty"`
	WriteBytesPerSec *float64 `json:"write_bytes_per_sec,omitempty"`
	ReadOpsPerSec    *float64 `json:"read_ops_per_sec,omitempty"`
	WriteOpsPerSec   *float64 `json:"write_ops_per_sec,omitempty"`
}

// NetIface is the traffic of one network interface: counters and rates.
// The source proc gives every counter; the source kubelet gives bytes and
// errors only, and the packet and drop counters are absent.
type NetIface struct {
	Name          string   `json:"name"`
	RxBytes       uint64   `json:"rx_bytes"`
	TxBytes       uint64   `json:"tx_bytes"`
	RxPackets     *uint64  `json:"rx_packets,omitempty"`
	TxPackets     *uint64  `json:"tx_packets,omitempty"`
	RxErrors      *uint64  `json:"rx_errors,omitempty"`
	TxErrors      *uint64  `json:"tx_errors,omitempty"`
	RxDropped     *uint64  `json:"rx_dropped,omitempty"`
	TxDropped     *uint64  `json:"tx_dropped,omitempty"`
	RxBytesPerSec *float64 `json:"rx_bytes_per_sec,omitempty"`
	TxBytesPerSec *float64 `json:"tx_bytes_per_sec,omitempty"`
}

// Usage carries Metrics API (or kubelet) readings of CPU and memory use
// (per pod and per container) and, from the kubelet summary, of network,
// storage and the node's filesystems.
// When Available is false the readings are unknown, not zero: a receiver
// must forget the usage it holds for the node and its pods.
type Usage struct {
	Available bool   `json:"available"`
	Source    string `json:"source"`
	// Reason says why usage is unknown (Available false).
	Reason string `json:"reason,omitempty"`
	// Node is the node's reading, absent when it has no fresh one.
	Node *ResourceUsage `json:"node,omitempty"`
	// Pods holds only readings that are new since the last usage event.
	// A pod that is absent keeps its previous reading.
	Pods []PodUsage `json:"pods,omitempty"`
}

// ResourceUsage is one reading: CPU in cores averaged over the window,
// memory working set in bytes, at Timestamp.
type ResourceUsage struct {
	Timestamp     time.Time `json:"timestamp"`
	WindowSeconds float64   `json:"window_seconds"`
	CPUCores      float64   `json:"cpu_cores"`
	MemoryBytes   int64     `json:"memory_bytes"`
	// Containers are a pod reading's containers that have a reading of
	// their own, sorted by name (absent for the node's reading, and when
	// the source gave none). A container missing from it has no reading:
	// its usage is unknown, not zero. Optional (v1 receivers ignore it).
	Containers []ContainerUsage `json:"containers,omitempty"`
	// Throttling is a pod's CPU throttling when its spec sets a pod-level
	// CPU limit (spec.resources.limits.cpu): the CFS counters of the pod's
	// cgroup, which holds that quota, read as a container's are
	// (CATOPS_THROTTLING_SOURCE=cgroup only). Absent for the node's
	// reading, for a pod without a pod-level CPU limit, and whenever a
	// container's would be (docs/protocol.md). Optional.
	Throttling *CPUThrottling `json:"throttling,omitempty"`

	// The kubelet summary's figures (source kubelet, /stats/summary), each
	// absent when the summary does not give it. Optional.

	// Network is a pod's traffic on its default interface (nil for the
	// node's reading).
	Network *NetworkUsage `json:"network,omitempty"`
	// EphemeralStorage is a pod's use of the node's ephemeral storage
	// (emptyDir volumes, writable layers, logs).
	EphemeralStorage *FilesystemUsage `json:"ephemeral_storage,omitempty"`
	// Volumes are a pod's volumes the kubelet measures (emptyDir,
	// persistent volumes through their CSI driver, ...), sorted by name.
	Volumes []VolumeUsage `json:"volumes,omitempty"`
	// Filesystem and ImageFilesystem are the node's: the kubelet's root
	// (nodefs) and the runtime's image filesystem (imagefs).
	Filesystem      *FilesystemUsage `json:"filesystem,omitempty"`
	ImageFilesystem *FilesystemUsage `json:"image_filesystem,omitempty"`
}

// NetworkUsage is traffic counted since the pod's network started: bytes
// received and sent, and their rates over the window between two summary
// reads (absent on the first, and when a counter went down).
type NetworkUsage struct {
	RxBytes       uint64   `json:"rx_bytes"`
	TxBytes       uint64   `json:"tx_bytes"`
	RxBytesPerSec *float64 `json:"rx_bytes_per_sec,omitempty"`
	TxBytesPerSec *float64 `json:"tx_bytes_per_sec,omitempty"`
}

// FilesystemUsage is a filesystem's (or a pod's share of one) use, in bytes
// and inodes; each figure absent when the kubelet does not give it.
type FilesystemUsage struct {
	UsedBytes      *uint64 `json:"used_bytes,omitempty"`
	CapacityBytes  *uint64 `json:"capacity_bytes,omitempty"`
	AvailableBytes *uint64 `json:"available_bytes,omitempty"`
	InodesUsed     *uint64 `json:"inodes_used,omitempty"`
	Inodes         *uint64 `json:"inodes,omitempty"`
}

// VolumeUsage is one of a pod's volumes: its name in the pod spec, the
// PersistentVolumeClaim behind it (in the pod's namespace) if any, and its
// use.
type VolumeUsage struct {
	Name string `json:"name"`
	PVC  string `json:"pvc,omitempty"`
	FilesystemUsage
}

// ContainerUsage is one container's reading, taken with its pod's: CPU in
// cores averaged over about the pod reading's window, memory working set in
// bytes. From the Metrics API, the container figures the pod's are the sum
// of; from the kubelet, each container's own counter between the same two
// scrapes (a pod's pod_* series, when the kubelet writes them, may differ
// from the sum by the pod's own overhead).
type ContainerUsage struct {
	Name        string  `json:"name"`
	CPUCores    float64 `json:"cpu_cores"`
	MemoryBytes int64   `json:"memory_bytes"`
	// MemoryRSSBytes is the container's resident set (anonymous memory and
	// swap cache, not the page cache), from the kubelet summary. Optional.
	MemoryRSSBytes *uint64 `json:"memory_rss_bytes,omitempty"`
	// Throttling is the container's CPU throttling between the agent's two
	// latest successful reads of its CFS counters (its cgroup's cpu.stat,
	// or the kubelet's /metrics/cadvisor: CATOPS_THROTTLING_SOURCE); absent
	// for a container without a CPU limit, on the first read, after a
	// restart, and whenever a counter cannot be trusted (docs/protocol.md).
	// Optional.
	Throttling *CPUThrottling `json:"throttling,omitempty"`
}

// CPUThrottling is how much a container with a CPU limit (a CFS quota) was
// held back between two successful reads of its counters: the CFS
// enforcement periods that elapsed while it ran, those in which it used up
// its quota and was throttled, and the time it spent throttled, over
// WindowSeconds. ThrottledPeriods / Periods is the share of periods it was
// throttled in.
type CPUThrottling struct {
	Periods          uint64  `json:"periods"`
	ThrottledPeriods uint64  `json:"throttled_periods"`
	ThrottledSeconds float64 `json:"throttled_seconds"`
	WindowSeconds    float64 `json:"window_seconds"`
}

// PodUsage is the reading of one pod (the sum of its containers).
type PodUsage struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	ResourceUsage
}
