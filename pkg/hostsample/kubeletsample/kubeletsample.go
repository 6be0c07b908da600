// Package kubeletsample builds a node's host samples from the kubelet
// summary the kubelet usage source reads and the Node's capacity
// (CATOPS_HOST_SOURCE=kubelet): the node's figures where no host directory
// may be mounted. pkg/hostsample reads them from /proc instead; the two
// name the interfaces they count by the same rule (hostsample.CountedByName).
package kubeletsample

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"

	"github.com/catops/cli/pkg/hostsample"
	"github.com/catops/cli/pkg/usage"
	"github.com/catops/cli/pkg/wire"
)

// maxCores bounds the logical cores a Node's capacity may claim: far above
// any machine, so that a capacity that is not a count of cores is not taken
// for one.
const maxCores = 1 << 20

// Options configures a Sampler: the interface overrides of
// hostsample.Options, with the same meaning.
type Options struct {
	// IncludeInterfaces are path.Match patterns of network interfaces
	// always counted (CATOPS_HOST_INCLUDE_INTERFACES).
	IncludeInterfaces []string
	// ExcludeInterfaces are path.Match patterns of network interfaces never
	// counted; they win over IncludeInterfaces
	// (CATOPS_HOST_EXCLUDE_INTERFACES).
	ExcludeInterfaces []string
}

// Sampler builds host samples from the node's own figures of the
// kubelet summary (usage.NodeStats, read by the kubelet usage source) and
// the cached Node's status.capacity, for CATOPS_HOST_SOURCE=kubelet: the
// node's figures with no host directory mounted. It reads nothing itself.
//
// A figure it cannot vouch for is absent, never zero: the summary's figures
// are taken as pkg/usage/kubelet vetted them, and those that contradict the
// Node (more CPU or memory in use than its capacity) are left out too, each
// named in HostSample.Errors. The sample never has load, CPU modes, disks,
// the mounted filesystems or packet and drop counters: the summary does not
// give them.
//
// Sample keeps the previous network counters for the rates: call it from one
// goroutine.
type Sampler struct {
	opts   Options
	logger *zap.Logger
	// nics are the counters of the last summary read whose network time
	// was valid, at that time.
	nics   previousNICs
	logged bool // the interfaces counted were logged once
}

// New returns a Sampler.
func New(opts Options, logger *zap.Logger) *Sampler {
	if logger == nil {
		logger = zap.NewNop()
	}
	return &Sampler{opts: opts, logger: logger}
}

// Sample builds the host sample of one interval from stats (nil: the
// summary was not read this interval) and node (nil: not cached), at now:
//
//	time                 stats.Read (when the summary arrived), else now
//	uptime_seconds       stats.Read - stats.BootTime, in whole seconds
//	cpu.logical_cores    node's status.capacity cpu, a whole number
//	cpu.usage_percent    stats.CPU.UsageNanoCores / 1e9 / cores * 100,
//	                     capped at 100; left out above 100 * 1.01
//	memory               total: node's status.capacity memory; available:
//	                     stats.Memory.AvailableBytes (else total - working
//	                     set); used = total - available; swap from
//	                     stats.Swap (total = used + available)
//	filesystem,          stats.Filesystem (nodefs) and
//	image_filesystem     stats.ImageFilesystem (imagefs), as they are
//	network              stats.Network's interfaces not left out by name
//	                     (see countInterface): bytes, errors and byte
//	                     rates between two reads
//
// Rates are per second between the network times of two summary reads with
// valid times (after the epoch, not ahead of the read by more than
// usage.MaxClockSkew), the later one after the earlier; absent on the first
// read, for an interface not in the previous read, and when a counter went
// down.
func (k *Sampler) Sample(stats *usage.NodeStats, node *corev1.Node, now time.Time) *wire.HostSample {
	if stats == nil {
		// No summary this interval: a sample of nothing but the cores would
		// replace the last good one at the receiver (and read as zeros in
		// the snapshot format); the receiver keeps that one instead.
		return nil
	}
	hs := wire.HostSample{Source: wire.HostSourceKubelet, Time: stats.Read.UTC()}
	cores, coresErr := nodeCores(node)
	memTotal, memErr := nodeMemory(node)
	hs.UptimeSeconds = k.uptime(&hs, stats)
	if coresErr != nil {
		failf(&hs, "cpu cores", "%v", coresErr)
	} else {
		hs.CPU.LogicalCores = &cores
	}
	k.cpu(&hs, stats.CPU, cores)
	if memErr != nil {
		failf(&hs, "memory", "%v", memErr)
	} else {
		k.memory(&hs, stats, memTotal)
	}
	hs.Filesystem, hs.ImageFilesystem = stats.Filesystem, stats.ImageFilesystem
	if hs.Filesystem == nil {
		failf(&hs, "filesystem", "the kubelet summary has no figures of the node's filesystem (fs)")
	}
	k.network(&hs, stats)
	return &hs
}

// failf names a reading that failed in the sample.
func failf(hs *wire.HostSample, reading, format string, args ...any) {
	hs.Errors = append(hs.Errors, reading+": "+fmt.Sprintf(format, args...))
}

// nodeCores is the Node's status.capacity cpu as a count of logical cores.
func nodeCores(node *corev1.Node) (int, error) {
	if node == nil {
		return 0, fmt.Errorf("the Node is not in the agent's cache")
	}
	q, ok := node.Status.Capacity[corev1.ResourceCPU]
	if !ok {
		return 0, fmt.Errorf("the Node's status.capacity has no cpu")
	}
	// Bounds first: MilliValue of a huge quantity overflows.
	if q.Sign() <= 0 || q.CmpInt64(maxCores) > 0 {
		return 0, fmt.Errorf("the Node's status.capacity cpu %s is not between 1 and %d cores", q.String(), maxCores)
	}
	milli := q.MilliValue()
	if milli%1000 != 0 {
		return 0, fmt.Errorf("the Node's status.capacity cpu %s is not a whole number of cores", q.String())
	}
	return int(milli / 1000), nil
}

// nodeMemory is the Node's status.capacity memory in bytes.
func nodeMemory(node *corev1.Node) (uint64, error) {
	if node == nil {
		return 0, fmt.Errorf("the Node is not in the agent's cache")
	}
	q, ok := node.Status.Capacity[corev1.ResourceMemory]
	if !ok {
		return 0, fmt.Errorf("the Node's status.capacity has no memory")
	}
	if q.Sign() <= 0 || q.CmpInt64(usage.MaxValue) > 0 {
		return 0, fmt.Errorf("the Node's status.capacity memory %s cannot be a node's memory", q.String())
	}
	return uint64(q.Value()), nil //nolint:gosec // G115: 0 < q ≤ 2^62, checked above
}

func (k *Sampler) uptime(hs *wire.HostSample, stats *usage.NodeStats) *uint64 {
	switch boot := stats.BootTime; {
	case !boot.After(time.Unix(0, 0)):
		failf(hs, "uptime", "the kubelet summary gives no boot time (startTime)")
	case boot.After(stats.Read):
		failf(hs, "uptime", "the kubelet summary's boot time %s is after the read", boot.UTC().Format(time.RFC3339))
	default:
		return new(uint64(stats.Read.Sub(boot) / time.Second)) //nolint:gosec // G115: boot is before the read, so the duration is ≥ 0
	}
	return nil
}

// cpu sets the usage percent from the kubelet's nanocores and the Node's
// cores (0: unknown, already named in Errors).
func (k *Sampler) cpu(hs *wire.HostSample, c *usage.NodeCPU, cores int) {
	if c == nil || c.UsageNanoCores == nil {
		failf(hs, "cpu", "the kubelet summary has no CPU figure of the node (usageNanoCores)")
		return
	}
	if cores == 0 {
		return
	}
	inUse := float64(*c.UsageNanoCores) / 1e9
	pct := inUse / float64(cores) * 100
	if pct > 100*usage.CPUCapacitySlack {
		failf(hs, "cpu", "the kubelet summary has %.3g cores in use on a node of %d", inUse, cores)
		return
	}
	hs.CPU.UsagePercent = new(min(pct, 100))
}

// memory sets the memory figures from the summary and the Node's memory
// in bytes; all of them are left out when available cannot be told or is
// above the total.
func (k *Sampler) memory(hs *wire.HostSample, stats *usage.NodeStats, total uint64) {
	m := stats.Memory
	if m == nil || (m.AvailableBytes == nil && m.WorkingSetBytes == nil) {
		failf(hs, "memory", "the kubelet summary has no memory figures of the node (availableBytes, workingSetBytes)")
		return
	}
	var available uint64
	switch {
	case m.AvailableBytes != nil && *m.AvailableBytes <= total:
		available = *m.AvailableBytes
	case m.AvailableBytes == nil && *m.WorkingSetBytes <= total:
		available = total - *m.WorkingSetBytes
	default:
		failf(hs, "memory", "the kubelet summary's figures (available %s, working set %s bytes) do not fit the Node's capacity of %d bytes",
			orUnknown(m.AvailableBytes), orUnknown(m.WorkingSetBytes), total)
		return
	}
	used := total - available
	ms := &wire.MemorySample{TotalBytes: total, AvailableBytes: available, UsedBytes: used, UsedPercent: float64(used) / float64(total) * 100}
	if sw := stats.Swap; sw != nil && sw.SwapUsageBytes != nil {
		ms.SwapUsedBytes = new(*sw.SwapUsageBytes)
		if sw.SwapAvailableBytes != nil {
			// Both at most usage.MaxValue: the sum cannot overflow.
			ms.SwapTotalBytes = new(*sw.SwapUsageBytes + *sw.SwapAvailableBytes)
		}
	}
	hs.Memory = ms
}

func orUnknown(v *uint64) string {
	if v == nil {
		return "unknown"
	}
	return fmt.Sprint(*v)
}

func (k *Sampler) network(hs *wire.HostSample, stats *usage.NodeStats) {
	nw := stats.Network
	if nw == nil {
		failf(hs, "network", "the kubelet summary has no network figures of the node")
		return
	}
	valid := nw.Time.After(time.Unix(0, 0)) && !nw.Time.After(stats.Read.Add(usage.MaxClockSkew))
	prevAt, prevs := k.nics.at, k.nics.byName
	// A previous read counts only with a time before this one.
	ok := valid && prevs != nil && nw.Time.After(prevAt)
	secs := nw.Time.Sub(prevAt).Seconds()
	cur := make(map[string]usage.NodeInterface, len(nw.Interfaces))
	var counted []string
	for _, i := range nw.Interfaces {
		if i.RxBytes == nil || i.TxBytes == nil || !hostsample.CountedByName(k.opts.IncludeInterfaces, k.opts.ExcludeInterfaces, i.Name) {
			continue
		}
		cur[i.Name] = i
		counted = append(counted, i.Name)
		ni := wire.NetIface{Name: i.Name, RxBytes: *i.RxBytes, TxBytes: *i.TxBytes, RxErrors: i.RxErrors, TxErrors: i.TxErrors}
		if p, seen := prevs[i.Name]; ok && seen {
			// Both or neither: a counter that went down leaves both
			// unknown, as for a pod's traffic.
			rx, tx := hostsample.Rate(*p.RxBytes, *i.RxBytes, true, secs), hostsample.Rate(*p.TxBytes, *i.TxBytes, true, secs)
			if rx != nil && tx != nil {
				ni.RxBytesPerSec, ni.TxBytesPerSec = rx, tx
			}
		}
		hs.Network = append(hs.Network, ni)
	}
	slices.SortFunc(hs.Network, func(a, b wire.NetIface) int { return cmp.Compare(a.Name, b.Name) })
	if valid {
		k.nics = previousNICs{at: nw.Time, byName: cur}
	} else {
		// Counters without a valid time: no rate now, nor next time.
		k.nics = previousNICs{}
	}
	if !k.logged {
		k.logged = true
		slices.Sort(counted)
		k.logger.Info("Counting network interfaces by name: host figures come from the kubelet summary, with no /sys to ask",
			zap.Strings("counted", counted))
	}
}

// previousNICs are the interfaces' counters of the last summary read whose
// network time was valid, at that time; a nil map: none.
type previousNICs struct {
	at     time.Time
	byName map[string]usage.NodeInterface
}
