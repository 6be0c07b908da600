// Package legacy is the legacy wire format (CATOPS_WIRE_FORMAT=snapshot,
// docs/protocol.md §6): the whole node as one plain JSON body every
// collection interval, with no sequence numbers and no dedupe.
//
// It is a path of its own beside the delta pipeline (joiner, sender): a
// Builder makes the snapshot from the pods and the interval's readings,
// and a Poster posts it, one at a time, the newest replacing any not yet
// sent.
package legacy

import (
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/catops/cli/pkg/joiner"
	"github.com/catops/cli/pkg/wire"
)

type podKey struct{ namespace, name string }

// Builder makes snapshots. It keeps the latest readings: a pod's usage
// stays in its figures until usage becomes unavailable or the pod leaves
// the node. It is used from one goroutine.
type Builder struct {
	node, namespace string
	now             func() time.Time

	host      *wire.HostSample
	nodeUsage *wire.ResourceUsage
	podUsage  map[podKey]wire.ResourceUsage
}

// NewBuilder returns a Builder for the node; now is the clock (time.Now if
// nil).
func NewBuilder(node, namespace string, now func() time.Time) *Builder {
	if now == nil {
		now = time.Now
	}
	return &Builder{node: node, namespace: namespace, now: now, podUsage: make(map[podKey]wire.ResourceUsage)}
}

// Build records the interval's host sample and usage (nil: none came) and
// returns the snapshot of pods (the cache's, sorted by namespace and name).
// Usage the agent does not know is null, never zero.
func (b *Builder) Build(pods []*corev1.Pod, host *wire.HostSample, u *wire.Usage) wire.Snapshot {
	b.observe(host, u)
	out := wire.Snapshot{
		Timestamp: b.now().UTC(),
		NodeName:  b.node,
		Namespace: b.namespace,
		Pods:      make([]wire.SnapshotPod, 0, len(pods)),
	}
	present := make(map[podKey]struct{}, len(pods))
	for _, p := range pods {
		key := podKey{p.Namespace, p.Name}
		present[key] = struct{}{}
		sp := wire.SnapshotPod{
			Name:           p.Name,
			Namespace:      p.Namespace,
			PodIP:          p.Status.PodIP,
			HostIP:         p.Status.HostIP,
			Phase:          string(p.Status.Phase),
			RestartCount:   joiner.PodRestarts(p),
			ContainerCount: len(p.Spec.Containers),
		}
		if u, ok := b.podUsage[key]; ok {
			cpu, mem := u.CPUCores, u.MemoryBytes
			sp.CPUUsageCores, sp.MemoryUsageBytes = &cpu, &mem
		}
		out.Pods = append(out.Pods, sp)
	}
	for k := range b.podUsage {
		if _, ok := present[k]; !ok {
			delete(b.podUsage, k) // the pod left the node, or the reading came after it did
		}
	}
	out.NodeMetrics = b.nodeMetrics(len(pods))
	return out
}

// observe keeps the latest host sample and usage readings.
func (b *Builder) observe(host *wire.HostSample, u *wire.Usage) {
	if host != nil {
		b.host = host
	}
	if u == nil {
		return
	}
	if !u.Available {
		b.nodeUsage = nil
		clear(b.podUsage)
		return
	}
	if u.Node != nil {
		n := *u.Node
		b.nodeUsage = &n
	}
	for _, pu := range u.Pods {
		b.podUsage[podKey{pu.Namespace, pu.Name}] = pu.ResourceUsage
	}
}

func (b *Builder) nodeMetrics(podCount int) wire.SnapshotNodeMetrics {
	m := wire.SnapshotNodeMetrics{PodCount: podCount}
	if u := b.nodeUsage; u != nil {
		cpu, mem := u.CPUCores, u.MemoryBytes
		m.CPUUsageCores, m.MemoryUsageBytes = &cpu, &mem
	}
	h := b.host
	if h == nil {
		return m
	}
	// The legacy shape has no "absent": a figure the host sample lacks
	// (source kubelet: uptime without a boot time, memory without a total)
	// is 0, as a reading that failed is.
	m.CPUUsagePercent = h.CPU.UsagePercent
	if h.CPU.LogicalCores != nil {
		m.CPUCores = *h.CPU.LogicalCores
	}
	if h.Memory != nil {
		m.MemoryTotalBytes = h.Memory.TotalBytes
		m.MemoryUsedBytes = h.Memory.UsedBytes
		m.MemoryUsagePercent = h.Memory.UsedPercent
	}
	if h.UptimeSeconds != nil {
		m.UptimeSeconds = *h.UptimeSeconds
	}
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
