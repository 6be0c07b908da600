package receiver

import (
	"reflect"

	"github.com/catops/cli/pkg/wire"
)

// admit decides whether a valid batch may be applied to st, the node's
// state (nil when the receiver holds none), by the rules of admitSeq. For
// verdictConflict it also returns the reason sent to the agent.
func admit(st *NodeState, b *wire.Batch) (verdict, string) {
	var session string
	var seq uint64
	if st != nil {
		session, seq = st.Session, st.LastSeq
	}
	return admitSeq(session, seq, &b.Header, len(b.Events) > 0 && b.Events[0].Type == wire.EventSnapshotBegin, "node", b.Node)
}

// applyBatch applies an admitted batch to st: its events in order, then
// its identity.
func applyBatch(st *NodeState, b *wire.Batch) {
	for i := range b.Events {
		applyEvent(st, &b.Events[i])
	}
	st.took(&b.Header)
	st.Counters.BatchesApplied++
	if b.Replay {
		st.Counters.ReplayedBatches++
	}
	st.Counters.EventsApplied += uint64(len(b.Events))
}

// applyEvent applies one validated event.
func applyEvent(st *NodeState, e *wire.Event) {
	switch e.Type {
	case wire.EventSnapshotBegin:
		st.Snapshot = openSnapshot(e.Snapshot)
	case wire.EventSnapshotEnd:
		if !closes(st.Snapshot, e.Snapshot) {
			return // Not the snapshot in progress: ignored.
		}
		for key := range st.Pods {
			if !st.Snapshot.Confirmed[key] {
				delete(st.Pods, key)
				delete(st.PodChangedAt, key)
			}
		}
		for key := range st.Usage.Pods {
			if _, ok := st.Pods[key]; !ok {
				delete(st.Usage.Pods, key)
			}
		}
		st.Snapshot = nil
		st.Counters.SnapshotsCompleted++
	case wire.EventPodUpsert:
		key := PodKey(e.Pod.Namespace, e.Pod.Name)
		if prev, ok := st.Pods[key]; !ok || !reflect.DeepEqual(prev, *e.Pod) {
			st.PodChangedAt[key] = e.Time // a snapshot's unchanged copy keeps the old time
		}
		st.Pods[key] = *e.Pod
		confirm(st.Snapshot, key)
	case wire.EventPodDelete:
		key := PodKey(e.PodRef.Namespace, e.PodRef.Name)
		delete(st.Pods, key)
		delete(st.PodChangedAt, key)
		delete(st.Usage.Pods, key)
		// A pod deleted after its upsert in this snapshot is not
		// confirmed any more; the delete already removed it.
		unconfirm(st.Snapshot, key)
	case wire.EventNode:
		st.Node = e.Node
	case wire.EventHost:
		st.Host = e.Host
	case wire.EventUsage:
		applyUsage(&st.Usage, e.Usage)
	}
}

func applyUsage(u *UsageState, in *wire.Usage) {
	u.Source = in.Source
	if !in.Available {
		// Unknown, not zero: forget every reading.
		u.Available = false
		u.Reason = in.Reason
		u.Node = nil
		u.Pods = map[string]wire.ResourceUsage{}
		return
	}
	u.Available = true
	u.Reason = ""
	if in.Node != nil {
		u.Node = in.Node
	}
	for _, p := range in.Pods {
		// Kept even for a pod the receiver does not hold (yet); dropped
		// when that pod is deleted or swept by a snapshot.
		u.Pods[PodKey(p.Namespace, p.Name)] = p.ResourceUsage
	}
}
