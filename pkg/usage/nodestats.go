package usage

import (
	"time"

	"github.com/catops/cli/pkg/wire"
)

// NodeStats are this node's own figures from the node section of the
// kubelet's stats summary (GET /stats/summary, stats/v1alpha1 "node"), as
// the kubelet source read them (pkg/usage/kubelet, Options.NodeStats). They
// are the raw material of the host sample when the agent takes the node's
// figures from the kubelet (CATOPS_HOST_SOURCE=kubelet) instead of its
// /proc.
//
// Every figure is a pointer, and every part a pointer: nil when the summary
// leaves it out, or gives one that cannot be true (above MaxValue; a
// filesystem's used bytes or inodes above its capacity). Nil is unknown,
// never zero. A node section that does not decode at all leaves every part
// nil. Times are the kubelet's: when cAdvisor sampled the figures, in whole
// seconds; the zero Time when the summary gives none.
type NodeStats struct {
	// Read is when the agent received the summary (the agent's clock).
	Read time.Time
	// BootTime is the summary's node startTime: when the node booted, as
	// the kubelet read it (btime of /proc/stat) at its own start. Zero:
	// not given.
	BootTime time.Time
	CPU      *NodeCPU
	Memory   *NodeMemory
	// Swap is absent from summaries of kubelets before 1.28 and of nodes
	// whose kubelet reads no swap figures.
	Swap    *NodeSwap
	Network *NodeNetwork
	// Filesystem is the filesystem of the kubelet's root directory (nodefs,
	// /var/lib/kubelet): capacity, available (to non-root) and used bytes
	// (blocks − free blocks) from statfs, and inodes.
	Filesystem *wire.FilesystemUsage
	// ImageFilesystem is the container runtime's image filesystem
	// (imagefs): its capacity and available bytes and inodes are the
	// filesystem's, its used bytes and inodes the runtime's images and
	// writable layers (the CRI's ImageFsInfo), not all the filesystem's use.
	ImageFilesystem *wire.FilesystemUsage
}

// NodeCPU is the node's CPU use: the root cgroup's, so all the node's
// processes, the kubelet and the runtime included.
type NodeCPU struct {
	Time time.Time
	// UsageNanoCores is the CPU in use, in billionths of a core (1e9 is one
	// core fully busy), averaged by the kubelet over its latest stats
	// window (cAdvisor's housekeeping, about 10 to 15 s).
	UsageNanoCores *uint64
	// UsageCoreNanoSeconds is the CPU time used since boot, in
	// nanoseconds summed over the cores: a counter.
	UsageCoreNanoSeconds *uint64
}

// NodeMemory is the node's memory use, in bytes: the root cgroup's.
type NodeMemory struct {
	Time time.Time
	// AvailableBytes is what the kubelet counts as available: the node's
	// memory (MemTotal) minus the working set, less hugepages where the
	// kubelet's HugepageAwareEviction is on. It is the kubelet's eviction
	// signal memory.available, not /proc/meminfo's MemAvailable.
	AvailableBytes *uint64
	// UsageBytes is all memory in use, page cache included.
	UsageBytes *uint64
	// WorkingSetBytes is UsageBytes less the inactive file cache.
	WorkingSetBytes *uint64
	// RSSBytes is anonymous memory and swap cache.
	RSSBytes *uint64
}

// NodeSwap is the node's swap, in bytes.
type NodeSwap struct {
	Time time.Time
	// SwapUsageBytes is swap in use.
	SwapUsageBytes *uint64
	// SwapAvailableBytes is the node's swap (SwapTotal) minus
	// SwapUsageBytes.
	SwapAvailableBytes *uint64
}

// NodeNetwork is the traffic of the node's network interfaces, at Time.
type NodeNetwork struct {
	Time time.Time
	// Interfaces are those of the node's network namespace that cAdvisor
	// lists: every one of /proc/1/net/dev except lo, veth*, docker* and
	// nerdctl* (bridges, tunnels and CNI devices included), in the
	// summary's order.
	Interfaces []NodeInterface
}

// NodeInterface is one interface's counters since it was created: bytes
// received and sent, and receive and transmit errors. The kubelet source
// lists an interface only with its name and both byte counters, and leaves
// out a name listed twice.
type NodeInterface struct {
	Name     string
	RxBytes  *uint64
	TxBytes  *uint64
	RxErrors *uint64
	TxErrors *uint64
}
