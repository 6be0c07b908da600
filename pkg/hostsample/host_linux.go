package hostsample

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/net"
)

// readUptime reads <hostProc>/uptime. The kernel's uptime is not
// namespaced in a pod, so host.Uptime (sysinfo(2)) gives the same figure;
// it is the fallback when the file cannot be read.
func readUptime(ctx context.Context, hostProc string) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(hostProc, "uptime")) //nolint:gosec // G304: reading the configured host procfs is the job
	if err != nil {
		return host.UptimeWithContext(ctx)
	}
	// "12345.67 98765.43": whole seconds up, then idle time.
	first, _, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
	whole, _, _ := strings.Cut(first, ".")
	secs, err := strconv.ParseUint(whole, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", filepath.Join(hostProc, "uptime"), err)
	}
	return secs, nil
}

// netCounters reads the interfaces of the host's network namespace from
// <hostProc>/1/net/dev. <hostProc>/net/dev, which gopsutil's IOCounters
// reads, is a link to self/net/dev: the namespace of the reading process,
// i.e. the pod's own interfaces unless the pod uses hostNetwork. PID 1 of
// the host's procfs is the host's init, in the host's namespace. When that
// file cannot be read (e.g. procfs mounted with hidepid) the fallback is
// <hostProc>/net/dev.
func netCounters(ctx context.Context, hostProc string) ([]net.IOCountersStat, error) {
	stats, err := net.IOCountersByFileWithContext(ctx, true, filepath.Join(hostProc, "1", "net", "dev"))
	if err == nil {
		return stats, nil
	}
	return net.IOCountersWithContext(ctx, true)
}
