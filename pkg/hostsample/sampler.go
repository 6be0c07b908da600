package hostsample

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/mem"
	"github.com/shirou/gopsutil/v4/net"
	"go.uber.org/zap"

	"github.com/catops/cli/pkg/wire"
)

// Sampler reads the node's host figures. Rates need the previous reading,
// so a Sampler keeps it between calls; Sample serialises concurrent calls.
type Sampler struct {
	opts   Options
	logger *zap.Logger

	mu        sync.Mutex
	prevCPU   *cpu.TimesStat
	disks     previous[disk.IOCountersStat]
	nics      previous[net.IOCountersStat]
	ifaceRule ifaceRule // of the last sample, to log a change once
}

// previous holds the counters of the last successful reading of one kind
// and when it was taken.
type previous[T any] struct {
	at     time.Time
	byName map[string]T
}

// New returns a Sampler. Empty options take their defaults (see Options).
// When HostProc does not look like the node's /proc (the container's own,
// or missing), New logs a warning saying so: it is read all the same.
func New(opts Options, logger *zap.Logger) *Sampler {
	if logger == nil {
		logger = zap.NewNop()
	}
	s := &Sampler{opts: opts.withDefaults(), logger: logger}
	if problem := hostProcProblem(s.opts.HostProc); problem != "" {
		logger.Warn("Host figures may not be the node's: HOST_PROC is not the node's /proc",
			zap.String("hostProc", s.opts.HostProc), zap.String("reason", problem))
	}
	return s
}

// Sample reads every figure once. A reading that fails is named in
// HostSample.Errors and the rest of the sample is still filled. Rates are
// absent on the first call and whenever a counter went backwards.
func (s *Sampler) Sample(ctx context.Context) wire.HostSample {
	s.mu.Lock()
	defer s.mu.Unlock()

	ctx = s.opts.withHostPaths(ctx)
	now := s.opts.Now()
	// The figures this source always writes, as 0 when their reading
	// fails (named in Errors), start at 0.
	hs := wire.HostSample{Source: wire.HostSourceProc, Time: now.UTC(), UptimeSeconds: new(uint64(0)),
		CPU: wire.CPUSample{LogicalCores: new(0)}, Memory: &wire.MemorySample{SwapTotalBytes: new(uint64(0)), SwapUsedBytes: new(uint64(0))}}

	if up, err := readUptime(ctx, s.opts.HostProc); err != nil {
		s.fail(&hs, "uptime", err)
	} else {
		*hs.UptimeSeconds = up
	}
	s.sampleCPU(ctx, &hs)
	if avg, err := load.AvgWithContext(ctx); err != nil {
		s.fail(&hs, "load", err)
	} else {
		hs.Load = &wire.LoadSample{Load1: avg.Load1, Load5: avg.Load5, Load15: avg.Load15}
	}
	s.sampleMemory(ctx, &hs)
	s.sampleFilesystems(ctx, &hs)
	s.sampleDisks(ctx, now, &hs)
	s.sampleNetwork(ctx, now, &hs)
	return hs
}

// fail records a failed reading in the sample and logs it at debug level:
// a host without, say, swap accounting fails the same way every interval.
func (s *Sampler) fail(hs *wire.HostSample, reading string, err error) {
	hs.Errors = append(hs.Errors, fmt.Sprintf("%s: %v", reading, err))
	s.logger.Debug("Host reading failed", zap.String("reading", reading), zap.NamedError("err", err))
}

func (s *Sampler) sampleCPU(ctx context.Context, hs *wire.HostSample) {
	if n, err := cpu.CountsWithContext(ctx, true); err != nil {
		s.fail(hs, "cpu cores", err)
	} else {
		*hs.CPU.LogicalCores = n
	}

	times, err := cpu.TimesWithContext(ctx, false)
	if err == nil && len(times) == 0 {
		// gopsutil returns nothing, and no error, when /proc/stat is
		// unreadable.
		err = errors.New("no CPU line in " + s.opts.HostProc + "/stat")
	}
	if err != nil {
		s.fail(hs, "cpu", err)
		return
	}
	cur := times[0]
	if s.prevCPU != nil {
		hs.CPU.UsagePercent, hs.CPU.Modes = cpuPercent(*s.prevCPU, cur)
	}
	s.prevCPU = &cur
}

func (s *Sampler) sampleMemory(ctx context.Context, hs *wire.HostSample) {
	vm, err := mem.VirtualMemoryWithContext(ctx)
	if err != nil {
		s.fail(hs, "memory", err)
		return
	}
	// Swap comes from the same meminfo read rather than mem.SwapMemory,
	// which takes total/free from sysinfo(2) and also needs /proc/vmstat.
	hs.Memory = &wire.MemorySample{
		TotalBytes:     vm.Total,
		AvailableBytes: vm.Available,
		UsedBytes:      vm.Used,
		UsedPercent:    finite(vm.UsedPercent),
		SwapTotalBytes: new(vm.SwapTotal),
		SwapUsedBytes:  new(vm.SwapTotal - min(vm.SwapFree, vm.SwapTotal)),
	}
}

// finite maps NaN and ±Inf (a zero total in a broken meminfo) to 0: JSON has
// no encoding for them, and one bad figure must not lose the whole sample.
func finite(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}
