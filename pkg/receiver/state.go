package receiver

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/catops/cli/pkg/wire"
)

// NodeState is what the receiver holds for one node. Node returns a deep
// copy, and GET /api/state serves the same shape as JSON.
type NodeState struct {
	Name string `json:"name"`

	// Delta protocol: the identity of the last applied batch.
	BatchIdentity

	// Pods are keyed "namespace/name" (PodKey).
	Pods map[string]wire.Pod `json:"pods"`
	// PodChangedAt is, per pod, the agent's time of the last upsert that
	// changed its record.
	PodChangedAt map[string]time.Time `json:"pod_changed_at"`
	// Node is the latest node record, nil until a node event arrives.
	Node *wire.Node `json:"node,omitempty"`
	// Host is the latest host sample, nil until a host event arrives.
	Host  *wire.HostSample `json:"host,omitempty"`
	Usage UsageState       `json:"usage"`
	// Snapshot is the snapshot in progress, nil when none is.
	Snapshot *SnapshotProgress `json:"snapshot,omitempty"`

	// Legacy is the last legacy snapshot received for the node. It is a
	// separate view: legacy snapshots never touch the delta state above,
	// and delta batches never touch it.
	Legacy *LegacyView `json:"legacy,omitempty"`

	// LastBatchAt is when the receiver last applied a delta batch or a
	// legacy snapshot for the node (Options.Now).
	LastBatchAt time.Time    `json:"last_batch_at,omitzero"`
	Counters    NodeCounters `json:"counters"`
}

// UsageState is the node's Metrics API usage as the receiver knows it.
// Before the first usage event Available is false and Reason is empty.
type UsageState struct {
	Available bool   `json:"available"`
	Source    string `json:"source,omitempty"`
	// Reason says why usage is unknown (Available false).
	Reason string `json:"reason,omitempty"`
	// Node is the node's latest reading, nil when unknown.
	Node *wire.ResourceUsage `json:"node,omitempty"`
	// Pods holds the latest reading of each pod, keyed "namespace/name".
	Pods map[string]wire.ResourceUsage `json:"pods"`
}

// SnapshotProgress is a snapshot between its begin and its end.
type SnapshotProgress struct {
	ID     uint64 `json:"id"`
	Reason string `json:"reason,omitempty"`
	// Confirmed holds the keys of the pods upserted since the begin; at the
	// matching end every other pod is removed. (A cluster's: the keys of
	// its records, see ClusterState.Snapshot.)
	Confirmed map[string]bool `json:"confirmed"`
}

// LegacyView is a legacy (wire.Snapshot) report as received.
type LegacyView struct {
	ReceivedAt time.Time     `json:"received_at"`
	Snapshot   wire.Snapshot `json:"snapshot"`
}

// NodeCounters count what the receiver did for one node.
type NodeCounters struct {
	BatchesApplied uint64 `json:"batches_applied"`
	Duplicates     uint64 `json:"duplicates"`
	Conflicts      uint64 `json:"conflicts"`
	EventsApplied  uint64 `json:"events_applied"`
	// ReplayedBatches counts applied batches marked replay: an earlier
	// run's batches, sent from the agent's spool after a restart.
	ReplayedBatches uint64 `json:"replayed_batches"`
	// SnapshotsCompleted counts snapshot_end events that matched a begin.
	SnapshotsCompleted uint64 `json:"snapshots_completed"`
	LegacySnapshots    uint64 `json:"legacy_snapshots"`
	// BytesReceived counts request body bytes as sent (compressed or not)
	// of the node's applied and duplicate batches and legacy snapshots.
	BytesReceived uint64 `json:"bytes_received"`
}

// PodKey is the key of a pod in NodeState.Pods and UsageState.Pods.
func PodKey(namespace, name string) string {
	return namespace + "/" + name
}

func newNodeState(name string) *NodeState {
	return &NodeState{
		Name:         name,
		Pods:         map[string]wire.Pod{},
		PodChangedAt: map[string]time.Time{},
		Usage:        UsageState{Pods: map[string]wire.ResourceUsage{}},
	}
}

// clone deep-copies a node state. The stored wire values were all decoded
// from JSON, so a JSON round trip reproduces them exactly, and unlike a
// hand-written copy it cannot silently share a pointer field that a later
// version of the wire types adds.
func (s *NodeState) clone() NodeState {
	out := jsonClone(s, "node")
	// Keep the receiver's own times exactly (the round trip would drop
	// their monotonic reading and may change their location).
	out.LastSentAt = s.LastSentAt
	out.LastBatchAt = s.LastBatchAt
	if s.Legacy != nil {
		out.Legacy.ReceivedAt = s.Legacy.ReceivedAt
	}
	return out
}

// jsonClone deep-copies a state by a JSON round trip (what names it in a
// panic).
func jsonClone[T any](s *T, what string) T {
	b, err := json.Marshal(s)
	if err != nil {
		// Unreachable: every field is plain data decoded from JSON.
		panic(fmt.Sprintf("receiver: marshal %s state: %v", what, err))
	}
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		panic(fmt.Sprintf("receiver: unmarshal %s state: %v", what, err))
	}
	return out
}

// BatchIdentity is the identity of the last batch applied to a node's or a
// cluster's state: its JSON fields sit in the state's own object.
type BatchIdentity struct {
	Session      string    `json:"session,omitempty"`
	LastSeq      uint64    `json:"last_seq"`
	LastBatchID  string    `json:"last_batch_id,omitempty"`
	LastSentAt   time.Time `json:"last_sent_at,omitzero"`
	AgentVersion string    `json:"agent_version,omitempty"`
	// Namespace is the namespace the sender runs in (wire.Header.Namespace).
	Namespace string `json:"namespace,omitempty"`
}

// took records h as the last applied batch's identity.
func (id *BatchIdentity) took(h *wire.Header) {
	id.Session, id.LastSeq, id.LastBatchID = h.Session, h.Seq, h.BatchID
	id.LastSentAt, id.AgentVersion, id.Namespace = h.SentAt, h.AgentVersion, h.Namespace
}
