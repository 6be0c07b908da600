// Package sender batches encoded events, compresses them and delivers them
// to the backend in order, one batch in flight at a time, with retries,
// backoff and a queue bounded in bytes that never blocks its producers.
package sender

import (
	"compress/gzip"
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/catops/cli/pkg/spool"
	"github.com/catops/cli/pkg/telemetry"
	"github.com/catops/cli/pkg/wire"
)

// Options configure a Sender, or a Link (NewLink says which fields it
// uses). Zero durations and sizes take the defaults.
type Options struct {
	// BackendURL is the backend's base URL; batches go to
	// BackendURL+Stream.Path.
	BackendURL string
	// Stream is the protocol the batches belong to; zero: wire.NodeStream.
	Stream wire.Stream
	// Token returns the current bearer token (re-read for rotation).
	Token func() (string, error)
	// Node, Namespace, AgentVersion and Session fill every batch header.
	Node, Namespace, AgentVersion, Session string
	// Host and MachineID fill the host stream's headers.
	Host, MachineID string
	// Cluster, ClusterID and Leader fill the cluster stream's headers.
	Cluster, ClusterID string
	Leader             *wire.Leader
	// Fence, if set, is asked right before each POST: it returns the end
	// of the term during which this sender may send (the cluster
	// reporter's lease, less a margin). At or after it nothing is posted:
	// the batch waits until Fence gives a later end; and a POST started
	// before it is cut off at it. Nil: always.
	Fence func() time.Time

	MaxQueueBytes int           // bound of queued encoded events; default 8 MiB
	MaxBatchBytes int           // uncompressed events per batch; default 512 KiB
	FlushDelay    time.Duration // longest an event waits for company; default 1s
	// RetryBackoff paces retries after network errors, 5xx and 429: the
	// first wait is InitialInterval, each next one Multiplier times
	// longer up to MaxInterval, each randomised by ±RandomizationFactor.
	RetryBackoff backoff.ExponentialBackOff
	// RejectBackoff is the wait after 400/401/403 before the next attempt.
	RejectBackoff time.Duration
	// TokenPoll is how often Token is read again during the wait after the
	// backend refused the token (401/403) or it could not be read: a
	// changed token ends the wait at once. Default 1s.
	TokenPoll time.Duration
	// MaxBatchRate bounds batches per second, so a backlog drains gently.
	MaxBatchRate   float64
	RequestTimeout time.Duration
	Client         *http.Client
	Logger         *zap.Logger
	Metrics        *telemetry.Metrics
	Now            func() time.Time
	// Spool, if set, keeps the queue on disk: New sends what an earlier
	// run left first, under its session, and Flush leaves what it could
	// not deliver there instead of dropping it. Nil: memory only.
	Spool *spool.Spool
	// Answered, if set, is called with each answer the backend gives
	// (status is its HTTP status; accepted: a 2xx). It runs on the
	// goroutine that posts (Run's, then Flush's) and must not block.
	Answered func(status int, accepted bool)
}

func (o *Options) defaults() {
	if o.Stream == (wire.Stream{}) {
		o.Stream = wire.NodeStream
	}
	if o.MaxQueueBytes <= 0 {
		o.MaxQueueBytes = 8 << 20
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = 512 << 10
	}
	if o.FlushDelay <= 0 {
		o.FlushDelay = time.Second
	}
	if o.RetryBackoff.InitialInterval <= 0 {
		o.RetryBackoff = backoff.ExponentialBackOff{InitialInterval: time.Second, Multiplier: 2, RandomizationFactor: 0.2, MaxInterval: 2 * time.Minute}
	}
	if o.RejectBackoff <= 0 {
		o.RejectBackoff = time.Minute
	}
	if o.TokenPoll <= 0 {
		o.TokenPoll = time.Second
	}
	if o.MaxBatchRate <= 0 {
		o.MaxBatchRate = 10
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 30 * time.Second
	}
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	// Never follow redirects: a redirect would carry the token elsewhere,
	// possibly over plain http. A 3xx is reported as the backend's answer.
	client := *o.Client
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	o.Client = &client
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Metrics == nil {
		o.Metrics = telemetry.Discard()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

type batch struct {
	seq     uint64
	session string // an earlier run's session (a replay), or "" for the running one
	items   []item
	// ambiguous: an attempt got no clear answer (no response, 5xx, 408,
	// 429, or shutdown during the request), so the backend may have
	// applied this seq. Its seq is then never given back: reused, it
	// could be taken for a duplicate and its events silently skipped.
	ambiguous bool
}

// Sender delivers events. Enqueue may be called from any goroutine; Run and
// then Flush from one.
type Sender struct {
	opts    Options
	link    *Link // Run's goroutine only
	limiter *rate.Limiter

	mu            sync.Mutex
	q             queue
	inflight      *batch
	awaitSnapshot bool
	seq           uint64
	// replayed are the earlier runs' sessions whose events the spool gave
	// back, with the seq of each one's last batch.
	replayed map[string]*spool.Session

	wake   chan struct{}
	resync chan string // the reason of the pending resync request

	flushing bool // Flush is running: no waits between attempts

	zw       *gzip.Writer // reused compressor
	lastBody int          // size of the last body, to size the next buffer

	// pause waits d between attempts, or less once until (if set) holds;
	// tests replace it to record the waits.
	pause func(ctx context.Context, d time.Duration, until func() bool) bool
}

// New returns a Sender; nothing is sent until Run.
func New(opts Options) *Sender {
	opts.defaults()
	link := newLink(opts)
	s := &Sender{
		opts:    opts,
		link:    link,
		limiter: rate.NewLimiter(rate.Limit(opts.MaxBatchRate), 1),
		q:       queue{max: opts.MaxQueueBytes},
		wake:    make(chan struct{}, 1),
		resync:  make(chan string, 1),
		pause:   link.Pause,
	}
	if opts.Spool != nil {
		s.replay(opts.Spool.Replay())
		opts.Spool.Begin(spool.Session{ID: opts.Session, Node: opts.Node, Host: opts.Host, MachineID: opts.MachineID,
			Namespace: opts.Namespace, AgentVersion: opts.AgentVersion})
	}
	return s
}

// replay queues what an earlier run left in the spool, ahead of anything
// this run queues, each event under its own session; the batch that was in
// flight goes out first with its seq.
func (s *Sender) replay(c spool.Contents) {
	if len(c.Records) == 0 {
		return
	}
	s.replayed = make(map[string]*spool.Session, len(c.Sessions))
	for id, sess := range c.Sessions {
		s.replayed[id] = &sess
	}
	now := s.opts.Now()
	for _, r := range c.Records {
		s.q.push(item{ev: r.Event, at: now, id: r.ID, session: r.Session})
	}
	if f := c.InFlight; f != nil {
		n := 0
		for n < len(s.q.items) && s.q.items[n].session == f.Session && s.q.items[n].id <= f.LastID {
			n++
		}
		// Not ambiguous, although the backend may have applied it: then it
		// answers 2xx (a duplicate), as it validates the same bytes the same
		// way. A refusal (400) therefore means it applied none of it, and
		// the seq can be given back so the rest of the session follows
		// without a gap.
		if n > 0 { // the spool keeps an in-flight batch only when its first record is at the head
			s.inflight = &batch{seq: f.Seq, session: f.Session, items: s.q.take(itemBytes(s.q.items[:n]))}
		}
	}
	s.updateGauges()
	s.opts.Logger.Info("Sending first what the spool kept from before the restart",
		zap.Int("events", len(c.Records)), zap.Int("sessions", len(c.Sessions)), zap.Int("skippedRecords", c.Skipped))
}

// Enqueue queues events in order. It never blocks: when the queue is over
// its bound, older samples are dropped first (and counted); lifecycle events
// are dropped only when a resync snapshot will replace them.
func (s *Sender) Enqueue(evs ...wire.EncodedEvent) {
	if len(evs) == 0 {
		return
	}
	now := s.opts.Now()
	s.mu.Lock()
	var first uint64
	if s.opts.Spool != nil {
		first = s.opts.Spool.Append(s.opts.Session, evs)
	}
	for i, ev := range evs {
		it := item{ev: ev, at: now}
		if s.opts.Spool != nil {
			it.id = first + uint64(i)
		}
		s.q.push(it)
	}
	dropped, needResync := s.q.overflow()
	s.unspool(dropped)
	s.updateGauges()
	s.mu.Unlock()

	s.countDropped(dropped, "overflow")
	if needResync {
		s.opts.Logger.Warn("Send queue overflowed; dropped queued pod changes, a snapshot will replace them",
			zap.Int("events", len(dropped)), zap.Int("maxQueueBytes", s.opts.MaxQueueBytes))
		s.requestResync(wire.ReasonResync)
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// ResyncRequested delivers the reason when the backend needs a full
// snapshot: wire.ReasonResync when a batch with pod changes was lost or the
// queue overflowed, wire.ReasonRequested when the backend answered 409.
// Requests made while one is pending are merged into it.
func (s *Sender) ResyncRequested() <-chan string { return s.resync }

func (s *Sender) requestResync(reason string) {
	select {
	case s.resync <- reason:
	default:
	}
}

// Pending returns the events and bytes not yet acknowledged.
func (s *Sender) Pending() (events, bytes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pendingLocked()
}

func (s *Sender) pendingLocked() (events, bytes int) {
	events, bytes = s.q.len(), s.q.bytes
	if s.inflight != nil {
		events += len(s.inflight.items)
		bytes += itemBytes(s.inflight.items)
	}
	return events, bytes
}

func (s *Sender) updateGauges() {
	events, bytes := s.pendingLocked()
	s.opts.Metrics.QueueEvents.Set(float64(events))
	s.opts.Metrics.QueueBytes.Set(float64(bytes))
}

// unspool removes dropped items from the spool; s.mu is held.
func (s *Sender) unspool(items []item) {
	if s.opts.Spool == nil || len(items) == 0 {
		return
	}
	s.opts.Spool.Remove(ids(items))
}

func ids(items []item) []uint64 {
	out := make([]uint64, len(items))
	for i, it := range items {
		out[i] = it.id
	}
	return out
}

// sessionOf names the session a batch or item belongs to.
func (s *Sender) sessionOf(session string) string {
	if session == "" {
		return s.opts.Session
	}
	return session
}

// nextSeq numbers a new batch of session; s.mu is held.
func (s *Sender) nextSeq(session string) uint64 {
	if session == "" {
		s.seq++
		return s.seq
	}
	rs := s.replayed[session]
	rs.LastSeq++
	return rs.LastSeq
}

// lastSeq is the seq of session's last batch; s.mu is held.
func (s *Sender) lastSeq(session string) uint64 {
	if session == "" {
		return s.seq
	}
	return s.replayed[session].LastSeq
}

func (s *Sender) countDropped(items []item, reason string) {
	for _, it := range items {
		s.opts.Metrics.EventsDropped.WithLabelValues(string(it.ev.Type), reason).Inc()
	}
}

func itemBytes(items []item) int {
	n := 0
	for _, it := range items {
		n += len(it.ev.Data)
	}
	return n
}

func hasLifecycle(items []item) bool {
	for _, it := range items {
		if !droppable(it.ev.Type) {
			return true
		}
	}
	return false
}

// Run delivers batches until ctx ends. A batch being retried when ctx ends
// stays in flight for Flush.
func (s *Sender) Run(ctx context.Context) {
	for {
		b := s.next(ctx, true)
		if b == nil {
			return
		}
		if !s.deliver(ctx, b) {
			return
		}
	}
}

// Flush delivers everything pending, ignoring the flush delay, until done
// or ctx ends (give it a fresh deadline: Run's context is already over). It
// returns how many events could not be delivered: counted as dropped
// (shutdown), or, with a spool that is not degraded, left there for the
// next run.
//
// Flush never waits to retry: an answer that would be retried later
// (backend unreachable, 5xx, 429, a refused token) ends it at once, so that
// a failing backend does not hold up the pod's termination for the whole
// deadline.
func (s *Sender) Flush(ctx context.Context) int {
	s.flushing = true
	for ctx.Err() == nil {
		b := s.next(ctx, false)
		if b == nil {
			return 0
		}
		if !s.deliver(ctx, b) {
			break
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	left, _ := s.pendingLocked()
	if s.opts.Spool != nil && !s.opts.Spool.Degraded() {
		return left // the next run sends them
	}
	if s.inflight != nil {
		s.countDropped(s.inflight.items, "shutdown")
		s.inflight = nil
	}
	s.countDropped(s.q.items, "shutdown")
	return left
}

// next returns the batch to deliver: the one in flight, or a new one once
// the queue holds MaxBatchBytes or its oldest event waited FlushDelay (when
// wait is false, at once). It returns nil when ctx ends, or when wait is
// false and nothing is pending.
func (s *Sender) next(ctx context.Context, wait bool) *batch {
	for {
		s.mu.Lock()
		if s.inflight != nil {
			b := s.inflight
			s.mu.Unlock()
			return b
		}
		if s.awaitSnapshot {
			dropped, found := s.q.dropUntilSnapshot()
			s.unspool(dropped)
			s.countDropped(dropped, "superseded")
			s.awaitSnapshot = !found
			s.updateGauges()
		}
		delay := time.Duration(-1)
		if s.q.len() > 0 && !s.awaitSnapshot {
			age := s.opts.Now().Sub(s.q.items[0].at)
			if !wait || s.q.bytes >= s.opts.MaxBatchBytes || age >= s.opts.FlushDelay {
				session := s.q.items[0].session
				b := &batch{seq: s.nextSeq(session), session: session, items: s.q.take(s.opts.MaxBatchBytes)}
				s.inflight = b
				s.spoolFlight(b)
				s.mu.Unlock()
				return b
			}
			delay = s.opts.FlushDelay - age
		}
		s.mu.Unlock()
		if !wait {
			return nil
		}
		if !sleep(ctx, delay, s.wake) {
			return nil
		}
	}
}

// spoolFlight records b as the batch in flight; s.mu is held.
func (s *Sender) spoolFlight(b *batch) {
	if s.opts.Spool == nil {
		return
	}
	s.opts.Spool.Form(spool.InFlight{Session: s.sessionOf(b.session), Seq: b.seq,
		FirstID: b.items[0].id, LastID: b.items[len(b.items)-1].id})
}

// sleep waits for d (forever if negative), a wake-up, or ctx; it reports
// false when ctx ended.
func sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	var timer <-chan time.Time
	if d >= 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ctx.Done():
		return false
	case <-wake:
	case <-timer:
	}
	return true
}
