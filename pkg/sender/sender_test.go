package sender

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/catops/cli/pkg/receiver"
	"github.com/catops/cli/pkg/telemetry"
	"github.com/catops/cli/pkg/telemetry/prom"
	"github.com/catops/cli/pkg/telemetry/prom/promtest"
	"github.com/catops/cli/pkg/token"
	"github.com/catops/cli/pkg/wire"
)

const testToken = "s3cret-token-value"

// backend records every request and answers with what script says for the
// n-th request (0-based); nil script or a 0 status means 200.
type backend struct {
	t      *testing.T
	mu     sync.Mutex
	calls  []call
	script func(n int, b wire.Batch) (status int, header http.Header)
	srv    *httptest.Server
}

type call struct {
	status int
	batch  wire.Batch
	header http.Header
}

func newBackend(t *testing.T, script func(n int, b wire.Batch) (int, http.Header)) *backend {
	b := &backend{t: t, script: script}
	b.srv = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *backend) serve(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if !assert.NoError(b.t, err) {
			return
		}
		body = zr
	}
	raw, err := io.ReadAll(body)
	require.NoError(b.t, err)
	c := call{header: r.Header.Clone()}
	require.NoError(b.t, json.Unmarshal(raw, &c.batch))
	b.mu.Lock()
	n := len(b.calls)
	status, hdr := http.StatusOK, http.Header(nil)
	if b.script != nil {
		if s, h := b.script(n, c.batch); s != 0 {
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

// delivered returns the event payloads of accepted batches, in order.
func (b *backend) delivered() []string {
	var out []string
	for _, c := range b.snapshot() {
		if c.status < 300 {
			for _, e := range c.batch.Events {
				out = append(out, eventName(e))
			}
		}
	}
	return out
}

func eventName(e wire.Event) string {
	switch {
	case e.Pod != nil:
		return e.Pod.Name
	case e.PodRef != nil:
		return "-" + e.PodRef.Name
	case e.Host != nil:
		return fmt.Sprintf("host@%d", *e.Host.UptimeSeconds)
	case e.Snapshot != nil:
		return string(e.Type)
	}
	return string(e.Type)
}

func podEv(t *testing.T, name string) wire.EncodedEvent {
	ev, err := wire.Encode(wire.Event{Type: wire.EventPodUpsert, Time: time.Unix(0, 0).UTC(),
		Pod: &wire.Pod{PodRef: wire.PodRef{Namespace: "ns", Name: name}, Phase: "Running", Containers: []wire.Container{}}})
	require.NoError(t, err)
	return ev
}

func hostEv(t *testing.T, n uint64) wire.EncodedEvent {
	ev, err := wire.Encode(wire.Event{Type: wire.EventHost, Time: time.Unix(0, 0).UTC(), Host: &wire.HostSample{UptimeSeconds: new(n)}})
	require.NoError(t, err)
	return ev
}

func markEv(t *testing.T, typ wire.EventType, id uint64) wire.EncodedEvent {
	ev, err := wire.Encode(wire.Event{Type: typ, Time: time.Unix(0, 0).UTC(), Snapshot: &wire.SnapshotMark{ID: id, Reason: wire.ReasonResync}})
	require.NoError(t, err)
	return ev
}

type harness struct {
	s       *Sender
	waits   []time.Duration
	mu      sync.Mutex
	logs    *observer.ObservedLogs
	metrics *telemetry.Metrics
	reg     *prometheus.Registry // metrics's
}

func newSender(t *testing.T, url string, tweak func(*Options)) *harness {
	core, logs := observer.New(zap.DebugLevel)
	reg := prometheus.NewRegistry()
	h := &harness{logs: logs, metrics: prom.New(reg, telemetry.All), reg: reg}
	opts := Options{
		BackendURL: url, Token: func() (string, error) { return testToken, nil },
		Node: "node-a", Session: "sess", AgentVersion: "test",
		FlushDelay: time.Millisecond, MaxBatchRate: 1000,
		Logger: zap.New(core), Metrics: h.metrics,
	}
	if tweak != nil {
		tweak(&opts)
	}
	h.s = New(opts)
	// Record the waits instead of sleeping: retries happen at once.
	h.s.pause = func(ctx context.Context, d time.Duration, _ func() bool) bool {
		h.mu.Lock()
		h.waits = append(h.waits, d)
		h.mu.Unlock()
		return ctx.Err() == nil
	}
	return h
}

func (h *harness) run(t *testing.T) context.CancelFunc {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return cancel
}

func (h *harness) recordedWaits() []time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]time.Duration(nil), h.waits...)
}

func eventually(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	require.Eventually(t, cond, 10*time.Second, 5*time.Millisecond, msg)
}

func TestBatchCarriesIdentityAuthAndGzip(t *testing.T) {
	be := newBackend(t, nil)
	h := newSender(t, be.srv.URL, nil)
	h.s.Enqueue(podEv(t, "a"), podEv(t, "b"), hostEv(t, 1))
	h.run(t)
	eventually(t, func() bool { return len(be.delivered()) == 3 }, "three events delivered")

	c := be.snapshot()[0]
	assert.Equal(t, "Bearer "+testToken, c.header.Get("Authorization"))
	assert.Equal(t, "gzip", c.header.Get("Content-Encoding"))
	assert.Equal(t, wire.ContentTypeDelta, c.header.Get("Content-Type"))
	assert.Equal(t, "sess", c.header.Get(wire.HeaderSession))
	assert.Equal(t, "1", c.header.Get(wire.HeaderSeq))
	assert.Equal(t, wire.Version, c.batch.Version)
	assert.Equal(t, "node-a", c.batch.Node)
	assert.Equal(t, uint64(1), c.batch.Seq)
	assert.Equal(t, "sess-1", c.batch.BatchID)
	assert.Equal(t, "sess-1", c.header.Get("Idempotency-Key"), "Go's transport may replay it on a closed kept-alive connection")
	assert.Equal(t, []string{"a", "b", "host@1"}, be.delivered())
	eventually(t, func() bool { return promtest.Value(h.metrics.BatchesSent) == 1 }, "one batch acknowledged")
	assert.Equal(t, 0.0, promtest.Value(h.metrics.QueueEvents), "queue drained")
}

func TestSequenceIncreasesAcrossBatches(t *testing.T) {
	be := newBackend(t, nil)
	h := newSender(t, be.srv.URL, func(o *Options) { o.MaxBatchBytes = 1 }) // one event per batch
	h.s.Enqueue(podEv(t, "a"), podEv(t, "b"), podEv(t, "c"))
	h.run(t)
	eventually(t, func() bool { return len(be.delivered()) == 3 }, "all delivered")
	for i, c := range be.snapshot() {
		assert.Equal(t, uint64(i+1), c.batch.Seq)
		assert.Len(t, c.batch.Events, 1)
	}
}

func TestRetriesSameBatchOn5xxAndNetworkErrors(t *testing.T) {
	be := newBackend(t, func(n int, _ wire.Batch) (int, http.Header) {
		if n < 3 {
			return http.StatusServiceUnavailable, nil
		}
		return 0, nil
	})
	h := newSender(t, be.srv.URL, nil)
	h.s.Enqueue(podEv(t, "a"))
	h.run(t)
	eventually(t, func() bool { return len(be.delivered()) == 1 }, "delivered after retries")

	calls := be.snapshot()
	require.Len(t, calls, 4)
	for _, c := range calls {
		assert.Equal(t, "sess-1", c.batch.BatchID, "a retry repeats the batch identity so the backend can drop duplicates")
	}
	waits := h.recordedWaits()
	require.Len(t, waits, 3)
	assert.Less(t, waits[0], waits[2], "backoff grows")
	assert.Equal(t, 3.0, promtest.Value(h.metrics.BatchesRetried))
	assert.Equal(t, 1, h.logs.FilterMessage("Backend unavailable; keeping events queued and retrying").Len(), "the outage is logged once, not per retry")
	eventually(t, func() bool { return h.logs.FilterMessage("Backend accepting batches again").Len() == 1 }, "recovery logged once")
}

func TestHonoursRetryAfter(t *testing.T) {
	be := newBackend(t, func(n int, _ wire.Batch) (int, http.Header) {
		if n == 0 {
			return http.StatusTooManyRequests, http.Header{"Retry-After": {"7"}}
		}
		return 0, nil
	})
	h := newSender(t, be.srv.URL, nil)
	h.s.Enqueue(podEv(t, "a"))
	h.run(t)
	eventually(t, func() bool { return len(be.delivered()) == 1 }, "delivered")
	assert.Equal(t, []time.Duration{7 * time.Second}, h.recordedWaits())
	assert.Equal(t, 1.0, promtest.Value(h.metrics.BatchesFailed.WithLabelValues("status_429")))
}

func TestAuthFailureBacksOffLongWithoutStorm(t *testing.T) {
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			be := newBackend(t, func(n int, _ wire.Batch) (int, http.Header) {
				if n == 0 {
					return status, nil
				}
				return 0, nil
			})
			h := newSender(t, be.srv.URL, func(o *Options) { o.RejectBackoff = 45 * time.Second })
			h.s.Enqueue(podEv(t, "a"))
			h.run(t)
			eventually(t, func() bool { return len(be.delivered()) == 1 }, "the batch is kept and delivered once the token works")
			assert.Equal(t, []time.Duration{45 * time.Second}, h.recordedWaits(), "one long wait, not a retry storm")
			entries := h.logs.FilterMessageSnippet("auth token").All()
			require.Len(t, entries, 1)
			for _, e := range h.logs.All() {
				for _, f := range e.Context {
					assert.NotContains(t, fmt.Sprint(f.Interface, f.String), testToken, "the token never reaches a log line")
				}
				assert.NotContains(t, e.Message, testToken)
			}
		})
	}
}

func TestTooLargeSplitsTheBatch(t *testing.T) {
	be := newBackend(t, func(_ int, b wire.Batch) (int, http.Header) {
		if len(b.Events) > 2 {
			return http.StatusRequestEntityTooLarge, nil
		}
		return 0, nil
	})
	h := newSender(t, be.srv.URL, nil)
	names := []string{"a", "b", "c", "d", "e", "f", "g"}
	for _, n := range names {
		h.s.Enqueue(podEv(t, n))
	}
	h.run(t)
	eventually(t, func() bool { return len(be.delivered()) == len(names) }, "every event delivered after splits")
	assert.Equal(t, names, be.delivered(), "order kept across splits")
	var seqs []uint64
	for _, c := range be.snapshot() {
		if c.status == http.StatusOK {
			seqs = append(seqs, c.batch.Seq)
		}
	}
	for i := 1; i < len(seqs); i++ {
		assert.Equal(t, seqs[i-1]+1, seqs[i], "accepted batches have consecutive sequence numbers: %v", seqs)
	}
	assert.Empty(t, h.recordedWaits(), "a split is retried at once")
}

func TestRejectedBatchIsDroppedAndAsksForResync(t *testing.T) {
	be := newBackend(t, func(n int, _ wire.Batch) (int, http.Header) {
		if n == 0 {
			return http.StatusBadRequest, nil
		}
		return 0, nil
	})
	h := newSender(t, be.srv.URL, nil)
	h.s.Enqueue(podEv(t, "bad"))
	h.run(t)
	select {
	case reason := <-h.s.ResyncRequested():
		assert.Equal(t, wire.ReasonResync, reason)
	case <-time.After(10 * time.Second):
		t.Fatal("a dropped pod change must ask for a resync snapshot")
	}
	h.s.Enqueue(podEv(t, "next"))
	eventually(t, func() bool { return len(be.delivered()) == 1 }, "the next batch goes through")
	assert.Equal(t, []string{"next"}, be.delivered())
	assert.Equal(t, 1.0, promtest.Value(h.metrics.EventsDropped.WithLabelValues("pod_upsert", "rejected")))
}

func TestConflictDropsQueuedDeltasUntilSnapshot(t *testing.T) {
	be := newBackend(t, func(n int, b wire.Batch) (int, http.Header) {
		if n == 0 {
			return http.StatusConflict, nil
		}
		return 0, nil
	})
	h := newSender(t, be.srv.URL, func(o *Options) { o.MaxBatchBytes = 1 })
	h.s.Enqueue(podEv(t, "a"), podEv(t, "b"), hostEv(t, 1))
	h.run(t)
	select {
	case reason := <-h.s.ResyncRequested():
		assert.Equal(t, wire.ReasonRequested, reason, "a 409 is the backend's request")
	case <-time.After(10 * time.Second):
		t.Fatal("409 must ask for a snapshot")
	}
	h.s.Enqueue(markEv(t, wire.EventSnapshotBegin, 1), podEv(t, "a"), podEv(t, "b"), markEv(t, wire.EventSnapshotEnd, 1))
	eventually(t, func() bool { return len(be.delivered()) == 4 }, "snapshot delivered")
	assert.Equal(t, []string{"snapshot_begin", "a", "b", "snapshot_end"}, be.delivered(),
		"events queued before the snapshot were superseded, not sent into another 409")
}

func TestOverflowDropsSamplesFirstThenAsksForResync(t *testing.T) {
	q := queue{max: 0}
	pod, host := podEv(t, "p"), hostEv(t, 1)
	q.max = 3*len(pod.Data) + len(host.Data)
	q.push(item{ev: host})
	q.push(item{ev: pod})
	q.push(item{ev: hostEv(t, 2)})
	q.push(item{ev: pod})
	q.push(item{ev: pod})
	dropped, resync := q.overflow()
	assert.False(t, resync)
	require.Len(t, dropped, 1)
	assert.Equal(t, string(host.Data), string(dropped[0].ev.Data), "the oldest sample goes first")

	q.push(item{ev: pod})
	q.push(item{ev: pod})
	dropped, resync = q.overflow()
	assert.True(t, resync, "with no samples left, pod changes are dropped and a snapshot must replace them")
	assert.Equal(t, 0, q.len())
	assert.Equal(t, 0, q.bytes)
	assert.Len(t, dropped, 6)
}

func TestOverflowKeepsNewestCompleteSnapshot(t *testing.T) {
	pod := podEv(t, "p")
	begin, end := markEv(t, wire.EventSnapshotBegin, 2), markEv(t, wire.EventSnapshotEnd, 2)
	q := queue{}
	for range 4 {
		q.push(item{ev: pod})
	}
	q.push(item{ev: begin})
	q.push(item{ev: pod})
	q.push(item{ev: end})
	q.max = len(begin.Data) + len(pod.Data) + len(end.Data) + 1
	dropped, resync := q.overflow()
	assert.False(t, resync, "the queued snapshot already replaces what was dropped")
	assert.Len(t, dropped, 4)
	require.Equal(t, 3, q.len())
	assert.Equal(t, wire.EventSnapshotBegin, q.items[0].ev.Type)

	// A lone snapshot larger than the bound is kept, not dropped in a loop.
	q.max = 10
	dropped, resync = q.overflow()
	assert.False(t, resync)
	assert.Empty(t, dropped)
	assert.Equal(t, 3, q.len())
}

func TestOutageThenRecoveryDeliversEverythingOnce(t *testing.T) {
	var down sync.Map
	down.Store("down", true)
	be := newBackend(t, func(_ int, _ wire.Batch) (int, http.Header) {
		if v, _ := down.Load("down"); v.(bool) {
			return http.StatusBadGateway, nil
		}
		return 0, nil
	})
	h := newSender(t, be.srv.URL, func(o *Options) { o.MaxBatchBytes = 400 })
	h.run(t)
	var want []string
	for i := range 40 {
		n := fmt.Sprintf("p%02d", i)
		want = append(want, n)
		h.s.Enqueue(podEv(t, n))
	}
	eventually(t, func() bool { return len(be.snapshot()) >= 5 }, "retrying while down")
	ev, _ := h.s.Pending()
	assert.Equal(t, 40, ev, "nothing is lost while the backend is down")
	down.Store("down", false)
	eventually(t, func() bool { return len(be.delivered()) == 40 }, "everything delivered after recovery")
	assert.Equal(t, want, be.delivered(), "each event exactly once, in order")
}

func TestFlushDeliversPendingAfterRunStops(t *testing.T) {
	be := newBackend(t, nil)
	h := newSender(t, be.srv.URL, func(o *Options) { o.FlushDelay = time.Hour })
	cancel := h.run(t)
	h.s.Enqueue(podEv(t, "a"), podEv(t, "b"))
	cancel()
	ctx, done := context.WithTimeout(context.Background(), 5*time.Second)
	defer done()
	assert.Equal(t, 0, h.s.Flush(ctx))
	assert.Equal(t, []string{"a", "b"}, be.delivered())
}

// At shutdown a failing backend gets one attempt: Flush does not wait out
// a backoff, and what it could not deliver is counted.
func TestFlushDoesNotWaitForAFailingBackend(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
	}{{"5xx", http.StatusServiceUnavailable}, {"refused token", http.StatusUnauthorized}, {"429", http.StatusTooManyRequests}} {
		t.Run(tc.name, func(t *testing.T) {
			be := newBackend(t, func(int, wire.Batch) (int, http.Header) { return tc.status, http.Header{"Retry-After": {"1"}} })
			h := newSender(t, be.srv.URL, nil)
			var pauses atomic.Int32
			h.s.pause = func(ctx context.Context, d time.Duration, _ func() bool) bool {
				pauses.Add(1)
				return sleep(ctx, d, nil)
			}
			h.s.Enqueue(podEv(t, "a"), podEv(t, "b"))
			ctx, done := context.WithTimeout(context.Background(), time.Minute)
			defer done()
			assert.Equal(t, 2, h.s.Flush(ctx))
			assert.Len(t, be.snapshot(), 1, "one attempt")
			assert.Zero(t, pauses.Load(), "no wait before a retry")
			assert.Equal(t, 2.0, promtest.Value(h.metrics.EventsDropped.WithLabelValues("pod_upsert", "shutdown")))
		})
	}
}

func TestFlushGivesUpAtDeadline(t *testing.T) {
	release := make(chan struct{})
	be := newBackend(t, func(int, wire.Batch) (int, http.Header) { <-release; return http.StatusOK, nil })
	t.Cleanup(func() { close(release) }) // before the server's Close, which waits for the handler
	h := newSender(t, be.srv.URL, nil)
	h.s.Enqueue(podEv(t, "a"))
	ctx, done := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer done()
	assert.Equal(t, 1, h.s.Flush(ctx), "a backend that does not answer within the deadline")
	assert.Equal(t, 1.0, promtest.Value(h.metrics.EventsDropped.WithLabelValues("pod_upsert", "shutdown")))
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	assert.Equal(t, 5*time.Second, retryAfter("5", now))
	assert.Equal(t, time.Duration(0), retryAfter("", now))
	assert.Equal(t, time.Duration(0), retryAfter("soon", now))
	assert.Equal(t, 30*time.Second, retryAfter(now.Add(30*time.Second).Format(http.TimeFormat), now))
	assert.True(t, strings.HasPrefix(responseError(strings.NewReader(`{"error":"bad seq"}`)), "bad seq"))
}

func TestWrongURLKeepsEventsAndSaysWhatToFix(t *testing.T) {
	be := newBackend(t, func(n int, _ wire.Batch) (int, http.Header) {
		if n == 0 {
			return http.StatusNotFound, nil
		}
		return 0, nil
	})
	h := newSender(t, be.srv.URL, func(o *Options) { o.RejectBackoff = 30 * time.Second })
	h.s.Enqueue(podEv(t, "kept"))
	h.run(t)
	eventually(t, func() bool { return len(be.delivered()) == 1 }, "the batch was kept, not dropped")
	assert.Equal(t, []time.Duration{30 * time.Second}, h.recordedWaits())
	assert.Equal(t, 1, h.logs.FilterMessageSnippet("check CATOPS_BACKEND_URL").Len())
	assert.Equal(t, 0.0, promtest.Value(h.metrics.EventsDropped.WithLabelValues("pod_upsert", "rejected")))
}

// A batch the backend refused outright gives its sequence number back, so
// the next batch follows without a gap (no 409, no resync, nothing dropped).
func TestRejectedBatchLeavesNoSequenceGap(t *testing.T) {
	r, err := receiver.New(receiver.Options{Token: testToken})
	require.NoError(t, err)
	srv := httptest.NewServer(r.Handler())
	t.Cleanup(srv.Close)
	h := newSender(t, srv.URL, nil)
	h.s.Enqueue(markEv(t, wire.EventSnapshotBegin, 1), podEv(t, "a"), markEv(t, wire.EventSnapshotEnd, 1))
	h.run(t)
	eventually(t, func() bool { st, ok := r.Node("node-a"); return ok && len(st.Pods) == 1 }, "snapshot applied")

	r.SetFailNext(1, http.StatusBadRequest)
	h.s.Enqueue(hostEv(t, 1))
	eventually(t, func() bool { return r.Stats().Injected == 1 }, "the sample batch was refused")
	h.s.Enqueue(podEv(t, "b"))
	eventually(t, func() bool { st, _ := r.Node("node-a"); _, ok := st.Pods["ns/b"]; return ok }, "the next change applied")
	assert.Zero(t, r.Stats().Conflicts, "no gap, so no 409")
	select {
	case reason := <-h.s.ResyncRequested():
		t.Fatalf("a refused sample batch must not ask for a resync (got %q)", reason)
	default:
	}
}

// A 409 to a batch of samples alone still means the backend lost the
// node's state: the agent must answer with a snapshot, not wait for the
// periodic one.
func TestConflictOnSamplesOnlyBatchAsksForSnapshot(t *testing.T) {
	be := newBackend(t, func(n int, _ wire.Batch) (int, http.Header) {
		if n == 0 {
			return http.StatusConflict, nil
		}
		return 0, nil
	})
	h := newSender(t, be.srv.URL, nil)
	h.s.Enqueue(hostEv(t, 1))
	h.run(t)
	select {
	case reason := <-h.s.ResyncRequested():
		assert.Equal(t, wire.ReasonRequested, reason)
	case <-time.After(10 * time.Second):
		t.Fatal("a 409 to a samples-only batch must ask for a snapshot")
	}
	h.s.Enqueue(hostEv(t, 2), markEv(t, wire.EventSnapshotBegin, 1), podEv(t, "a"), markEv(t, wire.EventSnapshotEnd, 1))
	eventually(t, func() bool { return len(be.delivered()) == 3 }, "the snapshot is delivered")
	assert.Equal(t, []string{"snapshot_begin", "a", "snapshot_end"}, be.delivered(), "samples queued before the snapshot are superseded")
	assert.Empty(t, h.recordedWaits(), "a 409 does not pause")
}

// A 400 caused by one event costs that event only: the batch is split until
// the event is alone, the rest is delivered in order, and nothing pauses.
func TestRejectedEventIsFoundBySplittingAndDroppedAlone(t *testing.T) {
	for _, tc := range []struct {
		name, bad  string
		wantResync bool
	}{
		{"a pod change", "bad", true},
		{"a sample", "host@7", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := newBackend(t, func(_ int, b wire.Batch) (int, http.Header) {
				for _, e := range b.Events {
					if eventName(e) == tc.bad {
						return http.StatusBadRequest, nil
					}
				}
				return 0, nil
			})
			h := newSender(t, be.srv.URL, func(o *Options) { o.FlushDelay = time.Hour })
			var want []string
			for i := range 20 {
				name := fmt.Sprintf("p%d", i)
				if i == 13 {
					if tc.bad == "bad" {
						h.s.Enqueue(podEv(t, "bad"))
					} else {
						h.s.Enqueue(hostEv(t, 7))
					}
				}
				h.s.Enqueue(podEv(t, name))
				want = append(want, name)
			}
			require.Zero(t, h.s.Flush(context.Background()), "everything but the bad event is delivered")
			assert.Equal(t, want, be.delivered(), "the good events arrive, in order")
			typ := "pod_upsert"
			if !tc.wantResync {
				typ = "host"
			}
			assert.Equal(t, 1.0, promtest.Value(h.metrics.EventsDropped.WithLabelValues(typ, "rejected")), "exactly the bad event is dropped")
			assert.Empty(t, h.recordedWaits(), "a rejection does not pause delivery")
			var seqs []uint64
			for _, c := range be.snapshot() {
				if c.status == http.StatusOK {
					seqs = append(seqs, c.batch.Seq)
				}
			}
			for i := 1; i < len(seqs); i++ {
				assert.Equal(t, seqs[i-1]+1, seqs[i], "no sequence gap: %v", seqs)
			}
			select {
			case reason := <-h.s.ResyncRequested():
				assert.True(t, tc.wantResync, "unexpected resync %q", reason)
				assert.Equal(t, wire.ReasonResync, reason)
			default:
				assert.False(t, tc.wantResync, "a dropped pod change must ask for a resync")
			}
		})
	}
}

// A backend that rejects everything is not a backend with bad events: it
// refuses even a bare snapshot mark, which every backend of this protocol
// takes. The sender then keeps everything and waits, instead of dropping
// event after event.
func TestBackendRejectingEverythingKeepsEventsAndWaits(t *testing.T) {
	be := newBackend(t, func(int, wire.Batch) (int, http.Header) { return http.StatusBadRequest, nil })
	h := newSender(t, be.srv.URL, func(o *Options) { o.RejectBackoff = 42 * time.Second })
	h.s.Enqueue(markEv(t, wire.EventSnapshotBegin, 1))
	for i := range 40 {
		h.s.Enqueue(podEv(t, fmt.Sprintf("p%d", i)))
	}
	h.s.Enqueue(markEv(t, wire.EventSnapshotEnd, 1))
	h.run(t)
	eventually(t, func() bool { return len(h.recordedWaits()) >= 2 }, "the sender settles into long waits")
	for _, w := range h.recordedWaits() {
		assert.Equal(t, 42*time.Second, w)
	}
	assert.Zero(t, promtest.Value(h.metrics.EventsDropped.WithLabelValues("pod_upsert", "rejected")), "nothing is dropped")
	events, _ := h.s.Pending()
	assert.Equal(t, 42, events, "everything stays queued")
	assert.GreaterOrEqual(t, h.logs.FilterMessageSnippet("Backend rejects even a bare snapshot mark").Len(), 1)
	assert.LessOrEqual(t, len(be.snapshot()), 2*6+len(h.recordedWaits()), "about log2(42) splits, then one request a wait")
}

// A redirect is never followed (it would carry the token elsewhere): the
// batch is kept and the log says where the backend pointed.
func TestRedirectKeepsTheBatchAndNamesTheTarget(t *testing.T) {
	be := newBackend(t, func(n int, _ wire.Batch) (int, http.Header) {
		if n == 0 {
			return http.StatusPermanentRedirect, http.Header{"Location": {"https://elsewhere.example/api"}}
		}
		return 0, nil
	})
	h := newSender(t, be.srv.URL, func(o *Options) { o.RejectBackoff = 33 * time.Second })
	h.s.Enqueue(podEv(t, "kept"))
	h.run(t)
	eventually(t, func() bool { return len(be.delivered()) == 1 }, "the batch was kept")
	assert.Equal(t, []time.Duration{33 * time.Second}, h.recordedWaits())
	entries := h.logs.FilterMessageSnippet("set CATOPS_BACKEND_URL").All()
	require.Len(t, entries, 1)
	assert.Equal(t, "https://elsewhere.example/api", entries[0].ContextMap()["location"])
	assert.Equal(t, 1.0, promtest.Value(h.metrics.BatchesFailed.WithLabelValues("redirect")))
}

// Shutdown during a request is an interruption, not a network failure: it
// is neither counted nor logged as one, and the batch goes out with Flush.
func TestShutdownDuringRequestIsNotAFailure(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	h := newSender(t, srv.URL, nil)
	h.s.Enqueue(podEv(t, "a"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.s.Run(ctx) }()
	eventually(t, func() bool { return calls.Load() == 1 }, "the first request is in flight")
	cancel()
	<-done
	require.Zero(t, h.s.Flush(context.Background()), "the interrupted batch is delivered by the flush")
	assert.Equal(t, int32(2), calls.Load())
	assert.Zero(t, promtest.Value(h.metrics.BatchesFailed.WithLabelValues("network")), "not a network failure")
	assert.Zero(t, h.logs.FilterMessageSnippet("unreachable").Len())
}

// Every row of the outcome table is in docs/protocol.md's table, by name,
// and the docs' table has those rows alone, in the same order (the first
// that matches applies).
func TestOutcomeTableIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/protocol.md")
	require.NoError(t, err)
	var names []string
	for _, o := range outcomes {
		names = append(names, o.name)
		assert.True(t, strings.Contains(string(doc), "| "+o.name+" |"), "docs/protocol.md §2.3 has no row named %q", o.name)
	}
	_, table, found := strings.Cut(string(doc), "\n| Row | Condition |")
	require.True(t, found, "docs/protocol.md §2.3 has no table of outcomes")
	table, _, _ = strings.Cut(table, "\n\n")
	var documented []string
	for _, line := range strings.Split(table, "\n")[2:] { // the rest of the header line, the separator
		cells := strings.Split(line, " | ")
		documented = append(documented, strings.TrimPrefix(cells[0], "| "))
	}
	assert.Equal(t, names, documented, "docs/protocol.md §2.3's rows, in order")
}

// A legacy snapshot (Link.PostLegacy) meets only the rows that can apply to
// one snapshot: it is never split nor taken for a snapshot mark, and a 409
// to it has a row of its own, which a batch never meets.
func TestLegacySnapshotMeetsItsRowsOnly(t *testing.T) {
	for code := 100; code < 700; code++ {
		o := classify(condition{status: code, events: 1, legacy: true})
		assert.NotEqual(t, split, o.disposal, "status %d", code)
		assert.NotEqual(t, resyncRequested, o.resync, "status %d", code)
		assert.NotEqual(t, "other 4xx, a snapshot mark alone", o.name, "status %d", code)
		assert.NotEqual(t, "409", o.name, "status %d", code)
	}
	assert.Equal(t, "409, legacy snapshot", classify(condition{status: http.StatusConflict, events: 1, legacy: true}).name)
	assert.Equal(t, "409", classify(condition{status: http.StatusConflict, events: 1}).name, "a batch's 409 asks for a resync")
}

// A batch whose request cannot be built is dropped (nothing was sent), its
// seq given back, and a resync asked for when it held pod changes.
func TestBatchThatCannotBeBuiltIsDropped(t *testing.T) {
	h := newSender(t, "http://127.0.0.1:1/bad\x7fpath", nil)
	h.s.Enqueue(podEv(t, "a"))
	h.run(t)
	select {
	case reason := <-h.s.ResyncRequested():
		assert.Equal(t, wire.ReasonResync, reason)
	case <-time.After(10 * time.Second):
		t.Fatal("a dropped pod change asks for a resync")
	}
	assert.Equal(t, 1.0, promtest.Value(h.metrics.EventsDropped.WithLabelValues("pod_upsert", "encode")))
	assert.Equal(t, 1.0, promtest.Value(h.metrics.BatchesFailed.WithLabelValues("encode")))
}

// The body is the batch as compact JSON, with no trailing newline
// (docs/protocol.md §2.1).
func TestDeltaBodyHasNoTrailingNewline(t *testing.T) {
	var body atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		zr, err := gzip.NewReader(r.Body)
		if err == nil {
			raw, _ := io.ReadAll(zr)
			body.Store(raw)
		}
	}))
	t.Cleanup(srv.Close)
	h := newSender(t, srv.URL, nil)
	h.s.Enqueue(podEv(t, "a"))
	h.run(t)
	eventually(t, func() bool { return body.Load() != nil }, "a batch arrived")
	raw := body.Load().([]byte)
	assert.Equal(t, byte('}'), raw[len(raw)-1])
}

// A batch whose earlier attempt got no clear answer may have been applied:
// its seq is never given back, or the next batch, reusing it, would be
// taken for a duplicate and silently skipped.
func TestAmbiguousBatchKeepsItsSeq(t *testing.T) {
	r, err := receiver.New(receiver.Options{Token: testToken})
	require.NoError(t, err)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch calls.Add(1) {
		case 2: // applied, but the answer is lost at a gateway
			rec := httptest.NewRecorder()
			r.Handler().ServeHTTP(rec, req)
			w.WriteHeader(http.StatusGatewayTimeout)
		case 3: // the retry reaches a replica that refuses it
			w.WriteHeader(http.StatusBadRequest)
		default:
			r.Handler().ServeHTTP(w, req)
		}
	}))
	t.Cleanup(srv.Close)
	h := newSender(t, srv.URL, nil)
	h.s.Enqueue(markEv(t, wire.EventSnapshotBegin, 1), podEv(t, "a"), markEv(t, wire.EventSnapshotEnd, 1))
	h.run(t)
	eventually(t, func() bool { st, ok := r.Node("node-a"); return ok && len(st.Pods) == 1 }, "snapshot applied")
	h.s.Enqueue(podEv(t, "b"))
	eventually(t, func() bool { return calls.Load() >= 3 }, "b applied, answer lost, then refused")
	h.s.Enqueue(podEv(t, "c"))
	eventually(t, func() bool { st, _ := r.Node("node-a"); _, ok := st.Pods["ns/c"]; return ok },
		"the next change is applied, not taken for a duplicate of b's seq")
	assert.Zero(t, r.Stats().Duplicates)
}

// The first batch the backend takes is logged once at info, so a user can
// tell that an install works; before that, the first answer that stops
// delivery until someone fixes something is logged once, with the fix.
func TestFirstBatchAcceptedOrRefusedIsLoggedOnce(t *testing.T) {
	var refuse atomic.Bool
	refuse.Store(true)
	be := newBackend(t, func(int, wire.Batch) (int, http.Header) {
		if refuse.Load() {
			return http.StatusUnauthorized, nil
		}
		return http.StatusOK, nil
	})
	var answers []string
	var mu sync.Mutex
	h := newSender(t, be.srv.URL, func(o *Options) {
		o.Answered = func(status int, accepted bool) {
			mu.Lock()
			answers = append(answers, fmt.Sprint(status, accepted))
			mu.Unlock()
		}
	})
	h.s.Enqueue(podEv(t, "a"))
	h.run(t)
	eventually(t, func() bool { return len(be.snapshot()) >= 3 }, "retried while refused")
	refused := h.logs.FilterMessage("First batch refused by the backend; nothing is delivered until this is fixed").All()
	require.Len(t, refused, 1, "logged once, not per retry")
	assert.Equal(t, zap.ErrorLevel, refused[0].Level)
	fields := refused[0].ContextMap()
	assert.EqualValues(t, 401, fields["status"])
	assert.Equal(t, "auth", fields["reason"])
	assert.Contains(t, fields["fix"], "check CATOPS_AUTH_TOKEN")
	assert.Equal(t, be.srv.URL+wire.Path, fields["url"])

	refuse.Store(false)
	h.s.Enqueue(podEv(t, "b"))
	eventually(t, func() bool { return len(be.delivered()) == 2 }, "delivered once the token is right")
	h.s.Enqueue(podEv(t, "c"))
	eventually(t, func() bool { return len(be.delivered()) == 3 }, "and after")
	accepted := h.logs.FilterMessage("First batch accepted by the backend").All()
	require.Len(t, accepted, 1)
	assert.Equal(t, zap.InfoLevel, accepted[0].Level)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, "401 false", answers[0])
	assert.Equal(t, "200 true", answers[len(answers)-1])
}

// A backend that is down is not a refusal: no "refused" line, only the
// outage's own.
func TestFirstBatchUnreachableIsNotCalledRefused(t *testing.T) {
	h := newSender(t, "http://127.0.0.1:1", nil)
	h.s.Enqueue(podEv(t, "a"))
	h.run(t)
	eventually(t, func() bool { return h.logs.FilterMessageSnippet("Backend unreachable").Len() >= 1 }, "outage logged")
	assert.Zero(t, h.logs.FilterMessageSnippet("First batch").Len())
}

// Every failure reason and drop series the sender can count exists at 0
// from the start.
func TestMetricsStartAtZero(t *testing.T) {
	h := newSender(t, "http://127.0.0.1:1", nil)
	InitMetrics(h.metrics, []wire.EventType{wire.EventPodUpsert, wire.EventHost})
	for _, reason := range []string{"network", "status_5xx", "status_429", "auth", "rejected", "too_large", "conflict", "misrouted", "redirect", "proxy_auth", "encode", "unexpected_status"} {
		assert.True(t, hasSeries(t, h.reg, "catops_batches_failed_total", prometheus.Labels{"reason": reason}), "batches_failed_total{reason=%q}", reason)
	}
	for _, typ := range []string{"pod_upsert", "host"} {
		for _, reason := range []string{"overflow", "shutdown", "superseded", "rejected", "too_large", "encode"} {
			assert.True(t, hasSeries(t, h.reg, "catops_events_dropped_total", prometheus.Labels{"type": typ, "reason": reason}), "events_dropped_total{type=%q,reason=%q}", typ, reason)
		}
	}
	assert.False(t, hasSeries(t, h.reg, "catops_events_dropped_total", prometheus.Labels{"type": "usage", "reason": "overflow"}), "only the types given")
}

// hasSeries tells whether reg has a series of family with exactly these
// labels.
func hasSeries(t *testing.T, reg prometheus.Gatherer, family string, labels prometheus.Labels) bool {
	t.Helper()
	fams, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range fams {
		if f.GetName() != family {
			continue
		}
		for _, m := range f.GetMetric() {
			got := prometheus.Labels{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			if maps.Equal(got, labels) {
				return true
			}
		}
	}
	return false
}

// A token file rewritten during the wait after a 401 ends the wait at once
// (the RejectBackoff here is an hour: the second attempt can only come
// from the change).
func TestChangedTokenEndsTheAuthWait(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(path, []byte("old-token\n"), 0o600))
	f, err := token.NewFile(path)
	require.NoError(t, err)
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		if r.Header.Get("Authorization") != "Bearer rotated-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	h := newSender(t, srv.URL, func(o *Options) { o.Token = f.Token; o.RejectBackoff = time.Hour; o.TokenPoll = 10 * time.Millisecond })
	h.s = New(h.s.opts) // the waits New installs, not the harness's recorder
	h.s.Enqueue(podEv(t, "a"))
	h.run(t)
	eventually(t, func() bool { return requests.Load() == 1 }, "refused once")
	require.NoError(t, os.WriteFile(path, []byte("rotated-token\n"), 0o600))
	eventually(t, func() bool { return promtest.Value(h.metrics.BatchesSent) == 1 }, "delivered with the new token, before the hour")
	assert.EqualValues(t, 2, requests.Load())
	assert.Equal(t, 1, h.logs.FilterMessage("Auth token changed; retrying now").Len())
}

// The condition ends the wait only for another readable token.
func TestTokenChangedFrom(t *testing.T) {
	current, readErr := "same", error(nil)
	h := newSender(t, "http://127.0.0.1:1", func(o *Options) {
		o.Token = func() (string, error) { return current, readErr }
	})
	assert.False(t, h.s.link.tokenChangedFrom("same")(), "unchanged: the refusal rate stays one a RejectBackoff")
	current = "other"
	assert.True(t, h.s.link.tokenChangedFrom("same")())
	readErr = errors.New("gone")
	assert.False(t, h.s.link.tokenChangedFrom("same")(), "unreadable is no change")
	readErr = nil
	assert.True(t, h.s.link.tokenChangedFrom("")(), "readable again after it could not be read")
}

// The retry waits are docs/protocol.md §2.3's table: 1 s doubling to the
// 2 min cap, each within ±20 %.
func TestRetryBackoffIsTheDocumentedTable(t *testing.T) {
	var o Options
	o.defaults()
	b := o.RetryBackoff
	for i, secs := range []int{1, 2, 4, 8, 16, 32, 64, 120, 120, 120} {
		base := time.Duration(secs) * time.Second
		got := b.NextBackOff()
		assert.GreaterOrEqual(t, got, base*8/10, "retry %d", i+1)
		assert.LessOrEqual(t, got, base*12/10, "retry %d", i+1)
	}
}
