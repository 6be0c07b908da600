package hostsample

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"go.uber.org/zap"
)

// ifaceRule is how the network interfaces of a sample were chosen.
type ifaceRule int

const (
	// ruleDevices: by what HOST_SYS/class/net says of each device.
	ruleDevices ifaceRule = iota + 1
	// ruleNamesNoClassNet: HOST_SYS/class/net does not exist (no /sys
	// mounted, a sandbox): by name.
	ruleNamesNoClassNet
	// ruleNamesOtherNamespace: HOST_SYS/class/net lacks an interface that
	// the host's net/dev lists, so it shows another network namespace (the
	// container's own /sys): by name.
	ruleNamesOtherNamespace
	// ruleNamesNoDevice: no interface is backed by a device, as when the
	// node is itself a container (kind, LXC): by name.
	ruleNamesNoDevice
)

// netDevice is what HOST_SYS/class/net/<name> says of one interface.
type netDevice struct {
	// hardware: a "device" link to the parent device on a bus (PCI,
	// virtio, VMBus, USB). Virtual devices (veth, bridge, bond, VLAN,
	// tunnel, OVS, dummy, ifb, lo) have none and live under
	// /sys/devices/virtual/net.
	hardware bool
	// bond: a "bonding" directory, i.e. a bonding master.
	bond bool
	// representor: a phys_port_name naming a VF or SF of an eswitch in
	// switchdev mode (pf0vf3, c1pf0sf8): the host-side port of a function,
	// usually a pod's, whose traffic also crosses the uplink.
	representor bool
	// master is the device this one is enslaved to, from the "master"
	// link: a bond, a bridge, OVS's ovs-system, a VRF, or the synthetic
	// NIC an accelerated-networking VF is paired with. Empty: none.
	master string
}

// aggregates reports whether the counters of d, as a master, include those
// of its ports: a bond sums its ports; a device-backed master (Hyper-V
// netvsc over its accelerated-networking VF, net_failover over its standby
// and primary) counts what passes through them. A bridge, OVS or a VRF
// counts only what reaches the node's own stack, so its ports keep theirs.
// Stacked devices that are not enslaved (VLAN, macvlan, ipvlan) are
// virtual and left out by the rule: their traffic is in their parent's.
func (d netDevice) aggregates() bool { return d.bond || d.hardware }

// representorName matches the phys_port_name of a VF or SF representor,
// as devlink names them: [c<controller>]pf<pf>vf<vf> or ...sf<sf>. An
// uplink is p<port>; it does not match.
var representorName = regexp.MustCompile(`^(c[0-9]+)?pf[0-9]+(vf|sf)[0-9]+$`)

// readNetDevice reads HOST_SYS/class/net/<name>; ok is false when there is
// no such entry.
func readNetDevice(classNet, name string) (d netDevice, ok bool) {
	dir := filepath.Join(classNet, name)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return netDevice{}, false
	}
	for _, e := range entries {
		switch n := e.Name(); n {
		case "device":
			d.hardware = true
		case "bonding":
			d.bond = true
		case "master":
			if target, err := os.Readlink(filepath.Join(dir, n)); err == nil {
				d.master = filepath.Base(target)
			}
		}
	}
	if d.hardware {
		// Unreadable (EOPNOTSUPP) for devices without port names.
		b, err := os.ReadFile(filepath.Join(dir, "phys_port_name")) //nolint:gosec // G304: reading the configured host sysfs is the job
		d.representor = err == nil && representorName.MatchString(strings.TrimSpace(string(b)))
	}
	return d, true
}

// readNetDevices reads HOST_SYS/class/net for every interface in names and
// says whether the device rule can be used. stillListed re-reads the names
// in the host's net/dev; it is only called when an interface has no entry,
// to tell one that vanished in between (a pod's veth) from a class/net
// that shows another namespace. detail names what made the rule fall back.
func readNetDevices(hostSys string, names []string, stillListed func() (map[string]bool, error)) (map[string]netDevice, ifaceRule, string) {
	classNet := filepath.Join(hostSys, "class", "net")
	if _, err := os.Stat(classNet); err != nil {
		return nil, ruleNamesNoClassNet, err.Error()
	}
	devs := make(map[string]netDevice, len(names))
	var missing []string
	anyHardware := false
	for _, n := range names {
		d, ok := readNetDevice(classNet, n)
		if !ok {
			missing = append(missing, n)
			continue
		}
		devs[n] = d
		anyHardware = anyHardware || d.hardware
	}
	if len(missing) > 0 {
		listed, err := stillListed()
		for _, n := range missing {
			if err != nil || listed[n] {
				return nil, ruleNamesOtherNamespace, n
			}
		}
		// Every missing one is gone from net/dev too: it vanished while
		// being read, and it is left out.
	}
	if !anyHardware {
		return nil, ruleNamesNoDevice, ""
	}
	return devs, ruleDevices, ""
}

// chooseInterfaces returns which of names to count, the rule that chose
// them and what made it fall back to names (empty for ruleDevices).
//
// Precedence: exclude patterns, then include patterns, then the rule. The
// device rule counts device-backed interfaces (physical NICs, virtio-net,
// SR-IOV VFs in the node's namespace) and bonds, except VF/SF representors
// and a device whose master is counted and aggregates it (a bond's ports,
// a VF paired with netvsc). The name rule counts every interface not matched
// by DefaultExcludeInterfaces.
func chooseInterfaces(o Options, names []string, stillListed func() (map[string]bool, error)) (map[string]bool, ifaceRule, string) {
	devs, rule, detail := readNetDevices(o.HostSys, names, stillListed)
	keep := make(map[string]bool, len(names))
	for _, n := range names {
		switch {
		case matchAny(o.ExcludeInterfaces, n):
		case matchAny(o.IncludeInterfaces, n):
			keep[n] = true
		case rule != ruleDevices:
			keep[n] = !matchAny(DefaultExcludeInterfaces, n)
		default:
			d := devs[n]
			keep[n] = d.bond || d.hardware && !d.representor
		}
	}
	if rule != ruleDevices {
		return keep, rule, detail
	}
	// Decided on the choices above, so that in a chain (a VF under netvsc
	// under a bond) only the top is counted whatever the order.
	counted := maps.Clone(keep)
	for _, n := range names {
		if !counted[n] || matchAny(o.IncludeInterfaces, n) {
			continue
		}
		if m := devs[n].master; counted[m] && devs[m].aggregates() {
			keep[n] = false
		}
	}
	return keep, rule, detail
}

// logIfaceRule logs the rule when it is not the one of the previous
// sample: once at start, and again only if it changes.
func (s *Sampler) logIfaceRule(rule ifaceRule, detail string, keep map[string]bool) {
	if rule == s.ifaceRule {
		return
	}
	s.ifaceRule = rule
	classNet := zap.String("classNet", filepath.Join(s.opts.HostSys, "class", "net"))
	var counted []string
	for n, k := range keep {
		if k {
			counted = append(counted, n)
		}
	}
	slices.Sort(counted)
	switch rule {
	case ruleDevices:
		s.logger.Info("Counting the network interfaces backed by a device", classNet, zap.Strings("counted", counted))
	case ruleNamesNoClassNet:
		s.logger.Warn("Counting network interfaces by name: HOST_SYS has no class/net; mount the node's /sys and set HOST_SYS (e.g. /host/sys)",
			classNet, zap.String("reason", detail), zap.Strings("counted", counted))
	case ruleNamesOtherNamespace:
		s.logger.Warn("Counting network interfaces by name: HOST_SYS/class/net lacks an interface of the node's, so it is another network namespace's /sys (the container's own?); mount the node's /sys and set HOST_SYS (e.g. /host/sys)",
			classNet, zap.String("interface", detail), zap.Strings("counted", counted))
	case ruleNamesNoDevice:
		s.logger.Info("Counting network interfaces by name: none is backed by a device, as when the node is itself a container",
			classNet, zap.Strings("counted", counted))
	}
}
