package legacy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/catops/cli/pkg/telemetry"
	"github.com/catops/cli/pkg/telemetry/prom"
	"github.com/catops/cli/pkg/telemetry/prom/promtest"
	"github.com/catops/cli/pkg/wire"
)

const testToken = "s3cret-token-value"

// backend records every request and answers with what script says for the
// n-th request (0-based); nil script or a 0 status means 200.
type backend struct {
	t      *testing.T
	mu     sync.Mutex
	calls  []call
	script func(n int) (status int, header http.Header)
	srv    *httptest.Server
}

type call struct {
	status int
	header http.Header
	body   []byte
	snap   wire.Snapshot
}

func newBackend(t *testing.T, script func(n int) (int, http.Header)) *backend {
	b := &backend{t: t, script: script}
	b.srv = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *backend) serve(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(r.Body)
	require.NoError(b.t, err)
	c := call{header: r.Header.Clone(), body: raw}
	assert.NoError(b.t, json.Unmarshal(raw, &c.snap))
	b.mu.Lock()
	status, hdr := http.StatusOK, http.Header(nil)
	if b.script != nil {
		if s, h := b.script(len(b.calls)); s != 0 {
			status, hdr = s, h
		}
	}
	c.status = status
	b.calls = append(b.calls, c)
	b.mu.Unlock()
	for k, v := range hdr {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	if status >= 400 {
		fmt.Fprintf(w, `{"error":"scripted %d"}`, status)
	}
}

func (b *backend) snapshot() []call {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]call(nil), b.calls...)
}

// delivered returns the node names of the snapshots answered 2xx, in order
// (tests tell snapshots apart by node name).
func (b *backend) delivered() []string {
	var out []string
	for _, c := range b.snapshot() {
		if c.status < 300 {
			out = append(out, c.snap.NodeName)
		}
	}
	return out
}

type harness struct {
	p       *Poster
	reg     *prometheus.Registry
	metrics *telemetry.Metrics
	logs    *observer.ObservedLogs
	mu      sync.Mutex
	waits   []time.Duration
	answers []string
}

func newPoster(t *testing.T, url string, tweak func(*Options)) *harness {
	core, logs := observer.New(zap.DebugLevel)
	h := &harness{reg: prometheus.NewRegistry(), logs: logs}
	h.metrics = prom.New(h.reg, telemetry.All)
	opts := Options{
		BackendURL:   url,
		Token:        func() (string, error) { return testToken, nil },
		AgentVersion: "test",
		Logger:       zap.New(core),
		Metrics:      h.metrics,
		Answered: func(status int, accepted bool) {
			h.mu.Lock()
			h.answers = append(h.answers, fmt.Sprint(status, accepted))
			h.mu.Unlock()
		},
	}
	if tweak != nil {
		tweak(&opts)
	}
	h.p = New(opts)
	InitMetrics(h.metrics)
	return h
}

// recordWaits replaces the waits between attempts by a record of them,
// released when release is closed (nil: at once).
func (h *harness) recordWaits(release <-chan struct{}) {
	h.p.pause = func(ctx context.Context, d time.Duration, _ func() bool) bool {
		h.mu.Lock()
		h.waits = append(h.waits, d)
		h.mu.Unlock()
		if release == nil {
			return ctx.Err() == nil
		}
		select {
		case <-release:
			return true
		case <-ctx.Done():
			return false
		}
	}
}

func (h *harness) recordedWaits() []time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]time.Duration(nil), h.waits...)
}

func (h *harness) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func (h *harness) offer(t *testing.T, node string) {
	t.Helper()
	require.NoError(t, h.p.Offer(wire.Snapshot{Timestamp: t0, NodeName: node, Pods: []wire.SnapshotPod{}}))
}

func (h *harness) dropped(reason string) float64 {
	return promtest.Value(h.metrics.EventsDropped.WithLabelValues(EventType, reason))
}

func (h *harness) failed(reason string) float64 {
	return promtest.Value(h.metrics.BatchesFailed.WithLabelValues(reason))
}

func eventually(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	require.Eventually(t, cond, 10*time.Second, 5*time.Millisecond, msg)
}

// Each snapshot is its own plain JSON POST: the bytes of json.Marshal, the
// legacy headers of docs/protocol.md §2.1 and none of a delta batch's.
func TestSnapshotPostedAsPlainJSON(t *testing.T) {
	be := newBackend(t, nil)
	h := newPoster(t, be.srv.URL, nil)
	h.run(t)
	snap := wire.Snapshot{Timestamp: t0, NodeName: "node-a", Namespace: "catops", Pods: []wire.SnapshotPod{{Name: "p", Namespace: "ns"}}}
	require.NoError(t, h.p.Offer(snap))
	eventually(t, func() bool { return len(be.delivered()) == 1 }, "the first snapshot")
	h.offer(t, "node-b")
	eventually(t, func() bool { return promtest.Value(h.metrics.BatchesSent) == 2 }, "the second, in a POST of its own")

	c := be.snapshot()[0]
	want, err := json.Marshal(snap)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(c.body), "compact JSON, uncompressed, no trailing newline")
	assert.Equal(t, "application/json", c.header.Get("Content-Type"))
	assert.Equal(t, "Bearer "+testToken, c.header.Get("Authorization"))
	assert.Equal(t, "catops-k8s/test", c.header.Get("User-Agent"))
	for _, absent := range []string{"Content-Encoding", wire.HeaderSession, wire.HeaderSeq, wire.HeaderBatchID, "Idempotency-Key"} {
		assert.Empty(t, c.header.Get(absent), absent)
	}
	assert.Positive(t, promtest.Value(h.metrics.LastSendTime))
	assert.Equal(t, 1, h.logs.FilterMessage("First batch accepted by the backend").Len())
	assert.Zero(t, promtest.Value(h.metrics.QueueEvents), "nothing pending")
}

// The backend answers 409 to a legacy snapshot (it has no sequence to
// resync): dropped, and the next one goes out as usual.
func TestConflictDropsTheSnapshotAndTheNextGoesOut(t *testing.T) {
	be := newBackend(t, func(n int) (int, http.Header) {
		if n == 0 {
			return http.StatusConflict, nil
		}
		return 0, nil
	})
	h := newPoster(t, be.srv.URL, nil)
	h.run(t)
	h.offer(t, "first")
	eventually(t, func() bool { return h.dropped("rejected") == 1 }, "the snapshot answered 409 is dropped")
	assert.Equal(t, 1.0, h.failed("conflict"))
	assert.Equal(t, 1, h.logs.FilterMessage("Backend answered 409 to a legacy snapshot; dropped it, the next one replaces it").Len())
	h.offer(t, "second")
	eventually(t, func() bool { return len(be.delivered()) == 1 }, "the next snapshot is sent")
	assert.Equal(t, []string{"second"}, be.delivered())
}

// During an outage the newest snapshot replaces one not yet delivered:
// after it, only the newest arrives. The outage is logged once, retries at
// debug, and the recovery once.
func TestNewestReplacesOneNotYetDelivered(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	be := newBackend(t, func(int) (int, http.Header) {
		if down.Load() {
			return http.StatusServiceUnavailable, http.Header{"Retry-After": {"7"}}
		}
		return 0, nil
	})
	release := make(chan struct{})
	h := newPoster(t, be.srv.URL, nil)
	h.recordWaits(release)
	h.run(t)
	h.offer(t, "s1")
	eventually(t, func() bool { return len(h.recordedWaits()) == 1 }, "s1 refused, waiting to retry")
	assert.Equal(t, 7*time.Second, h.recordedWaits()[0], "Retry-After honoured")
	h.offer(t, "s2")
	h.offer(t, "s3")
	events, _ := h.p.Pending()
	assert.Equal(t, 2, events, "the one kept for a retry and the newest")
	assert.Equal(t, 1.0, h.dropped("superseded"), "s2, replaced before it was attempted")

	release <- struct{}{} // the retry: s3 replaces s1
	eventually(t, func() bool { return len(h.recordedWaits()) == 2 }, "the retry, refused too")
	assert.Equal(t, "s3", be.snapshot()[1].snap.NodeName)
	assert.Equal(t, 2.0, h.dropped("superseded"), "s1 too")
	assert.Equal(t, 2.0, h.failed("status_5xx"))
	assert.Equal(t, 1.0, promtest.Value(h.metrics.BatchesRetried))

	down.Store(false)
	release <- struct{}{}
	eventually(t, func() bool { return promtest.Value(h.metrics.BatchesSent) == 1 }, "delivered once the backend is back")
	assert.Equal(t, []string{"s3"}, be.delivered())
	assert.Equal(t, 1, h.logs.FilterMessage("Backend accepting batches again").Len(), "recovery logged once")
	assert.Equal(t, 1, h.logs.FilterMessage("Backend unavailable; keeping events queued and retrying").Len(), "the outage is logged once")
	assert.Equal(t, 1, h.logs.FilterMessage("Retrying batch").Len())
	events, _ = h.p.Pending()
	assert.Zero(t, events)
}

// A refused token: one error line, a minute's wait that a changed token
// ends at once, and the health hook told of the 401 and of the acceptance.
func TestRefusedTokenWaitsUntilTheTokenChanges(t *testing.T) {
	var tok atomic.Value
	tok.Store("old-token")
	be := newBackend(t, func(n int) (int, http.Header) {
		if n == 0 {
			return http.StatusUnauthorized, nil
		}
		return 0, nil
	})
	h := newPoster(t, be.srv.URL, func(o *Options) {
		o.Token = func() (string, error) { return tok.Load().(string), nil }
		o.TokenPoll = 5 * time.Millisecond
	})
	h.run(t)
	h.offer(t, "node-a")
	eventually(t, func() bool { return h.failed("auth") == 1 }, "the token refused")
	refused := h.logs.FilterMessage("First batch refused by the backend; nothing is delivered until this is fixed").All()
	require.Len(t, refused, 1)
	assert.Contains(t, refused[0].ContextMap()["fix"], "CATOPS_AUTH_TOKEN")
	time.Sleep(50 * time.Millisecond)
	assert.Len(t, be.snapshot(), 1, "no retry before the minute is up or the token changes")

	tok.Store("new-token")
	eventually(t, func() bool { return len(be.delivered()) == 1 }, "retried at once with the new token")
	assert.Equal(t, "Bearer new-token", be.snapshot()[1].header.Get("Authorization"))
	assert.Equal(t, 1, h.logs.FilterMessage("Auth token changed; retrying now").Len())
	eventually(t, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return assert.ObjectsAreEqual([]string{"401 false", "200 true"}, h.answers)
	}, "the health hook told of the refusal, then of the acceptance")
	for _, e := range h.logs.All() {
		assert.NotContains(t, fmt.Sprint(e.Message, e.ContextMap()), "new-token", "the token never reaches a log line")
	}
}

// Answers a person must fix keep the snapshot and wait a minute, saying
// what to check; other 4xx drop it.
func TestAnswersThatWaitAndAnswersThatDrop(t *testing.T) {
	for _, tc := range []struct {
		status         int
		reason, advice string
		drop           string // the catops_events_dropped_total reason, or "" when kept
	}{
		{http.StatusNotFound, "misrouted", "check CATOPS_BACKEND_URL", ""},
		{http.StatusPermanentRedirect, "redirect", "set CATOPS_BACKEND_URL to the final URL", ""},
		{http.StatusProxyAuthRequired, "proxy_auth", "check HTTPS_PROXY", ""},
		{600, "unexpected_status", "check CATOPS_BACKEND_URL", ""},
		{http.StatusRequestEntityTooLarge, "too_large", "too large; dropped it", "too_large"},
		{http.StatusUnprocessableEntity, "rejected", "Backend rejected an event; dropped it", "rejected"},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			be := newBackend(t, func(int) (int, http.Header) {
				return tc.status, http.Header{"Location": {"https://elsewhere.example/"}}
			})
			h := newPoster(t, be.srv.URL, nil)
			h.recordWaits(make(chan struct{}))
			h.run(t)
			h.offer(t, "node-a")
			eventually(t, func() bool { return h.failed(tc.reason) == 1 }, "the answer classified")
			eventually(t, func() bool { return h.logs.FilterMessageSnippet(tc.advice).Len() == 1 }, "one line that says what to check")
			if tc.drop == "" {
				eventually(t, func() bool { return len(h.recordedWaits()) == 1 }, "a wait")
				assert.Equal(t, time.Minute, h.recordedWaits()[0])
				events, _ := h.p.Pending()
				assert.Equal(t, 1, events, "the snapshot is kept")
				return
			}
			eventually(t, func() bool { return h.dropped(tc.drop) == 1 }, "the snapshot is dropped")
			events, _ := h.p.Pending()
			assert.Zero(t, events)
			assert.Empty(t, h.recordedWaits(), "nothing to wait for: the next snapshot replaces it")
		})
	}
}

func TestNetworkErrorRetriesWithBackoff(t *testing.T) {
	h := newPoster(t, "http://127.0.0.1:1", nil)
	h.recordWaits(nil)
	h.run(t)
	h.offer(t, "node-a")
	eventually(t, func() bool { return h.failed("network") >= 3 }, "retried")
	waits := h.recordedWaits()
	// docs/protocol.md §2.3: the first wait is 1 s ± 20 %.
	assert.GreaterOrEqual(t, waits[0], 800*time.Millisecond)
	assert.LessOrEqual(t, waits[0], 1200*time.Millisecond)
	assert.Greater(t, waits[2], waits[0], "the backoff grows")
	assert.Equal(t, 1, h.logs.FilterMessage("Backend unreachable; keeping events queued and retrying").Len(), "logged once per outage")
	assert.Contains(t, exposition(t, h.reg), `catops_backend_request_duration_seconds_count{code="error"} `)
	assert.NotContains(t, exposition(t, h.reg), `catops_backend_request_duration_seconds_count{code="error"} 0`)
}

// At shutdown the newest snapshot not yet delivered gets one attempt.
func TestFlushSendsTheNewestOnce(t *testing.T) {
	t.Run("accepted", func(t *testing.T) {
		be := newBackend(t, nil)
		h := newPoster(t, be.srv.URL, nil)
		h.offer(t, "old")
		h.offer(t, "new")
		assert.Zero(t, h.p.Flush(context.Background()))
		assert.Equal(t, []string{"new"}, be.delivered())
		assert.Equal(t, 1.0, h.dropped("superseded"))
	})
	t.Run("refused", func(t *testing.T) {
		be := newBackend(t, func(int) (int, http.Header) { return http.StatusServiceUnavailable, nil })
		h := newPoster(t, be.srv.URL, nil)
		h.offer(t, "new")
		assert.Equal(t, 1, h.p.Flush(context.Background()), "one attempt, no wait to retry")
		assert.Len(t, be.snapshot(), 1)
		assert.Equal(t, 1.0, h.dropped("shutdown"))
		events, _ := h.p.Pending()
		assert.Zero(t, events)
	})
	t.Run("nothing pending", func(t *testing.T) {
		be := newBackend(t, nil)
		h := newPoster(t, be.srv.URL, nil)
		assert.Zero(t, h.p.Flush(context.Background()))
		assert.Empty(t, be.snapshot())
	})
}

// A snapshot whose request was cut short by shutdown goes out with the
// flush, and is not counted as a failure.
func TestInterruptedSnapshotGoesOutWithTheFlush(t *testing.T) {
	var stall atomic.Bool
	stall.Store(true)
	stalled := make(chan struct{})
	testDone := make(chan struct{})
	var got atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if stall.CompareAndSwap(true, false) {
			close(stalled)
			select {
			case <-r.Context().Done():
			case <-testDone:
			}
			return
		}
		got.Add(1)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(testDone) })
	h := newPoster(t, srv.URL, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.p.Run(ctx) }()
	h.offer(t, "node-a")
	<-stalled
	cancel()
	<-done
	assert.Zero(t, h.p.Flush(context.Background()))
	assert.Equal(t, int32(1), got.Load())
	assert.Zero(t, h.failed("network"), "an interruption is not a failure")
}

func TestInitMetricsStartsTheSeriesAtZero(t *testing.T) {
	h := newPoster(t, "http://127.0.0.1:1", nil)
	text := exposition(t, h.reg)
	for _, want := range []string{
		`catops_batches_failed_total{reason="auth"} 0`,
		`catops_batches_failed_total{reason="status_429"} 0`,
		`catops_batches_failed_total{reason="conflict"} 0`,
		`catops_events_dropped_total{reason="superseded",type="legacy_snapshot"} 0`,
		`catops_events_dropped_total{reason="shutdown",type="legacy_snapshot"} 0`,
		`catops_events_dropped_total{reason="rejected",type="legacy_snapshot"} 0`,
	} {
		assert.Contains(t, text, want)
	}
	assert.NotContains(t, text, `type="pod_upsert"`, "no series of the delta format's event types")
}

// exposition is reg's metrics in the text format /metrics serves.
func exposition(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var b strings.Builder
	for _, mf := range mfs {
		_, err := expfmt.MetricFamilyToText(&b, mf)
		require.NoError(t, err)
	}
	return b.String()
}
