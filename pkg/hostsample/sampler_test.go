package hostsample

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/catops/cli/pkg/wire"
)

// onlineCPUs counts the CPUs in /sys/devices/system/cpu/online ("0-3,6"),
// a source independent of the /proc/cpuinfo the sampler reads.
func onlineCPUs(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		t.Skipf("no CPU list to compare with: %v", err)
	}
	n := 0
	for r := range strings.SplitSeq(strings.TrimSpace(string(b)), ",") {
		lo, hi, isRange := strings.Cut(r, "-")
		a, err := strconv.Atoi(lo)
		require.NoError(t, err)
		z := a
		if isRange {
			z, err = strconv.Atoi(hi)
			require.NoError(t, err)
		}
		n += z - a + 1
	}
	return n
}

// readingErrors returns the whole-reading failures in errs, leaving out
// single filesystems that this machine may not let us stat.
func readingErrors(errs []string) []string {
	var out []string
	for _, e := range errs {
		if !strings.HasPrefix(e, "filesystem ") {
			out = append(out, e)
		}
	}
	return out
}

func TestSampleRealHost(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the agent runs on Linux nodes")
	}
	s := New(NewOptions(), zaptest.NewLogger(t))
	ctx := context.Background()

	first := s.Sample(ctx)
	require.Empty(t, readingErrors(first.Errors))
	assert.WithinDuration(t, time.Now(), first.Time, time.Minute)
	require.NotNil(t, first.UptimeSeconds)
	assert.Positive(t, *first.UptimeSeconds)
	require.NotNil(t, first.CPU.LogicalCores)
	assert.Equal(t, onlineCPUs(t), *first.CPU.LogicalCores)
	assert.GreaterOrEqual(t, *first.CPU.LogicalCores, runtime.NumCPU())
	assert.Nil(t, first.CPU.UsagePercent, "no CPU usage without a previous sample")
	assert.Nil(t, first.CPU.Modes)
	require.NotNil(t, first.Load)
	assert.GreaterOrEqual(t, first.Load.Load1, 0.0)

	require.NotNil(t, first.Memory)
	m := first.Memory
	assert.Positive(t, m.TotalBytes)
	assert.LessOrEqual(t, m.AvailableBytes, m.TotalBytes)
	assert.Equal(t, m.TotalBytes-m.AvailableBytes, m.UsedBytes)
	assert.InDelta(t, 50, m.UsedPercent, 50)
	require.NotNil(t, m.SwapUsedBytes)
	require.NotNil(t, m.SwapTotalBytes)
	assert.LessOrEqual(t, *m.SwapUsedBytes, *m.SwapTotalBytes)

	devices := map[string]bool{}
	for _, fs := range first.Filesystems {
		assert.False(t, pseudoFSTypes[fs.FSType], "pseudo filesystem %+v", fs)
		assert.False(t, devices[fs.Device], "device %s counted twice", fs.Device)
		devices[fs.Device] = true
		assert.Positive(t, fs.TotalBytes, fs.Mountpoint)
		assert.InDelta(t, 50, fs.UsedPercent, 50, fs.Mountpoint)
		assert.LessOrEqual(t, fs.InodesUsed, fs.InodesTotal, fs.Mountpoint)
	}
	for _, d := range first.Disks {
		assert.Nil(t, d.ReadBytesPerSec, d.Name)
		assert.False(t, matchAny(DefaultExcludeDisks, d.Name), d.Name)
	}
	for _, n := range first.Network {
		assert.Nil(t, n.RxBytesPerSec, n.Name)
		assert.NotEqual(t, "lo", n.Name)
	}

	// Let the CPU counters (USER_HZ ticks) move.
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
		runtime.Gosched()
	}
	second := s.Sample(ctx)
	require.Empty(t, readingErrors(second.Errors))
	require.NotNil(t, second.CPU.UsagePercent)
	assert.InDelta(t, 50, *second.CPU.UsagePercent, 50)
	require.NotNil(t, second.CPU.Modes)
	assertModes(t, *second.CPU.Modes)
	assert.Positive(t, *second.CPU.UsagePercent, "the busy loop used CPU")

	for _, d := range second.Disks {
		for _, r := range []*float64{d.ReadBytesPerSec, d.WriteBytesPerSec, d.ReadOpsPerSec, d.WriteOpsPerSec} {
			require.NotNil(t, r, d.Name)
			assert.GreaterOrEqual(t, *r, 0.0, d.Name)
		}
	}
	for _, n := range second.Network {
		for _, r := range []*float64{n.RxBytesPerSec, n.TxBytesPerSec} {
			require.NotNil(t, r, n.Name)
			assert.GreaterOrEqual(t, *r, 0.0, n.Name)
		}
	}
}

// assertModes checks that every mode is a percentage and that they sum to
// 100 with usage = 100 - idle - iowait.
func assertModes(t *testing.T, m wire.CPUModeTime) {
	t.Helper()
	all := []float64{m.User, m.Nice, m.System, m.Idle, m.IOWait, m.IRQ, m.SoftIRQ, m.Steal}
	sum := 0.0
	for _, v := range all {
		assert.InDelta(t, 50, v, 50)
		sum += v
	}
	assert.InDelta(t, 100, sum, 1e-9)
}

func BenchmarkSample(b *testing.B) {
	s := New(NewOptions(), nil)
	ctx := context.Background()
	s.Sample(ctx)
	b.ReportAllocs()
	for b.Loop() {
		hs := s.Sample(ctx)
		if len(readingErrors(hs.Errors)) > 0 {
			b.Fatal(hs.Errors)
		}
	}
}
