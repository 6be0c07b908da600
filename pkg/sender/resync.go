package sender

import (
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/catops/cli/pkg/wire"
)

// ResyncSpacer spaces the snapshots a producer sends when the sender asks
// for them (ResyncRequested): the first at once, then, while they come back
// to back, by a backoff (1 s doubling to 5 min, reset after 10 quiet
// minutes), so that a backend that keeps refusing a snapshot is not sent one
// ten times a second. It is used from the producer's goroutine.
type ResyncSpacer struct {
	last    time.Time // the last resync snapshot
	backoff backoff.ExponentialBackOff
	at      time.Time // when a spaced resync is due; zero: none
	reason  string
}

// Request is a resync request with reason at now. It returns true when the
// snapshot is to be sent now (then call Sent), and otherwise how long until
// the scheduled one is due (Timer fires then); 0 when one was scheduled
// already.
func (r *ResyncSpacer) Request(reason string, now time.Time) (sendNow bool, in time.Duration) {
	if now.Sub(r.last) > 10*time.Minute {
		r.backoff = backoff.ExponentialBackOff{InitialInterval: time.Second, Multiplier: 2, RandomizationFactor: 0.1, MaxInterval: 5 * time.Minute}
	}
	if !r.at.IsZero() {
		return false, 0
	}
	gap := r.backoff.NextBackOff()
	if r.last.IsZero() || now.Sub(r.last) >= gap {
		return true, 0
	}
	r.at, r.reason = r.last.Add(gap), reason
	return false, r.at.Sub(now)
}

// Timer fires when a spaced resync is due; nil (never) when none is.
func (r *ResyncSpacer) Timer() <-chan time.Time {
	if r.at.IsZero() {
		return nil
	}
	return time.After(time.Until(r.at))
}

// Due is the reason of the resync Timer fired for; send its snapshot (and
// call Sent).
func (r *ResyncSpacer) Due() string {
	r.at = time.Time{}
	return r.reason
}

// Sent records a snapshot sent at now for reason: resync snapshots count
// for the spacing, others not.
func (r *ResyncSpacer) Sent(reason string, now time.Time) {
	if reason == wire.ReasonResync || reason == wire.ReasonRequested {
		r.last = now
	}
}
