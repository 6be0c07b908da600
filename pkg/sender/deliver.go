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

	"github.com/catops/cli/pkg/wire"
)

// outcome classifies one attempt.
type outcome int

const (
	delivered  outcome = iota
	retryable          // network error, 5xx, 408, 429: same batch again after backoff
	authFailed         // 401, 403, no token: same batch again after a long wait
	misrouted          // 404, 405: wrong backend URL; same batch again after a long wait
	rejected           // other 4xx: the batch is dropped
	tooLarge           // 413: split the batch
	conflict           // 409: the backend needs a snapshot first
)

type result struct {
	outcome    outcome
	status     int
	retryAfter time.Duration
	err        error
	bytes      int
}

// deliver sends b until the backend takes it, drops it, or ctx ends (then
// it returns false and b stays in flight).
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
		log := s.opts.Logger.With(zap.Uint64("batchSeq", b.seq), zap.Int("events", len(b.items)), zap.Int("status", res.status))
		var wait time.Duration
		switch res.outcome {
		case delivered:
			s.done(b, nil, "")
			s.opts.Metrics.BatchesSent.Inc()
			s.opts.Metrics.BytesSent.Add(float64(res.bytes))
			s.opts.Metrics.LastSendTime.Set(float64(s.opts.Now().Unix()))
			if !s.outageSince.IsZero() {
				log.Info("Backend reachable again", zap.Duration("outage", s.opts.Now().Sub(s.outageSince)))
				s.outageSince = time.Time{}
			}
			log.Debug("Batch delivered", zap.Int("bytes", res.bytes))
			return true
		case tooLarge:
			s.opts.Metrics.BatchesFailed.WithLabelValues("too_large").Inc()
			if len(b.items) > 1 {
				s.split(b)
				log.Info("Backend said the batch is too large; split it in two")
				continue
			}
			log.Error("Backend rejected a single event as too large; dropped it", zap.String("type", string(b.items[0].ev.Type)), zap.Int("bytes", len(b.items[0].ev.Data)))
			s.giveBackSeq(b)
			s.done(b, b.items, "too_large")
			return true
		case conflict:
			s.opts.Metrics.BatchesFailed.WithLabelValues("conflict").Inc()
			if !hasLifecycle(b.items) || b.items[0].ev.Type == TypeLegacy {
				// Only delta batches have a snapshot to answer a 409 with.
				log.Warn("Backend answered 409 to a batch without pod changes; dropped it", zap.Error(res.err))
				s.done(b, b.items, "rejected")
				return true
			}
			log.Info("Backend asked for a resync; sending a full snapshot", zap.Error(res.err))
			s.mu.Lock()
			s.awaitSnapshot = true
			s.mu.Unlock()
			s.done(b, b.items, "superseded")
			s.requestResync(wire.ReasonRequested)
			return true
		case rejected:
			s.opts.Metrics.BatchesFailed.WithLabelValues("rejected").Inc()
			log.Error("Backend rejected the batch; dropped it", zap.Error(res.err))
			s.giveBackSeq(b)
			s.done(b, b.items, "rejected")
			if hasLifecycle(b.items) {
				s.requestResync(wire.ReasonResync)
			}
			wait = s.opts.RejectBackoff
		case authFailed:
			s.opts.Metrics.BatchesFailed.WithLabelValues("auth").Inc()
			s.noteOutage()
			msg := "Backend refused the auth token; check CATOPS_AUTH_TOKEN or the token Secret. Retrying later"
			if res.status == 0 {
				msg = "Cannot read the auth token; check CATOPS_AUTH_TOKEN_FILE. Retrying later"
			}
			log.Error(msg, zap.Error(res.err), zap.Duration("retryIn", s.opts.RejectBackoff))
			wait = s.opts.RejectBackoff
		case misrouted:
			s.opts.Metrics.BatchesFailed.WithLabelValues("misrouted").Inc()
			s.noteOutage()
			log.Error("Backend has no such endpoint; check CATOPS_BACKEND_URL. Keeping events queued and retrying later",
				zap.String("url", s.endpoint), zap.Error(res.err), zap.Duration("retryIn", s.opts.RejectBackoff))
			wait = s.opts.RejectBackoff
		case retryable:
			s.opts.Metrics.BatchesFailed.WithLabelValues(failReason(res)).Inc()
			wait = backoff.Step()
			if res.retryAfter > wait {
				wait = min(res.retryAfter, backoff.Cap)
			}
			if s.noteOutage() {
				log.Warn("Backend unreachable; keeping events queued and retrying", zap.Error(res.err), zap.Duration("retryIn", wait))
			} else {
				log.Debug("Retrying batch", zap.Error(res.err), zap.Duration("retryIn", wait))
			}
		}
		if !s.pause(ctx, wait) {
			// Shutting down: a dropped (rejected) batch is already done;
			// a retried one stays in flight for Flush.
			return res.outcome == rejected
		}
		if res.outcome == rejected {
			return true
		}
	}
}

// giveBackSeq returns the sequence number of a batch the backend refused
// outright (it applied none of it), so the next batch follows on without a
// gap that would cost a 409 and a resync. Only one batch is numbered at a
// time, so b holds the latest number.
func (s *Sender) giveBackSeq(b *batch) {
	s.mu.Lock()
	if s.seq == b.seq {
		s.seq--
	}
	s.mu.Unlock()
}

// noteOutage marks the start of a failure streak; it reports true for the
// first failure of the streak.
func (s *Sender) noteOutage() bool {
	if s.outageSince.IsZero() {
		s.outageSince = s.opts.Now()
		return true
	}
	return false
}

func failReason(r result) string {
	switch {
	case r.status == http.StatusTooManyRequests:
		return "status_429"
	case r.status >= 500:
		return "status_5xx"
	default:
		return "network"
	}
}

// done ends b's flight; dropped items are counted with reason.
func (s *Sender) done(b *batch, dropped []item, reason string) {
	s.countDropped(dropped, reason)
	s.mu.Lock()
	if s.inflight == b {
		s.inflight = nil
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
	s.mu.Unlock()
}

func (s *Sender) post(ctx context.Context, b *batch) result {
	token, err := s.opts.Token()
	if err != nil {
		return result{outcome: authFailed, err: fmt.Errorf("read auth token: %w", err)}
	}
	body, contentType, gz, err := s.encode(b)
	if err != nil {
		return result{outcome: rejected, err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, bytes.NewReader(body))
	if err != nil {
		return result{outcome: rejected, err: fmt.Errorf("build request: %w", err)}
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("User-Agent", "catops-k8s/"+s.opts.AgentVersion)
	if gz {
		req.Header.Set("Content-Encoding", "gzip")
		req.Header.Set(wire.HeaderSession, s.opts.Session)
		req.Header.Set(wire.HeaderSeq, strconv.FormatUint(b.seq, 10))
		req.Header.Set(wire.HeaderBatchID, batchID(s.opts.Session, b.seq))
	}
	resp, err := s.opts.Client.Do(req)
	if err != nil {
		return result{outcome: retryable, err: err}
	}
	defer resp.Body.Close()
	msg := responseError(resp.Body)
	res := result{status: resp.StatusCode, bytes: len(body)}
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		res.outcome = delivered
		return res
	case code == http.StatusRequestEntityTooLarge:
		res.outcome = tooLarge
	case code == http.StatusConflict:
		res.outcome = conflict
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		res.outcome = authFailed
	case code == http.StatusNotFound || code == http.StatusMethodNotAllowed:
		res.outcome = misrouted
	case code == http.StatusTooManyRequests || code >= 500 || code == http.StatusRequestTimeout:
		res.outcome = retryable
		res.retryAfter = retryAfter(resp.Header.Get("Retry-After"), s.opts.Now())
	default:
		res.outcome = rejected
	}
	res.err = fmt.Errorf("backend answered %s: %s", resp.Status, msg)
	return res
}

func batchID(session string, seq uint64) string {
	return session + "-" + strconv.FormatUint(seq, 10)
}

// encode builds the request body: a gzip'd delta batch, or a legacy
// snapshot as the plain JSON the existing backend reads.
func (s *Sender) encode(b *batch) (body []byte, contentType string, gz bool, err error) {
	if len(b.items) == 1 && b.items[0].ev.Type == TypeLegacy {
		return b.items[0].ev.Data, wire.ContentTypeSnapshot, false, nil
	}
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
		return nil, "", false, fmt.Errorf("encode batch %d: %w", b.seq, err)
	}
	if err := s.zw.Close(); err != nil {
		return nil, "", false, fmt.Errorf("compress batch %d: %w", b.seq, err)
	}
	s.lastBody = buf.Len()
	return buf.Bytes(), wire.ContentTypeDelta, true, nil
}

// responseError reads the backend's one-line explanation, if any.
func responseError(r io.Reader) string {
	raw, _ := io.ReadAll(io.LimitReader(r, 4<<10))
	var resp wire.Response
	if json.Unmarshal(raw, &resp) == nil && resp.Error != "" {
		return resp.Error
	}
	text := strings.TrimSpace(strings.ReplaceAll(string(raw), "\n", " "))
	if len(text) > 200 {
		text = text[:200] + "…"
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
