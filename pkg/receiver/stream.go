package receiver

import (
	"fmt"
	"net/http"

	"go.uber.org/zap"

	"github.com/catops/cli/pkg/wire"
)

// What the two delta streams (the node stream, catops.k8s/v1, and the
// cluster stream, catops.k8s-cluster/v1) share on the ingest path: the
// session/seq admission rules, the snapshot marks and the order in which
// a valid batch is admitted, counted, applied, logged and answered.

// verdict is what the receiver does with a valid delta batch.
type verdict int

const (
	verdictApply verdict = iota
	verdictDuplicate
	verdictConflict
	// verdictSuperseded: a cluster batch of a leader term older than the
	// one accepted last (answered 409 like verdictConflict).
	verdictSuperseded
)

// incoming is a decoded, valid batch of one of the streams. The *Locked
// methods are called with r.mu held.
type incoming interface {
	header() *wire.Header
	events() int
	// logFields name the sender (node, or cluster and leader).
	logFields() []zap.Field
	admitLocked(r *Receiver) (verdict, string)
	// duplicateLocked and refusedLocked count a duplicate and a 409 in
	// the sender's state, when the receiver holds one.
	duplicateLocked(r *Receiver, wireBytes int64)
	refusedLocked(r *Receiver, v verdict)
	// applyLocked applies the batch, creating the sender's state, and
	// reports it to the Options' batch hook.
	applyLocked(r *Receiver, wireBytes int64)
	// applied runs the Options' apply hook, without the lock.
	applied(r *Receiver)
}

// ingest admits a valid batch and answers it: 200 {} when applied,
// 200 {"duplicate":true}, or 409 with the reason.
func (r *Receiver) ingest(w http.ResponseWriter, req *http.Request, in incoming, wireBytes int64) {
	h := in.header()
	mismatch := headerMismatch(req.Header, h)

	r.mu.Lock()
	if mismatch != "" {
		r.stats.HeaderMismatches++
	}
	v, reason := in.admitLocked(r)
	switch v {
	case verdictDuplicate:
		in.duplicateLocked(r, wireBytes)
		r.stats.Duplicates++
	case verdictConflict, verdictSuperseded:
		in.refusedLocked(r, v)
		r.stats.Conflicts++
		if v == verdictSuperseded {
			r.stats.Superseded++
		}
	case verdictApply:
		in.applyLocked(r, wireBytes)
		r.stats.BatchesApplied++
		r.stats.EventsApplied += uint64(in.events()) //nolint:gosec // a count, not negative
		r.notifyLocked()
	}
	r.mu.Unlock()

	fields := append(in.logFields(),
		zap.String("session", clip(h.Session)),
		zap.Uint64("batchSeq", h.Seq),
		zap.String("batchId", clip(h.BatchID)),
		zap.Int("events", in.events()),
		zap.Int64("bytes", wireBytes),
	)
	if mismatch != "" {
		r.log.Warn("Batch headers disagree with its body; the body wins", append(fields, zap.String("reason", mismatch))...)
	}
	switch v {
	case verdictDuplicate:
		r.log.Info("Dropped duplicate batch", fields...)
		writeJSON(w, http.StatusOK, wire.Response{Duplicate: true})
	case verdictConflict, verdictSuperseded:
		r.log.Warn("Rejected batch", append(fields, zap.Int("status", http.StatusConflict), zap.String("reason", reason))...)
		writeJSON(w, http.StatusConflict, wire.Response{Error: reason})
	case verdictApply:
		r.log.Info("Applied batch", fields...)
		writeJSON(w, http.StatusOK, wire.Response{})
		in.applied(r)
	}
}

// admitSeq decides by session and seq whether a valid batch of a sender
// may be applied, given the session and seq of the sender's last applied
// batch (lastSession "": the receiver holds no state for it). resync says
// the batch begins with snapshot_begin; kind and name name the sender in
// the reason of a 409 ("node", "n1").
//
//   - Same session, seq ≤ last applied: a duplicate, answered 200 and not
//     applied.
//   - Same session, seq == last+1: applied.
//   - A new session (restarted sender, or no state here) or a gap in seq:
//     applied only when the batch begins with snapshot_begin, because only
//     a snapshot can repair what the receiver missed; otherwise 409.
func admitSeq(lastSession string, lastSeq uint64, h *wire.Header, resync bool, kind, name string) (verdict, string) {
	const hint = "; send a snapshot (a batch that begins with snapshot_begin)"
	switch {
	case lastSession == "":
		if !resync {
			return verdictConflict, fmt.Sprintf("resync required: no state for %s %q%s", kind, clip(name), hint)
		}
	case lastSession != h.Session:
		if !resync {
			return verdictConflict, fmt.Sprintf("resync required: session %q is not the last applied session %q%s",
				clip(h.Session), clip(lastSession), hint)
		}
	case h.Seq <= lastSeq:
		return verdictDuplicate, ""
	case h.Seq != lastSeq+1:
		if !resync {
			return verdictConflict, fmt.Sprintf("resync required: seq %d does not follow last applied seq %d%s",
				h.Seq, lastSeq, hint)
		}
	}
	return verdictApply, ""
}

// openSnapshot is the snapshot a snapshot_begin opens. A begin while
// another snapshot is in progress starts over: the sender abandoned the
// first one.
func openSnapshot(mark *wire.SnapshotMark) *SnapshotProgress {
	return &SnapshotProgress{ID: mark.ID, Reason: mark.Reason, Confirmed: map[string]bool{}}
}

// closes says whether a snapshot_end of mark ends sp, the snapshot in
// progress (nil when none is); an end that does not is ignored.
func closes(sp *SnapshotProgress, mark *wire.SnapshotMark) bool {
	return sp != nil && sp.ID == mark.ID
}

// confirm notes, while a snapshot is in progress, that the record of key
// was upserted since its begin; unconfirm that it was deleted since.
func confirm(sp *SnapshotProgress, key string) {
	if sp != nil {
		sp.Confirmed[key] = true
	}
}

func unconfirm(sp *SnapshotProgress, key string) {
	if sp != nil {
		delete(sp.Confirmed, key)
	}
}
