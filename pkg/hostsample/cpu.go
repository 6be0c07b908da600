package hostsample

import (
	"github.com/shirou/gopsutil/v4/cpu"

	"github.com/catops/cli/pkg/wire"
)

// cpuPercent turns two readings of the total ("cpu") line of /proc/stat into
// percentages of all cores over the time between them.
//
// The modes are user, nice, system, idle, iowait, irq, softirq and steal;
// guest and guest_nice are already inside user and nice, so they are not
// added again. The modes sum to 100. Usage is busy time, every mode except
// idle and iowait: 100 - idle - iowait.
//
// A mode whose counter went backwards counts as zero (the kernel's iowait
// can, on tickless CPUs). When the sum of the counters went backwards or
// did not move, the counters were reset or no time passed: no percentages.
func cpuPercent(prev, cur cpu.TimesStat) (*float64, *wire.CPUModeTime) {
	if modeSum(cur) <= modeSum(prev) {
		return nil, nil
	}
	d := wire.CPUModeTime{
		User:    delta(prev.User, cur.User),
		Nice:    delta(prev.Nice, cur.Nice),
		System:  delta(prev.System, cur.System),
		Idle:    delta(prev.Idle, cur.Idle),
		IOWait:  delta(prev.Iowait, cur.Iowait),
		IRQ:     delta(prev.Irq, cur.Irq),
		SoftIRQ: delta(prev.Softirq, cur.Softirq),
		Steal:   delta(prev.Steal, cur.Steal),
	}
	busy := d.User + d.Nice + d.System + d.IRQ + d.SoftIRQ + d.Steal
	total := busy + d.Idle + d.IOWait
	if total <= 0 {
		return nil, nil
	}
	pct := func(v float64) float64 { return v / total * 100 }
	usage := pct(busy)
	return &usage, &wire.CPUModeTime{
		User:    pct(d.User),
		Nice:    pct(d.Nice),
		System:  pct(d.System),
		Idle:    pct(d.Idle),
		IOWait:  pct(d.IOWait),
		IRQ:     pct(d.IRQ),
		SoftIRQ: pct(d.SoftIRQ),
		Steal:   pct(d.Steal),
	}
}

// modeSum is all CPU time in t, guest time counted once.
func modeSum(t cpu.TimesStat) float64 {
	return t.User + t.Nice + t.System + t.Idle + t.Iowait + t.Irq + t.Softirq + t.Steal
}

func delta(prev, cur float64) float64 {
	return max(cur-prev, 0)
}
