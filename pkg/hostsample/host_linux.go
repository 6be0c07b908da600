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

// initialPIDNamespace is how <proc>/self/ns/pid reads in the initial PID
// namespace, the node's: PROC_PID_INIT_INO (0xEFFFFFFC) of the kernel's
// include/linux/proc_ns.h.
const initialPIDNamespace = "pid:[4026531836]"

// hostProcProblem says why hostProc does not give the node's figures, or
// returns "" when it does or that cannot be told.
//
// A procfs shows processes from its PID namespace down, and the NSpid line
// of <proc>/self/status lists this process's PID in each namespace from
// the procfs's own down to the process's: more than one PID means the
// procfs is an outer namespace's, the node's /proc mounted into the pod.
// One PID means it is this process's own namespace, which is the node's
// only when it is the initial one: the agent runs on the node itself or
// with hostPID. Without NSpid (kernels before 4.1) nothing is said.
func hostProcProblem(hostProc string) string {
	if _, err := os.Stat(hostProc); err != nil {
		return fmt.Sprintf("%v: the figures read from it fail; mount the node's /proc there, or unset HOST_PROC", err)
	}
	status, err := os.ReadFile(filepath.Join(hostProc, "self", "status")) //nolint:gosec // G304: reading the configured host procfs is the job
	if err != nil {
		return fmt.Sprintf("%v: it is not a procfs of this process's PID namespace or an outer one; mount the node's /proc there, or unset HOST_PROC", err)
	}
	pids := -1
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
			pids = len(strings.Fields(rest))
			break
		}
	}
	if pids != 1 {
		return ""
	}
	if ns, err := os.Readlink(filepath.Join(hostProc, "self", "ns", "pid")); err == nil && ns == initialPIDNamespace {
		return ""
	}
	return "it is this container's own /proc: the network interfaces and filesystems reported are the container's, not the node's " +
		"(CPU, memory, load, uptime and disk counters stay the kernel's node-wide ones unless the runtime virtualises them, as lxcfs does); " +
		"mount the node's /proc (e.g. at /host/proc) and set HOST_PROC"
}
