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
// WARN: the first of an outage at once, unless a WARN was logged within
// `every`, then at most one line every `every` across resources, with the
// number of failures not logged since. An outage ends when no resource is
// failing any more; if it was logged, one INFO line says so. A watch the
// API server ends in the normal course (its resourceVersion expired, the
// stream ended) is logged at debug only.
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
	unlogged   int            // failures not logged since lastLogged
	failing    map[string]int // failures per resource since its last success
	since      time.Time      // start of the current outage
	warned     bool           // the current outage was logged
	last       struct {
		resource, verb string
		err            error
	}
	total int // failures in the current outage
}

func (f *requestFailures) failed(resource, verb string, err error) {
	if f.hook != nil {
		f.hook(resource, err)
	}
	fields := []zap.Field{zap.String("resource", resource), zap.String("verb", verb), zap.Error(err)}
	if isRoutineWatchEnd(err) {
		f.logger.Debug("Watch closed by the API server; resuming", fields...)
		return
	}
	f.mu.Lock()
	if f.failing == nil {
		f.failing = map[string]int{}
	}
	now := f.now()
	if len(f.failing) == 0 {
		f.since, f.warned, f.total = now, false, 0
	}
	f.failing[resource]++
	f.total++
	f.last.resource, f.last.verb, f.last.err = resource, verb, err
	logNow := f.lastLogged.IsZero() || now.Sub(f.lastLogged) >= f.every
	unlogged := f.unlogged
	if logNow {
		f.lastLogged, f.unlogged, f.warned = now, 0, true
	} else {
		f.unlogged++
	}
	total, since := f.total, f.since
	f.mu.Unlock()

	if logNow {
		fields = append(fields, zap.Int("failures", total), zap.Duration("failingFor", now.Sub(since).Round(time.Second)))
		if unlogged > 0 {
			fields = append(fields, zap.Int("notLogged", unlogged))
		}
		f.logger.Warn("Kubernetes API request failed; retrying with backoff", fields...)
	}
}

func (f *requestFailures) succeeded(resource, verb string) {
	f.mu.Lock()
	if f.failing[resource] == 0 {
		f.mu.Unlock()
		return
	}
	delete(f.failing, resource)
	ended := len(f.failing) == 0
	warned, total, since := f.warned, f.total, f.since
	if ended {
		f.total = 0
	}
	f.mu.Unlock()
	if ended && warned {
		f.logger.Info("Kubernetes API requests succeed again", zap.String("resource", resource), zap.String("verb", verb),
			zap.Int("failures", total), zap.Duration("failedFor", f.now().Sub(since).Round(time.Second)))
	}
}

// lastError is the last failure of the current outage that was not
// routine, and how many there were; err is nil when no outage is on.
func (f *requestFailures) lastError() (resource, verb string, failures int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.failing) == 0 {
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
