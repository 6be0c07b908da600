package receiver

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"go.uber.org/zap"

	"github.com/catops/cli/pkg/wire"
)

func (r *Receiver) ingestHostBatch(w http.ResponseWriter, req *http.Request, body []byte, wireBytes int64) {
	var b wire.HostBatch
	if err := json.Unmarshal(body, &b); err != nil {
		r.reject(w, req, errorf(http.StatusBadRequest, "body: invalid host batch JSON: %v", err))
		return
	}
	if err := validateHostBatch(&b, r.known); err != nil {
		r.reject(w, req, errorf(http.StatusBadRequest, "%v", err))
		return
	}
	r.ingest(w, req, (*hostBatch)(&b), wireBytes)
}

// hostBatch is a host stream's batch on the ingest path.
type hostBatch wire.HostBatch

func (b *hostBatch) header() *wire.Header { return &b.Header }
func (b *hostBatch) events() int          { return len(b.Events) }

func (b *hostBatch) logFields() []zap.Field {
	return []zap.Field{zap.String("host", clip(b.Host)), zap.String("machineId", clip(b.MachineID))}
}

func (b *hostBatch) admitLocked(r *Receiver) (verdict, string) {
	var session string
	var seq uint64
	if st := r.hosts[b.MachineID]; st != nil {
		session, seq = st.Session, st.LastSeq
	}
	return admitSeq(session, seq, &b.Header, len(b.Events) > 0 && b.Events[0].Type == wire.EventSnapshotBegin, "host", b.MachineID)
}

func (b *hostBatch) duplicateLocked(r *Receiver, wireBytes int64) {
	st := r.hosts[b.MachineID]
	st.Counters.Duplicates++
	st.Counters.BytesReceived += uint64(wireBytes) //nolint:gosec // a body's length, not negative
}

func (b *hostBatch) refusedLocked(r *Receiver, _ verdict) {
	if st := r.hosts[b.MachineID]; st != nil {
		st.Counters.Conflicts++
	}
}

func (b *hostBatch) applyLocked(r *Receiver, wireBytes int64) {
	st, ok := r.hosts[b.MachineID]
	if !ok {
		st = newHostState(b.MachineID)
		r.hosts[b.MachineID] = st
	}
	for i := range b.Events {
		applyHostEvent(st, &b.Events[i])
	}
	st.Hostname = b.Host
	st.took(&b.Header)
	st.LastBatchAt = r.now()
	st.Counters.BatchesApplied++
	st.Counters.EventsApplied += uint64(len(b.Events))
	st.Counters.BytesReceived += uint64(wireBytes) //nolint:gosec // a body's length, not negative
	if r.onHostBatch != nil {
		r.onHostBatch((*wire.HostBatch)(b))
	}
}

func (b *hostBatch) applied(r *Receiver) {
	if r.onHostApply != nil {
		r.onHostApply(b.MachineID)
	}
}

// The keys a host snapshot confirms (SnapshotProgress.Confirmed).
const confirmHostInfo = "host_info"

// applyHostEvent applies one validated host event. Snapshots work as in
// the node stream, over the record, the filesystems and the interfaces;
// the sample is replaced by its own events only.
func applyHostEvent(st *HostState, e *wire.HostEvent) {
	switch e.Type {
	case wire.EventSnapshotBegin:
		st.Snapshot = openSnapshot(e.Snapshot)
	case wire.EventSnapshotEnd:
		if !closes(st.Snapshot, e.Snapshot) {
			return // Not the snapshot in progress: ignored.
		}
		sweep(st.Filesystems, st.Snapshot, string(wire.EventFilesystem))
		sweep(st.Interfaces, st.Snapshot, string(wire.EventInterface))
		if !st.Snapshot.Confirmed[confirmHostInfo] {
			st.Info = nil
		}
		st.Snapshot = nil
		st.Counters.SnapshotsCompleted++
	case wire.EventHostInfo:
		info := *e.Info
		st.Info = &info
		confirm(st.Snapshot, confirmHostInfo)
	case wire.EventFilesystem:
		st.Filesystems[e.Filesystem.Mountpoint] = *e.Filesystem
		confirm(st.Snapshot, confirmKey(string(wire.EventFilesystem), e.Filesystem.Mountpoint))
	case wire.EventFilesystemDelete:
		delete(st.Filesystems, e.FilesystemRef.Mountpoint)
		unconfirm(st.Snapshot, confirmKey(string(wire.EventFilesystem), e.FilesystemRef.Mountpoint))
	case wire.EventInterface:
		st.Interfaces[e.Interface.Name] = *e.Interface
		confirm(st.Snapshot, confirmKey(string(wire.EventInterface), e.Interface.Name))
	case wire.EventInterfaceDelete:
		delete(st.Interfaces, e.InterfaceRef.Name)
		unconfirm(st.Snapshot, confirmKey(string(wire.EventInterface), e.InterfaceRef.Name))
	case wire.EventHost:
		hs := *e.Host
		st.Sample = &hs
		st.Counters.Samples++
	}
}

// validateHostBatch checks a decoded host batch before anything of it is
// applied, as validateBatch checks a node's: version, host, machine_id,
// session, batch_id, seq, then every event. known, when not nil, restricts
// the event types accepted.
func validateHostBatch(b *wire.HostBatch, known map[wire.EventType]bool) error {
	switch {
	case b.Version != wire.HostVersion:
		return fmt.Errorf("version: want %q, got %q", wire.HostVersion, clip(b.Version))
	case b.MachineID == "":
		return errors.New("machine_id: must not be empty")
	case !wire.ValidMachineID(b.MachineID):
		return fmt.Errorf("machine_id: want 32 lowercase hex digits (machine-id(5)), got %q", clip(b.MachineID))
	case b.Host == "":
		return errors.New("host: must not be empty")
	}
	if err := validateSequence(&b.Header); err != nil {
		return err
	}
	for i := range b.Events {
		if err := validateKnown(i, b.Events[i].Type, known); err != nil {
			return err
		}
		if err := validateHostEvent(&b.Events[i]); err != nil {
			return fmt.Errorf("events[%d]%w", i, err)
		}
	}
	return nil
}

// hostPayloadField names the one payload field each event type of the host
// stream carries.
var hostPayloadField = map[wire.EventType]string{
	wire.EventSnapshotBegin:    "snapshot",
	wire.EventSnapshotEnd:      "snapshot",
	wire.EventHostInfo:         "info",
	wire.EventFilesystem:       "filesystem",
	wire.EventFilesystemDelete: "filesystem_ref",
	wire.EventInterface:        "interface",
	wire.EventInterfaceDelete:  "interface_ref",
	wire.EventHost:             "host",
}

func validateHostEvent(e *wire.HostEvent) error {
	var set []string
	for _, p := range []struct {
		field string
		set   bool
	}{
		{"snapshot", e.Snapshot != nil}, {"info", e.Info != nil}, {"filesystem", e.Filesystem != nil},
		{"filesystem_ref", e.FilesystemRef != nil}, {"interface", e.Interface != nil}, {"interface_ref", e.InterfaceRef != nil},
		{"host", e.Host != nil},
	} {
		if p.set {
			set = append(set, p.field)
		}
	}
	if err := validatePayload(e.Type, hostPayloadField, set); err != nil {
		return err
	}
	switch e.Type {
	case wire.EventHostInfo:
		return required(".info", "machine_id", e.Info.MachineID)
	case wire.EventFilesystem:
		return required(".filesystem", "mountpoint", e.Filesystem.Mountpoint)
	case wire.EventFilesystemDelete:
		return required(".filesystem_ref", "mountpoint", e.FilesystemRef.Mountpoint)
	case wire.EventInterface:
		return required(".interface", "name", e.Interface.Name)
	case wire.EventInterfaceDelete:
		return required(".interface_ref", "name", e.InterfaceRef.Name)
	}
	return nil
}
