package wire

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// exampleHostEvents has one event of every type of the host stream, every
// field set once.
func exampleHostEvents() []HostEvent {
	mark := &SnapshotMark{ID: 1, Reason: ReasonStart}
	return []HostEvent{
		{Type: EventSnapshotBegin, Time: t0, Snapshot: mark},
		{Type: EventHostInfo, Time: t0, Info: &HostInfo{Hostname: "db-1", MachineID: "0123456789abcdef0123456789abcdef",
			BootTime: ptr(t1), OS: OSInfo{Name: "ubuntu", Family: "debian", Version: "24.04"},
			Kernel: KernelInfo{Version: "6.8.0-45-generic", Arch: "x86_64"}, CPU: CPUInfo{Model: "AMD EPYC 7B13", LogicalCores: ptr(8)},
			MemoryTotalBytes: ptr(uint64(32 << 30)), Virtualization: &Virtualization{System: "kvm", Role: "guest"},
			Errors: []string{"os: no ID in /etc/os-release (open /etc/os-release: permission denied)"}}},
		{Type: EventFilesystem, Time: t0, Filesystem: &MountedFilesystem{Mountpoint: "/", Device: "/dev/nvme0n1p1", FSType: "ext4"}},
		{Type: EventInterface, Time: t0, Interface: &NetInterface{Name: "eth0", MAC: "02:42:ac:11:00:02", MTU: 1500, Up: true,
			Addresses: []string{"10.0.0.5/24", "fe80::42:acff:fe11:2/64"}}},
		{Type: EventSnapshotEnd, Time: t0, Snapshot: mark},
		{Type: EventHost, Time: t0, Host: &HostSample{Source: HostSourceProc, Time: t0, UptimeSeconds: ptr(uint64(3600)),
			CPU: CPUSample{LogicalCores: ptr(8), UsagePercent: ptr(12.5)}, Load: &LoadSample{Load1: 0.5, Load5: 0.4, Load15: 0.3},
			Memory:      &MemorySample{TotalBytes: 32 << 30, AvailableBytes: 24 << 30, UsedBytes: 8 << 30, UsedPercent: 25},
			Filesystems: []Filesystem{{Mountpoint: "/", Device: "/dev/nvme0n1p1", FSType: "ext4", TotalBytes: 100 << 30, UsedBytes: 40 << 30, FreeBytes: 55 << 30, UsedPercent: 42.1, InodesTotal: 6553600, InodesUsed: 300000}},
			Network:     []NetIface{{Name: "eth0", RxBytes: 1 << 30, TxBytes: 1 << 29, RxBytesPerSec: ptr(1024.0), TxBytesPerSec: ptr(512.0)}}}},
		{Type: EventFilesystemDelete, Time: t0, FilesystemRef: &FilesystemRef{Mountpoint: "/mnt/backup"}},
		{Type: EventInterfaceDelete, Time: t0, InterfaceRef: &InterfaceRef{Name: "wg0"}},
	}
}

func TestHostBatchGolden(t *testing.T) {
	events := exampleHostEvents()
	raw := RawBatch{Header: Header{Version: HostVersion, Host: "db-1", MachineID: "0123456789abcdef0123456789abcdef",
		AgentVersion: "1.0.0", Session: "5a6b7c8d9e0f1a2b", Seq: 1, BatchID: "5a6b7c8d9e0f1a2b-1", SentAt: t0}}
	for _, e := range events {
		b, err := json.Marshal(e)
		require.NoError(t, err)
		raw.Events = append(raw.Events, b)
	}
	b, err := json.Marshal(raw)
	require.NoError(t, err)
	golden(t, "host.golden.json", b)

	var back HostBatch
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, raw.Header, back.Header)
	assert.Equal(t, events, back.Events)
	seen := map[EventType]bool{}
	for _, e := range back.Events {
		seen[e.Type] = true
	}
	for _, typ := range []EventType{EventSnapshotBegin, EventSnapshotEnd, EventHostInfo, EventFilesystem, EventFilesystemDelete, EventInterface, EventInterfaceDelete, EventHost} {
		assert.True(t, seen[typ], "the example has a %s event", typ)
	}
	// The host event is the node stream's, byte for byte.
	nodeHost, err := json.Marshal(Event{Type: EventHost, Time: t0, Host: events[5].Host})
	require.NoError(t, err)
	hostHost, err := json.Marshal(events[5])
	require.NoError(t, err)
	assert.JSONEq(t, string(nodeHost), string(hostHost))
}
