//go:build linux

package hostsample

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/catops/cli/pkg/wire"
)

// fakeHost is a fake node: its /proc, /sys, / and /dev under one temporary
// directory, and a clock the test moves.
type fakeHost struct {
	t    *testing.T
	dir  string
	now  time.Time
	opts Options
}

func newHost(t *testing.T) *fakeHost {
	t.Helper()
	// Resolve the temporary directory so that gopsutil's EvalSymlinks of
	// /dev/mapper links returns paths under the same prefix.
	dir, err := filepath.EvalSymlinks(t.TempDir())
	require.NoError(t, err)
	h := &fakeHost{t: t, dir: dir, now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	h.opts = Options{
		HostProc: filepath.Join(dir, "proc"),
		HostSys:  filepath.Join(dir, "sys"),
		HostRoot: filepath.Join(dir, "root"),
		HostDev:  filepath.Join(dir, "dev"),
		Now:      func() time.Time { return h.now },
	}
	h.write(map[string]string{
		"proc/cpuinfo": "processor\t: 0\nmodel name\t: Fake\n\nprocessor\t: 1\n\nprocessor\t: 2\n\nprocessor\t: 3\n",
		"proc/filesystems": "nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\n\text4\n\txfs\n" +
			"nodev\toverlay\n\tsquashfs\n",
		"proc/1/mountinfo": "22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n" +
			"23 22 0:21 / /proc rw,relatime - proc proc rw\n" +
			"24 22 0:22 / /run rw,nosuid - tmpfs tmpfs rw,size=1024k\n" +
			"25 22 253:0 / /data rw,relatime - xfs /dev/mapper/vg-data rw\n" +
			// A bind of a directory: gopsutil drops it.
			"26 22 8:1 /var/lib/docker /var/lib/docker rw - ext4 /dev/sda1 rw\n" +
			// The same filesystem mounted again, as a CSI volume is in a pod.
			"27 22 253:0 / /var/lib/kubelet/pods/p/volumes/v rw - xfs /dev/mapper/vg-data rw\n" +
			"28 22 7:0 / /snap/core/1 ro - squashfs /dev/loop0 ro\n" +
			"29 22 0:30 / /run/containerd/rootfs rw - overlay overlay rw,lowerdir=/a\n",
		// The pod's own network namespace, which must not be read.
		"proc/net/dev": netDev("  eth0: 1 1 0 0 0 0 0 0 1 1 0 0 0 0 0 0"),
		// This process as the node's /proc shows it: PID 4242 there, 1 in
		// its own namespace.
		"proc/4242/status": "Name:\tcatops-k8s\nNSpid:\t4242\t1\n",
		"root/data/.keep":  "",
		"dev/dm-0":         "",
	})
	require.NoError(t, os.Symlink("4242", filepath.Join(dir, "proc", "self")))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "dev", "mapper"), 0o755))
	require.NoError(t, os.Symlink("../dm-0", filepath.Join(dir, "dev", "mapper", "vg-data")))
	h.netClass(
		sysNet{name: "lo", kind: "772"},
		sysNet{name: "eth0", device: "pci0000:00/0000:00:03.0/virtio0"},
		sysNet{name: "ens5", device: "pci0000:00/0000:00:05.0"},
		sysNet{name: "veth1a2b"},
		sysNet{name: "cali99"},
	)
	return h
}

// sysNet is one interface of the fake /sys/class/net.
type sysNet struct {
	name string
	// device is the parent device under /sys/devices, e.g.
	// "pci0000:00/0000:00:03.0"; empty: a virtual device, under
	// /sys/devices/virtual/net.
	device string
	kind   string // ARPHRD type; empty: 1 (Ethernet)
	bond   bool   // a bonding master
	master string // the bond, bridge or OVS datapath it is enslaved to
	lower  string // the device it is stacked on (a VLAN's parent)
	// portName is phys_port_name; physfn the PF of a VF, under
	// /sys/devices.
	portName, physfn string
}

// dir is where the kernel puts the interface's directory, relative to
// /sys.
func (d sysNet) dir() string {
	if d.device == "" {
		return filepath.Join("devices", "virtual", "net", d.name)
	}
	return filepath.Join("devices", d.device, "net", d.name)
}

// netClass lays out /sys/class/net as the kernel does: each entry a link
// to the device's directory (../../devices/.../net/<name>), in which
// "device" links to the parent device, and master, upper_<x> and lower_<x>
// link stacked devices to each other.
func (h *fakeHost) netClass(devs ...sysNet) {
	h.t.Helper()
	sys := filepath.Join(h.dir, "sys")
	byName := map[string]sysNet{}
	link := func(target, at string) {
		rel, err := filepath.Rel(filepath.Dir(at), target)
		require.NoError(h.t, err)
		require.NoError(h.t, os.Symlink(rel, at))
	}
	for _, d := range devs {
		byName[d.name] = d
		dir := filepath.Join(sys, d.dir())
		kind := d.kind
		if kind == "" {
			kind = "1"
		}
		files := map[string]string{
			filepath.Join("sys", d.dir(), "type"):   kind + "\n",
			filepath.Join("sys", d.dir(), "uevent"): "INTERFACE=" + d.name + "\n",
		}
		if d.portName != "" {
			files[filepath.Join("sys", d.dir(), "phys_port_name")] = d.portName + "\n"
		}
		h.write(files)
		require.NoError(h.t, os.MkdirAll(filepath.Join(sys, "class", "net"), 0o755))
		link(dir, filepath.Join(sys, "class", "net", d.name))
		if d.device != "" {
			link(filepath.Join(sys, "devices", d.device), filepath.Join(dir, "device"))
		}
		if d.physfn != "" {
			link(filepath.Join(sys, "devices", d.physfn), filepath.Join(sys, "devices", d.device, "physfn"))
		}
		if d.bond {
			require.NoError(h.t, os.MkdirAll(filepath.Join(dir, "bonding"), 0o755))
		}
	}
	for _, d := range devs {
		dir := filepath.Join(sys, d.dir())
		if d.master != "" {
			m := filepath.Join(sys, byName[d.master].dir())
			link(m, filepath.Join(dir, "master"))
			link(m, filepath.Join(dir, "upper_"+d.master))
			link(dir, filepath.Join(m, "lower_"+d.name))
			if byName[d.master].bond {
				require.NoError(h.t, os.MkdirAll(filepath.Join(dir, "bonding_slave"), 0o755))
			}
		}
		if d.lower != "" {
			l := filepath.Join(sys, byName[d.lower].dir())
			link(l, filepath.Join(dir, "lower_"+d.lower))
			link(dir, filepath.Join(l, "upper_"+d.name))
		}
	}
}

// dropNetClass removes /sys/class/net and the devices behind it.
func (h *fakeHost) dropNetClass() {
	h.t.Helper()
	require.NoError(h.t, os.RemoveAll(filepath.Join(h.dir, "sys", "class")))
	require.NoError(h.t, os.RemoveAll(filepath.Join(h.dir, "sys", "devices")))
}

func (h *fakeHost) write(files map[string]string) {
	h.t.Helper()
	for name, content := range files {
		p := filepath.Join(h.dir, name)
		require.NoError(h.t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(h.t, os.WriteFile(p, []byte(content), 0o644))
	}
}

// state writes the counters that change between samples.
func (h *fakeHost) state(stat, uptime, diskstats, netdev string) {
	h.t.Helper()
	h.write(map[string]string{
		"proc/stat":      stat + "\ncpu0 1 2 3 4 5 6 7 8 0 0\nbtime 1700000000\n",
		"proc/uptime":    uptime,
		"proc/diskstats": diskstats,
		"proc/1/net/dev": netdev,
		"proc/loadavg":   "0.50 1.25 2.00 3/456 7890\n",
		"proc/meminfo": "MemTotal:       16384000 kB\nMemFree:         1000000 kB\n" +
			"MemAvailable:   12288000 kB\nBuffers:          100000 kB\nCached:          2000000 kB\n" +
			"SwapTotal:       2048000 kB\nSwapFree:        1536000 kB\n",
	})
}

func netDev(lines ...string) string {
	s := "Inter-|   Receive                                                |  Transmit\n" +
		" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n"
	for _, l := range lines {
		s += l + "\n"
	}
	return s
}

// The first state of the fake node. Guest time (30) is inside user.
func (h *fakeHost) first() {
	h.state(
		"cpu  1000 100 500 8000 200 50 50 100 30 0",
		"12345.67 40000.00\n",
		"   8       0 sda 1000 10 20000 300 500 5 10000 200 0 400 500 0 0 0 0 0 0\n"+
			"   8       1 sda1 900 10 18000 300 400 5 9000 200 0 400 500 0 0 0 0 0 0\n"+
			"   7       0 loop0 5 0 10 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"+
			" 253       0 dm-0 4000 0 80000 10 3000 0 60000 10 0 20 20 0 0 0 0 0 0\n",
		netDev(
			"    lo:    5000      50    0    0    0     0          0         0     5000      50    0    0    0     0       0          0",
			"  eth0: 1000000    1000    1    2    0     0          0         0   500000     800    3    4    0     0       0          0",
			"  ens5:  700000     700    0    0    0     0          0         0   300000     300    0    0    0     0       0          0",
			"veth1a2b: 10 1 0 0 0 0 0 0 10 1 0 0 0 0 0 0",
			"cali99: 10 1 0 0 0 0 0 0 10 1 0 0 0 0 0 0",
		),
	)
}

// The second state, 10 s later. CPU: every mode moved, 2000 ticks in all
// (guest +60 inside user). sda: +100 reads, +200 writes, +20480 sectors
// each way. dm-0: its read counters were reset. eth0: +1250000 / +500000
// bytes. ens5: receive counter reset.
func (h *fakeHost) second() {
	h.now = h.now.Add(10 * time.Second)
	h.state(
		"cpu  1600 200 800 8800 300 90 90 120 90 0",
		"12355.67 40019.00\n",
		"   8       0 sda 1100 10 40480 300 700 5 30480 200 0 400 500 0 0 0 0 0 0\n"+
			"   8       1 sda1 950 10 19000 300 450 5 9500 200 0 400 500 0 0 0 0 0 0\n"+
			"   7       0 loop0 5 0 10 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"+
			" 253       0 dm-0 10 0 160 10 3100 0 62048 10 0 20 20 0 0 0 0 0 0\n",
		netDev(
			"    lo:    9000      90    0    0    0     0          0         0     9000      90    0    0    0     0       0          0",
			"  eth0: 2250000    2000    1    2    0     0          0         0  1000000    1600    3    4    0     0       0          0",
			"  ens5:     100       1    0    0    0     0          0         0   400000     400    0    0    0     0       0          0",
			"veth1a2b: 20 2 0 0 0 0 0 0 20 2 0 0 0 0 0 0",
			"cali99: 20 2 0 0 0 0 0 0 20 2 0 0 0 0 0 0",
		),
	)
}

func TestSampleReadsHostPaths(t *testing.T) {
	h := newHost(t)
	s := New(h.opts, zap.NewNop())
	ctx := context.Background()

	h.first()
	first := s.Sample(ctx)
	require.Empty(t, first.Errors)
	assert.Equal(t, h.now, first.Time)
	assert.Equal(t, wire.HostSourceProc, first.Source)
	assert.Equal(t, new(uint64(12345)), first.UptimeSeconds)
	assert.Equal(t, wire.CPUSample{LogicalCores: new(4)}, first.CPU)
	assert.Equal(t, &wire.LoadSample{Load1: 0.5, Load5: 1.25, Load15: 2}, first.Load)
	assert.Equal(t, &wire.MemorySample{
		TotalBytes:     16384000 * 1024,
		AvailableBytes: 12288000 * 1024,
		UsedBytes:      4096000 * 1024,
		UsedPercent:    25,
		SwapTotalBytes: new(uint64(2048000 * 1024)),
		SwapUsedBytes:  new(uint64(512000 * 1024)),
	}, first.Memory)

	// One entry per device, at the host's paths, sizes from HOST_ROOT.
	require.Len(t, first.Filesystems, 2)
	assert.Equal(t, []string{"/", "/dev/sda1", "ext4"},
		[]string{first.Filesystems[0].Mountpoint, first.Filesystems[0].Device, first.Filesystems[0].FSType})
	assert.Equal(t, []string{"/data", "/dev/dm-0", "xfs"},
		[]string{first.Filesystems[1].Mountpoint, first.Filesystems[1].Device, first.Filesystems[1].FSType})
	for _, fs := range first.Filesystems {
		assert.Positive(t, fs.TotalBytes)
		assert.Positive(t, fs.InodesTotal)
	}

	assert.Equal(t, []wire.Disk{
		{Name: "dm-0", ReadBytes: 80000 * 512, WriteBytes: 60000 * 512, ReadOps: 4000, WriteOps: 3000},
		{Name: "sda", ReadBytes: 20000 * 512, WriteBytes: 10000 * 512, ReadOps: 1000, WriteOps: 500},
	}, first.Disks)
	assert.Equal(t, []wire.NetIface{
		{Name: "ens5", RxBytes: 700000, TxBytes: 300000, RxPackets: new(uint64(700)), TxPackets: new(uint64(300)),
			RxErrors: new(uint64(0)), TxErrors: new(uint64(0)), RxDropped: new(uint64(0)), TxDropped: new(uint64(0))},
		{Name: "eth0", RxBytes: 1000000, TxBytes: 500000, RxPackets: new(uint64(1000)), TxPackets: new(uint64(800)),
			RxErrors: new(uint64(1)), TxErrors: new(uint64(3)), RxDropped: new(uint64(2)), TxDropped: new(uint64(4))},
	}, first.Network)

	h.second()
	second := s.Sample(ctx)
	require.Empty(t, second.Errors)
	assert.Equal(t, new(uint64(12355)), second.UptimeSeconds)

	require.NotNil(t, second.CPU.UsagePercent)
	assert.InDelta(t, 55, *second.CPU.UsagePercent, 1e-9)
	require.NotNil(t, second.CPU.Modes)
	want := wire.CPUModeTime{User: 30, Nice: 5, System: 15, Idle: 40, IOWait: 5, IRQ: 2, SoftIRQ: 2, Steal: 1}
	got := *second.CPU.Modes
	for name, pair := range map[string][2]float64{
		"user": {want.User, got.User}, "nice": {want.Nice, got.Nice}, "system": {want.System, got.System},
		"idle": {want.Idle, got.Idle}, "iowait": {want.IOWait, got.IOWait}, "irq": {want.IRQ, got.IRQ},
		"softirq": {want.SoftIRQ, got.SoftIRQ}, "steal": {want.Steal, got.Steal},
	} {
		assert.InDelta(t, pair[0], pair[1], 1e-9, name)
	}

	require.Len(t, second.Disks, 2)
	dm, sda := second.Disks[0], second.Disks[1]
	assert.Equal(t, f(20480*512/10.0), sda.ReadBytesPerSec)
	assert.Equal(t, f(20480*512/10.0), sda.WriteBytesPerSec)
	assert.Equal(t, f(10), sda.ReadOpsPerSec)
	assert.Equal(t, f(20), sda.WriteOpsPerSec)
	assert.Nil(t, dm.ReadBytesPerSec, "reset counter")
	assert.Nil(t, dm.ReadOpsPerSec, "reset counter")
	assert.Equal(t, f(2048*512/10.0), dm.WriteBytesPerSec)
	assert.Equal(t, f(10), dm.WriteOpsPerSec)

	require.Len(t, second.Network, 2)
	ens5, eth0 := second.Network[0], second.Network[1]
	assert.Equal(t, f(125000), eth0.RxBytesPerSec)
	assert.Equal(t, f(50000), eth0.TxBytesPerSec)
	assert.Nil(t, ens5.RxBytesPerSec, "reset counter")
	assert.Equal(t, f(10000), ens5.TxBytesPerSec)
}

func TestSampleCounterReset(t *testing.T) {
	h := newHost(t)
	s := New(h.opts, zap.NewNop())
	ctx := context.Background()
	h.second()
	s.Sample(ctx)

	// Everything lower than before, as after a reboot with the same agent.
	h.now = h.now.Add(10 * time.Second)
	h.first()
	hs := s.Sample(ctx)
	require.Empty(t, hs.Errors)
	assert.Nil(t, hs.CPU.UsagePercent)
	assert.Nil(t, hs.CPU.Modes)
	for _, d := range hs.Disks {
		for _, r := range []*float64{d.ReadBytesPerSec, d.WriteBytesPerSec, d.ReadOpsPerSec, d.WriteOpsPerSec} {
			if r != nil {
				assert.GreaterOrEqual(t, *r, 0.0, d.Name)
			}
		}
	}
	assert.Nil(t, hs.Disks[1].ReadBytesPerSec, "sda went backwards")
	for _, n := range hs.Network {
		for _, r := range []*float64{n.RxBytesPerSec, n.TxBytesPerSec} {
			if r != nil {
				assert.GreaterOrEqual(t, *r, 0.0, n.Name)
			}
		}
	}
	assert.Nil(t, hs.Network[1].RxBytesPerSec, "eth0 went backwards")
	assert.Nil(t, hs.Network[1].TxBytesPerSec, "eth0 went backwards")

	// The next sample has rates again, from the new counters.
	h.second()
	hs = s.Sample(ctx)
	require.NotNil(t, hs.CPU.UsagePercent)
	assert.InDelta(t, 55, *hs.CPU.UsagePercent, 1e-9)
	assert.Equal(t, f(125000), hs.Network[1].RxBytesPerSec)
}

func TestSampleKeepsOtherReadingsWhenOneFails(t *testing.T) {
	h := newHost(t)
	core, logs := observer.New(zapcore.DebugLevel)
	s := New(h.opts, zap.New(core))
	h.first()
	require.NoError(t, os.Remove(filepath.Join(h.dir, "proc", "meminfo")))
	require.NoError(t, os.Remove(filepath.Join(h.dir, "proc", "diskstats")))
	require.NoError(t, os.Remove(filepath.Join(h.dir, "proc", "stat")))

	hs := s.Sample(context.Background())
	require.Len(t, hs.Errors, 3)
	assert.Regexp(t, `^cpu: .*stat`, hs.Errors[0])
	assert.Regexp(t, `^memory: .*meminfo`, hs.Errors[1])
	assert.Regexp(t, `^disks: .*diskstats`, hs.Errors[2])
	assert.Equal(t, &wire.MemorySample{SwapTotalBytes: new(uint64(0)), SwapUsedBytes: new(uint64(0))}, hs.Memory,
		"zero, as the protocol has always said of a failed reading")
	assert.Empty(t, hs.Disks)
	assert.Equal(t, new(4), hs.CPU.LogicalCores)
	assert.Equal(t, 0.5, hs.Load.Load1)
	assert.Len(t, hs.Filesystems, 2)
	assert.Len(t, hs.Network, 2)

	failed := logs.FilterMessage("Host reading failed")
	require.Equal(t, 3, failed.Len())
	entry := failed.All()[1]
	assert.Equal(t, zapcore.DebugLevel, entry.Level)
	assert.Equal(t, "memory", entry.ContextMap()["reading"])
	assert.Contains(t, entry.ContextMap(), "err")
}

func TestSampleConcurrentCalls(t *testing.T) {
	h := newHost(t)
	h.first()
	var mu sync.Mutex
	h.opts.Now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		h.now = h.now.Add(time.Second)
		return h.now
	}
	s := New(h.opts, zap.NewNop())

	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 5 {
				hs := s.Sample(context.Background())
				assert.Empty(t, hs.Errors)
				assert.Len(t, hs.Network, 2)
			}
		})
	}
	wg.Wait()
}
