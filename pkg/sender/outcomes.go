package sender

import (
	"net/http"
	"slices"
	"strconv"

	"go.uber.org/zap/zapcore"

	"github.com/catops/cli/pkg/telemetry"
	"github.com/catops/cli/pkg/wire"
)

// What the sender does after one attempt to deliver a batch is decided by
// one table, outcomes: the first row whose condition holds applies. The
// legacy poster (pkg/legacy) posts its snapshots through a Link too, so
// the same table decides for them: a lone snapshot meets the rows that can
// apply to one event, and one row of its own. docs/protocol.md §2.3
// mirrors it row for row (TestOutcomeTableIsDocumented checks the row
// names and their order), and each row has a test against the reference
// receiver in pkg/agent.

// disposal is what happens to the batch in flight.
type disposal int

const (
	// ack: the backend took it; it leaves the queue.
	ack disposal = iota
	// keep: it stays in flight and is sent again, unchanged, after the wait.
	keep
	// split: the first half stays in flight under the same seq and the rest
	// goes back to the head of the queue; both are sent at once.
	split
	// drop: its events are dropped and counted in
	// catops_events_dropped_total with the row's reason.
	drop
	// interrupt: shutdown cut the attempt short; the batch stays in flight
	// for the flush, and nothing is counted as a failure.
	interrupt
)

// pause is how long the sender waits before its next attempt.
type pause int

const (
	noWait pause = iota
	// backoffWait: exponential backoff with jitter from RetryBackoff (1 s
	// doubling to 2 min), or Retry-After when longer (at most the cap).
	backoffWait
	// longWait: RejectBackoff (1 min), for answers that a person must fix.
	longWait
	// fenceWait: until Options.Fence gives a term that has not ended
	// (checked every TokenPoll).
	fenceWait
)

// resync is whether the row asks the agent for a snapshot.
type resync int

const (
	noResync resync = iota
	// resyncIfChanges: when the dropped events include a pod, node or
	// snapshot event, the backend's picture of the node is now wrong:
	// ask for a snapshot (reason "resync"), spaced by the agent's backoff.
	resyncIfChanges
	// resyncRequested: the backend lost continuity (409): drop queued
	// events up to the next snapshot and ask for one (reason "requested").
	resyncRequested
)

// condition is what the sender knows about one attempt.
type condition struct {
	status    int    // HTTP status; 0 when no answer came
	failure   string // why no answer came: one of the failure* constants, or ""
	events    int    // events in the batch
	markAlone bool   // the batch is one snapshot_begin or snapshot_end event
	legacy    bool   // the body is a legacy snapshot (Link.PostLegacy), not a batch
}

// Why an attempt got no HTTP answer.
const (
	failureInterrupted = "interrupted" // the caller's context ended during the attempt
	failureToken       = "token"       // the token could not be read; nothing was sent
	failureEncode      = "encode"      // the body or request could not be built; nothing was sent
	failureNetwork     = "network"     // connection error or request timeout
	failureFenced      = "fenced"      // Options.Fence says the term is over; nothing was sent
)

// outcome is one row of the table.
type outcome struct {
	// name is the row as docs/protocol.md names it.
	name string
	when func(c condition) bool
	// reason labels catops_batches_failed_total and, for dropped events,
	// catops_events_dropped_total; "" counts no failure.
	reason   string
	disposal disposal
	// dropped is the catops_events_dropped_total reason of a drop; empty
	// means reason.
	dropped string
	// giveBackSeq: the backend applied none of the batch, so its seq is
	// reused by the next batch (no gap, so no 409).
	giveBackSeq bool
	resync      resync
	// tokenWait: the wait ends early once the token source gives another
	// token (the rows that blame the token).
	tokenWait bool
	pause     pause
	// level and message are the log line. Rows that keep the batch are
	// an outage: see Link.logOutcome for how a streak is logged.
	level   zapcore.Level
	message string
}

func status(lo, hi int) func(condition) bool {
	return func(c condition) bool { return c.failure == "" && c.status >= lo && c.status <= hi }
}

func statusIn(codes ...int) func(condition) bool {
	return func(c condition) bool {
		if c.failure != "" {
			return false
		}
		for _, code := range codes {
			if c.status == code {
				return true
			}
		}
		return false
	}
}

func failed(why string) func(condition) bool {
	return func(c condition) bool { return c.failure == why }
}

func rejectedStatus(c condition) bool { return status(400, 499)(c) }

var outcomes = []outcome{
	{name: "2xx", when: status(200, 299), disposal: ack, pause: noWait, resync: noResync,
		level: zapcore.DebugLevel, message: "Batch delivered"},
	{name: "shutdown during a request", when: failed(failureInterrupted), disposal: interrupt,
		level: zapcore.DebugLevel, message: "Shutting down during a request; the batch goes out with the final flush"},
	{name: "not holding the lease", when: failed(failureFenced), reason: "fenced", disposal: keep, pause: fenceWait,
		level: zapcore.WarnLevel, message: "This cluster reporter's lease term is over; holding the batch until it leads again"},
	{name: "network error or timeout", when: failed(failureNetwork), reason: "network", disposal: keep, pause: backoffWait,
		level: zapcore.WarnLevel, message: "Backend unreachable; keeping events queued and retrying"},
	{name: "408, 421, 425, 429, 5xx", when: func(c condition) bool {
		return statusIn(retryableStatuses...)(c) || status(500, 599)(c)
	}, reason: "status_5xx", disposal: keep, pause: backoffWait,
		level: zapcore.WarnLevel, message: "Backend unavailable; keeping events queued and retrying"},
	{name: "token unreadable", when: failed(failureToken), reason: "auth", disposal: keep, pause: longWait, tokenWait: true,
		level: zapcore.ErrorLevel, message: "Cannot read the auth token; check CATOPS_AUTH_TOKEN_FILE. Keeping events queued and retrying later"},
	{name: "batch could not be built", when: failed(failureEncode), reason: "encode", disposal: drop,
		giveBackSeq: true, resync: resyncIfChanges,
		level: zapcore.ErrorLevel, message: "Could not build the request for the batch; dropped it"},
	{name: "401, 403", when: statusIn(http.StatusUnauthorized, http.StatusForbidden), reason: "auth", disposal: keep, pause: longWait, tokenWait: true,
		level: zapcore.ErrorLevel, message: "Backend refused the auth token; check CATOPS_AUTH_TOKEN, CATOPS_AUTH_TOKEN_FILE or the token Secret. Keeping events queued and retrying later"},
	{name: "407", when: statusIn(http.StatusProxyAuthRequired), reason: "proxy_auth", disposal: keep, pause: longWait,
		level: zapcore.ErrorLevel, message: "A proxy between the agent and the backend asks for credentials (407); check HTTPS_PROXY. Keeping events queued and retrying later"},
	{name: "404, 405", when: statusIn(http.StatusNotFound, http.StatusMethodNotAllowed), reason: "misrouted", disposal: keep, pause: longWait,
		level: zapcore.ErrorLevel, message: "Backend has no such endpoint; check CATOPS_BACKEND_URL. Keeping events queued and retrying later"},
	{name: "3xx", when: status(300, 399), reason: "redirect", disposal: keep, pause: longWait,
		level: zapcore.ErrorLevel, message: "Backend answered with a redirect, which the agent never follows; set CATOPS_BACKEND_URL to the final URL. Keeping events queued and retrying later"},
	{name: "409, legacy snapshot", when: func(c condition) bool { return statusIn(http.StatusConflict)(c) && c.legacy },
		reason: "conflict", disposal: drop, dropped: "rejected",
		level: zapcore.WarnLevel, message: "Backend answered 409 to a legacy snapshot; dropped it, the next one replaces it"},
	{name: "409", when: statusIn(http.StatusConflict), reason: "conflict", disposal: drop, dropped: "superseded", resync: resyncRequested,
		level: zapcore.InfoLevel, message: "Backend asked for a resync; sending a full snapshot"},
	{name: "other 4xx, a snapshot mark alone", when: func(c condition) bool { return rejectedStatus(c) && c.markAlone },
		reason: "rejected", disposal: keep, pause: longWait,
		level:   zapcore.ErrorLevel,
		message: "Backend rejects even a bare snapshot mark, which every CatOps backend of this protocol takes; check that CATOPS_BACKEND_URL is one. Keeping events queued and retrying later"},
	{name: "413, several events", when: func(c condition) bool { return statusIn(http.StatusRequestEntityTooLarge)(c) && c.events > 1 },
		reason: "too_large", disposal: split,
		level: zapcore.InfoLevel, message: "Backend said the batch is too large; split it in two"},
	{name: "413, one event", when: statusIn(http.StatusRequestEntityTooLarge), reason: "too_large", disposal: drop,
		giveBackSeq: true, resync: resyncIfChanges,
		level: zapcore.ErrorLevel, message: "Backend refused a single event as too large; dropped it"},
	{name: "400 and other 4xx, several events", when: func(c condition) bool { return rejectedStatus(c) && c.events > 1 },
		reason: "rejected", disposal: split,
		level: zapcore.InfoLevel, message: "Backend rejected the batch; splitting it to find the events it refuses"},
	{name: "400 and other 4xx, one event", when: rejectedStatus, reason: "rejected", disposal: drop,
		giveBackSeq: true, resync: resyncIfChanges,
		level: zapcore.WarnLevel, message: "Backend rejected an event; dropped it"},
	{name: "any other status", when: func(condition) bool { return true }, reason: "unexpected_status", disposal: keep, pause: longWait,
		level: zapcore.ErrorLevel, message: "Backend answered with a status outside HTTP's 2xx–5xx; check CATOPS_BACKEND_URL. Keeping events queued and retrying later"},
}

// retryableStatuses are the 4xx codes of the "408, 421, 425, 429, 5xx"
// row; each has its own catops_batches_failed_total reason.
var retryableStatuses = []int{http.StatusRequestTimeout, http.StatusMisdirectedRequest, http.StatusTooEarly, http.StatusTooManyRequests}

// queueDropReasons are the catops_events_dropped_total reasons that do not
// come from a row: the queue overflowed, shutdown left events undelivered,
// a snapshot superseded what was queued.
var queueDropReasons = []string{"overflow", "shutdown", "superseded"}

// InitMetrics creates every catops_batches_failed_total series the rows
// can count and every catops_events_dropped_total series of types, at 0
// (the agent calls it at start, with the types its wire format sends).
func InitMetrics(m *telemetry.Metrics, types []wire.EventType) {
	InitOutcomeMetrics(m, types, queueDropReasons...)
}

// InitOutcomeMetrics creates, at 0, every catops_batches_failed_total
// series the rows can count and, for each of types, the
// catops_events_dropped_total series of the reasons the rows drop with and
// of more (the caller's own: a queue's overflow, shutdown, …).
func InitOutcomeMetrics(m *telemetry.Metrics, types []wire.EventType, more ...string) {
	dropReasons := append([]string(nil), more...)
	for i := range outcomes {
		o := &outcomes[i]
		if o.reason == "" {
			continue
		}
		m.BatchesFailed.WithLabelValues(o.reason)
		if o.disposal == drop && !slices.Contains(dropReasons, o.dropReason()) {
			dropReasons = append(dropReasons, o.dropReason())
		}
	}
	for _, code := range retryableStatuses {
		m.BatchesFailed.WithLabelValues("status_" + strconv.Itoa(code))
	}
	for _, t := range types {
		for _, r := range dropReasons {
			m.EventsDropped.WithLabelValues(string(t), r)
		}
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

// resyncReason is the reason of the snapshot the row asks for, given the
// dropped events; "" for none.
func (o *outcome) resyncReason(dropped []item) string {
	switch o.resync {
	case resyncRequested:
		return wire.ReasonRequested
	case resyncIfChanges:
		if hasLifecycle(dropped) {
			return wire.ReasonResync
		}
	}
	return ""
}
