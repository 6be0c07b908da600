package receiver

import (
	"slices"
	"time"

	"github.com/catops/cli/pkg/wire"
)

// HostState is what the receiver holds for one host, from the host stream
// (catops.host/v1) of catops, the host agent. Host returns a deep copy,
// and GET /api/state serves the same shape as JSON, under "hosts".
type HostState struct {
	// MachineID keys the host (the batches' machine_id); Hostname is the
	// host name of the last applied batch.
	MachineID string `json:"machine_id"`
	Hostname  string `json:"host"`
	// The identity of the last applied batch, as in NodeState.
	BatchIdentity

	// Info is the host's record, nil until a host_info event arrives.
	Info *wire.HostInfo `json:"info,omitempty"`
	// Filesystems are keyed by mountpoint, Interfaces by name.
	Filesystems map[string]wire.MountedFilesystem `json:"filesystems"`
	Interfaces  map[string]wire.NetInterface      `json:"interfaces"`
	// Sample is the latest host sample (the node stream's shape), nil until
	// one arrives. A snapshot does not remove it.
	Sample *wire.HostSample `json:"sample,omitempty"`
	// Snapshot is the snapshot in progress, nil when none is. Its
	// Confirmed keys are "filesystem <mountpoint>", "interface <name>" and
	// "host_info".
	Snapshot *SnapshotProgress `json:"snapshot,omitempty"`

	// LastBatchAt is when the receiver last applied a batch of the host
	// (Options.Now).
	LastBatchAt time.Time    `json:"last_batch_at,omitzero"`
	Counters    HostCounters `json:"counters"`
}

// HostCounters count what the receiver did for one host.
type HostCounters struct {
	BatchesApplied     uint64 `json:"batches_applied"`
	Duplicates         uint64 `json:"duplicates"`
	Conflicts          uint64 `json:"conflicts"`
	EventsApplied      uint64 `json:"events_applied"`
	SnapshotsCompleted uint64 `json:"snapshots_completed"`
	// Samples counts the host events applied.
	Samples uint64 `json:"samples"`
	// BytesReceived counts request body bytes as sent of the host's
	// applied and duplicate batches.
	BytesReceived uint64 `json:"bytes_received"`
}

func newHostState(machineID string) *HostState {
	return &HostState{MachineID: machineID, Filesystems: map[string]wire.MountedFilesystem{}, Interfaces: map[string]wire.NetInterface{}}
}

// clone deep-copies a host state, as NodeState.clone does.
func (s *HostState) clone() HostState {
	out := jsonClone(s, "host")
	out.LastSentAt = s.LastSentAt
	out.LastBatchAt = s.LastBatchAt
	return out
}

// Host returns a deep copy of the state of the host with machineID.
func (r *Receiver) Host(machineID string) (HostState, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, ok := r.hosts[machineID]
	if !ok {
		return HostState{}, false
	}
	return st.clone(), true
}

// Hosts returns the machine IDs of the hosts the receiver holds state for,
// sorted.
func (r *Receiver) Hosts() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	keys := make([]string, 0, len(r.hosts))
	for key := range r.hosts {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	return keys
}
