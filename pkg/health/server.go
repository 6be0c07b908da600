// Package health serves /healthz (liveness: the collection loop ticked
// recently), /readyz (readiness: the informer caches hold their initial
// list) and /metrics (the agent's Prometheus metrics).
package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// Status is what the probes read. Tick and the ready flag are set by the
// agent's loop.
type Status struct {
	started  time.Time
	lastTick atomic.Pointer[time.Time] // keeps the monotonic clock reading
	ready    atomic.Bool
	maxAge   time.Duration
	now      func() time.Time
}

// NewStatus returns a Status whose liveness fails when no tick happened
// for maxAge (counted from start until the first tick).
func NewStatus(maxAge time.Duration, now func() time.Time) *Status {
	if now == nil {
		now = time.Now
	}
	return &Status{started: now(), maxAge: maxAge, now: now}
}

// Tick records a collection tick. The time is kept whole, with the
// monotonic clock reading time.Now gives it, so that the age computed by
// Live is not moved by a wall-clock step (NTP, a VM resume).
func (s *Status) Tick() {
	t := s.now()
	s.lastTick.Store(&t)
}

// SetReady records whether the caches are synced.
func (s *Status) SetReady(ok bool) { s.ready.Store(ok) }

// Live reports liveness and, when not live, why.
func (s *Status) Live() (bool, string) {
	last := s.started
	if t := s.lastTick.Load(); t != nil {
		last = *t
	}
	if age := s.now().Sub(last); age > s.maxAge {
		return false, fmt.Sprintf("last collection tick was %s ago (limit %s)", age.Round(time.Second), s.maxAge)
	}
	return true, "ok"
}

// Handler serves the three endpoints.
func Handler(st *Status, gatherer prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		ok, why := st.Live()
		reply(w, ok, why)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if st.ready.Load() {
			reply(w, true, "ok")
			return
		}
		reply(w, false, "informer caches not synced yet")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	return mux
}

func reply(w http.ResponseWriter, ok bool, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	fmt.Fprintln(w, msg)
}

// Serve listens on addr and serves h until ctx ends. Listening errors are
// returned at once so a port clash fails the start.
func Serve(addr string, h http.Handler, logger *zap.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s for health and metrics (set CATOPS_HEALTH_ADDR, or \"off\"): %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("Health server stopped", zap.Error(err))
		}
	}()
	logger.Info("Serving health and metrics", zap.String("addr", ln.Addr().String()))
	stop := func() {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
		<-done
	}
	return stop, nil
}
