package sender

import (
	"time"

	"github.com/catops/cli/pkg/wire"
)

type item struct {
	ev wire.EncodedEvent
	at time.Time // when it was queued
	// id is the event's record in the spool (0 without one); session is
	// the earlier run's session it was queued under, read back from the
	// spool, or "" for the running session.
	id      uint64
	session string
}

// droppable reports whether an event is a sample, which a newer sample
// replaces; lifecycle events (pods, node, snapshot marks; the cluster
// stream's records) are not. In the cluster stream, warnings and the
// cluster summary are samples: a snapshot does not sweep them, the next
// snapshot sends them again, and losing one asks for no resync.
func droppable(t wire.EventType) bool {
	switch t {
	case wire.EventHost, wire.EventUsage, wire.EventWarning, wire.EventClusterSummary:
		return true
	}
	return false
}

// queue is a FIFO of encoded events bounded in bytes. It is not safe for
// concurrent use; the Sender guards it.
type queue struct {
	items []item
	bytes int
	max   int
}

func (q *queue) len() int { return len(q.items) }

func (q *queue) push(it item) {
	q.items = append(q.items, it)
	q.bytes += len(it.ev.Data)
}

// pushFront puts items back at the head, in order (a split batch's tail).
func (q *queue) pushFront(its []item) {
	q.items = append(append(make([]item, 0, len(its)+len(q.items)), its...), q.items...)
	for _, it := range its {
		q.bytes += len(it.ev.Data)
	}
}

// take removes up to maxBytes of events from the head (at least one).
func (q *queue) take(maxBytes int) []item {
	n, size := 0, 0
	for n < len(q.items) {
		s := len(q.items[n].ev.Data)
		if n > 0 && size+s > maxBytes {
			break
		}
		size += s
		n++
		if n < len(q.items) && q.items[n].session != q.items[0].session {
			break // a batch belongs to one session
		}
	}
	out := make([]item, n)
	copy(out, q.items[:n])
	clear(q.items[:n]) // let the sent bytes be collected
	q.items = q.items[n:]
	q.bytes -= size
	return out
}

// overflow makes room when the queue is over its bound, and returns what
// it dropped. Samples go first, oldest first. If lifecycle events alone are
// still over the bound, those before the newest complete snapshot are
// dropped (the snapshot supersedes them); if that is not enough, all of
// them are, and needResync is set: only a fresh snapshot can replace them.
// A lone snapshot larger than the bound is kept rather than dropped in a
// loop of resyncs.
func (q *queue) overflow() (dropped []item, needResync bool) {
	if q.bytes <= q.max {
		return nil, false
	}
	keep := q.items[:0]
	for i, it := range q.items {
		if q.bytes > q.max && droppable(it.ev.Type) {
			q.bytes -= len(it.ev.Data)
			dropped = append(dropped, it)
			continue
		}
		keep = append(keep, q.items[i])
	}
	clear(q.items[len(keep):])
	q.items = keep
	if q.bytes <= q.max {
		return dropped, false
	}
	if begin := q.lastCompleteSnapshot(); begin > 0 {
		dropped = append(dropped, q.items[:begin]...)
		for _, it := range q.items[:begin] {
			q.bytes -= len(it.ev.Data)
		}
		clear(q.items[:begin])
		q.items = q.items[begin:]
		if q.bytes <= q.max || q.items[len(q.items)-1].ev.Type == wire.EventSnapshotEnd {
			return dropped, false
		}
	} else if begin == 0 && q.items[len(q.items)-1].ev.Type == wire.EventSnapshotEnd {
		return dropped, false
	}
	dropped = append(dropped, q.items...)
	q.items, q.bytes = nil, 0
	return dropped, true
}

// lastCompleteSnapshot returns the index of the snapshot_begin of the last
// snapshot whose snapshot_end is also queued, or -1.
func (q *queue) lastCompleteSnapshot() int {
	end := -1
	for i := len(q.items) - 1; i >= 0; i-- {
		switch q.items[i].ev.Type {
		case wire.EventSnapshotEnd:
			if end < 0 {
				end = i
			}
		case wire.EventSnapshotBegin:
			if end > i {
				return i
			}
		}
	}
	return -1
}

// dropUntilSnapshot drops every event before the first snapshot_begin and
// reports whether one is queued. After a 409 the backend accepts nothing
// but a snapshot, so nothing queued before one is worth sending.
func (q *queue) dropUntilSnapshot() (dropped []item, found bool) {
	for i, it := range q.items {
		if it.ev.Type == wire.EventSnapshotBegin {
			dropped = append(dropped, q.items[:i]...)
			clear(q.items[:i])
			q.items = q.items[i:]
			found = true
			break
		}
	}
	if !found {
		dropped = q.items
		q.items = nil
	}
	for _, it := range dropped {
		q.bytes -= len(it.ev.Data)
	}
	return dropped, found
}
