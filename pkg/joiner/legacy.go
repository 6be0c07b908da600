package joiner

import (
	"github.com/catops/cli/pkg/usage"
	"github.com/catops/cli/pkg/wire"
)

// Legacy builds the full node snapshot of the legacy wire format from the
// cache, the last host sample and the latest usage readings (fed through
// Samples). Usage the agent does not know is null, never zero.
func (j *Joiner) Legacy(nodeName, namespace string) wire.Snapshot {
	j.src.TakeDirty() // the legacy format ships whole snapshots, not changes
	pods := j.src.Pods()
	out := wire.Snapshot{
		Timestamp: j.now().UTC(),
		NodeName:  nodeName,
		Namespace: namespace,
		Pods:      make([]wire.SnapshotPod, 0, len(pods)),
	}
	present := make(map[usage.PodKey]struct{}, len(pods))
	for _, p := range pods {
		present[usage.PodKey{Namespace: p.Namespace, Name: p.Name}] = struct{}{}
		sp := wire.SnapshotPod{
			Name:           p.Name,
			Namespace:      p.Namespace,
			PodIP:          p.Status.PodIP,
			HostIP:         p.Status.HostIP,
			Phase:          string(p.Status.Phase),
			RestartCount:   podRestarts(p),
			ContainerCount: len(p.Spec.Containers),
		}
		if u, ok := j.podUsage[usage.PodKey{Namespace: p.Namespace, Name: p.Name}]; ok {
			cpu, mem := u.CPUCores, u.MemoryBytes
			sp.CPUUsageCores, sp.MemoryUsageBytes = &cpu, &mem
		}
		out.Pods = append(out.Pods, sp)
	}
	for k := range j.podUsage {
		if _, ok := present[k]; !ok {
			delete(j.podUsage, k) // the pod left the node
		}
	}
	out.NodeMetrics = j.legacyNodeMetrics(len(pods))
	return out
}

func (j *Joiner) legacyNodeMetrics(podCount int) wire.SnapshotNodeMetrics {
	m := wire.SnapshotNodeMetrics{PodCount: podCount}
	if u := j.nodeUsage; u != nil {
		cpu, mem := u.CPUCores, u.MemoryBytes
		m.CPUUsageCores, m.MemoryUsageBytes = &cpu, &mem
	}
	h := j.host
	if h == nil {
		return m
	}
	m.CPUUsagePercent = h.CPU.UsagePercent
	m.CPUCores = h.CPU.LogicalCores
	m.MemoryTotalBytes = h.Memory.TotalBytes
	m.MemoryUsedBytes = h.Memory.UsedBytes
	m.MemoryUsagePercent = h.Memory.UsedPercent
	m.UptimeSeconds = h.UptimeSeconds
	if h.Load != nil {
		l1, l5, l15 := h.Load.Load1, h.Load.Load5, h.Load.Load15
		m.Load1, m.Load5, m.Load15 = &l1, &l5, &l15
	}
	for _, fs := range h.Filesystems {
		if fs.Mountpoint == "/" {
			m.DiskTotalBytes, m.DiskUsedBytes, m.DiskUsagePercent = fs.TotalBytes, fs.UsedBytes, fs.UsedPercent
		}
	}
	for _, n := range h.Network {
		m.NetworkRxBytes += n.RxBytes
		m.NetworkTxBytes += n.TxBytes
	}
	return m
}
