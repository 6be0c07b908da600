package receiver

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/catops/cli/pkg/wire"
)

const testMachineID = "0123456789abcdef0123456789abcdef"

func hbatch(session string, seq uint64, events ...wire.HostEvent) wire.HostBatch {
	return wire.HostBatch{Header: wire.Header{Version: wire.HostVersion, Host: "db-1", MachineID: testMachineID, AgentVersion: "1.0.0",
		Session: session, Seq: seq, BatchID: session + "-" + itoa(seq), SentAt: testNow}, Events: events}
}

func itoa(n uint64) string { b, _ := json.Marshal(n); return string(b) }

func hbegin(id uint64) wire.HostEvent {
	return wire.HostEvent{Type: wire.EventSnapshotBegin, Time: testNow, Snapshot: &wire.SnapshotMark{ID: id, Reason: wire.ReasonStart}}
}

func hend(id uint64) wire.HostEvent {
	return wire.HostEvent{Type: wire.EventSnapshotEnd, Time: testNow, Snapshot: &wire.SnapshotMark{ID: id, Reason: wire.ReasonStart}}
}

func hinfo(kernel string) wire.HostEvent {
	return wire.HostEvent{Type: wire.EventHostInfo, Time: testNow, Info: &wire.HostInfo{Hostname: "db-1", MachineID: testMachineID, Kernel: wire.KernelInfo{Version: kernel}}}
}

func hfs(mountpoint string) wire.HostEvent {
	return wire.HostEvent{Type: wire.EventFilesystem, Time: testNow, Filesystem: &wire.MountedFilesystem{Mountpoint: mountpoint, Device: "/dev/sda1", FSType: "ext4"}}
}

func hiface(name string) wire.HostEvent {
	return wire.HostEvent{Type: wire.EventInterface, Time: testNow, Interface: &wire.NetInterface{Name: name, MTU: 1500, Up: true}}
}

func hsample(cpu float64) wire.HostEvent {
	return wire.HostEvent{Type: wire.EventHost, Time: testNow, Host: &wire.HostSample{Source: wire.HostSourceProc, Time: testNow, CPU: wire.CPUSample{UsagePercent: &cpu}}}
}

func (h *harness) sendHost(b wire.HostBatch) (int, wire.Response) {
	h.t.Helper()
	rec, resp := h.do(request{path: wire.HostPath, contentType: wire.ContentTypeHost, encoding: "gzip",
		body: mustJSON(h.t, b), headers: identityHeaders(wire.Batch{Header: b.Header})})
	return rec.Code, resp
}

func TestHostStreamSnapshotsDeltasAndSamples(t *testing.T) {
	h := newHarness(t)
	code, resp := h.sendHost(hbatch("s1", 1, hbegin(1), hinfo("6.8.0"), hfs("/"), hfs("/data"), hiface("eth0"), hend(1), hsample(10)))
	require.Equal(t, http.StatusOK, code, "%+v", resp)
	st, ok := h.r.Host(testMachineID)
	require.True(t, ok)
	assert.Equal(t, "db-1", st.Hostname)
	assert.Equal(t, "6.8.0", st.Info.Kernel.Version)
	assert.ElementsMatch(t, []string{"/", "/data"}, keysOf(st.Filesystems))
	assert.Equal(t, []string{"eth0"}, keysOf(st.Interfaces))
	assert.Equal(t, 10.0, *st.Sample.CPU.UsagePercent)
	assert.Equal(t, uint64(1), st.Counters.SnapshotsCompleted)
	assert.Equal(t, []string{testMachineID}, h.r.Hosts())

	// Deltas: a filesystem gone, an interface gone, a new sample.
	code, _ = h.sendHost(hbatch("s1", 2,
		wire.HostEvent{Type: wire.EventFilesystemDelete, Time: testNow, FilesystemRef: &wire.FilesystemRef{Mountpoint: "/data"}},
		wire.HostEvent{Type: wire.EventInterfaceDelete, Time: testNow, InterfaceRef: &wire.InterfaceRef{Name: "eth0"}}, hsample(20)))
	require.Equal(t, http.StatusOK, code)
	st, _ = h.r.Host(testMachineID)
	assert.Equal(t, []string{"/"}, keysOf(st.Filesystems))
	assert.Empty(t, st.Interfaces)
	assert.Equal(t, 20.0, *st.Sample.CPU.UsagePercent)

	// A duplicate is answered 200 and not applied; a gap or a new session
	// without a snapshot is 409.
	code, resp = h.sendHost(hbatch("s1", 2, hsample(99)))
	assert.Equal(t, http.StatusOK, code)
	assert.True(t, resp.Duplicate)
	code, resp = h.sendHost(hbatch("s1", 4, hsample(99)))
	assert.Equal(t, http.StatusConflict, code)
	assert.Contains(t, resp.Error, "resync required")
	code, _ = h.sendHost(hbatch("s2", 1, hsample(99)))
	assert.Equal(t, http.StatusConflict, code)

	// A new session's snapshot sweeps what it does not name.
	code, _ = h.sendHost(hbatch("s2", 1, hbegin(1), hinfo("6.8.1"), hfs("/backup"), hend(1)))
	require.Equal(t, http.StatusOK, code)
	st, _ = h.r.Host(testMachineID)
	assert.Equal(t, []string{"/backup"}, keysOf(st.Filesystems))
	assert.Equal(t, "6.8.1", st.Info.Kernel.Version)
	assert.Equal(t, 20.0, *st.Sample.CPU.UsagePercent, "a snapshot does not remove the sample")
	assert.Equal(t, uint64(2), st.Counters.Conflicts)
	assert.Equal(t, uint64(1), st.Counters.Duplicates)

	// GET /api/state serves hosts.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, StatePath, nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	h.h.ServeHTTP(rec, req)
	var state State
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &state))
	assert.Equal(t, "db-1", state.Hosts[testMachineID].Hostname)
}

func TestHostStreamRefusesWhatItCannotApply(t *testing.T) {
	h := newHarness(t)
	for name, tc := range map[string]struct {
		b    wire.HostBatch
		want string
	}{
		"no machine id":  {func() wire.HostBatch { b := hbatch("s", 1, hbegin(1), hend(1)); b.MachineID = ""; return b }(), "machine_id: must not be empty"},
		"bad machine id": {func() wire.HostBatch { b := hbatch("s", 1, hbegin(1), hend(1)); b.MachineID = "DB-1"; return b }(), `machine_id: want 32 lowercase hex digits (machine-id(5)), got "DB-1"`},
		"no host":        {func() wire.HostBatch { b := hbatch("s", 1, hbegin(1), hend(1)); b.Host = ""; return b }(), "host: must not be empty"},
		"node version":   {func() wire.HostBatch { b := hbatch("s", 1, hbegin(1), hend(1)); b.Version = wire.Version; return b }(), `version: want "catops.host/v1"`},
		"two payloads":   {hbatch("s", 1, wire.HostEvent{Type: wire.EventFilesystem, Time: testNow, Filesystem: &wire.MountedFilesystem{Mountpoint: "/"}, Host: &wire.HostSample{}}), "events[0]: filesystem event needs exactly"},
		"no mountpoint":  {hbatch("s", 1, wire.HostEvent{Type: wire.EventFilesystem, Time: testNow, Filesystem: &wire.MountedFilesystem{}}), "events[0].filesystem.mountpoint: must not be empty"},
		"node event":     {hbatch("s", 1, wire.HostEvent{Type: wire.EventPodUpsert, Time: testNow}), `events[0].type: unknown event type "pod_upsert"`},
	} {
		code, resp := h.sendHost(tc.b)
		assert.Equal(t, http.StatusBadRequest, code, name)
		assert.Contains(t, resp.Error, tc.want, name)
	}
	assert.Empty(t, h.r.Hosts(), "nothing applied")

	// The host path takes the host stream's Content-Type only, and the
	// node path does not take it.
	rec, _ := h.do(request{path: wire.HostPath, contentType: wire.ContentTypeDelta, body: mustJSON(t, hbatch("s", 1, hbegin(1), hend(1)))})
	assert.Equal(t, http.StatusUnsupportedMediaType, rec.Code)
	rec, _ = h.do(request{path: wire.Path, contentType: wire.ContentTypeHost, body: mustJSON(t, hbatch("s", 1, hbegin(1), hend(1)))})
	assert.Equal(t, http.StatusUnsupportedMediaType, rec.Code)
}
