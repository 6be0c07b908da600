package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/catops/cli/pkg/receiver"
	"github.com/catops/cli/pkg/wire"
)

// A plain server's row: its system, its latest sample, its interfaces;
// what it could not read is unknown and named below.
func TestViewShowsServers(t *testing.T) {
	cpu := 12.5
	db := receiver.HostState{MachineID: "0123456789abcdef0123456789abcdef", Hostname: "db-1",
		BatchIdentity: receiver.BatchIdentity{Session: "h1", LastSeq: 42}, LastBatchAt: now.Add(-3 * time.Second),
		Info: &wire.HostInfo{Hostname: "db-1", OS: wire.OSInfo{Name: "ubuntu", Version: "24.04"}, Kernel: wire.KernelInfo{Version: "6.8.0-45-generic"}},
		Sample: &wire.HostSample{CPU: wire.CPUSample{UsagePercent: &cpu}, Load: &wire.LoadSample{Load1: 0.5, Load5: 0.25, Load15: 0.125},
			Memory:      &wire.MemorySample{TotalBytes: 32 << 30, UsedBytes: 8 << 30},
			Filesystems: []wire.Filesystem{{Mountpoint: "/", TotalBytes: 100 << 30, UsedBytes: 40 << 30}}},
		Interfaces: map[string]wire.NetInterface{"eth0": {Name: "eth0", Up: true, Addresses: []string{"10.0.0.5/24"}}, "eth1": {Name: "eth1"}},
	}
	bare := receiver.HostState{MachineID: "fedcba9876543210fedcba9876543210", Hostname: "new-1", LastBatchAt: now,
		Info: &wire.HostInfo{Hostname: "new-1", Errors: []string{"os: no ID in /etc/os-release"}}}
	var b bytes.Buffer
	render(&b, viewState{hosts: []receiver.HostState{db, bare}}, now, nil)
	out := b.String()
	assert.NotContains(t, out, "No node has reported yet", "servers reported")
	assert.Contains(t, out, "SERVER")
	row := lineWith(t, out, "db-1 ")
	for _, cell := range []string{"ubuntu 24.04", "6.8.0-45-generic", "12.5", "8.0 / 32.0", "40.0 / 100.0", "0.50 0.25 0.12", "eth0 10.0.0.5/24, eth1 (down)", "42", "3s ago"} {
		assert.Contains(t, row, cell)
	}
	assert.Contains(t, lineWith(t, out, "new-1 "), unknown)
	assert.Contains(t, out, "host reading failed on new-1: os: no ID in /etc/os-release")
}

func lineWith(t *testing.T, out, s string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, s) {
			return l
		}
	}
	t.Fatalf("no line starts with %q in:\n%s", s, out)
	return ""
}
