package receiver

import (
	"slices"
	"time"

	"github.com/catops/cli/pkg/wire"
)

// MaxClusterWarnings bounds ClusterState.Warnings: past it, the warnings
// last seen longest ago are dropped.
const MaxClusterWarnings = 1000

// ClusterState is what the receiver holds for one cluster, from the cluster
// stream (catops.k8s-cluster/v1). Cluster returns a deep copy, and GET
// /api/state serves the same shape as JSON, under "clusters".
type ClusterState struct {
	// Key is the receiver's key of the cluster (ClusterKey).
	Key string `json:"key"`
	// ID and Name are the cluster_id (the kube-system namespace's UID) and
	// the cluster name of the last applied batch, each empty when absent.
	ID   string `json:"cluster_id,omitempty"`
	Name string `json:"cluster,omitempty"`

	// Leader is the lease term of the last applied batch: which cluster
	// reporter sends, under which epoch. A batch of a lower epoch is
	// refused while this leader was heard from (LastBatchAt) within twice
	// its LeaseDurationSeconds.
	Leader *wire.Leader `json:"leader,omitempty"`
	// The identity of the last applied batch, as in NodeState.
	BatchIdentity

	// Workloads are keyed "kind/namespace/name" (WorkloadKey).
	Workloads map[string]wire.WorkloadStatus `json:"workloads"`
	// PendingPods, the pods no node was chosen for, are keyed
	// "namespace/name" (PodKey).
	PendingPods map[string]wire.PendingPod `json:"pending_pods"`
	// Namespaces are keyed by name.
	Namespaces map[string]wire.Namespace `json:"namespaces"`
	// Summary is the latest cluster summary, nil until a cluster event
	// arrives. A snapshot does not remove it.
	Summary *wire.ClusterSummary `json:"summary,omitempty"`
	// Warnings hold the latest record of each Warning event, keyed by the
	// Event's UID: at most MaxClusterWarnings, those seen most recently
	// (LastSeen). A snapshot does not remove them.
	Warnings map[string]wire.Warning `json:"warnings"`
	// Snapshot is the snapshot in progress, nil when none is. Its
	// Confirmed keys are the record's payload field and key, space
	// separated ("workload Deployment/shop/web", "pending_pod shop/web-0",
	// "namespace shop").
	Snapshot *SnapshotProgress `json:"snapshot,omitempty"`

	// LastBatchAt is when the receiver last applied a batch of the cluster
	// (Options.Now).
	LastBatchAt time.Time       `json:"last_batch_at,omitzero"`
	Counters    ClusterCounters `json:"counters"`
}

// ClusterCounters count what the receiver did for one cluster.
type ClusterCounters struct {
	BatchesApplied uint64 `json:"batches_applied"`
	Duplicates     uint64 `json:"duplicates"`
	// Conflicts counts batches answered 409, Superseded those among them
	// refused for an older leader epoch.
	Conflicts     uint64 `json:"conflicts"`
	Superseded    uint64 `json:"superseded"`
	EventsApplied uint64 `json:"events_applied"`
	// SnapshotsCompleted counts snapshot_end events that matched a begin.
	SnapshotsCompleted uint64 `json:"snapshots_completed"`
	// BytesReceived counts request body bytes as sent (compressed or not)
	// of the cluster's applied and duplicate batches.
	BytesReceived uint64 `json:"bytes_received"`
}

// ClusterKey is the key of a cluster in the receiver: its cluster_id, or
// its name when it has no cluster_id ("" when it has neither).
func ClusterKey(clusterID, name string) string {
	if clusterID != "" {
		return clusterID
	}
	return name
}

// WorkloadKey is the key of a workload in ClusterState.Workloads:
// "Deployment/shop/web".
func WorkloadKey(kind, namespace, name string) string {
	return kind + "/" + namespace + "/" + name
}

func newClusterState(key string) *ClusterState {
	return &ClusterState{
		Key:         key,
		Workloads:   map[string]wire.WorkloadStatus{},
		PendingPods: map[string]wire.PendingPod{},
		Namespaces:  map[string]wire.Namespace{},
		Warnings:    map[string]wire.Warning{},
	}
}

// clone deep-copies a cluster state, as NodeState.clone does.
func (s *ClusterState) clone() ClusterState {
	out := jsonClone(s, "cluster")
	out.LastSentAt = s.LastSentAt
	out.LastBatchAt = s.LastBatchAt
	return out
}

// Cluster returns a deep copy of the state of the cluster with the key
// (ClusterKey).
func (r *Receiver) Cluster(key string) (ClusterState, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, ok := r.clusters[key]
	if !ok {
		return ClusterState{}, false
	}
	return st.clone(), true
}

// Clusters returns the keys of the clusters the receiver holds state for,
// sorted.
func (r *Receiver) Clusters() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	keys := make([]string, 0, len(r.clusters))
	for key := range r.clusters {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	return keys
}

// clusterLocked returns the cluster's state, creating it. r.mu must be
// held.
func (r *Receiver) clusterLocked(key string) *ClusterState {
	st, ok := r.clusters[key]
	if !ok {
		st = newClusterState(key)
		r.clusters[key] = st
	}
	return st
}
