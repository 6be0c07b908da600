//go:build !linux

package hostsample

import (
	"context"

	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/net"
)

// readUptime asks the OS; there is no host /proc to read off Linux.
func readUptime(ctx context.Context, _ string) (uint64, error) {
	return host.UptimeWithContext(ctx)
}

// netCounters reads the counters of every interface.
func netCounters(ctx context.Context, _ string) ([]net.IOCountersStat, error) {
	return net.IOCountersWithContext(ctx, true)
}

// hostProcProblem says nothing: there is no procfs off Linux.
func hostProcProblem(string) string { return "" }
