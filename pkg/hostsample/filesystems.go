package hostsample

import (
	"context"
	"path/filepath"
	"strings"

	"github.com/shirou/gopsutil/v4/disk"

	"github.com/catops/cli/pkg/wire"
)

// pseudoFSTypes are filesystems with no storage of their own, or read-only
// images that are always full. gopsutil already drops the "nodev" types of
// /proc/filesystems; this list also covers the fallback to /proc/<pid>/mounts
// and FUSE subtypes.
var pseudoFSTypes = map[string]bool{
	"overlay": true, "aufs": true, "tmpfs": true, "ramfs": true,
	"devtmpfs": true, "devpts": true, "proc": true, "sysfs": true,
	"cgroup": true, "cgroup2": true, "nsfs": true, "autofs": true,
	"mqueue": true, "debugfs": true, "tracefs": true, "securityfs": true,
	"pstore": true, "bpf": true, "hugetlbfs": true, "fusectl": true,
	"binfmt_misc": true, "configfs": true, "efivarfs": true, "selinuxfs": true,
	"rpc_pipefs": true, "nfsd": true, "fuse.lxcfs": true,
	"squashfs": true, "erofs": true, "iso9660": true,
}

// networkFSTypes are left out: they are not the node's disks, every pod
// volume of that kind would be listed, and statfs on a hung server blocks
// with no timeout, which would stall the collection loop.
var networkFSTypes = map[string]bool{
	"nfs": true, "nfs4": true, "cifs": true, "smb3": true, "smbfs": true,
	"ceph": true, "glusterfs": true, "9p": true, "afs": true, "lustre": true,
}

func isNetworkFS(fstype string) bool {
	return networkFSTypes[fstype] || strings.HasPrefix(fstype, "fuse.")
}

// mount is a filesystem to measure: where the host has it, and the path
// through which this process reaches it.
type mount struct {
	disk.PartitionStat
	statPath string
}

// realMounts keeps the storage-backed filesystems of parts, each device
// once (bind mounts and a filesystem mounted twice share their device; the
// first mount in the table wins). Mountpoints and devices are rewritten as
// the host sees them, and statPath is the mountpoint under hostRoot.
func realMounts(parts []disk.PartitionStat, hostRoot, hostDev string) []mount {
	seen := make(map[string]bool, len(parts))
	out := make([]mount, 0, len(parts))
	for _, p := range parts {
		if pseudoFSTypes[p.Fstype] || isNetworkFS(p.Fstype) || p.Device == "" || p.Device == "none" {
			continue
		}
		p.Device = hostView(hostDev, "/dev", p.Device)
		if seen[p.Device] {
			continue
		}
		seen[p.Device] = true
		p.Mountpoint = hostView(hostRoot, "/", p.Mountpoint)
		out = append(out, mount{PartitionStat: p, statPath: filepath.Join(hostRoot, p.Mountpoint)})
	}
	return out
}

// hostView rewrites p, a path under prefix (where a host directory is
// mounted in this process), to the same path under hostDir. A path outside
// prefix is already the host's and is returned unchanged.
//
// Mountpoints read from the host's PID 1 (<HOST_PROC>/1/mountinfo) are
// already host paths; those from the fallback, this process's own
// mountinfo, carry the HOST_ROOT prefix.
func hostView(prefix, hostDir, p string) string {
	if prefix == hostDir {
		return p
	}
	if p == prefix {
		return hostDir
	}
	if rest, ok := strings.CutPrefix(p, prefix+"/"); ok {
		return filepath.Join(hostDir, rest)
	}
	return p
}

func (s *Sampler) sampleFilesystems(ctx context.Context, hs *wire.HostSample) {
	parts, err := disk.PartitionsWithContext(ctx, false)
	if err != nil {
		s.fail(hs, "filesystems", err)
		return
	}
	for _, m := range realMounts(parts, s.opts.HostRoot, s.opts.HostDev) {
		u, err := disk.UsageWithContext(ctx, m.statPath)
		if err != nil {
			s.fail(hs, "filesystem "+m.Mountpoint, err)
			continue
		}
		hs.Filesystems = append(hs.Filesystems, wire.Filesystem{
			Mountpoint:  m.Mountpoint,
			Device:      m.Device,
			FSType:      m.Fstype,
			TotalBytes:  u.Total,
			UsedBytes:   u.Used,
			FreeBytes:   u.Free,
			UsedPercent: u.UsedPercent,
			InodesTotal: u.InodesTotal,
			InodesUsed:  u.InodesUsed,
		})
	}
}
