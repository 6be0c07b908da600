package hostsample

import (
	"context"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/shirou/gopsutil/v4/common"
)

// DefaultExcludeInterfaces is the name rule: the interfaces left out when
// HOST_SYS cannot say which devices are backed by hardware (see
// Options.HostSys and docs/host-metrics.md). They are loopback and the
// virtual devices of container runtimes and CNI plugins, whose traffic also
// crosses a physical interface: pod veths (veth, Calico cali, Cilium lxc,
// AWS VPC CNI eni, GKE gke, and OVN-Kubernetes' 15 hex digits of the
// container ID), bridges (cni0, docker0, Open vSwitch br-int and br-ex,
// docker's br-<id>), overlay tunnels, kube-proxy's IPVS dummy and ifb
// mirrors of ingress traffic. A list of names always lags the next CNI:
// when HOST_SYS can tell, it decides instead and this list is not used.
var DefaultExcludeInterfaces = []string{
	"lo",
	"veth*", "cali*", "flannel*", "cni*", "docker*", "kube-ipvs*",
	"cilium_*", "lxc*", "tunl*", "vxlan*", "nodelocaldns",
	"ifb*", "dummy*",
	"eni*", "gke*", "antrea-*", "kube-bridge", "br-*",
	"ovs-system", "ovn-k8s-*", "genev_sys_*",
	strings.Repeat("[0-9a-f]", 15),
}

// DefaultExcludeDisks are the block devices left out by default: loop and
// RAM devices, floppies, and partitions of whole disks (their I/O is already
// counted in the disk's own line). Device-mapper (dm-*) and md devices are
// kept.
var DefaultExcludeDisks = []string{
	"loop*", "ram*", "zram*", "fd*",
	"sd*[0-9]", "hd*[0-9]", "vd*[0-9]", "xvd*[0-9]",
	"nvme*p[0-9]*", "mmcblk*p[0-9]*",
}

// Options configures a Sampler. The host paths are where the node's
// directories are mounted inside the agent's pod; empty means the usual
// path (/proc, /sys, /, /dev), i.e. the agent runs on the host itself.
// The sampler does not read the environment: the options layer binds
// HOST_PROC, HOST_SYS, HOST_ROOT and HOST_DEV to these fields.
type Options struct {
	// HostProc is the host's /proc (HOST_PROC), e.g. /host/proc.
	HostProc string
	// HostSys is the host's /sys (HOST_SYS), e.g. /host/sys. Its
	// class/net decides which network interfaces are counted.
	HostSys string
	// HostRoot is the host's / (HOST_ROOT), e.g. /host/root.
	HostRoot string
	// HostDev is the host's /dev (HOST_DEV); only used to resolve
	// /dev/mapper names of filesystems to their dm-N devices.
	HostDev string
	// HostEtc is the host's /etc (HOST_ETC); only Describe reads it
	// (os-release, machine-id).
	HostEtc string
	// IncludeInterfaces are path.Match patterns ("eth*") of network
	// interfaces always counted, whatever the rule says: a virtual device
	// that is the node's real uplink, a bond's port. Nil or empty: none.
	IncludeInterfaces []string
	// ExcludeInterfaces are path.Match patterns of network interfaces never
	// counted; they win over IncludeInterfaces. Nil or empty: none.
	ExcludeInterfaces []string
	// ExcludeDisks are path.Match patterns of block devices to leave out.
	// Nil means DefaultExcludeDisks; an empty non-nil slice leaves out none.
	ExcludeDisks []string
	// Now is the clock; nil means time.Now. Tests inject it so that the
	// elapsed time behind rates is known.
	Now func() time.Time
}

// NewOptions returns the defaults: host paths as seen by a process on the
// host, no interface overrides, and the default disk exclude list.
func NewOptions() Options {
	return Options{
		HostProc:     "/proc",
		HostSys:      "/sys",
		HostRoot:     "/",
		HostDev:      "/dev",
		HostEtc:      "/etc",
		ExcludeDisks: slices.Clone(DefaultExcludeDisks),
		Now:          time.Now,
	}
}

// Validate checks the include and exclude patterns.
func (o Options) Validate() error {
	for _, p := range slices.Concat(o.IncludeInterfaces, o.ExcludeInterfaces, o.ExcludeDisks) {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("interface or disk pattern %q is malformed: %w", p, err)
		}
	}
	return nil
}

// withDefaults fills empty fields with the defaults and cleans the paths.
func (o Options) withDefaults() Options {
	d := NewOptions()
	o.HostProc = cleanOr(o.HostProc, d.HostProc)
	o.HostSys = cleanOr(o.HostSys, d.HostSys)
	o.HostRoot = cleanOr(o.HostRoot, d.HostRoot)
	o.HostDev = cleanOr(o.HostDev, d.HostDev)
	o.HostEtc = cleanOr(o.HostEtc, d.HostEtc)
	if o.ExcludeDisks == nil {
		o.ExcludeDisks = d.ExcludeDisks
	}
	if o.Now == nil {
		o.Now = d.Now
	}
	return o
}

func cleanOr(p, dflt string) string {
	if p == "" {
		return dflt
	}
	return filepath.Clean(p)
}

// withHostPaths returns ctx carrying the host paths for gopsutil. All five
// keys are set because gopsutil falls back to os.Getenv for a missing or
// empty one; other keys (HOST_RUN, HOST_PROC_MOUNTINFO, …) still come from
// the environment, and none of the figures here depends on them.
func (o Options) withHostPaths(ctx context.Context) context.Context {
	return context.WithValue(ctx, common.EnvKey, common.EnvMap{
		common.HostProcEnvKey: o.HostProc,
		common.HostSysEnvKey:  o.HostSys,
		common.HostRootEnvKey: o.HostRoot,
		common.HostDevEnvKey:  o.HostDev,
		common.HostEtcEnvKey:  o.HostEtc,
	})
}

// CountedByName is the rule that counts a network interface by its name
// alone, where no /sys tells what the device is (the kubelet sampler's
// list): not when it matches an exclude pattern; when it matches an include
// pattern; otherwise unless it matches DefaultExcludeInterfaces. Patterns
// are path.Match patterns.
func CountedByName(include, exclude []string, name string) bool {
	switch {
	case matchAny(exclude, name):
		return false
	case matchAny(include, name):
		return true
	}
	return !matchAny(DefaultExcludeInterfaces, name)
}

// matchAny reports whether name matches one of the path.Match patterns.
// A malformed pattern matches nothing.
func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}
