//go:build linux

package hostsample

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// iface is a line of net/dev with rx and tx bytes.
func iface(name string, rx, tx uint64) string {
	return fmt.Sprintf("%s: %d 10 0 0 0 0 0 0 %d 10 0 0 0 0 0 0", name, rx, tx)
}

// Parent devices under /sys/devices, as the kernel lays them out.
const (
	virtioNIC = "pci0000:00/0000:00:03.0/virtio0"
	pciNIC1   = "pci0000:00/0000:00:1c.0/0000:03:00.0"
	pciNIC2a  = "pci0000:00/0000:00:1c.1/0000:04:00.0"
	pciNIC2b  = "pci0000:00/0000:00:1c.1/0000:04:00.1"
	pciPF     = "pci0000:00/0000:00:1d.0/0000:05:00.0"
	pciVF     = "pci0000:00/0000:00:1d.0/0000:05:00.2"
	vmbusNIC  = "LNXSYSTM:00/LNXSYBUS:00/PNP0A03:00/device:07/VMBUS:01/000d3a6e-1e41-4000-8000-000000000000"
	azureVF   = "pci7870:00/7870:00:02.0"
)

// ovnNode is a node of OVN-Kubernetes, the AWS VPC CNI and GKE at once:
// eth0 and the host side of three pods' interfaces, a management port, a
// Geneve tunnel and the integration bridge. Summed, they count 1,403,000
// bytes, eth0 900,000 of them.
var ovnNode = []string{
	iface("eth0", 600000, 300000),
	iface("3f2a9c1b0d4e5f6", 200000, 100000),
	iface("eni1a2b3c4d5e6", 50000, 50000),
	iface("gke3a4b5c6d7e8", 40000, 40000),
	iface("ovn-k8s-mp0", 10000, 5000),
	iface("genev_sys_6081", 4000, 4000),
	iface("br-int", 0, 0),
}

var ovnNodeSys = []sysNet{
	{name: "eth0", device: virtioNIC},
	{name: "3f2a9c1b0d4e5f6"},
	{name: "eni1a2b3c4d5e6"},
	{name: "gke3a4b5c6d7e8"},
	{name: "ovn-k8s-mp0"},
	{name: "genev_sys_6081", kind: "65534"},
	{name: "br-int"},
}

// bonded is eth0 and a bond of two NICs, each port counting half.
var bonded = []string{
	iface("eth0", 1000, 1000),
	iface("bond0", 600000, 400000),
	iface("enp4s0f0", 300000, 200000),
	iface("enp4s0f1", 300000, 200000),
}

var bondedSys = []sysNet{
	{name: "eth0", device: virtioNIC},
	{name: "bond0", bond: true},
	{name: "enp4s0f0", device: pciNIC2a, master: "bond0"},
	{name: "enp4s0f1", device: pciNIC2b, master: "bond0"},
}

func TestNetworkInterfaceRule(t *testing.T) {
	tests := []struct {
		name             string
		netdev           []string
		sys              []sysNet // nil: no /sys/class/net at all
		include, exclude []string
		want             []string
		wantLevel        zapcore.Level
		wantMsg          string
	}{
		{
			name:   "OVN-Kubernetes, AWS VPC CNI and GKE pod interfaces, tunnel and bridge",
			netdev: ovnNode,
			sys:    ovnNodeSys,
			want:   []string{"eth0"},
		},
		{
			name: "OVN-Kubernetes node whose eth0 is a port of br-ex",
			netdev: []string{
				iface("lo", 5000, 5000), iface("eth0", 600000, 300000), iface("ovs-system", 0, 0),
				iface("br-ex", 500000, 250000), iface("br-int", 0, 0), iface("genev_sys_6081", 4000, 4000),
			},
			sys: []sysNet{
				{name: "lo", kind: "772"}, {name: "eth0", device: virtioNIC, master: "ovs-system"},
				{name: "ovs-system"}, {name: "br-ex"}, {name: "br-int"}, {name: "genev_sys_6081", kind: "65534"},
			},
			want: []string{"eth0"},
		},
		{
			name: "Cilium and Calico devices a name list knows",
			netdev: []string{
				iface("eth0", 600000, 300000), iface("lxc1f2e3d4c5b6a", 10, 10), iface("cilium_host", 10, 10),
				iface("cilium_vxlan", 10, 10), iface("cali8d2e0f1b9c4", 10, 10), iface("vxlan.calico", 10, 10),
				iface("tunl0", 10, 10),
			},
			sys: []sysNet{
				{name: "eth0", device: virtioNIC}, {name: "lxc1f2e3d4c5b6a"}, {name: "cilium_host"},
				{name: "cilium_vxlan"}, {name: "cali8d2e0f1b9c4"}, {name: "vxlan.calico"}, {name: "tunl0", kind: "768"},
			},
			want: []string{"eth0"},
		},
		{
			name: "names no list knows",
			netdev: []string{
				iface("eth0", 600000, 300000), iface("weird0", 10, 10), iface("xyz123", 10, 10),
				iface("enp3s0f0", 70000, 30000),
			},
			sys: []sysNet{
				{name: "eth0", device: virtioNIC}, {name: "weird0"}, {name: "xyz123", kind: "65534"},
				{name: "enp3s0f0", device: pciNIC1},
			},
			want: []string{"enp3s0f0", "eth0"},
		},
		{
			name:   "a bond counts, its ports are in its figures",
			netdev: bonded,
			sys:    bondedSys,
			want:   []string{"bond0", "eth0"},
		},
		{
			name:    "excluding the bond counts its ports",
			netdev:  bonded,
			sys:     bondedSys,
			exclude: []string{"bond*"},
			want:    []string{"enp4s0f0", "enp4s0f1", "eth0"},
		},
		{
			name:    "including a bond's port counts it besides the bond",
			netdev:  bonded,
			sys:     bondedSys,
			include: []string{"enp4s0f0"},
			want:    []string{"bond0", "enp4s0f0", "eth0"},
		},
		{
			name:   "a VLAN's traffic is in its parent's figures",
			netdev: []string{iface("eth0", 600000, 300000), iface("eth0.100", 100000, 50000)},
			sys:    []sysNet{{name: "eth0", device: virtioNIC}, {name: "eth0.100", lower: "eth0"}},
			want:   []string{"eth0"},
		},
		{
			name:   "a VLAN on a bond",
			netdev: append(slicesOf(bonded), iface("bond0.200", 1000, 1000)),
			sys:    append(slicesOf(bondedSys), sysNet{name: "bond0.200", lower: "bond0"}),
			want:   []string{"bond0", "eth0"},
		},
		{
			name: "an SR-IOV VF in the node's namespace counts, a VF representor does not",
			netdev: []string{
				iface("eth0", 600000, 300000), iface("enp5s0f0np0", 80000, 20000),
				iface("enp5s0f0v0", 5000, 5000), iface("enp5s0f0npf0vf1", 9000, 9000),
			},
			sys: []sysNet{
				{name: "eth0", device: virtioNIC},
				{name: "enp5s0f0np0", device: pciPF, portName: "p0"},
				{name: "enp5s0f0v0", device: pciVF, physfn: pciPF},
				{name: "enp5s0f0npf0vf1", device: pciPF, portName: "pf0vf1"},
			},
			want: []string{"enp5s0f0np0", "enp5s0f0v0", "eth0"},
		},
		{
			name:   "Azure accelerated networking: the VF is in the synthetic NIC's figures",
			netdev: []string{iface("eth0", 600000, 300000), iface("enP30832s1", 590000, 290000)},
			sys:    []sysNet{{name: "eth0", device: vmbusNIC}, {name: "enP30832s1", device: azureVF, master: "eth0"}},
			want:   []string{"eth0"},
		},
		{
			name: "a chain counts only its top: a VF under netvsc under a bond",
			netdev: []string{
				iface("bond0", 600000, 300000), iface("eth0", 600000, 300000), iface("enP1s1", 590000, 290000),
			},
			sys: []sysNet{
				{name: "enP1s1", device: azureVF, master: "eth0"},
				{name: "eth0", device: vmbusNIC, master: "bond0"},
				{name: "bond0", bond: true},
			},
			want: []string{"bond0"},
		},
		{
			name:    "an include pattern forces a virtual device in",
			netdev:  []string{iface("eth0", 600000, 300000), iface("weird0", 10, 10)},
			sys:     []sysNet{{name: "eth0", device: virtioNIC}, {name: "weird0"}},
			include: []string{"weird*"},
			want:    []string{"eth0", "weird0"},
		},
		{
			name:    "an exclude pattern wins over include and the rule",
			netdev:  []string{iface("eth0", 600000, 300000), iface("ens5", 10, 10), iface("weird0", 10, 10)},
			sys:     []sysNet{{name: "eth0", device: virtioNIC}, {name: "ens5", device: pciNIC1}, {name: "weird0"}},
			include: []string{"*"},
			exclude: []string{"eth0"},
			want:    []string{"ens5", "weird0"},
		},
		{
			name:      "no /sys/class/net: the name rule",
			netdev:    append(slicesOf(ovnNode), iface("lo", 5000, 5000), iface("weird0", 10, 10)),
			want:      []string{"eth0", "weird0"},
			wantLevel: zapcore.WarnLevel,
			wantMsg:   "Counting network interfaces by name: HOST_SYS has no class/net",
		},
		{
			name:   "the container's own /sys: the name rule, not its same-named veth",
			netdev: append(slicesOf(ovnNode), iface("lo", 5000, 5000)),
			// The pod's network namespace: its eth0 is a veth.
			sys:       []sysNet{{name: "lo", kind: "772"}, {name: "eth0"}},
			want:      []string{"eth0"},
			wantLevel: zapcore.WarnLevel,
			wantMsg:   "Counting network interfaces by name: HOST_SYS/class/net lacks an interface",
		},
		{
			name:      "a node that is itself a container: no device, the name rule",
			netdev:    []string{iface("lo", 10, 10), iface("eth0", 600000, 300000), iface("veth3f1c2a9", 10, 10)},
			sys:       []sysNet{{name: "lo", kind: "772"}, {name: "eth0"}, {name: "veth3f1c2a9"}},
			want:      []string{"eth0"},
			wantLevel: zapcore.InfoLevel,
			wantMsg:   "Counting network interfaces by name: none is backed by a device",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHost(t)
			h.first()
			h.write(map[string]string{"proc/1/net/dev": netDev(tt.netdev...)})
			h.dropNetClass()
			if tt.sys != nil {
				h.netClass(tt.sys...)
			}
			h.opts.IncludeInterfaces, h.opts.ExcludeInterfaces = tt.include, tt.exclude
			core, logs := observer.New(zapcore.InfoLevel)
			s := New(h.opts, zap.New(core))

			hs := s.Sample(context.Background())
			require.Empty(t, hs.Errors)
			var got []string
			for _, n := range hs.Network {
				got = append(got, n.Name)
			}
			assert.Equal(t, tt.want, got)

			wantLevel, wantMsg := tt.wantLevel, tt.wantMsg
			if wantMsg == "" {
				wantLevel, wantMsg = zapcore.InfoLevel, "Counting the network interfaces backed by a device"
			}
			rule := logs.FilterMessageSnippet("Counting").All()
			require.Len(t, rule, 1, "the rule is logged once")
			assert.Equal(t, wantLevel, rule[0].Level)
			assert.Contains(t, rule[0].Message, wantMsg)
			assert.ElementsMatch(t, tt.want, rule[0].ContextMap()["counted"])

			s.Sample(context.Background())
			assert.Equal(t, 1, logs.FilterMessageSnippet("Counting").Len(), "and not again while it holds")
		})
	}
}

// slicesOf copies s, so that append in a table does not share its array.
func slicesOf[T any](s []T) []T { return append([]T(nil), s...) }

func TestNetworkFiguresAreTheNodesNotThePods(t *testing.T) {
	h := newHost(t)
	h.first()
	h.write(map[string]string{"proc/1/net/dev": netDev(ovnNode...)})
	h.dropNetClass()
	h.netClass(ovnNodeSys...)
	hs := New(h.opts, nil).Sample(context.Background())
	require.Empty(t, hs.Errors)

	var sum uint64
	for _, n := range hs.Network {
		sum += n.RxBytes + n.TxBytes
	}
	assert.Equal(t, uint64(900000), sum, "eth0's bytes, not 1,403,000 with the pods' counted twice")
}

func TestNetworkInterfaceRuleChangeIsLogged(t *testing.T) {
	h := newHost(t)
	h.first()
	h.dropNetClass()
	core, logs := observer.New(zapcore.InfoLevel)
	s := New(h.opts, zap.New(core))

	hs := s.Sample(context.Background())
	assert.Len(t, hs.Network, 2, "ens5 and eth0 by name")
	require.Equal(t, 1, logs.FilterMessageSnippet("by name").Len())
	assert.Equal(t, filepath.Join(h.dir, "sys", "class", "net"), logs.All()[0].ContextMap()["classNet"])

	// The node's /sys appears, as after the pod is fixed.
	h.netClass(
		sysNet{name: "lo", kind: "772"}, sysNet{name: "eth0", device: virtioNIC},
		sysNet{name: "ens5", device: pciNIC1}, sysNet{name: "veth1a2b"}, sysNet{name: "cali99"},
	)
	s.Sample(context.Background())
	s.Sample(context.Background())
	assert.Equal(t, 1, logs.FilterMessageSnippet("backed by a device").Len())
	assert.Equal(t, 2, logs.Len())
}

func TestChooseInterfacesWhenOneVanishes(t *testing.T) {
	h := newHost(t) // class/net: lo, eth0, ens5, veth1a2b, cali99
	names := []string{"lo", "eth0", "veth9f8e7d6", "cali99"}
	tests := []struct {
		name     string
		listed   map[string]bool
		err      error
		wantRule ifaceRule
		want     map[string]bool
	}{
		{
			name:     "gone from net/dev too: a pod's veth deleted meanwhile",
			listed:   map[string]bool{"lo": true, "eth0": true, "cali99": true},
			wantRule: ruleDevices,
			want:     map[string]bool{"eth0": true},
		},
		{
			name:     "still in net/dev: class/net is another namespace's",
			listed:   map[string]bool{"lo": true, "eth0": true, "veth9f8e7d6": true, "cali99": true},
			wantRule: ruleNamesOtherNamespace,
			want:     map[string]bool{"eth0": true},
		},
		{
			name:     "net/dev unreadable the second time: cannot tell, by name",
			err:      assert.AnError,
			wantRule: ruleNamesOtherNamespace,
			want:     map[string]bool{"eth0": true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			keep, rule, detail := chooseInterfaces(h.opts.withDefaults(), names, func() (map[string]bool, error) {
				calls++
				return tt.listed, tt.err
			})
			assert.Equal(t, 1, calls)
			assert.Equal(t, tt.wantRule, rule)
			for _, n := range names {
				assert.Equal(t, tt.want[n], keep[n], n)
			}
			if rule == ruleNamesOtherNamespace {
				assert.Equal(t, "veth9f8e7d6", detail)
			}
		})
	}

	_, rule, _ := chooseInterfaces(h.opts.withDefaults(), []string{"eth0", "cali99"}, func() (map[string]bool, error) {
		t.Error("net/dev is re-read only when class/net lacks an interface")
		return nil, nil
	})
	assert.Equal(t, ruleDevices, rule)
}

func TestRepresentorName(t *testing.T) {
	for name, want := range map[string]bool{
		"pf0vf0": true, "pf1vf15": true, "c1pf0vf3": true, "pf0sf88": true,
		"p0": false, "p1s0": false, "pf0": false, "c1pf0": false, "pf0hpf": false, "": false,
	} {
		assert.Equal(t, want, representorName.MatchString(name), name)
	}
}
