package legacy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/catops/cli/pkg/telemetry"
	"github.com/catops/cli/pkg/wire"
)

// EventType is the type label of a legacy snapshot in
// catops_events_dropped_total.
const EventType = "legacy_snapshot"

// Options configure a Poster. Zero durations take the defaults.
type Options struct {
	// BackendURL is the backend's base URL; snapshots go to
	// BackendURL+wire.Path.
	BackendURL string
	// Token returns the current bearer token (re-read before every attempt).
	Token func() (string, error)
	// AgentVersion goes in the User-Agent.
	AgentVersion string
	// RetryBackoff paces retries after network errors, 408, 421, 425, 429
	// and 5xx; it starts again once a snapshot was delivered or dropped.
	RetryBackoff wait.Backoff
	// RejectBackoff is the wait after answers a person must fix (401/403,
	// 404, a redirect, …). Default 1 min.
	RejectBackoff time.Duration
	// TokenPoll is how often Token is read again during the wait after the
	// token was refused or could not be read: a changed token ends the wait
	// at once. Default 1s.
	TokenPoll      time.Duration
	RequestTimeout time.Duration // default 30s
	Client         *http.Client
	Logger         *zap.Logger
	Metrics        *telemetry.Metrics
	Now            func() time.Time
	// Answered, if set, is called with each answer the backend gives
	// (accepted: a 2xx). It runs on the poster's goroutine and must not
	// block.
	Answered func(status int, accepted bool)
}

func (o *Options) defaults() {
	if o.RetryBackoff.Duration <= 0 {
		o.RetryBackoff = wait.Backoff{Duration: time.Second, Factor: 2, Jitter: 0.2, Steps: 1 << 30, Cap: 2 * time.Minute}
	}
	if o.RejectBackoff <= 0 {
		o.RejectBackoff = time.Minute
	}
	if o.TokenPoll <= 0 {
		o.TokenPoll = time.Second
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 30 * time.Second
	}
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	// Never follow redirects: a redirect would carry the token elsewhere.
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

// Poster posts legacy snapshots one at a time. It holds at most two: the
// one being attempted (kept after a failure until it is delivered,
// dropped or replaced) and the newest offered, which replaces the kept one
// at the next attempt. Offer may be called from any goroutine; Run and then
// Flush from one.
type Poster struct {
	opts     Options
	endpoint string
	wake     chan struct{}

	mu   sync.Mutex
	cur  []byte // the snapshot attempted last, not yet delivered; nil: none
	next []byte // the newest snapshot offered since; nil: none

	// Run's goroutine only.
	outageSince time.Time // first failure of the current streak
	outageRow   *outcome  // the row last logged in the current streak
	// accepted: the backend took a snapshot; refusalLogged: the first
	// refusal before that was logged.
	accepted, refusalLogged bool

	// pause waits d between attempts, or less once until (if set) holds;
	// tests replace it to record the waits.
	pause func(ctx context.Context, d time.Duration, until func() bool) bool
}

// New returns a Poster; nothing is sent until Run.
func New(opts Options) *Poster {
	opts.defaults()
	return &Poster{
		opts:     opts,
		endpoint: opts.BackendURL + wire.Path,
		wake:     make(chan struct{}, 1),
		pause: func(ctx context.Context, d time.Duration, until func() bool) bool {
			return pauseUntil(ctx, d, opts.TokenPoll, until)
		},
	}
}

// Offer encodes s and makes it the next snapshot to send. One offered
// earlier and not attempted yet is dropped (counted as superseded). It
// never blocks.
func (p *Poster) Offer(s wire.Snapshot) error {
	body, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode snapshot: %w", err)
	}
	p.mu.Lock()
	replaced := p.next != nil
	p.next = body
	p.updateGauges()
	p.mu.Unlock()
	if replaced {
		p.countDropped("superseded")
	}
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return nil
}

// Pending returns the snapshots, and their bytes, not yet delivered.
func (p *Poster) Pending() (snapshots, bytes int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pendingLocked()
}

func (p *Poster) pendingLocked() (snapshots, bytes int) {
	for _, b := range [][]byte{p.cur, p.next} {
		if b != nil {
			snapshots++
			bytes += len(b)
		}
	}
	return snapshots, bytes
}

func (p *Poster) updateGauges() {
	n, b := p.pendingLocked()
	p.opts.Metrics.QueueEvents.Set(float64(n))
	p.opts.Metrics.QueueBytes.Set(float64(b))
}

func (p *Poster) countDropped(reason string) {
	p.opts.Metrics.EventsDropped.WithLabelValues(EventType, reason).Inc()
}

// Run posts snapshots until ctx ends. One being attempted when ctx ends is
// kept for Flush.
func (p *Poster) Run(ctx context.Context) {
	backoff := p.opts.RetryBackoff
	retrying := false
	for {
		body := p.take(ctx, true)
		if body == nil || ctx.Err() != nil {
			return // a kept snapshot stays for Flush
		}
		if retrying {
			p.opts.Metrics.BatchesRetried.Inc()
		}
		o, res := p.attempt(ctx, body)
		switch o.disposal {
		case interrupt:
			return
		case ack, drop:
			retrying, backoff = false, p.opts.RetryBackoff
			continue
		}
		retrying = true
		var wait time.Duration
		var until func() bool
		switch o.pause {
		case backoffWait:
			wait = max(backoff.Step(), min(res.retryAfter, backoff.Cap))
		case longWait:
			wait = p.opts.RejectBackoff
			if o.tokenWait {
				until = p.tokenChangedFrom(res.token)
			}
		}
		if !p.pause(ctx, wait, until) {
			return
		}
	}
}

// Flush makes one attempt to deliver the newest snapshot not yet
// delivered, if any, within ctx (give it a fresh deadline: Run's context is
// already over). It never waits to retry. It returns how many snapshots
// were left undelivered (0 or 1), counted as dropped (shutdown).
func (p *Poster) Flush(ctx context.Context) int {
	if body := p.take(ctx, false); body != nil && ctx.Err() == nil {
		p.attempt(ctx, body)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil {
		return 0
	}
	p.cur = nil
	p.updateGauges()
	p.countDropped("shutdown")
	return 1
}

// take returns the snapshot to attempt: the newest one offered, which
// replaces (and drops, as superseded) one kept after a failed attempt, or
// else the kept one. With wait it waits for one until ctx ends (nil);
// without, it returns nil when there is none.
func (p *Poster) take(ctx context.Context, wait bool) []byte {
	for {
		p.mu.Lock()
		superseded := false
		if p.next != nil {
			superseded = p.cur != nil
			p.cur, p.next = p.next, nil
		}
		body := p.cur
		p.mu.Unlock()
		if superseded {
			p.countDropped("superseded")
		}
		if body != nil || !wait {
			return body
		}
		select {
		case <-ctx.Done():
			return nil
		case <-p.wake:
		}
	}
}

// attempt posts body once and applies its row: the metrics, the log line,
// the health hook, and, when the snapshot is delivered or dropped, its
// removal.
func (p *Poster) attempt(ctx context.Context, body []byte) (*outcome, result) {
	res := p.post(ctx, body)
	c := condition{status: res.status, failure: res.failure}
	o := classify(c)
	p.logOutcome(o, res, len(body))
	if p.opts.Answered != nil && res.status != 0 {
		p.opts.Answered(res.status, o.disposal == ack)
	}
	if o.reason != "" {
		p.opts.Metrics.BatchesFailed.WithLabelValues(o.failReason(c)).Inc()
	}
	if o.disposal != ack && o.disposal != drop {
		return o, res
	}
	p.mu.Lock()
	p.cur = nil
	p.updateGauges()
	p.mu.Unlock()
	if o.disposal == drop {
		p.countDropped(o.dropReason())
		return o, res
	}
	p.opts.Metrics.BytesSent.Add(float64(res.bytes))
	p.opts.Metrics.LastSendTime.Set(float64(p.opts.Now().Unix()))
	p.opts.Metrics.BatchesSent.Inc()
	return o, res
}
