// Package health serves /healthz (liveness), /readyz (readiness) and
// /metrics (the agent's Prometheus metrics).
//
// Each probe is a list of named checks, answered the way the Kubernetes
// components answer theirs: 200 "ok" when all pass; 503 with one
// "[+]name ok" or "[-]name failed: why" line per check when one fails (and
// with ?verbose always); /healthz/NAME and /readyz/NAME run one check.
//
//	/healthz  collection-loop  the collection loop ticked within the limit
//	/readyz   informer-sync    the pod and node caches hold their initial list
//	          backend-auth     the backend did not refuse the token (401)
//	                           since it last accepted a batch
//
// Readiness of a DaemonSet agent gates its rolling update (maxUnavailable
// counts pods not ready) and `helm install --wait`: it fails for what the
// agent or its configuration gets wrong (caches not synced, a refused
// token), not for a backend that is down or slow, which would stall every
// rollout for an outage outside the cluster.
package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Check names.
const (
	CheckCollectionLoop = "collection-loop"
	CheckInformerSync   = "informer-sync"
	CheckBackendAuth    = "backend-auth"
)

// Status is what the probes read. Tick, SetReady and BackendAnswered are
// called by the agent.
type Status struct {
	started  time.Time
	lastTick atomic.Pointer[time.Time] // keeps the monotonic clock reading
	ready    atomic.Bool
	refused  atomic.Pointer[string] // why the backend refused the token; nil: it did not
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

// BackendAnswered records the backend's answer to a batch: an accepted
// batch clears a refusal; HTTP 401 (the token refused) fails the
// backend-auth check until a batch is accepted; other answers change
// nothing. A 403 does not fail it: a proxy, WAF or IP allow-list in front
// of the backend answers 403 too, and the token would be blamed wrongly
// (the sender still logs and retries it).
func (s *Status) BackendAnswered(status int, accepted bool) {
	switch {
	case accepted:
		s.refused.Store(nil)
	case status == http.StatusUnauthorized:
		why := fmt.Sprintf("the backend refused the auth token (HTTP 401) at %s; fix the token (CATOPS_AUTH_TOKEN, CATOPS_AUTH_TOKEN_FILE or the chart's Secret)",
			s.now().UTC().Format(time.RFC3339))
		s.refused.Store(&why)
	}
}

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

// check is one named probe check: nil means it passes.
type check struct {
	name string
	run  func() error
}

func (s *Status) liveChecks() []check {
	return []check{{CheckCollectionLoop, func() error {
		if ok, why := s.Live(); !ok {
			return errors.New(why)
		}
		return nil
	}}}
}

func (s *Status) readyChecks() []check {
	return []check{
		{CheckInformerSync, func() error {
			if !s.ready.Load() {
				return errors.New("the pod and node caches have not synced yet")
			}
			return nil
		}},
		{CheckBackendAuth, func() error {
			if why := s.refused.Load(); why != nil {
				return errors.New(*why)
			}
			return nil
		}},
	}
}

// Handler serves the probes, and metrics on /metrics.
func Handler(st *Status, metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	probe(mux, "healthz", st.liveChecks())
	probe(mux, "readyz", st.readyChecks())
	mux.Handle("GET /metrics", metrics)
	return mux
}

// probe serves /NAME (every check) and /NAME/CHECK (one).
func probe(mux *http.ServeMux, name string, checks []check) {
	mux.HandleFunc("GET /"+name, func(w http.ResponseWriter, r *http.Request) {
		_, verbose := r.URL.Query()["verbose"]
		var b strings.Builder
		failed := false
		for _, c := range checks {
			if err := c.run(); err != nil {
				failed = true
				fmt.Fprintf(&b, "[-]%s failed: %v\n", c.name, err)
			} else {
				fmt.Fprintf(&b, "[+]%s ok\n", c.name)
			}
		}
		switch {
		case failed:
			fmt.Fprintf(&b, "%s check failed\n", name)
			reply(w, false, b.String())
		case verbose:
			fmt.Fprintf(&b, "%s check passed\n", name)
			reply(w, true, b.String())
		default:
			reply(w, true, "ok\n")
		}
	})
	for _, c := range checks {
		mux.HandleFunc("GET /"+name+"/"+c.name, func(w http.ResponseWriter, _ *http.Request) {
			if err := c.run(); err != nil {
				reply(w, false, fmt.Sprintf("[-]%s failed: %v\n", c.name, err))
				return
			}
			reply(w, true, "ok\n")
		})
	}
}

func reply(w http.ResponseWriter, ok bool, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_, _ = fmt.Fprint(w, body)
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
