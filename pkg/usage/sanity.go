package usage

import (
	"fmt"
	"math"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/catops/cli/pkg/wire"
)

// A figure a source cannot vouch for makes its reading unknown: the node's
// or the pod's reading is left out of the Reading (as when metrics-server
// has none), never sent as zero, and the rejection is counted by reason
// (catops_usage_readings_rejected_total{source,reason}) and logged.
//
// The reasons, which are the metric's reason label:
const (
	// RejectMissing: a figure the reading is made of is absent: a pod
	// without containers, a container without its cpu or its memory, a
	// node without one of them. A pod's total is the sum of its
	// containers, so one container missing a figure leaves the total
	// unknown, not smaller.
	RejectMissing = "missing"
	// RejectDuplicate: the same pod, container or series twice in one
	// answer (which one is true cannot be told), or a container instance
	// older than one already seen (a stale leftover).
	RejectDuplicate = "duplicate"
	// RejectNonFinite: NaN or ±Inf.
	RejectNonFinite = "non_finite"
	// RejectNegative: usage below zero.
	RejectNegative = "negative"
	// RejectOutOfRange: above MaxValue, which no real counter or working
	// set comes near.
	RejectOutOfRange = "out_of_range"
	// RejectNoTimestamp: a zero timestamp, or one not after the Unix epoch.
	RejectNoTimestamp = "no_timestamp"
	// RejectFutureTimestamp: later than now plus the fetch timeout and
	// MaxClockSkew.
	RejectFutureTimestamp = "future_timestamp"
	// RejectBadWindow: a window of zero or less (for a CPU counter: its
	// time went back, or it changed value at the same instant).
	RejectBadWindow = "bad_window"
	// RejectCounterBackwards: a cumulative CPU counter went down within
	// one series (a restart is a new series, not this).
	RejectCounterBackwards = "counter_backwards"
	// RejectCPUAboveCapacity: more cores than the node has (see
	// CPUCapacitySlack).
	RejectCPUAboveCapacity = "cpu_above_capacity"
	// RejectMemoryAboveCapacity: more working set than the node's memory.
	RejectMemoryAboveCapacity = "memory_above_capacity"
	// RejectScrapeError: the kubelet says its answer is incomplete
	// (scrape_error or resource_scrape_error is 1).
	RejectScrapeError = "scrape_error"
)

// rejectReasons are all the reasons (see RejectReasons).
var rejectReasons = []string{
	RejectMissing, RejectDuplicate, RejectNonFinite, RejectNegative, RejectOutOfRange,
	RejectNoTimestamp, RejectFutureTimestamp, RejectBadWindow, RejectCounterBackwards,
	RejectCPUAboveCapacity, RejectMemoryAboveCapacity, RejectScrapeError,
}

// RejectReasons returns every reason a reading is rejected for, the Reject*
// constants: the values of Rejection.Reason, and the keys of
// Stats.Rejected.
func RejectReasons() []string { return slices.Clone(rejectReasons) }

// Bounds of what a reading can be.
const (
	// MaxValue bounds every figure taken (core-seconds, cores, bytes):
	// no real counter or working set comes near 2^62, so sums and int64
	// conversions cannot overflow.
	MaxValue = 1 << 62
	// MaxClockSkew is how far past now (plus the fetch timeout) a
	// timestamp may be. The Metrics API's timestamps come from this node's
	// kubelet, the kubelet's from this node's clock: only the time the
	// answer took is expected, the rest is margin.
	MaxClockSkew = time.Minute
	// CPUCapacitySlack is how far above the node's cores a CPU reading may
	// be before it is impossible: a rate is two counter samples divided by
	// the time between their timestamps, and the timestamps (milliseconds)
	// are taken a little apart from the counters, so a saturated node can
	// read a hair above its cores. 1% is far above that jitter and far
	// below a rate across two different series.
	CPUCapacitySlack = 1.01
)

// unixEpoch: a timestamp not after it is no timestamp.
var unixEpoch = time.Unix(0, 0)

// Rejection is a reading that a source read but cannot vouch for. It is
// absent from the Reading (unknown), and the Collector counts and logs it.
type Rejection struct {
	// Pod is the pod whose reading was rejected; the zero PodKey is the
	// node.
	Pod PodKey
	// Reason is one of the Reject* constants (the metric's reason label).
	Reason string
	// Detail says what was wrong, for the log (figures, never a payload).
	Detail string
}

func rejection(k PodKey, reason, detail string) Rejection {
	return Rejection{Pod: k, Reason: reason, Detail: detail}
}

// capacity is what this node can use at most, from its Node object: cores
// and memory bytes. A zero field is unknown: no bound.
type capacity struct {
	cores  float64
	memory int64
}

// nodeCapacity reads status.capacity (else status.allocatable) cpu and
// memory of n; n may be nil (not cached yet).
func nodeCapacity(n *corev1.Node) capacity {
	var c capacity
	if n == nil {
		return c
	}
	for _, l := range []corev1.ResourceList{n.Status.Capacity, n.Status.Allocatable} {
		if q, ok := l[corev1.ResourceCPU]; ok && c.cores == 0 && q.Sign() > 0 {
			if f := q.AsApproximateFloat64(); finite(f) {
				c.cores = f
			}
		}
		if q, ok := l[corev1.ResourceMemory]; ok && c.memory == 0 && q.Sign() > 0 && q.CmpInt64(MaxValue) <= 0 {
			c.memory = q.Value()
		}
	}
	return c
}

// Impossible says why u cannot be a reading whatever the node and the time
// ("" if it can be): it needs a timestamp after the epoch, a window above
// zero, and finite CPU cores and memory bytes in [0, MaxValue]. reason is
// a Reject* constant, detail the figures that are wrong, for the log.
func Impossible(u wire.ResourceUsage) (reason, detail string) {
	switch {
	case u.Timestamp.IsZero() || !u.Timestamp.After(unixEpoch):
		return RejectNoTimestamp, fmt.Sprintf("timestamp %s", u.Timestamp.Format(time.RFC3339))
	case !finite(u.WindowSeconds) || u.WindowSeconds <= 0:
		return RejectBadWindow, fmt.Sprintf("window %gs", u.WindowSeconds)
	case !finite(u.CPUCores):
		return RejectNonFinite, fmt.Sprintf("cpu %g cores", u.CPUCores)
	case u.CPUCores < 0 || u.MemoryBytes < 0:
		return RejectNegative, fmt.Sprintf("cpu %g cores, memory %d bytes", u.CPUCores, u.MemoryBytes)
	case u.CPUCores > MaxValue || u.MemoryBytes > MaxValue:
		return RejectOutOfRange, fmt.Sprintf("cpu %g cores, memory %d bytes", u.CPUCores, u.MemoryBytes)
	}
	return "", ""
}

// vouch says why u cannot be a reading of a node with capacity c taken no
// later than latest ("" if it can be): Impossible, then the timestamp not
// after latest, CPU not above c.cores (with CPUCapacitySlack) and memory
// not above c.memory, where those are known.
func vouch(u wire.ResourceUsage, c capacity, latest time.Time) (reason, detail string) {
	if reason, detail := Impossible(u); reason != "" {
		return reason, detail
	}
	switch {
	case u.Timestamp.After(latest):
		return RejectFutureTimestamp, fmt.Sprintf("timestamp %s is after %s", u.Timestamp.Format(time.RFC3339), latest.Format(time.RFC3339))
	case c.cores > 0 && u.CPUCores > c.cores*CPUCapacitySlack:
		return RejectCPUAboveCapacity, fmt.Sprintf("cpu %g cores on a node of %g cores", u.CPUCores, c.cores)
	case c.memory > 0 && u.MemoryBytes > c.memory:
		return RejectMemoryAboveCapacity, fmt.Sprintf("memory %d bytes on a node of %d bytes", u.MemoryBytes, c.memory)
	}
	return "", ""
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
