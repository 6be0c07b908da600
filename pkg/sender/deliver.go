package sender

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/catops/cli/pkg/telemetry"
	"github.com/catops/cli/pkg/wire"
)

// result is what one attempt to deliver a batch produced.
type result struct {
	token      string // the token the attempt used ("" when unreadable); never logged
	status     int    // HTTP status; 0 when no answer came
	failure    string // why no answer came (failure* in outcomes.go), or ""
	retryAfter time.Duration
	location   string // a redirect's target
	err        error
	bytes      int
}

// deliver sends b until the backend takes it or drops it (true), or until
// ctx ends (false: b stays in flight for Flush). What each answer leads to
// is the outcomes table.
func (s *Sender) deliver(ctx context.Context, b *batch) bool {
	backoff := s.opts.RetryBackoff
	for attempt := 0; ; attempt++ {
		if err := s.limiter.Wait(ctx); err != nil {
			return false
		}
		if attempt > 0 {
			s.opts.Metrics.BatchesRetried.Inc()
		}
		res := s.post(ctx, b)
		first := b.items[0].ev.Type
		c := condition{status: res.status, failure: res.failure, events: len(b.items),
			markAlone: len(b.items) == 1 && (first == wire.EventSnapshotBegin || first == wire.EventSnapshotEnd)}
		o := classify(c)
		s.logOutcome(o, b, res)
		if s.opts.Answered != nil && res.status != 0 {
			s.opts.Answered(res.status, o.disposal == ack)
		}
		if o.reason != "" {
			s.opts.Metrics.BatchesFailed.WithLabelValues(o.failReason(c)).Inc()
		}
		if o.disposal == interrupt || o.pause == backoffWait {
			b.ambiguous = true
		}
		switch o.disposal {
		case interrupt:
			return false
		case ack:
			s.done(b, nil, "")
			s.opts.Metrics.BatchesSent.Inc()
			s.opts.Metrics.BytesSent.Add(float64(res.bytes))
			s.opts.Metrics.LastSendTime.Set(float64(s.opts.Now().Unix()))
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
		var wait time.Duration
		var until func() bool
		switch o.pause {
		case backoffWait:
			wait = max(backoff.Step(), min(res.retryAfter, backoff.Cap))
		case longWait:
			wait = s.opts.RejectBackoff
			if o.tokenWait {
				until = s.tokenChangedFrom(res.token)
			}
		}
		if !s.pause(ctx, wait, until) {
			return false // shutting down: the batch stays in flight for Flush
		}
	}
}

// logOutcome logs one attempt's row. Retried rows log the first failure of
// a streak (and the first after the cause changed) at their level, and the
// quick retries after it at debug ("Retrying batch"); those that wait a
// minute log every time; the first success after a streak says how long it
// lasted.
func (s *Sender) logOutcome(o *outcome, b *batch, res result) {
	fields := []zap.Field{zap.Uint64("batchSeq", b.seq), zap.Int("events", len(b.items)), zap.Int("status", res.status)}
	if res.err != nil {
		fields = append(fields, zap.Error(res.err))
	}
	if res.location != "" {
		fields = append(fields, zap.String("location", res.location))
	}
	if len(b.items) == 1 {
		fields = append(fields, zap.String("type", string(b.items[0].ev.Type)), zap.Int("bytes", len(b.items[0].ev.Data)))
	}
	level, msg := o.level, o.message
	switch {
	case o.disposal == keep:
		if s.outageSince.IsZero() {
			s.outageSince = s.opts.Now()
		} else if s.outageRow == o && o.pause == backoffWait {
			level, msg = zapcore.DebugLevel, "Retrying batch"
		}
		s.outageRow = o
	case o.disposal == ack && !s.outageSince.IsZero():
		s.opts.Logger.Info("Backend accepting batches again", zap.Duration("outage", s.opts.Now().Sub(s.outageSince)))
		s.outageSince, s.outageRow = time.Time{}, nil
	}
	if ce := s.opts.Logger.Check(level, msg); ce != nil {
		ce.Write(fields...)
	}
	s.logFirst(o, res, fields)
}

// logFirst logs the line a user looks for after an install: the first
// batch the backend accepted, and, before that, the first answer that
// refuses delivery until someone fixes something (a token, the URL, a
// proxy), which repeats the row's advice.
func (s *Sender) logFirst(o *outcome, res result, fields []zap.Field) {
	switch {
	case s.accepted:
	case o.disposal == ack:
		s.accepted = true
		s.opts.Logger.Info("First batch accepted by the backend", append(fields, zap.String("url", s.endpoint))...)
	case !s.refusalLogged && res.status != 0 && o.pause == longWait:
		s.refusalLogged = true
		s.opts.Logger.Error("First batch refused by the backend; nothing is delivered until this is fixed",
			append(fields, zap.String("url", s.endpoint), zap.String("reason", o.reason), zap.String("fix", o.message))...)
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
			sp.Reset(s.opts.Now())
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

func (s *Sender) post(ctx context.Context, b *batch) result {
	token, err := s.opts.Token()
	if err != nil {
		return result{failure: failureToken, err: fmt.Errorf("read auth token: %w", err)}
	}
	body, err := s.encode(b)
	if err != nil {
		return result{failure: failureEncode, err: err, token: token}
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, s.opts.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, bytes.NewReader(body))
	if err != nil {
		return result{failure: failureEncode, err: fmt.Errorf("build request: %w", err)}
	}
	req.Header.Set("Content-Type", wire.ContentTypeDelta)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("User-Agent", "catops-k8s/"+s.opts.AgentVersion)
	req.Header.Set("Content-Encoding", "gzip")
	session := s.sessionOf(b.session)
	req.Header.Set(wire.HeaderSession, session)
	req.Header.Set(wire.HeaderSeq, strconv.FormatUint(b.seq, 10))
	req.Header.Set(wire.HeaderBatchID, batchID(session, b.seq))
	// Marks the POST as safe to replay, so that Go's transport resends
	// it once on a kept-alive connection the backend had just closed
	// (which would otherwise end the one-attempt final flush).
	req.Header.Set("Idempotency-Key", batchID(session, b.seq))
	start := time.Now()
	resp, err := s.opts.Client.Do(req)
	if err != nil {
		if parent.Err() != nil {
			return result{failure: failureInterrupted, err: err}
		}
		s.opts.Metrics.BackendRequestDuration.WithLabelValues(telemetry.CodeClass(0)).Observe(time.Since(start).Seconds())
		return result{failure: failureNetwork, err: err}
	}
	defer resp.Body.Close()
	res := result{status: resp.StatusCode, bytes: len(body), token: token}
	msg := responseError(resp.Body)
	s.opts.Metrics.BackendRequestDuration.WithLabelValues(telemetry.CodeClass(resp.StatusCode)).Observe(time.Since(start).Seconds())
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return res
	}
	res.retryAfter = retryAfter(resp.Header.Get("Retry-After"), s.opts.Now())
	res.location = resp.Header.Get("Location")
	who := "backend"
	if resp.StatusCode == http.StatusProxyAuthRequired {
		who = "a proxy" // only proxies answer 407
	}
	res.err = fmt.Errorf("%s answered %s: %s", who, resp.Status, msg)
	return res
}

func batchID(session string, seq uint64) string {
	return session + "-" + strconv.FormatUint(seq, 10)
}

// encode builds the request body: the gzip'd delta batch.
func (s *Sender) encode(b *batch) ([]byte, error) {
	h := wire.Header{
		Version:      wire.Version,
		Node:         s.opts.Node,
		Namespace:    s.opts.Namespace,
		AgentVersion: s.opts.AgentVersion,
		Session:      s.opts.Session,
		Seq:          b.seq,
		BatchID:      batchID(s.opts.Session, b.seq),
		SentAt:       s.opts.Now().UTC(),
	}
	if b.session != "" { // an earlier run's batch: its own header
		rs := s.replayed[b.session]
		h.Node, h.Namespace, h.AgentVersion, h.Session = rs.Node, rs.Namespace, rs.AgentVersion, rs.ID
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

// responseError reads the backend's one-line explanation, if any.
func responseError(r io.Reader) string {
	raw, _ := io.ReadAll(io.LimitReader(r, 4<<10))
	var resp wire.Response
	if json.Unmarshal(raw, &resp) == nil && resp.Error != "" {
		return resp.Error
	}
	text := strings.TrimSpace(strings.ReplaceAll(string(raw), "\n", " "))
	if len(text) > 300 {
		text = text[:300] + "…"
	}
	return text
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if secs, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && secs > 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// tokenChangedFrom returns the condition that ends the long wait after the
// backend refused token (or after it could not be read, token ""): the
// token source now gives another one. A rotated Secret is then tried at
// once instead of after RejectBackoff; an unchanged token still waits, so
// refusals stay at one a RejectBackoff.
func (s *Sender) tokenChangedFrom(token string) func() bool {
	return func() bool {
		t, err := s.opts.Token()
		if err != nil || t == token {
			return false
		}
		s.opts.Logger.Info("Auth token changed; retrying now")
		return true
	}
}

// pauseUntil waits for d, or until ctx ends (false), or, checked every
// poll, until until() holds; a nil until waits the whole d.
func pauseUntil(ctx context.Context, d, poll time.Duration, until func() bool) bool {
	if until == nil {
		return sleep(ctx, d, nil)
	}
	deadline := time.Now().Add(d)
	for {
		step := min(poll, time.Until(deadline))
		if step <= 0 {
			return true
		}
		if !sleep(ctx, step, nil) {
			return false
		}
		if until() {
			return true
		}
	}
}
