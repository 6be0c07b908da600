//go:build linux

package hostsample

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/catops/cli/pkg/wire"
)

const fakeMachineID = "0123456789abcdef0123456789abcdef"

func TestMachineIDFromHostEtc(t *testing.T) {
	h := newHost(t)
	h.opts.HostEtc = filepath.Join(h.dir, "etc")
	_, err := MachineID(h.opts)
	assert.ErrorContains(t, err, filepath.Join(h.dir, "etc", "machine-id"), "none: names the file")

	h.write(map[string]string{"root/var/lib/dbus/machine-id": "fedcba9876543210fedcba9876543210\n"})
	id, err := MachineID(h.opts)
	require.NoError(t, err)
	assert.Equal(t, "fedcba9876543210fedcba9876543210", id, "the D-Bus copy of older systems")

	h.write(map[string]string{"etc/machine-id": fakeMachineID + "\n"})
	id, err = MachineID(h.opts)
	require.NoError(t, err)
	assert.Equal(t, fakeMachineID, id, "/etc/machine-id first")

	h.write(map[string]string{"etc/machine-id": "uninitialized\n", "root/var/lib/dbus/machine-id": "\n"})
	_, err = MachineID(h.opts)
	assert.ErrorContains(t, err, `holds "uninitialized", not 32 lowercase hex digits`)
}

// Info reads the fake host's tree: os-release under HOST_ETC, the boot time
// and the CPU model under HOST_PROC; the cores and memory come from the
// sample.
func TestDescribeReadsHostPaths(t *testing.T) {
	h := newHost(t)
	h.opts.HostEtc = filepath.Join(h.dir, "etc")
	h.first()
	h.write(map[string]string{"etc/os-release": "NAME=\"Ubuntu\"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"24.04\"\n"})
	s := New(h.opts, zap.NewNop())
	d := NewDescriber(h.opts, fakeMachineID)
	d.hostname = func() (string, error) { return "db-1", nil }
	ctx := context.Background()
	hs := s.Sample(ctx)
	info := d.Info(ctx, &hs)
	assert.Equal(t, "db-1", info.Hostname)
	assert.Equal(t, fakeMachineID, info.MachineID)
	assert.Equal(t, wire.OSInfo{Name: "ubuntu", Family: "debian", Version: "24.04"}, info.OS)
	require.NotNil(t, info.BootTime, "errors: %v", info.Errors)
	assert.Equal(t, time.Unix(1700000000, 0).UTC(), *info.BootTime, "btime of HOST_PROC/stat")
	assert.Equal(t, "Fake", info.CPU.Model)
	assert.Equal(t, new(4), info.CPU.LogicalCores)
	assert.Equal(t, new(uint64(16384000*1024)), info.MemoryTotalBytes)
	assert.NotEmpty(t, info.Kernel.Version, "uname(2)")

	// An OS upgrade shows once OSRefresh passed; the boot time is read
	// once.
	h.write(map[string]string{"etc/os-release": "ID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"26.04\"\n"})
	h.second()
	h.write(map[string]string{"proc/stat": "cpu  1 1 1 1 1 1 1 1 0 0\nbtime 1800000000\n"})
	info = d.Info(ctx, &hs)
	assert.Equal(t, "24.04", info.OS.Version, "10 s later: not read again")
	h.now = h.now.Add(OSRefresh)
	info = d.Info(ctx, &hs)
	assert.Equal(t, "26.04", info.OS.Version)
	assert.Equal(t, time.Unix(1700000000, 0).UTC(), *info.BootTime)

	// Unreadable: named in Errors, the figure left out.
	h2 := newHost(t)
	h2.opts.HostEtc = filepath.Join(h2.dir, "etc")
	d2 := NewDescriber(h2.opts, fakeMachineID)
	d2.hostname = func() (string, error) { return "", errors.New("no uts") }
	info = d2.Info(ctx, nil)
	assert.Empty(t, info.OS)
	assert.Nil(t, info.BootTime)
	assert.Nil(t, info.CPU.LogicalCores)
	assert.Contains(t, info.Errors, "hostname: no uts")
	assert.NotEmpty(t, info.Errors)
}

// Interfaces keeps the interfaces the sample counts, with their addresses
// sorted in CIDR form.
func TestDescribeInterfacesOfTheSample(t *testing.T) {
	h := newHost(t)
	d := NewDescriber(h.opts, fakeMachineID)
	mac, err := net.ParseMAC("02:42:ac:11:00:02")
	require.NoError(t, err)
	d.interfaces = func() ([]net.Interface, error) {
		return []net.Interface{
			{Index: 1, Name: "lo", MTU: 65536, Flags: net.FlagUp | net.FlagLoopback},
			{Index: 2, Name: "eth0", MTU: 1500, HardwareAddr: mac, Flags: net.FlagUp | net.FlagBroadcast},
			{Index: 3, Name: "ens5", MTU: 9001, Flags: net.FlagBroadcast},
			{Index: 4, Name: "veth1a2b", MTU: 1500, Flags: net.FlagUp},
		}, nil
	}
	var asked []string
	d.addrs = func(i net.Interface) ([]net.Addr, error) {
		asked = append(asked, i.Name)
		if i.Name != "eth0" {
			return nil, errors.New("no addresses here")
		}
		return []net.Addr{
			&net.IPNet{IP: net.ParseIP("fe80::42:acff:fe11:2"), Mask: net.CIDRMask(64, 128)},
			&net.IPNet{IP: net.ParseIP("10.0.0.5").To4(), Mask: net.CIDRMask(24, 32)},
			&net.IPAddr{IP: net.ParseIP("10.9.9.9")}, // no prefix: left out
		}, nil
	}
	hs := wire.HostSample{Network: []wire.NetIface{{Name: "ens5"}, {Name: "eth0"}, {Name: "gone0"}}}
	got, err := d.Interfaces(context.Background(), &hs)
	require.NoError(t, err)
	assert.Equal(t, []wire.NetInterface{
		{Name: "ens5", MTU: 9001, Up: false},
		{Name: "eth0", MAC: "02:42:ac:11:00:02", MTU: 1500, Up: true, Addresses: []string{"10.0.0.5/24", "fe80::42:acff:fe11:2/64"}},
	}, got)
	assert.ElementsMatch(t, []string{"ens5", "eth0"}, asked, "addresses read only of the interfaces the sample counts")

	d.interfaces = func() ([]net.Interface, error) { return nil, errors.New("netlink: boom") }
	_, err = d.Interfaces(context.Background(), &hs)
	assert.ErrorContains(t, err, "network interfaces: netlink: boom")
}
