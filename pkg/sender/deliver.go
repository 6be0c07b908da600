package sender

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"go.uber.org/zap"

	"github.com/catops/cli/pkg/wire"
)

// deliver sends b until the backend takes it or drops it (true), or until
// ctx ends (false: b stays in flight for Flush). What each answer leads to
// is the outcomes table.
func (s *Sender) deliver(ctx context.Context, b *batch) bool {
	for attempt := 0; ; attempt++ {
		if err := s.limiter.Wait(ctx); err != nil {
			return false
		}
		if attempt > 0 {
			s.opts.Metrics.BatchesRetried.Inc()
		}
		first := b.items[0].ev.Type
		c := condition{events: len(b.items),
			markAlone: len(b.items) == 1 && (first == wire.EventSnapshotBegin || first == wire.EventSnapshotEnd)}
		head, tail := s.logFields(b)
		a := s.link.attempt(ctx, c, func() ([]byte, error) { return s.encode(b) }, s.header(b), head, tail)
		o := a.o
		if o.disposal == interrupt || o.pause == backoffWait {
			b.ambiguous = true
		}
		switch o.disposal {
		case interrupt:
			return false
		case ack:
			s.done(b, nil, "")
			s.link.Delivered(a)
			return true
		case split:
			if len(b.items) > 1 { // a row that splits matches several events only
				s.split(b)
			}
			continue
		case drop:
			if o.giveBackSeq && !b.ambiguous {
				s.giveBackSeq(b)
			}
			if o.resync == resyncRequested {
				s.mu.Lock()
				s.awaitSnapshot = true
				s.mu.Unlock()
			}
			s.done(b, b.items, o.dropReason())
			if reason := o.resyncReason(b.items); reason != "" {
				s.requestResync(reason)
			}
			return true
		}
		// keep: the same batch again after the row's wait; not at shutdown.
		if s.flushing {
			return false
		}
		d, until := s.link.WaitAfter(a)
		if !s.pause(ctx, d, until) {
			return false // shutting down: the batch stays in flight for Flush
		}
	}
}

// giveBackSeq returns the sequence number of a batch the backend refused
// outright (it applied none of it), so the next batch follows on without a
// gap that would cost a 409 and a resync. Only one batch is numbered at a
// time, so b holds the latest number.
func (s *Sender) giveBackSeq(b *batch) {
	s.mu.Lock()
	if b.session == "" && s.seq == b.seq {
		s.seq--
	} else if rs := s.replayed[b.session]; b.session != "" && rs.LastSeq == b.seq {
		rs.LastSeq--
	}
	s.mu.Unlock()
}

// done ends b's flight; dropped items are counted with reason.
func (s *Sender) done(b *batch, dropped []item, reason string) {
	s.countDropped(dropped, reason)
	s.mu.Lock()
	if s.inflight == b {
		s.inflight = nil
	}
	if sp := s.opts.Spool; sp != nil {
		sp.Finish(s.sessionOf(b.session), ids(b.items), s.lastSeq(b.session))
		if s.q.len() == 0 {
			sp.Reset()
		}
	}
	s.updateGauges()
	s.mu.Unlock()
}

// split keeps the first half of b in flight, under the same sequence number
// (the backend applied none of it), and puts the rest back at the queue's
// head.
func (s *Sender) split(b *batch) {
	half := len(b.items) / 2
	tail := b.items[half:]
	s.mu.Lock()
	b.items = b.items[:half:half]
	s.q.pushFront(tail)
	s.spoolFlight(b)
	s.mu.Unlock()
}

// header is b's headers of the delta format (docs/protocol.md §2.1); the
// link adds Authorization and User-Agent.
func (s *Sender) header(b *batch) http.Header {
	session := s.sessionOf(b.session)
	h := http.Header{}
	h.Set("Content-Type", s.opts.Stream.ContentType)
	h.Set("Content-Encoding", "gzip")
	h.Set(wire.HeaderSession, session)
	h.Set(wire.HeaderSeq, strconv.FormatUint(b.seq, 10))
	h.Set(wire.HeaderBatchID, batchID(session, b.seq))
	// Marks the POST as safe to replay, so that Go's transport resends
	// it once on a kept-alive connection the backend had just closed
	// (which would otherwise end the one-attempt final flush).
	h.Set("Idempotency-Key", batchID(session, b.seq))
	return h
}

// logFields are b's fields in the attempt's log lines: before the answer's,
// and after them (a lone event's type and size).
func (s *Sender) logFields(b *batch) (head, tail []zap.Field) {
	head = []zap.Field{zap.Uint64("batchSeq", b.seq), zap.Int("events", len(b.items))}
	if len(b.items) == 1 {
		tail = []zap.Field{zap.String("type", string(b.items[0].ev.Type)), zap.Int("bytes", len(b.items[0].ev.Data))}
	}
	return head, tail
}

func batchID(session string, seq uint64) string {
	return session + "-" + strconv.FormatUint(seq, 10)
}

// encode builds the request body: the gzip'd delta batch.
func (s *Sender) encode(b *batch) ([]byte, error) {
	h := wire.Header{
		Version:      s.opts.Stream.Version,
		Node:         s.opts.Node,
		Host:         s.opts.Host,
		MachineID:    s.opts.MachineID,
		Cluster:      s.opts.Cluster,
		ClusterID:    s.opts.ClusterID,
		Leader:       s.opts.Leader,
		Namespace:    s.opts.Namespace,
		AgentVersion: s.opts.AgentVersion,
		Session:      s.opts.Session,
		Seq:          b.seq,
		BatchID:      batchID(s.opts.Session, b.seq),
		SentAt:       s.opts.Now().UTC(),
	}
	if b.session != "" { // an earlier run's batch: its own header
		rs := s.replayed[b.session]
		h.Node, h.Host, h.MachineID = rs.Node, rs.Host, rs.MachineID
		h.Namespace, h.AgentVersion, h.Session = rs.Namespace, rs.AgentVersion, rs.ID
		h.BatchID, h.Replay = batchID(rs.ID, b.seq), true
	}
	events := make([]json.RawMessage, len(b.items))
	for i, it := range b.items {
		events[i] = it.ev.Data
	}
	// One batch is encoded at a time (Run, then Flush), so the compressor
	// (~800 KB of state) is reused. The body gets a fresh buffer: the HTTP
	// transport may still be reading the previous one after Do returned
	// (a server that answers before reading the whole body).
	buf := bytes.NewBuffer(make([]byte, 0, s.lastBody))
	if s.zw == nil {
		s.zw = gzip.NewWriter(buf)
	} else {
		s.zw.Reset(buf)
	}
	if err := wire.WriteBatch(s.zw, h, events); err != nil {
		return nil, fmt.Errorf("encode batch %d: %w", b.seq, err)
	}
	if err := s.zw.Close(); err != nil {
		return nil, fmt.Errorf("compress batch %d: %w", b.seq, err)
	}
	s.lastBody = buf.Len()
	return buf.Bytes(), nil
}
