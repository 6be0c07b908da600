package receiver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/catops/cli/pkg/wire"
)

func (r *Receiver) ingestClusterBatch(w http.ResponseWriter, req *http.Request, body []byte, wireBytes int64) {
	var b wire.ClusterBatch
	if err := json.Unmarshal(body, &b); err != nil {
		r.reject(w, req, errorf(http.StatusBadRequest, "body: invalid cluster batch JSON: %v", err))
		return
	}
	if err := validateClusterBatch(&b, r.known); err != nil {
		r.reject(w, req, errorf(http.StatusBadRequest, "%v", err))
		return
	}
	r.ingest(w, req, &clusterBatch{ClusterBatch: &b, key: ClusterKey(b.ClusterID, b.Cluster)}, wireBytes)
}

// clusterBatch is a cluster stream's batch on the ingest path, with the
// key of its cluster.
type clusterBatch struct {
	*wire.ClusterBatch
	key string
}

func (b *clusterBatch) header() *wire.Header { return &b.Header }
func (b *clusterBatch) events() int          { return len(b.Events) }

func (b *clusterBatch) logFields() []zap.Field {
	return []zap.Field{
		zap.String("cluster", clip(b.key)),
		zap.String("leader", clip(b.Leader.Identity)),
		zap.Int32("epoch", b.Leader.Epoch),
	}
}

func (b *clusterBatch) admitLocked(r *Receiver) (verdict, string) {
	return admitCluster(r.clusters[b.key], b.ClusterBatch, b.key, r.now())
}

func (b *clusterBatch) duplicateLocked(r *Receiver, wireBytes int64) {
	st := r.clusters[b.key]
	st.Counters.Duplicates++
	st.Counters.BytesReceived += uint64(wireBytes) //nolint:gosec // a body's length, not negative
}

func (b *clusterBatch) refusedLocked(r *Receiver, v verdict) {
	if st := r.clusters[b.key]; st != nil {
		st.Counters.Conflicts++
		if v == verdictSuperseded {
			st.Counters.Superseded++
		}
	}
}

func (b *clusterBatch) applyLocked(r *Receiver, wireBytes int64) {
	st := r.clusterLocked(b.key)
	applyClusterBatch(st, b.ClusterBatch)
	at := r.now()
	st.LastBatchAt = at
	st.Counters.BytesReceived += uint64(wireBytes) //nolint:gosec // a body's length, not negative
	if r.onClusterBatch != nil {
		r.onClusterBatch(b.ClusterBatch, at)
	}
}

func (b *clusterBatch) applied(r *Receiver) {
	if r.onClusterApply != nil {
		r.onClusterApply(b.key)
	}
}

// admitCluster decides whether a valid cluster batch may be applied to st,
// the cluster's state (nil when the receiver holds none), at now. For a
// 409 it also returns the reason sent to the reporter.
//
//   - Fencing first: a batch whose leader epoch is lower than that of the
//     last applied batch is superseded (409), unless that newer leader has
//     not been heard from (no batch applied) for more than twice its
//     lease_duration_seconds: its Lease was then probably deleted and
//     recreated, restarting the epochs, and the batch is admitted as any.
//   - Then the node stream's rules (admitSeq): a new session, which a
//     takeover by a higher epoch always is, must begin with
//     snapshot_begin.
func admitCluster(st *ClusterState, b *wire.ClusterBatch, key string, now time.Time) (verdict, string) {
	var session string
	var seq uint64
	if st != nil {
		if prev := st.Leader; prev != nil && b.Leader.Epoch < prev.Epoch &&
			now.Sub(st.LastBatchAt) <= 2*time.Duration(prev.LeaseDurationSeconds)*time.Second {
			return verdictSuperseded, fmt.Sprintf("superseded: leader epoch %d is older than epoch %d accepted at %s from %q",
				b.Leader.Epoch, prev.Epoch, st.LastBatchAt.UTC().Format(time.RFC3339), clip(prev.Identity))
		}
		session, seq = st.Session, st.LastSeq
	}
	return admitSeq(session, seq, &b.Header, len(b.Events) > 0 && b.Events[0].Type == wire.EventSnapshotBegin, "cluster", key)
}

// applyClusterBatch applies an admitted cluster batch to st: its events in
// order, then its identity.
func applyClusterBatch(st *ClusterState, b *wire.ClusterBatch) {
	for i := range b.Events {
		applyClusterEvent(st, &b.Events[i])
	}
	st.ID = b.ClusterID
	st.Name = b.Cluster
	leader := *b.Leader
	st.Leader = &leader
	st.took(&b.Header)
	st.Counters.BatchesApplied++
	st.Counters.EventsApplied += uint64(len(b.Events))
}

// The payload fields of the records a cluster snapshot confirms, which
// prefix their keys in SnapshotProgress.Confirmed.
const (
	confirmWorkload   = "workload"
	confirmPendingPod = "pending_pod"
	confirmNamespace  = "namespace"
)

func confirmKey(field, key string) string { return field + " " + key }

// applyClusterEvent applies one validated cluster event. Snapshots work as
// in the node stream, over workloads, pending pods and namespaces; the
// summary and the warnings are replaced or added by their own events only.
func applyClusterEvent(st *ClusterState, e *wire.ClusterEvent) {
	switch e.Type {
	case wire.EventSnapshotBegin:
		st.Snapshot = openSnapshot(e.Snapshot)
	case wire.EventSnapshotEnd:
		if !closes(st.Snapshot, e.Snapshot) {
			return // Not the snapshot in progress: ignored.
		}
		sweep(st.Workloads, st.Snapshot, confirmWorkload)
		sweep(st.PendingPods, st.Snapshot, confirmPendingPod)
		sweep(st.Namespaces, st.Snapshot, confirmNamespace)
		st.Snapshot = nil
		st.Counters.SnapshotsCompleted++
	case wire.EventWorkload:
		key := WorkloadKey(e.Workload.Kind, e.Workload.Namespace, e.Workload.Name)
		st.Workloads[key] = *e.Workload
		confirm(st.Snapshot, confirmKey(confirmWorkload, key))
	case wire.EventWorkloadDelete:
		key := WorkloadKey(e.WorkloadRef.Kind, e.WorkloadRef.Namespace, e.WorkloadRef.Name)
		delete(st.Workloads, key)
		unconfirm(st.Snapshot, confirmKey(confirmWorkload, key))
	case wire.EventPendingPod:
		key := PodKey(e.PendingPod.Namespace, e.PendingPod.Name)
		st.PendingPods[key] = *e.PendingPod
		confirm(st.Snapshot, confirmKey(confirmPendingPod, key))
	case wire.EventPendingPodDelete:
		key := PodKey(e.PodRef.Namespace, e.PodRef.Name)
		delete(st.PendingPods, key)
		unconfirm(st.Snapshot, confirmKey(confirmPendingPod, key))
	case wire.EventNamespace:
		st.Namespaces[e.Namespace.Name] = *e.Namespace
		confirm(st.Snapshot, confirmKey(confirmNamespace, e.Namespace.Name))
	case wire.EventNamespaceDelete:
		delete(st.Namespaces, e.NamespaceRef.Name)
		unconfirm(st.Snapshot, confirmKey(confirmNamespace, e.NamespaceRef.Name))
	case wire.EventWarning:
		keepWarning(st.Warnings, *e.Warning)
	case wire.EventClusterSummary:
		st.Summary = e.Cluster
	}
}

// sweep removes from m, at the end of snapshot sp, every record whose key
// sp did not confirm under field.
func sweep[V any](m map[string]V, sp *SnapshotProgress, field string) {
	for key := range m {
		if !sp.Confirmed[confirmKey(field, key)] {
			delete(m, key)
		}
	}
}

// keepWarning stores w over any earlier record of the same Event and, past
// MaxClusterWarnings, drops the warning last seen longest ago (of equals,
// the least UID).
func keepWarning(ws map[string]wire.Warning, w wire.Warning) {
	ws[w.UID] = w
	if len(ws) <= MaxClusterWarnings {
		return
	}
	var oldest string
	var at time.Time
	for uid, x := range ws {
		if oldest == "" || x.LastSeen.Before(at) || (x.LastSeen.Equal(at) && uid < oldest) {
			oldest, at = uid, x.LastSeen
		}
	}
	delete(ws, oldest)
}
