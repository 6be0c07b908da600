package hoststream

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/catops/cli/pkg/wire"
)

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func reading(kernel string, mounts []string, ifaces map[string]string) Reading {
	r := Reading{Info: wire.HostInfo{Hostname: "db-1", MachineID: "0123456789abcdef0123456789abcdef", Kernel: wire.KernelInfo{Version: kernel}},
		Sample: wire.HostSample{Time: t0}}
	for _, m := range mounts {
		r.Sample.Filesystems = append(r.Sample.Filesystems, wire.Filesystem{Mountpoint: m, Device: "/dev/x" + m, FSType: "ext4", TotalBytes: 1 << 30})
	}
	r.Filesystems = FilesystemsOf(&r.Sample)
	r.Interfaces = []wire.NetInterface{}
	for name, addr := range ifaces {
		r.Interfaces = append(r.Interfaces, wire.NetInterface{Name: name, MTU: 1500, Up: true, Addresses: []string{addr}})
	}
	return r
}

// decode returns each event's type and its record's key.
func decode(t *testing.T, evs []wire.EncodedEvent) []string {
	t.Helper()
	var out []string
	for _, ev := range evs {
		var e wire.HostEvent
		require.NoError(t, json.Unmarshal(ev.Data, &e))
		require.Equal(t, ev.Type, e.Type)
		switch {
		case e.Filesystem != nil:
			out = append(out, string(e.Type)+" "+e.Filesystem.Mountpoint)
		case e.FilesystemRef != nil:
			out = append(out, string(e.Type)+" "+e.FilesystemRef.Mountpoint)
		case e.Interface != nil:
			out = append(out, string(e.Type)+" "+e.Interface.Name)
		case e.InterfaceRef != nil:
			out = append(out, string(e.Type)+" "+e.InterfaceRef.Name)
		case e.Info != nil:
			out = append(out, string(e.Type)+" "+e.Info.Kernel.Version)
		case e.Snapshot != nil:
			out = append(out, string(e.Type)+" "+e.Snapshot.Reason)
		default:
			out = append(out, string(e.Type))
		}
	}
	return out
}

func TestSnapshotThenOnlyWhatChanged(t *testing.T) {
	s := New()
	s.Observe(reading("6.8.0", []string{"/", "/data"}, map[string]string{"eth0": "10.0.0.5/24"}))
	assert.Equal(t, []string{"snapshot_begin start", "host_info 6.8.0", "filesystem /", "filesystem /data", "interface eth0", "snapshot_end start"},
		decode(t, s.Snapshot(wire.ReasonStart, t0)))

	s.Observe(reading("6.8.0", []string{"/", "/data"}, map[string]string{"eth0": "10.0.0.5/24"}))
	assert.Empty(t, decode(t, s.Changes(t0)), "nothing changed")

	// A kernel upgrade, a filesystem mounted and one gone, an address
	// changed, an interface gone and one new.
	s.Observe(reading("6.8.1", []string{"/", "/backup"}, map[string]string{"eth0": "10.0.0.6/24", "wg0": "10.9.0.1/32"}))
	assert.Equal(t, []string{"host_info 6.8.1", "filesystem /backup", "filesystem_delete /data", "interface eth0", "interface wg0"},
		decode(t, s.Changes(t0)))
	s.Observe(reading("6.8.1", []string{"/", "/backup"}, map[string]string{"wg0": "10.9.0.1/32"}))
	assert.Equal(t, []string{"interface_delete eth0"}, decode(t, s.Changes(t0)))

	// A periodic snapshot sends every record again.
	assert.Equal(t, []string{"snapshot_begin periodic", "host_info 6.8.1", "filesystem /", "filesystem /backup", "interface wg0", "snapshot_end periodic"},
		decode(t, s.Snapshot(wire.ReasonPeriodic, t0)))
}

// A reading that failed is unknown, not gone: the records last read stay.
func TestFailedReadingsKeepTheRecords(t *testing.T) {
	s := New()
	s.Observe(reading("6.8.0", []string{"/"}, map[string]string{"eth0": "10.0.0.5/24"}))
	s.Snapshot(wire.ReasonStart, t0)
	r := reading("6.8.0", nil, nil)
	r.Sample.Errors = []string{"filesystems: open /proc/1/mountinfo: permission denied"}
	r.Filesystems = FilesystemsOf(&r.Sample)
	r.Interfaces = nil
	assert.Nil(t, r.Filesystems)
	assert.True(t, Failed(&r.Sample, "filesystems"))
	assert.False(t, Failed(&r.Sample, "filesystem"), "a reading's name is matched whole")
	s.Observe(r)
	assert.Empty(t, decode(t, s.Changes(t0)))
	assert.Equal(t, []string{"snapshot_begin resync", "host_info 6.8.0", "filesystem /", "interface eth0", "snapshot_end resync"},
		decode(t, s.Snapshot(wire.ReasonResync, t0)))

	// One mount the sample could not measure (statfs failed): still
	// mounted, so no delete; one gone from the table: deleted.
	s.Observe(reading("6.8.0", []string{"/", "/data", "/old"}, map[string]string{"eth0": "10.0.0.5/24"}))
	assert.Equal(t, []string{"filesystem /data", "filesystem /old"}, decode(t, s.Changes(t0)))
	r = reading("6.8.0", []string{"/"}, map[string]string{"eth0": "10.0.0.5/24"})
	r.Sample.Errors = []string{"filesystem /data: statfs /data: input/output error"}
	s.Observe(r)
	assert.Equal(t, []string{"filesystem_delete /old"}, decode(t, s.Changes(t0)))
	s.Observe(reading("6.8.0", []string{"/"}, map[string]string{"eth0": "10.0.0.5/24"}))
	assert.Equal(t, []string{"filesystem_delete /data"}, decode(t, s.Changes(t0)), "gone from the mount table")
}

func TestSampleEvent(t *testing.T) {
	ev, err := Sample(wire.HostSample{Time: t0, CPU: wire.CPUSample{LogicalCores: new(4)}})
	require.NoError(t, err)
	assert.Equal(t, []string{"host"}, decode(t, []wire.EncodedEvent{ev}))
	nan := 0.0
	nan /= nan
	_, err = Sample(wire.HostSample{Time: t0, CPU: wire.CPUSample{UsagePercent: &nan}})
	assert.ErrorContains(t, err, "encode the host sample")
}
