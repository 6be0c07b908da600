package sender

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/catops/cli/pkg/telemetry"
	"github.com/catops/cli/pkg/wire"
)

// A Link is the agent's end of the backend's ingest endpoint. It makes one
// attempt at a time to POST there, applies the row of the outcome table
// the attempt meets (its log line, the Answered hook, the failure metric)
// and says how long the row waits before the next attempt. A Sender
// delivers its batches through one; pkg/legacy posts its snapshots through
// another (PostLegacy). It is used from one goroutine.
type Link struct {
	opts     Options
	endpoint string
	// backoff paces the backoff waits; it starts again from RetryBackoff
	// after an attempt that delivered or dropped what it posted.
	backoff backoff.ExponentialBackOff

	outageSince time.Time // first failure of the current streak
	outageRow   *outcome  // the row last logged in the current streak
	// accepted: the backend took a batch; refusalLogged: the first
	// refusal before that was logged.
	accepted, refusalLogged bool
}

// NewLink returns a Link to opts.BackendURL. Of opts it uses the fields
// that reach the backend and pace the attempts (BackendURL, Token,
// AgentVersion, RetryBackoff, RejectBackoff, TokenPoll, RequestTimeout,
// Client) and Logger, Metrics, Now and Answered, with a Sender's defaults.
func NewLink(opts Options) *Link {
	opts.defaults()
	return newLink(opts)
}

// newLink returns a Link; opts has its defaults.
func newLink(opts Options) *Link {
	return &Link{opts: opts, endpoint: opts.BackendURL + opts.Stream.Path, backoff: opts.RetryBackoff}
}

// Metrics is where the link counts: Options.Metrics, or a set that
// discards.
func (l *Link) Metrics() *telemetry.Metrics { return l.opts.Metrics }

// Attempt is what one attempt came to: the answer, or why none came, and
// the row of the outcome table it met.
type Attempt struct {
	o   *outcome
	res result
}

// Delivered reports whether the backend took what was posted.
func (a Attempt) Delivered() bool { return a.o.disposal == ack }

// Kept reports whether the row keeps what was posted, to be posted again
// after WaitAfter.
func (a Attempt) Kept() bool { return a.o.disposal == keep }

// Interrupted reports whether shutdown cut the attempt short: it is not a
// failure, and what was posted goes out with the final flush.
func (a Attempt) Interrupted() bool { return a.o.disposal == interrupt }

// Dropped is the catops_events_dropped_total reason when the row drops what
// was posted, or "".
func (a Attempt) Dropped() string {
	if a.o.disposal != drop {
		return ""
	}
	return a.o.dropReason()
}

// result is what one attempt produced.
type result struct {
	token      string // the token the attempt used ("" when unreadable); never logged
	status     int    // HTTP status; 0 when no answer came
	failure    string // why no answer came (failure* in outcomes.go), or ""
	retryAfter time.Duration
	location   string // a redirect's target
	err        error
	bytes      int
}

// PostLegacy makes one attempt to post body, a legacy snapshot
// (docs/protocol.md §6), with its format's header (the link adds
// Authorization and User-Agent), and applies the row a lone legacy snapshot
// meets. fields go in the attempt's log lines.
func (l *Link) PostLegacy(ctx context.Context, body []byte, header http.Header, fields ...zap.Field) Attempt {
	return l.attempt(ctx, condition{events: 1, legacy: true}, func() ([]byte, error) { return body, nil }, header, nil, fields)
}

// attempt makes one attempt and applies the row it meets. c says what was
// posted (its status and failure are filled in here); body and header are
// post's; head and tail are log fields, written before and after the
// answer's.
func (l *Link) attempt(ctx context.Context, c condition, body func() ([]byte, error), header http.Header, head, tail []zap.Field) Attempt {
	res := l.post(ctx, body, header)
	c.status, c.failure = res.status, res.failure
	o := classify(c)
	l.logOutcome(o, res, head, tail)
	if l.opts.Answered != nil && res.status != 0 {
		l.opts.Answered(res.status, o.disposal == ack)
	}
	if o.reason != "" {
		l.opts.Metrics.BatchesFailed.WithLabelValues(o.failReason(c)).Inc()
	}
	if o.disposal == ack || o.disposal == drop {
		l.backoff = l.opts.RetryBackoff
	}
	return Attempt{o: o, res: res}
}

// Delivered counts a delivered attempt. Call it once what was delivered
// has left the caller's queue: catops_batches_sent_total, counted last,
// then implies the rest.
func (l *Link) Delivered(a Attempt) {
	l.opts.Metrics.BytesSent.Add(float64(a.res.bytes))
	l.opts.Metrics.LastSendTime.Set(float64(l.opts.Now().Unix()))
	l.opts.Metrics.BatchesSent.Inc()
}

// WaitAfter is the wait a kept attempt's row asks for before the next
// attempt: the retry backoff (or Retry-After when longer, up to the
// backoff's cap), or RejectBackoff, which until, when not nil, ends early.
func (l *Link) WaitAfter(a Attempt) (d time.Duration, until func() bool) {
	switch a.o.pause {
	case backoffWait:
		return max(l.backoff.NextBackOff(), min(a.res.retryAfter, l.backoff.MaxInterval)), nil
	case longWait:
		if a.o.tokenWait {
			until = l.tokenChangedFrom(a.res.token)
		}
		return l.opts.RejectBackoff, until
	case fenceWait:
		return l.opts.RejectBackoff, func() bool { return time.Now().Before(l.opts.Fence()) }
	}
	return 0, nil
}

// cutAtFence cancels the request (cancel) once Options.Fence's end passes,
// following the end as renewals move it; stop ends the watch.
func (l *Link) cutAtFence(ctx context.Context, cancel context.CancelFunc) (stop func()) {
	done := make(chan struct{})
	go func() {
		for {
			end := l.opts.Fence()
			if !time.Now().Before(end) {
				cancel()
				return
			}
			t := time.NewTimer(time.Until(end))
			select {
			case <-done:
				t.Stop()
				return
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done) }
}

// Pause waits d, or until ctx ends (false), or, checked every TokenPoll,
// until until() holds; a nil until waits the whole d.
func (l *Link) Pause(ctx context.Context, d time.Duration, until func() bool) bool {
	return pauseUntil(ctx, d, l.opts.TokenPoll, until)
}

// post makes one attempt to POST what body returns, with header and the
// Authorization and User-Agent every format carries (docs/protocol.md
// §2.1).
func (l *Link) post(ctx context.Context, body func() ([]byte, error), header http.Header) result {
	token, err := l.opts.Token()
	if err != nil {
		return result{failure: failureToken, err: fmt.Errorf("read auth token: %w", err)}
	}
	raw, err := body()
	if err != nil {
		return result{failure: failureEncode, err: err, token: token}
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, l.opts.RequestTimeout)
	defer cancel()
	if l.opts.Fence != nil {
		if !time.Now().Before(l.opts.Fence()) {
			return result{failure: failureFenced, token: token}
		}
		stop := l.cutAtFence(ctx, cancel)
		defer stop()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.endpoint, bytes.NewReader(raw))
	if err != nil {
		return result{failure: failureEncode, err: fmt.Errorf("build request: %w", err)}
	}
	maps.Copy(req.Header, header)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("User-Agent", l.opts.Stream.Product+"/"+l.opts.AgentVersion)
	start := time.Now()
	resp, err := l.opts.Client.Do(req)
	if err != nil {
		if parent.Err() != nil {
			return result{failure: failureInterrupted, err: err}
		}
		if l.opts.Fence != nil && !time.Now().Before(l.opts.Fence()) {
			return result{failure: failureFenced, err: err, token: token} // cut off at the fence
		}
		l.opts.Metrics.BackendRequestDuration.WithLabelValues(telemetry.CodeClass(0)).Observe(time.Since(start).Seconds())
		return result{failure: failureNetwork, err: err}
	}
	defer resp.Body.Close()
	res := result{status: resp.StatusCode, bytes: len(raw), token: token}
	msg := responseError(resp.Body)
	l.opts.Metrics.BackendRequestDuration.WithLabelValues(telemetry.CodeClass(resp.StatusCode)).Observe(time.Since(start).Seconds())
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return res
	}
	res.retryAfter = retryAfter(resp.Header.Get("Retry-After"), l.opts.Now())
	res.location = resp.Header.Get("Location")
	who := "backend"
	if resp.StatusCode == http.StatusProxyAuthRequired {
		who = "a proxy" // only proxies answer 407
	}
	res.err = fmt.Errorf("%s answered %s: %s", who, resp.Status, msg)
	return res
}

// logOutcome logs one attempt's row. Retried rows log the first failure of
// a streak (and the first after the cause changed) at their level, and the
// quick retries after it at debug ("Retrying batch"); those that wait a
// minute log every time; the first success after a streak says how long it
// lasted.
func (l *Link) logOutcome(o *outcome, res result, head, tail []zap.Field) {
	fields := make([]zap.Field, 0, len(head)+3+len(tail))
	fields = append(append(fields, head...), zap.Int("status", res.status))
	if res.err != nil {
		fields = append(fields, zap.Error(res.err))
	}
	if res.location != "" {
		fields = append(fields, zap.String("location", res.location))
	}
	fields = append(fields, tail...)
	level, msg := o.level, o.message
	switch {
	case o.disposal == keep:
		if l.outageSince.IsZero() {
			l.outageSince = l.opts.Now()
		} else if l.outageRow == o && o.pause == backoffWait {
			level, msg = zapcore.DebugLevel, "Retrying batch"
		}
		l.outageRow = o
	case o.disposal == ack && !l.outageSince.IsZero():
		l.opts.Logger.Info("Backend accepting batches again", zap.Duration("outage", l.opts.Now().Sub(l.outageSince)))
		l.outageSince, l.outageRow = time.Time{}, nil
	}
	if ce := l.opts.Logger.Check(level, msg); ce != nil {
		ce.Write(fields...)
	}
	l.logFirst(o, res, fields)
}

// logFirst logs the line a user looks for after an install: the first
// batch the backend accepted, and, before that, the first answer that
// refuses delivery until someone fixes something (a token, the URL, a
// proxy), which repeats the row's advice.
func (l *Link) logFirst(o *outcome, res result, fields []zap.Field) {
	switch {
	case l.accepted:
	case o.disposal == ack:
		l.accepted = true
		l.opts.Logger.Info("First batch accepted by the backend", append(fields, zap.String("url", l.endpoint))...)
	case !l.refusalLogged && res.status != 0 && o.pause == longWait:
		l.refusalLogged = true
		l.opts.Logger.Error("First batch refused by the backend; nothing is delivered until this is fixed",
			append(fields, zap.String("url", l.endpoint), zap.String("reason", o.reason), zap.String("fix", o.message))...)
	}
}

// tokenChangedFrom returns the condition that ends the long wait after the
// backend refused token (or after it could not be read, token ""): the
// token source now gives another one. A rotated Secret is then tried at
// once instead of after RejectBackoff; an unchanged token still waits, so
// refusals stay at one a RejectBackoff.
func (l *Link) tokenChangedFrom(token string) func() bool {
	return func() bool {
		t, err := l.opts.Token()
		if err != nil || t == token {
			return false
		}
		l.opts.Logger.Info("Auth token changed; retrying now")
		return true
	}
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
