package podcache

import (
	"errors"
	"io"
	"sync"
	"time"

	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// requestFailures reports the caches' failed LIST and WATCH requests and
// the watches that ended with an error. Every one reaches the hook (the
// watch-restart metric). Those that say something is wrong are logged at
// WARN, at most one line every `every` across resources, with the number of
// failures not logged since; the first success after failures says so at
// INFO. A watch the API server closes in the normal course (its
// resourceVersion expired, the stream ended) is logged at debug only.
//
// client-go's reflector retries a WATCH refused with "connection refused"
// or 429 by itself, logging at its verbosity 2 only: without this an
// unreachable API server left the agent silent.
type requestFailures struct {
	logger *zap.Logger
	every  time.Duration
	hook   func(resource string, err error)
	now    func() time.Time

	mu         sync.Mutex
	lastLogged time.Time
	unlogged   int            // warnings not logged since lastLogged
	failing    map[string]int // failures per resource since its last success
	since      map[string]time.Time
	last       struct {
		resource, verb string
		err            error
	}
	total int // failures since the last success of any request
}

func (f *requestFailures) failed(resource, verb string, err error) {
	if f.hook != nil {
		f.hook(resource, err)
	}
	routine := isRoutineWatchEnd(err)
	f.mu.Lock()
	if f.failing == nil {
		f.failing, f.since = map[string]int{}, map[string]time.Time{}
	}
	now := f.now()
	if !routine {
		if f.failing[resource] == 0 {
			f.since[resource] = now
		}
		f.failing[resource]++
		f.total++
		f.last.resource, f.last.verb, f.last.err = resource, verb, err
	}
	logNow := !routine && (f.lastLogged.IsZero() || now.Sub(f.lastLogged) >= f.every)
	unlogged := f.unlogged
	switch {
	case logNow:
		f.lastLogged, f.unlogged = now, 0
	case !routine:
		f.unlogged++
	}
	failures, since := f.failing[resource], f.since[resource]
	f.mu.Unlock()

	fields := []zap.Field{zap.String("resource", resource), zap.String("verb", verb), zap.Error(err)}
	switch {
	case routine:
		f.logger.Debug("Watch closed by the API server; resuming", fields...)
	case logNow:
		fields = append(fields, zap.Int("failures", failures), zap.Duration("failingFor", now.Sub(since).Round(time.Second)))
		if unlogged > 0 {
			fields = append(fields, zap.Int("notLogged", unlogged))
		}
		f.logger.Warn("Kubernetes API request failed; retrying with backoff", fields...)
	}
}

func (f *requestFailures) succeeded(resource, verb string) {
	f.mu.Lock()
	failures, since := f.failing[resource], f.since[resource]
	if failures > 0 {
		delete(f.failing, resource)
		delete(f.since, resource)
	}
	f.total = 0
	f.mu.Unlock()
	if failures > 0 {
		f.logger.Info("Kubernetes API requests succeed again", zap.String("resource", resource), zap.String("verb", verb),
			zap.Int("failures", failures), zap.Duration("failedFor", f.now().Sub(since).Round(time.Second)))
	}
}

// lastError is the last failure that was not routine, and how many
// requests failed since the last success; err is nil when none did.
func (f *requestFailures) lastError() (resource, verb string, failures int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.total == 0 {
		return "", "", 0, nil
	}
	return f.last.resource, f.last.verb, f.total, f.last.err
}

// isRoutineWatchEnd: the API server closed a watch as it does in the
// normal course (the resourceVersion expired after compaction, the stream
// ended); the reflector re-lists or re-watches and nothing is wrong.
func isRoutineWatchEnd(err error) bool {
	return apierrors.IsResourceExpired(err) || apierrors.IsGone(err) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
