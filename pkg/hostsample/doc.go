// Package hostsample reads the node's host figures (CPU, load, memory,
// filesystems, disk and network I/O, uptime) into wire.HostSample, through
// gopsutil v4 and the host's /proc, /sys, / and /dev as mounted in the
// agent's pod: the Sampler, HostSample.Source "proc" (CATOPS_HOST_SOURCE=proc,
// the default).
//
// Where no host directory may be mounted, the kubelet sampler (pkg/hostsample/kubeletsample) builds the
// sample instead (HostSample.Source "kubelet", CATOPS_HOST_SOURCE=kubelet)
// from the node section of the kubelet summary that the kubelet usage source
// read (usage.NodeStats) and the cached Node's capacity; it reads nothing
// itself. It has fewer figures (no load, CPU modes, disks, mounted
// filesystems, packet or drop counters) and some mean a little else: see
// kubeletsample.Sampler.Sample and docs/host-metrics.md. The rest of this comment
// is the Sampler's.
//
// # Host paths
//
// The DaemonSet mounts the node's directories read-only and passes their
// paths in Options (bound to HOST_PROC, HOST_SYS, HOST_ROOT and HOST_DEV):
//
//	/proc -> /host/proc   HOST_PROC  every figure except filesystem sizes
//	/     -> /host/root   HOST_ROOT  filesystem sizes (statfs); mount it with
//	                                 mountPropagation: HostToContainer
//	/sys  -> /host/sys    HOST_SYS   which network interfaces are counted,
//	                                 and the real name of /dev/root
//	/dev  -> /host/dev    HOST_DEV   optional: /dev/mapper/x -> /dev/dm-N
//
// The paths go to gopsutil in the context (common.EnvKey), not through the
// process environment. A bind mount of the host's procfs keeps the host's
// PID namespace, so <HOST_PROC>/1 is the host's init even without hostPID.
//
// New checks HOST_PROC once and logs a warning when it is not the node's
// /proc: when it does not exist (the figures read from it fail), when it
// has no readable self/status (not a procfs), and when it is the
// container's own /proc. The last is told by the NSpid line of HOST_PROC/self/status, this
// process's PID in each PID namespace from the procfs's down to its own:
// one PID means the procfs is of the process's own namespace, which is the
// node's only if it is the initial one (HOST_PROC/self/ns/pid reads
// pid:[4026531836]: the agent runs on the node or with hostPID). The
// container's own /proc gives the container's network interfaces and
// mounts; CPU, memory, load, uptime and disk counters stay node-wide.
// Without an NSpid line (kernels before 4.1) nothing is said.
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
//	                      Which interfaces count: HOST_SYS/class/net (see
//	                      "Network interfaces" below).
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
// table. Disks: every one not matched by Options.ExcludeDisks (default
// DefaultExcludeDisks, which drops loop, ram and partitions). gopsutil
// leaves out disks whose counters are all zero.
//
// # Network interfaces
//
// The node's traffic is counted once, where it meets a device, whatever
// the CNI names its interfaces. What the kernel says of each interface of
// HOST_PROC/1/net/dev under HOST_SYS/class/net/<name> decides:
//
//   - Counted: devices backed by hardware, whose entry has a "device" link
//     to a parent on a bus: physical NICs, virtio-net and the other NICs of
//     a VM, SR-IOV VFs left in the node's namespace (their traffic is not
//     in the PF's counters). And bonds (a "bonding" directory).
//   - Left out: virtual devices, which have no "device" link and live
//     under /sys/devices/virtual/net: loopback, pod veths, bridges, Open
//     vSwitch, tunnels, dummy, ifb, team devices (their ports are counted
//     instead), and VLAN, macvlan and ipvlan devices (their traffic is in
//     their parent's counters).
//   - Left out: a device whose "master" is counted and is a bond or backed
//     by hardware, as that master's counters include it: a bond's ports, a
//     VF paired with Hyper-V netvsc (Azure accelerated networking). A port
//     of a bridge, OVS or a VRF stays counted: those count only what
//     reaches the node's own stack.
//   - Left out: VF and SF representors of an eswitch in switchdev mode
//     (phys_port_name [c<n>]pf<n>vf<n> or ...sf<n>): their traffic also
//     crosses the uplink. A VF moved into a pod is in the pod's namespace,
//     not in the node's net/dev.
//
// The name rule decides instead, every interface not matched by
// DefaultExcludeInterfaces being counted, when HOST_SYS cannot tell: when
// HOST_SYS/class/net does not exist; when it lacks an interface that
// net/dev still lists after a second read (not one deleted in between),
// i.e. it is another network namespace's, such as the container's own
// /sys, whose same-named entries (its eth0, a veth) are not the node's
// devices either; and when no interface is backed by hardware, as when the
// node is itself a container (kind, LXC). The rule in use is logged at the
// first network reading and whenever it changes, at warn level for the
// first two cases.
//
// Options.ExcludeInterfaces and Options.IncludeInterfaces (path.Match
// patterns) override either rule: an interface matched by an exclude
// pattern is never counted; one matched by an include pattern is counted,
// even a virtual device or a bond's port.
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
