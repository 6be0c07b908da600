package legacy

import (
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/catops/cli/pkg/telemetry"
)

// What the poster does after one attempt is decided by outcomes: the first
// row whose condition holds applies. They are the rows of the sender's
// table (docs/protocol.md §2.3) that can apply to a lone snapshot, with the
// same names, metric reasons and log lines; a snapshot is never split, has
// no sequence number to give back and asks for no resync.

// disposal is what happens to the snapshot attempted.
type disposal int

const (
	// ack: the backend took it.
	ack disposal = iota
	// keep: it is attempted again after the row's wait, unless a newer
	// snapshot replaced it by then.
	keep
	// drop: it is counted in catops_events_dropped_total with the row's
	// reason; the next snapshot replaces it.
	drop
	// interrupt: shutdown cut the attempt short; Flush tries it once more.
	interrupt
)

// pause is how long the poster waits before its next attempt.
type pause int

const (
	noWait pause = iota
	// backoffWait: exponential backoff with jitter from RetryBackoff (1 s
	// doubling to 2 min), or Retry-After when longer (at most the cap).
	backoffWait
	// longWait: RejectBackoff (1 min), for answers that a person must fix.
	longWait
)

// Why an attempt got no HTTP answer.
const (
	failureInterrupted = "interrupted" // the poster's context ended during the attempt
	failureToken       = "token"       // the token could not be read; nothing was sent
	failureEncode      = "encode"      // the request could not be built; nothing was sent
	failureNetwork     = "network"     // connection error or request timeout
)

// condition is what the poster knows about one attempt.
type condition struct {
	status  int    // HTTP status; 0 when no answer came
	failure string // why no answer came: one of the failure* constants, or ""
}

type outcome struct {
	name string // the row as docs/protocol.md names it
	when func(condition) bool
	// reason labels catops_batches_failed_total; "" counts no failure.
	reason   string
	disposal disposal
	// dropped is the catops_events_dropped_total reason of a drop; empty
	// means reason.
	dropped string
	pause   pause
	// tokenWait: the wait ends early once the token source gives another
	// token.
	tokenWait bool
	level     zapcore.Level
	message   string
}

func status(lo, hi int) func(condition) bool {
	return func(c condition) bool { return c.failure == "" && c.status >= lo && c.status <= hi }
}

func statusIn(codes ...int) func(condition) bool {
	return func(c condition) bool {
		for _, code := range codes {
			if c.failure == "" && c.status == code {
				return true
			}
		}
		return false
	}
}

func failed(why string) func(condition) bool {
	return func(c condition) bool { return c.failure == why }
}

var outcomes = []outcome{
	{name: "2xx", when: status(200, 299), disposal: ack, pause: noWait,
		level: zapcore.DebugLevel, message: "Batch delivered"},
	{name: "shutdown during a request", when: failed(failureInterrupted), disposal: interrupt,
		level: zapcore.DebugLevel, message: "Shutting down during a request; the batch goes out with the final flush"},
	{name: "network error or timeout", when: failed(failureNetwork), reason: "network", disposal: keep, pause: backoffWait,
		level: zapcore.WarnLevel, message: "Backend unreachable; keeping events queued and retrying"},
	{name: "408, 421, 425, 429, 5xx", when: func(c condition) bool {
		return statusIn(retryableStatuses...)(c) || status(500, 599)(c)
	}, reason: "status_5xx", disposal: keep, pause: backoffWait,
		level: zapcore.WarnLevel, message: "Backend unavailable; keeping events queued and retrying"},
	{name: "token unreadable", when: failed(failureToken), reason: "auth", disposal: keep, pause: longWait, tokenWait: true,
		level: zapcore.ErrorLevel, message: "Cannot read the auth token; check CATOPS_AUTH_TOKEN_FILE. Keeping events queued and retrying later"},
	{name: "batch could not be built", when: failed(failureEncode), reason: "encode", disposal: drop,
		level: zapcore.ErrorLevel, message: "Could not build the request for the batch; dropped it"},
	{name: "401, 403", when: statusIn(http.StatusUnauthorized, http.StatusForbidden), reason: "auth", disposal: keep, pause: longWait, tokenWait: true,
		level: zapcore.ErrorLevel, message: "Backend refused the auth token; check CATOPS_AUTH_TOKEN or the token Secret. Keeping events queued and retrying later"},
	{name: "407", when: statusIn(http.StatusProxyAuthRequired), reason: "proxy_auth", disposal: keep, pause: longWait,
		level: zapcore.ErrorLevel, message: "A proxy between the agent and the backend asks for credentials (407); check HTTPS_PROXY. Keeping events queued and retrying later"},
	{name: "404, 405", when: statusIn(http.StatusNotFound, http.StatusMethodNotAllowed), reason: "misrouted", disposal: keep, pause: longWait,
		level: zapcore.ErrorLevel, message: "Backend has no such endpoint; check CATOPS_BACKEND_URL. Keeping events queued and retrying later"},
	{name: "3xx", when: status(300, 399), reason: "redirect", disposal: keep, pause: longWait,
		level: zapcore.ErrorLevel, message: "Backend answered with a redirect, which the agent never follows; set CATOPS_BACKEND_URL to the final URL. Keeping events queued and retrying later"},
	{name: "409, legacy snapshot", when: statusIn(http.StatusConflict), reason: "conflict", disposal: drop, dropped: "rejected",
		level: zapcore.WarnLevel, message: "Backend answered 409 to a legacy snapshot; dropped it, the next one replaces it"},
	{name: "413, one event", when: statusIn(http.StatusRequestEntityTooLarge), reason: "too_large", disposal: drop,
		level: zapcore.ErrorLevel, message: "Backend refused a single event as too large; dropped it"},
	{name: "400 and other 4xx, one event", when: status(400, 499), reason: "rejected", disposal: drop,
		level: zapcore.WarnLevel, message: "Backend rejected an event; dropped it"},
	{name: "any other status", when: func(condition) bool { return true }, reason: "unexpected_status", disposal: keep, pause: longWait,
		level: zapcore.ErrorLevel, message: "Backend answered with a status outside HTTP's 2xx–5xx; check CATOPS_BACKEND_URL. Keeping events queued and retrying later"},
}

// retryableStatuses are the 4xx codes of the "408, 421, 425, 429, 5xx"
// row; each has its own catops_batches_failed_total reason.
var retryableStatuses = []int{http.StatusRequestTimeout, http.StatusMisdirectedRequest, http.StatusTooEarly, http.StatusTooManyRequests}

// InitMetrics creates, at 0, every catops_batches_failed_total series the
// rows can count and every catops_events_dropped_total series of a legacy
// snapshot (the agent calls it at start).
func InitMetrics(m *telemetry.Metrics) {
	drops := map[string]bool{"superseded": true, "shutdown": true}
	for i := range outcomes {
		o := &outcomes[i]
		if o.reason == "" {
			continue
		}
		m.BatchesFailed.WithLabelValues(o.reason)
		if o.disposal == drop {
			drops[o.dropReason()] = true
		}
	}
	for _, code := range retryableStatuses {
		m.BatchesFailed.WithLabelValues("status_" + strconv.Itoa(code))
	}
	for r := range drops {
		m.EventsDropped.WithLabelValues(EventType, r)
	}
}

// classify returns the row for c: the first that matches. The last row
// matches everything.
func classify(c condition) *outcome {
	for i := range outcomes {
		if outcomes[i].when(c) {
			return &outcomes[i]
		}
	}
	return &outcomes[len(outcomes)-1]
}

// failReason refines the metric reason of the retryable-status row: the
// 4xx codes in it have their own (status_408, status_429, …).
func (o *outcome) failReason(c condition) string {
	if o.reason == "status_5xx" && c.status < 500 {
		return "status_" + strconv.Itoa(c.status)
	}
	return o.reason
}

// dropReason is the catops_events_dropped_total reason of the row.
func (o *outcome) dropReason() string {
	if o.dropped != "" {
		return o.dropped
	}
	return o.reason
}

// logOutcome logs one attempt's row. Rows retried with backoff log the
// first failure of a streak (and the first after the cause changed) at
// their level and the retries after it at debug ("Retrying batch"); those
// that wait a minute log every time; the first success after a streak says
// how long it lasted.
func (p *Poster) logOutcome(o *outcome, res result, size int) {
	fields := []zap.Field{zap.Int("status", res.status)}
	if res.err != nil {
		fields = append(fields, zap.Error(res.err))
	}
	if res.location != "" {
		fields = append(fields, zap.String("location", res.location))
	}
	fields = append(fields, zap.String("type", EventType), zap.Int("bytes", size))
	level, msg := o.level, o.message
	switch {
	case o.disposal == keep:
		if p.outageSince.IsZero() {
			p.outageSince = p.opts.Now()
		} else if p.outageRow == o && o.pause == backoffWait {
			level, msg = zapcore.DebugLevel, "Retrying batch"
		}
		p.outageRow = o
	case o.disposal == ack && !p.outageSince.IsZero():
		p.opts.Logger.Info("Backend accepting batches again", zap.Duration("outage", p.opts.Now().Sub(p.outageSince)))
		p.outageSince, p.outageRow = time.Time{}, nil
	}
	if ce := p.opts.Logger.Check(level, msg); ce != nil {
		ce.Write(fields...)
	}
	switch {
	case p.accepted:
	case o.disposal == ack:
		p.accepted = true
		p.opts.Logger.Info("First batch accepted by the backend", append(fields, zap.String("url", p.endpoint))...)
	case !p.refusalLogged && res.status != 0 && o.pause == longWait:
		p.refusalLogged = true
		p.opts.Logger.Error("First batch refused by the backend; nothing is delivered until this is fixed",
			append(fields, zap.String("url", p.endpoint), zap.String("reason", o.reason), zap.String("fix", o.message))...)
	}
}
