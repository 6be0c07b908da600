// Package hostsample reads the node's host figures (CPU, load, memory,
// filesystems, disk and network I/O, uptime) into wire.HostSample, through
// gopsutil v4 and the host's /proc, /sys, / and /dev as mounted in the
// agent's pod.
//
// # Host paths
//
// The DaemonSet mounts the node's directories read-only and passes their
// paths in Options (bound to HOST_PROC, HOST_SYS, HOST_ROOT and HOST_DEV):
//
//	/proc -> /host/proc   HOST_PROC  every figure except filesystem sizes
//	/     -> /host/root   HOST_ROOT  filesystem sizes (statfs); mount it with
//	                                 mountPropagation: HostToContainer
//	/sys  -> /host/sys    HOST_SYS   only the real name of /dev/root
//	/dev  -> /host/dev    HOST_DEV   optional: /dev/mapper/x -> /dev/dm-N
//
// The paths go to gopsutil in the context (common.EnvKey), not through the
// process environment. A bind mount of the host's procfs keeps the host's
// PID namespace, so <HOST_PROC>/1 is the host's init even without hostPID.
//
// # Which mount gives which figure
//
//	uptime_seconds        HOST_PROC/uptime (first field); if unreadable,
//	                      sysinfo(2), which is not namespaced in a pod
//	cpu.logical_cores     HOST_PROC/cpuinfo, "processor" lines (else the
//	                      cpuN lines of HOST_PROC/stat): the host's online
//	                      CPUs, not the pod's CPU limit or cpuset
//	cpu.usage_percent,    the "cpu" line of HOST_PROC/stat, as the change
//	cpu.modes             between two samples (see below)
//	load                  HOST_PROC/loadavg; if unreadable, sysinfo(2)
//	memory, swap          HOST_PROC/meminfo: MemTotal, MemAvailable
//	                      (used = total - available), SwapTotal, SwapFree
//	filesystems (which)   HOST_PROC/1/mountinfo, the host init's mount
//	                      table, whose mountpoints are the host's paths; if
//	                      unreadable, HOST_PROC/self/mountinfo (then
//	                      .../mounts), whose paths carry the HOST_ROOT
//	                      prefix, which is stripped. Types are kept when
//	                      HOST_PROC/filesystems lists them without "nodev".
//	                      /dev/root is named from HOST_SYS/dev/block/M:m,
//	                      /dev/mapper/x from the link HOST_DEV/mapper/x.
//	filesystems (sizes)   statfs(2) on HOST_ROOT + mountpoint: total =
//	                      blocks, free = blocks available to non-root,
//	                      used = blocks - free blocks (root's reserve is in
//	                      neither used nor free), used_percent = used /
//	                      (used + free), as df shows
//	disks                 HOST_PROC/diskstats (sectors of 512 bytes);
//	                      diskstats is not namespaced
//	network               HOST_PROC/1/net/dev, the host's network namespace.
//	                      HOST_PROC/net/dev is self/net/dev, the pod's own
//	                      namespace unless it uses hostNetwork; it is only
//	                      the fallback when PID 1's file is unreadable.
//
// Without HostToContainer propagation a filesystem mounted on the node after
// the pod started is not mounted under HOST_ROOT: statfs then measures the
// filesystem below the empty mountpoint directory, a wrong figure that no
// error reveals.
//
// # What is kept
//
// Filesystems: storage-backed ones only. Pseudo and virtual types (overlay,
// tmpfs, proc, sysfs, cgroup, devtmpfs, nsfs, autofs, …) and always-full
// images (squashfs, erofs, iso9660) are dropped, and so are network
// filesystems (nfs, cifs, ceph, fuse.*: not the node's disks, and statfs on a
// hung server would block), bind mounts are dropped by
// gopsutil, and each device is measured once, at its first mount in the
// table. Disks and interfaces: every one not matched by Options.ExcludeDisks
// / Options.ExcludeInterfaces (defaults DefaultExcludeDisks, which drops
// loop, ram and partitions, and DefaultExcludeInterfaces, which drops lo
// and CNI/runtime virtual devices). gopsutil leaves out disks whose
// counters are all zero.
//
// # Rates
//
// CPU percentages are of all cores (0–100) over the time between two
// samples: each mode's share of the change in all modes' time. Guest time
// is already inside user and nice. usage_percent is busy time, all modes
// except idle and iowait (100 - idle - iowait).
//
// Disk and network rates are counter changes divided by the elapsed seconds
// of Options.Now between the two readings. They are absent (null) on the
// first sample, for a device first seen, and when a counter went backwards
// (reset or 32-bit wrap): one sample without a rate rather than a negative
// or huge one.
//
// # Failures
//
// Each reading stands alone: when one fails (e.g. "load: …") it is named in
// HostSample.Errors, logged at debug level, and the others are still
// filled. A filesystem that cannot be statted is named on its own
// ("filesystem /mnt/x: …").
package hostsample
