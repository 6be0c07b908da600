package usage

import (
	"math"
	"slices"

	"github.com/catops/cli/pkg/wire"
)

// The precision of the figures the Collector ships (docs/protocol.md): finer
// digits than these are noise of the division that made the figure (a
// counter's difference over a window measured in nanoseconds), and they
// are what gzip cannot compress (a float64 prints with up to 17 digits).
const (
	// cpuCoresStep is a microcore: 1e-6 cores.
	cpuCoresStep = 1e-6
	// secondsStep is a millisecond, for windows and throttled time.
	secondsStep = 1e-3
	// rateStep is a tenth of a byte per second: a counter of bytes read
	// twice 10 s apart moves by at least that much.
	rateStep = 0.1
)

// round is v to the nearest multiple of step, given as its inverse
// (1/step) so that the result is the float64 nearest to a short decimal
// (JSON prints it in as few digits as the step has decimals).
func round(v, inverse float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	return math.Round(v*inverse) / inverse
}

// roundReading puts u's figures to the shipped precision. What it changes
// behind a pointer or in a slice (containers, throttling, network) it
// copies first: the source's reading is left as it was.
func roundReading(u *wire.ResourceUsage) {
	u.CPUCores = round(u.CPUCores, 1/cpuCoresStep)
	u.WindowSeconds = round(u.WindowSeconds, 1/secondsStep)
	if u.Containers != nil {
		u.Containers = slices.Clone(u.Containers)
	}
	for i := range u.Containers {
		c := &u.Containers[i]
		c.CPUCores = round(c.CPUCores, 1/cpuCoresStep)
		if c.Throttling != nil {
			t := RoundThrottling(*c.Throttling)
			c.Throttling = &t
		}
	}
	if u.Network != nil {
		n := *u.Network
		n.RxBytesPerSec = roundPtr(n.RxBytesPerSec, 1/rateStep)
		n.TxBytesPerSec = roundPtr(n.TxBytesPerSec, 1/rateStep)
		u.Network = &n
	}
}

// RoundThrottling is t with its throttled time and window to the shipped
// precision, a millisecond: for the Collector's sources and for a reader
// that adds throttling after it (pkg/usage/cgroup).
func RoundThrottling(t wire.CPUThrottling) wire.CPUThrottling {
	t.ThrottledSeconds = round(t.ThrottledSeconds, 1/secondsStep)
	t.WindowSeconds = round(t.WindowSeconds, 1/secondsStep)
	return t
}

func roundPtr(v *float64, inverse float64) *float64 {
	if v == nil {
		return nil
	}
	r := round(*v, inverse)
	return &r
}
