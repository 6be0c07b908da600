package receiver

import (
	"fmt"
	"reflect"

	"github.com/catops/cli/pkg/wire"
)

// verdict is what the receiver does with a valid delta batch.
type verdict int

const (
	verdictApply verdict = iota
	verdictDuplicate
	verdictConflict
)

// admit decides whether a valid batch may be applied to st, the node's
// state (nil when the receiver holds none). For verdictConflict it also
// returns the reason sent to the agent.
//
//   - Same session, seq ≤ last applied: a duplicate, answered 200 and not
//     applied.
//   - Same session, seq == last+1: applied.
//   - A new session (restarted agent, or no state here) or a gap in seq:
//     applied only when the batch begins with snapshot_begin, because only
//     a snapshot can repair what the receiver missed; otherwise 409.
func admit(st *NodeState, b *wire.Batch) (verdict, string) {
	resync := len(b.Events) > 0 && b.Events[0].Type == wire.EventSnapshotBegin
	const hint = "; send a snapshot (a batch that begins with snapshot_begin)"
	switch {
	case st == nil || st.Session == "":
		if !resync {
			return verdictConflict, fmt.Sprintf("resync required: no state for node %q%s", clip(b.Node), hint)
		}
	case st.Session != b.Session:
		if !resync {
			return verdictConflict, fmt.Sprintf("resync required: session %q is not the last applied session %q%s",
				clip(b.Session), clip(st.Session), hint)
		}
	case b.Seq <= st.LastSeq:
		return verdictDuplicate, ""
	case b.Seq != st.LastSeq+1:
		if !resync {
			return verdictConflict, fmt.Sprintf("resync required: seq %d does not follow last applied seq %d%s",
				b.Seq, st.LastSeq, hint)
		}
	}
	return verdictApply, ""
}

// applyBatch applies an admitted batch to st: its events in order, then
// its identity.
func applyBatch(st *NodeState, b *wire.Batch) {
	for i := range b.Events {
		applyEvent(st, &b.Events[i])
	}
	st.Session = b.Session
	st.LastSeq = b.Seq
	st.LastBatchID = b.BatchID
	st.LastSentAt = b.SentAt
	st.AgentVersion = b.AgentVersion
	st.Namespace = b.Namespace
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
		// A begin while another snapshot is in progress starts over: the
		// agent abandoned the first one.
		st.Snapshot = &SnapshotProgress{
			ID:        e.Snapshot.ID,
			Reason:    e.Snapshot.Reason,
			Confirmed: map[string]bool{},
		}
	case wire.EventSnapshotEnd:
		if st.Snapshot == nil || st.Snapshot.ID != e.Snapshot.ID {
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
		if st.Snapshot != nil {
			st.Snapshot.Confirmed[key] = true
		}
	case wire.EventPodDelete:
		key := PodKey(e.PodRef.Namespace, e.PodRef.Name)
		delete(st.Pods, key)
		delete(st.PodChangedAt, key)
		delete(st.Usage.Pods, key)
		if st.Snapshot != nil {
			// A pod deleted after its upsert in this snapshot is not
			// confirmed any more; the delete already removed it.
			delete(st.Snapshot.Confirmed, key)
		}
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
