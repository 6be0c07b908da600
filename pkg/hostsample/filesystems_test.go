package hostsample

import (
	"testing"

	"github.com/shirou/gopsutil/v4/disk"
	"github.com/stretchr/testify/assert"
)

func TestRealMounts(t *testing.T) {
	part := func(dev, mp, fstype string) disk.PartitionStat {
		return disk.PartitionStat{Device: dev, Mountpoint: mp, Fstype: fstype}
	}
	type want struct{ dev, mp, statPath string }
	tests := []struct {
		name     string
		parts    []disk.PartitionStat
		hostRoot string
		hostDev  string
		want     []want
	}{
		{
			name: "pseudo and network filesystems dropped",
			parts: []disk.PartitionStat{
				part("/dev/sda1", "/", "ext4"),
				part("overlay", "/var/lib/containerd/o/1/merged", "overlay"),
				part("tmpfs", "/run", "tmpfs"),
				part("proc", "/proc", "proc"),
				part("sysfs", "/sys", "sysfs"),
				part("cgroup2", "/sys/fs/cgroup", "cgroup2"),
				part("udev", "/dev", "devtmpfs"),
				part("/dev/loop3", "/snap/core/17", "squashfs"),
				part("nsfs", "/run/netns/cni-1", "nsfs"),
				part("systemd-1", "/proc/sys/fs/binfmt_misc", "autofs"),
				part("lxcfs", "/var/lib/lxcfs", "fuse.lxcfs"),
				part("none", "/mnt/none", "ext4"),
				part("/dev/nvme0n1p1", "/var/lib/kubelet", "xfs"),
				part("nfs.example:/export", "/var/lib/kubelet/pods/p/volumes/kubernetes.io~nfs/data", "nfs4"),
				part("//files/share", "/mnt/share", "cifs"),
				part("s3fs", "/mnt/bucket", "fuse.s3fs"),
			},
			hostRoot: "/", hostDev: "/dev",
			want: []want{
				{"/dev/sda1", "/", "/"},
				{"/dev/nvme0n1p1", "/var/lib/kubelet", "/var/lib/kubelet"},
			},
		},
		{
			name: "a device mounted twice is counted once, at its first mount",
			parts: []disk.PartitionStat{
				part("/dev/sda1", "/", "ext4"),
				part("/dev/sdb", "/var/lib/kubelet/plugins/csi/pv/globalmount", "ext4"),
				part("/dev/sdb", "/var/lib/kubelet/pods/p/volumes/csi/pv/mount", "ext4"),
				part("/dev/sda1", "/mnt/again", "ext4"),
			},
			hostRoot: "/host/root", hostDev: "/dev",
			want: []want{
				{"/dev/sda1", "/", "/host/root"},
				{"/dev/sdb", "/var/lib/kubelet/plugins/csi/pv/globalmount", "/host/root/var/lib/kubelet/plugins/csi/pv/globalmount"},
			},
		},
		{
			name: "the agent's own mount table: HOST_ROOT prefix stripped",
			parts: []disk.PartitionStat{
				part("/dev/sda1", "/host/root", "ext4"),
				part("/dev/sdb", "/host/root/data", "xfs"),
				part("/dev/sdc", "/host/rootfs", "xfs"),
			},
			hostRoot: "/host/root", hostDev: "/dev",
			want: []want{
				{"/dev/sda1", "/", "/host/root"},
				{"/dev/sdb", "/data", "/host/root/data"},
				{"/dev/sdc", "/host/rootfs", "/host/root/host/rootfs"},
			},
		},
		{
			name: "resolved device-mapper links lose the HOST_DEV prefix and dedupe",
			parts: []disk.PartitionStat{
				part("/host/dev/dm-0", "/", "xfs"),
				part("/dev/dm-0", "/srv", "xfs"),
			},
			hostRoot: "/", hostDev: "/host/dev",
			want: []want{{"/dev/dm-0", "/", "/"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []want
			for _, m := range realMounts(tt.parts, tt.hostRoot, tt.hostDev) {
				got = append(got, want{m.Device, m.Mountpoint, m.statPath})
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestHostView(t *testing.T) {
	tests := []struct{ prefix, hostDir, in, want string }{
		{"/", "/", "/var/lib", "/var/lib"},
		{"/host/root", "/", "/host/root", "/"},
		{"/host/root", "/", "/host/root/var/lib", "/var/lib"},
		{"/host/root", "/", "/var/lib", "/var/lib"},
		{"/host/root", "/", "/host/rootfs", "/host/rootfs"},
		{"/host/dev", "/dev", "/host/dev/dm-1", "/dev/dm-1"},
		{"/host/dev", "/dev", "/dev/sda", "/dev/sda"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, hostView(tt.prefix, tt.hostDir, tt.in), "%s under %s", tt.in, tt.prefix)
	}
}
