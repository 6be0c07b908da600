package hostsample

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/host"

	"github.com/catops/cli/pkg/wire"
)

// MachineID reads the host's machine ID: HOST_ETC/machine-id, else
// HOST_ROOT/var/lib/dbus/machine-id (older systems), as machine-id(5)
// writes it. It fails when neither holds one, naming the file and what it
// held.
func MachineID(opts Options) (string, error) {
	opts = opts.withDefaults()
	var errs []error
	for _, p := range []string{filepath.Join(opts.HostEtc, "machine-id"), filepath.Join(opts.HostRoot, "var/lib/dbus/machine-id")} {
		b, err := os.ReadFile(p) //nolint:gosec // the host's machine-id, under the configured host paths
		if err != nil {
			errs = append(errs, err)
			continue
		}
		id := strings.TrimSpace(string(b))
		if !wire.ValidMachineID(id) {
			errs = append(errs, fmt.Errorf("%s holds %q, not 32 lowercase hex digits", p, truncate(id, 40)))
			continue
		}
		return id, nil
	}
	return "", errors.Join(errs...)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// OSRefresh is how often Describer.Info reads the operating system again:
// where /etc has no lsb-release, gopsutil runs /usr/bin/lsb_release (a
// Python script on Debian, tens of milliseconds of CPU) to read it.
const OSRefresh = 10 * time.Minute

// Describer reads what the host is, as opposed to what it does: its
// record (wire.HostInfo) and the records of the network interfaces a
// sample counts (wire.NetInterface). What cannot change while the agent
// runs (boot time, kernel, CPU model, virtualization) is read once, on the
// first Info; the operating system every OSRefresh; the rest each time.
// Use it from one goroutine.
type Describer struct {
	opts      Options
	machineID string
	static    *wire.HostInfo // read on the first Info
	// os is the operating system read at osAt (osErr: why it is unknown).
	os    wire.OSInfo
	osErr string
	osAt  time.Time
	// hostname is os.Hostname: the host's name when the agent runs on the
	// host (in a container, its own unless it shares the host's UTS
	// namespace).
	hostname func() (string, error)
	// interfaces lists the network interfaces of the agent's network
	// namespace (net.Interfaces); addrs reads one's addresses, asked only
	// for those a sample counts (one netlink dump each: a host with
	// hundreds of container veths reads none of theirs).
	interfaces func() ([]net.Interface, error)
	addrs      func(net.Interface) ([]net.Addr, error)
}

// NewDescriber returns a Describer of the host with machineID (MachineID).
func NewDescriber(opts Options, machineID string) *Describer {
	return &Describer{opts: opts.withDefaults(), machineID: machineID, hostname: os.Hostname,
		interfaces: net.Interfaces, addrs: func(i net.Interface) ([]net.Addr, error) { return i.Addrs() }}
}

// Info returns the host's record, taking the logical cores and the memory
// total from hs, the sample of the same interval (absent when hs could not
// read them):
//
//	hostname          os.Hostname
//	boot_time         HOST_PROC/stat btime (once)
//	os                gopsutil's platform, family and version: HOST_ETC's
//	                  lsb-release (else lsb_release), release files and
//	                  os-release (every OSRefresh)
//	kernel            uname(2) release and machine (once)
//	cpu.model         HOST_PROC/cpuinfo, the first processor's model name (once)
//	virtualization    gopsutil's reading of HOST_PROC and HOST_SYS (once)
//
// A reading that fails is named in Errors and its figure left out.
func (d *Describer) Info(ctx context.Context, hs *wire.HostSample) wire.HostInfo {
	ctx = d.opts.withHostPaths(ctx)
	if d.static == nil {
		d.static = d.readStatic(ctx)
	}
	info := *d.static
	info.MachineID = d.machineID
	info.Errors = slices.Clone(d.static.Errors)
	if name, err := d.hostname(); err != nil {
		info.Errors = append(info.Errors, "hostname: "+err.Error())
	} else {
		info.Hostname = name
	}
	if now := d.opts.Now(); d.osAt.IsZero() || now.Sub(d.osAt) >= OSRefresh || now.Before(d.osAt) {
		d.osAt, d.os, d.osErr = now, wire.OSInfo{}, ""
		if platform, family, version, err := host.PlatformInformationWithContext(ctx); err != nil || platform == "" {
			d.osErr = fmt.Sprintf("os: no ID in %s/os-release (%v)", d.opts.HostEtc, orNone(err))
		} else {
			d.os = wire.OSInfo{Name: platform, Family: family, Version: version}
		}
	}
	info.OS = d.os
	if d.osErr != "" {
		info.Errors = append(info.Errors, d.osErr)
	}
	if hs != nil {
		if hs.CPU.LogicalCores != nil && *hs.CPU.LogicalCores > 0 {
			info.CPU.LogicalCores = new(*hs.CPU.LogicalCores)
		}
		if hs.Memory != nil && hs.Memory.TotalBytes > 0 {
			info.MemoryTotalBytes = new(hs.Memory.TotalBytes)
		}
	}
	return info
}

// readStatic reads what cannot change while the agent runs.
func (d *Describer) readStatic(ctx context.Context) *wire.HostInfo {
	var info wire.HostInfo
	if bt, err := host.BootTimeWithContext(ctx); err != nil || bt == 0 {
		info.Errors = append(info.Errors, fmt.Sprintf("boot time: %v", orNone(err)))
	} else {
		info.BootTime = new(time.Unix(int64(bt), 0).UTC()) //nolint:gosec // seconds since the epoch fit an int64
	}
	if v, err := host.KernelVersionWithContext(ctx); err != nil {
		info.Errors = append(info.Errors, "kernel: "+err.Error())
	} else {
		info.Kernel.Version = v
	}
	if a, err := host.KernelArch(); err == nil {
		info.Kernel.Arch = a
	}
	if cpus, err := cpu.InfoWithContext(ctx); err != nil || len(cpus) == 0 {
		info.Errors = append(info.Errors, fmt.Sprintf("cpu model: %v", orNone(err)))
	} else {
		info.CPU.Model = strings.TrimSpace(cpus[0].ModelName)
	}
	if system, role, err := host.VirtualizationWithContext(ctx); err == nil && system != "" {
		info.Virtualization = &wire.Virtualization{System: system, Role: role}
	}
	return &info
}

func orNone(err error) string {
	if err == nil {
		return "none found"
	}
	return err.Error()
}

// Interfaces returns the records of the network interfaces hs counts
// (hs.Network), sorted by name: MTU, hardware address, whether it is up
// (IFF_UP), and its addresses in CIDR form, sorted. An interface hs counts
// that is no longer listed is left out; one whose addresses cannot be read
// has none.
func (d *Describer) Interfaces(_ context.Context, hs *wire.HostSample) ([]wire.NetInterface, error) {
	list, err := d.interfaces()
	if err != nil {
		return nil, fmt.Errorf("network interfaces: %w", err)
	}
	counted := make(map[string]bool, len(hs.Network))
	for _, n := range hs.Network {
		counted[n.Name] = true
	}
	var out []wire.NetInterface
	for _, i := range list {
		if !counted[i.Name] {
			continue
		}
		ni := wire.NetInterface{Name: i.Name, MAC: i.HardwareAddr.String(), MTU: i.MTU, Up: i.Flags&net.FlagUp != 0}
		addrs, _ := d.addrs(i)
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				ni.Addresses = append(ni.Addresses, p.String())
			}
		}
		slices.Sort(ni.Addresses)
		out = append(out, ni)
	}
	slices.SortFunc(out, func(a, b wire.NetInterface) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
