package legacy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/catops/cli/pkg/sender"
	"github.com/catops/cli/pkg/telemetry"
	"github.com/catops/cli/pkg/wire"
)

// EventType is the type label of a legacy snapshot in
// catops_events_dropped_total.
const EventType = "legacy_snapshot"

// Options configure a Poster. They are a sender's, of which a Poster uses
// those a sender.Link does (see sender.NewLink), with the same defaults;
// the queue's, the batches' and the spool's do not apply.
type Options = sender.Options

// Poster posts legacy snapshots one at a time. It holds at most two: the
// one being attempted (kept after a failure until it is delivered,
// dropped or replaced) and the newest offered, which replaces the kept one
// at the next attempt. Offer may be called from any goroutine; Run and then
// Flush from one.
//
// Each attempt goes through a sender.Link: the rows of the sender's
// outcome table that a lone snapshot meets decide what follows, with the
// sender's log lines, metrics and waits.
type Poster struct {
	link    *sender.Link // Run's goroutine only
	metrics *telemetry.Metrics
	wake    chan struct{}

	mu   sync.Mutex
	cur  []byte // the snapshot attempted last, not yet delivered; nil: none
	next []byte // the newest snapshot offered since; nil: none

	// pause waits d between attempts, or less once until (if set) holds;
	// tests replace it to record the waits.
	pause func(ctx context.Context, d time.Duration, until func() bool) bool
}

// New returns a Poster; nothing is sent until Run.
func New(opts Options) *Poster {
	link := sender.NewLink(opts)
	return &Poster{link: link, metrics: link.Metrics(), wake: make(chan struct{}, 1), pause: link.Pause}
}

// InitMetrics creates, at 0, every catops_batches_failed_total series a
// snapshot's attempts can count and every catops_events_dropped_total
// series of a legacy snapshot (the agent calls it at start).
func InitMetrics(m *telemetry.Metrics) {
	sender.InitOutcomeMetrics(m, []wire.EventType{EventType}, "superseded", "shutdown")
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
	p.metrics.QueueEvents.Set(float64(n))
	p.metrics.QueueBytes.Set(float64(b))
}

func (p *Poster) countDropped(reason string) {
	p.metrics.EventsDropped.WithLabelValues(EventType, reason).Inc()
}

// Run posts snapshots until ctx ends. One being attempted when ctx ends is
// kept for Flush.
func (p *Poster) Run(ctx context.Context) {
	retrying := false
	for {
		body := p.take(ctx, true)
		if body == nil || ctx.Err() != nil {
			return // a kept snapshot stays for Flush
		}
		if retrying {
			p.metrics.BatchesRetried.Inc()
		}
		a := p.attempt(ctx, body)
		if a.Interrupted() {
			return
		}
		if retrying = a.Kept(); !retrying {
			continue // delivered or dropped
		}
		d, until := p.link.WaitAfter(a)
		if !p.pause(ctx, d, until) {
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

// attempt posts body once; one delivered or dropped is no longer pending.
func (p *Poster) attempt(ctx context.Context, body []byte) sender.Attempt {
	header := http.Header{"Content-Type": {wire.ContentTypeSnapshot}} // docs/protocol.md §2.1's legacy column
	a := p.link.PostLegacy(ctx, body, header, zap.String("type", EventType), zap.Int("bytes", len(body)))
	if a.Kept() || a.Interrupted() {
		return a
	}
	p.mu.Lock()
	p.cur = nil
	p.updateGauges()
	p.mu.Unlock()
	if reason := a.Dropped(); reason != "" {
		p.countDropped(reason)
		return a
	}
	p.link.Delivered(a)
	return a
}
