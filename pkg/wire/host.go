package wire

import "time"

// The host stream, catops.host/v1: what the host agent (catops, on a
// server without Kubernetes) sends. It has its own path, Content-Type and
// version, so a receiver that knows only the node stream never takes a host
// for a node: it answers 404 (the path). Its samples are the node stream's
// host event (HostSample), byte for byte. docs/protocol.md §10 is its
// specification.
const (
	// HostVersion names the host stream's protocol in every batch.
	HostVersion = "catops.host/v1"
	// HostPath is where host batches are POSTed.
	HostPath = "/api/cli/host/metrics"
	// ContentTypeHost is the Content-Type of a host batch.
	ContentTypeHost = "application/vnd.catops.host.v1+json"
)

// ValidMachineID reports whether id has machine-id(5)'s format, which a
// host batch's machine_id has: 32 lowercase hex digits.
func ValidMachineID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for _, c := range []byte(id) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// HostStream is the host agent's stream.
var HostStream = Stream{Version: HostVersion, Path: HostPath, ContentType: ContentTypeHost, Product: "catops"}

// The event types of catops.host/v1, besides snapshot_begin and
// snapshot_end, which mean there what they mean in the node stream (the
// state between them is the host's whole record, filesystems and
// interfaces), and host, the node stream's host sample.
const (
	// EventHostInfo carries the whole current record of the host: its
	// operating system, kernel, CPU, memory and boot time.
	EventHostInfo EventType = "host_info"
	// EventFilesystem carries the record of one mounted filesystem.
	EventFilesystem EventType = "filesystem"
	// EventFilesystemDelete says a filesystem is no longer mounted.
	EventFilesystemDelete EventType = "filesystem_delete"
	// EventInterface carries the record of one network interface.
	EventInterface EventType = "interface"
	// EventInterfaceDelete says a network interface is gone (or no longer
	// counted).
	EventInterfaceDelete EventType = "interface_delete"
)

// HostEvent is one event of the host stream. Exactly one payload field is
// set, the one its Type names.
type HostEvent struct {
	Type          EventType          `json:"type"`
	Time          time.Time          `json:"time"`
	Snapshot      *SnapshotMark      `json:"snapshot,omitempty"`
	Info          *HostInfo          `json:"info,omitempty"`
	Filesystem    *MountedFilesystem `json:"filesystem,omitempty"`
	FilesystemRef *FilesystemRef     `json:"filesystem_ref,omitempty"`
	Interface     *NetInterface      `json:"interface,omitempty"`
	InterfaceRef  *InterfaceRef      `json:"interface_ref,omitempty"`
	Host          *HostSample        `json:"host,omitempty"`
}

// HostBatch is a decoded host batch: Header carries Host and MachineID
// instead of Node.
type HostBatch struct {
	Header
	Events []HostEvent `json:"events"`
}

// HostInfo is what a host is, as opposed to what it does: it changes with
// an upgrade, a reboot or new hardware. A figure the agent could not read
// is absent and its reading named in Errors.
type HostInfo struct {
	// Hostname is the host's name (os.Hostname: the agent's UTS namespace,
	// the host's unless a container has its own).
	Hostname string `json:"hostname"`
	// MachineID is /etc/machine-id (HOST_ETC/machine-id): 32 lowercase
	// hex digits, stable for the installation's life.
	MachineID string `json:"machine_id"`
	// BootTime is when the host booted (HOST_PROC/stat btime), to the
	// second: a new one means it rebooted.
	BootTime *time.Time `json:"boot_time,omitempty"`
	// OS is gopsutil's reading of HOST_ETC (hostsample.OSRefresh).
	OS OSInfo `json:"os"`
	// Kernel is uname(2)'s release and machine, or HOST_PROC/sys/kernel's.
	Kernel KernelInfo `json:"kernel"`
	// CPU is the first processor of HOST_PROC/cpuinfo and the counts.
	CPU CPUInfo `json:"cpu"`
	// MemoryTotalBytes is HOST_PROC/meminfo's MemTotal.
	MemoryTotalBytes *uint64 `json:"memory_total_bytes,omitempty"`
	// Virtualization is what the host runs in or hosts, as gopsutil tells
	// it (system "kvm", "xen", "docker", …; role "guest" or "host");
	// absent when it tells nothing.
	Virtualization *Virtualization `json:"virtualization,omitempty"`
	// Errors names the readings that failed (e.g. "os: …").
	Errors []string `json:"errors,omitempty"`
}

// OSInfo names the operating system as gopsutil reads it (lsb-release, the
// distribution's release files, os-release): platform (ubuntu), family
// (debian) and version (24.04).
type OSInfo struct {
	Name    string `json:"name,omitempty"`
	Family  string `json:"family,omitempty"`
	Version string `json:"version,omitempty"`
}

// KernelInfo is the kernel's release (6.8.0-45-generic) and architecture
// (x86_64, aarch64).
type KernelInfo struct {
	Version string `json:"version,omitempty"`
	Arch    string `json:"arch,omitempty"`
}

// CPUInfo describes the processors: the model name of the first, and the
// online logical cores.
type CPUInfo struct {
	Model        string `json:"model,omitempty"`
	LogicalCores *int   `json:"logical_cores,omitempty"`
}

// Virtualization is the host's virtualization system and role.
type Virtualization struct {
	System string `json:"system"`
	Role   string `json:"role"`
}

// MountedFilesystem is the record of one mounted filesystem the sample
// measures (HostSample.Filesystems has its sizes each interval), keyed by
// Mountpoint.
type MountedFilesystem struct {
	Mountpoint string `json:"mountpoint"`
	Device     string `json:"device"`
	FSType     string `json:"fstype"`
}

// FilesystemRef names a filesystem by its mountpoint.
type FilesystemRef struct {
	Mountpoint string `json:"mountpoint"`
}

// NetInterface is the record of one network interface the sample counts
// (HostSample.Network has its traffic each interval), keyed by Name.
type NetInterface struct {
	Name string `json:"name"`
	// MAC is the hardware address (absent for interfaces without one).
	MAC string `json:"mac,omitempty"`
	// MTU in bytes.
	MTU int `json:"mtu"`
	// Up: the interface is administratively up (IFF_UP).
	Up bool `json:"up"`
	// Addresses are its IP addresses in CIDR form (10.0.0.5/24,
	// fe80::1/64), sorted.
	Addresses []string `json:"addresses,omitempty"`
}

// InterfaceRef names a network interface.
type InterfaceRef struct {
	Name string `json:"name"`
}
