package wire

import "time"

// Snapshot is the legacy wire format (--wire-format=snapshot): the whole
// node every interval, in the shape of the existing backend. Usage figures
// are null when unknown, never zero.
type Snapshot struct {
	Timestamp   time.Time           `json:"timestamp"`
	NodeName    string              `json:"node_name"`
	Namespace   string              `json:"namespace"`
	NodeMetrics SnapshotNodeMetrics `json:"node_metrics"`
	Pods        []SnapshotPod       `json:"pods"`
}

// SnapshotNodeMetrics summarises the host sample and the node's usage.
type SnapshotNodeMetrics struct {
	CPUUsagePercent    *float64 `json:"cpu_usage_percent"`
	CPUCores           int      `json:"cpu_cores"`
	MemoryTotalBytes   uint64   `json:"memory_total_bytes"`
	MemoryUsedBytes    uint64   `json:"memory_used_bytes"`
	MemoryUsagePercent float64  `json:"memory_usage_percent"`
	// Disk figures are those of the root filesystem of the host.
	DiskTotalBytes   uint64   `json:"disk_total_bytes"`
	DiskUsedBytes    uint64   `json:"disk_used_bytes"`
	DiskUsagePercent float64  `json:"disk_usage_percent"`
	NetworkRxBytes   uint64   `json:"network_rx_bytes"`
	NetworkTxBytes   uint64   `json:"network_tx_bytes"`
	Load1            *float64 `json:"load1"`
	Load5            *float64 `json:"load5"`
	Load15           *float64 `json:"load15"`
	UptimeSeconds    uint64   `json:"uptime_seconds"`
	// Metrics API figures for the node; null when unknown.
	CPUUsageCores    *float64 `json:"cpu_usage_cores"`
	MemoryUsageBytes *int64   `json:"memory_usage_bytes"`
	PodCount         int      `json:"pod_count"`
}

// SnapshotPod is one pod in the legacy format.
type SnapshotPod struct {
	Name             string   `json:"name"`
	Namespace        string   `json:"namespace"`
	PodIP            string   `json:"pod_ip"`
	HostIP           string   `json:"host_ip"`
	Phase            string   `json:"phase"`
	CPUUsageCores    *float64 `json:"cpu_usage_cores"`
	MemoryUsageBytes *int64   `json:"memory_usage_bytes"`
	RestartCount     int32    `json:"restart_count"`
	ContainerCount   int      `json:"container_count"`
}
